"""Codec tests: literal register patterns for every type and order, round-trip properties, error cases."""

from __future__ import annotations

import itertools
import math
import re
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.modbus.codec import (
    ByteOrder,
    CodecError,
    DataType,
    WordOrder,
    apply_scaling,
    decode_registers,
    encode_value,
    register_count,
    remove_scaling,
)

BIG_W, LITTLE_W = WordOrder.BIG, WordOrder.LITTLE
BIG_B, LITTLE_B = ByteOrder.BIG, ByteOrder.LITTLE

# (type, word order, byte order, registers as the device sends them, value). Written out by hand from the
# big-endian byte pattern of each value, never computed with the code under test.
LITERAL_CASES: list[tuple[DataType, WordOrder, ByteOrder, list[int], int | float | bool]] = [
    # int16 -1234 = 0xFB2E
    (DataType.INT16, BIG_W, BIG_B, [0xFB2E], -1234),
    (DataType.INT16, LITTLE_W, BIG_B, [0xFB2E], -1234),
    (DataType.INT16, BIG_W, LITTLE_B, [0x2EFB], -1234),
    (DataType.INT16, LITTLE_W, LITTLE_B, [0x2EFB], -1234),
    # uint16 51966 = 0xCAFE
    (DataType.UINT16, BIG_W, BIG_B, [0xCAFE], 51966),
    (DataType.UINT16, LITTLE_W, BIG_B, [0xCAFE], 51966),
    (DataType.UINT16, BIG_W, LITTLE_B, [0xFECA], 51966),
    (DataType.UINT16, LITTLE_W, LITTLE_B, [0xFECA], 51966),
    # int32 -1_000_000 = 0xFFF0BDC0
    (DataType.INT32, BIG_W, BIG_B, [0xFFF0, 0xBDC0], -1_000_000),
    (DataType.INT32, LITTLE_W, BIG_B, [0xBDC0, 0xFFF0], -1_000_000),
    (DataType.INT32, BIG_W, LITTLE_B, [0xF0FF, 0xC0BD], -1_000_000),
    (DataType.INT32, LITTLE_W, LITTLE_B, [0xC0BD, 0xF0FF], -1_000_000),
    # uint32 3_000_000_000 = 0xB2D05E00
    (DataType.UINT32, BIG_W, BIG_B, [0xB2D0, 0x5E00], 3_000_000_000),
    (DataType.UINT32, LITTLE_W, BIG_B, [0x5E00, 0xB2D0], 3_000_000_000),
    (DataType.UINT32, BIG_W, LITTLE_B, [0xD0B2, 0x005E], 3_000_000_000),
    (DataType.UINT32, LITTLE_W, LITTLE_B, [0x005E, 0xD0B2], 3_000_000_000),
    # float32 1.5 = 0x3FC00000
    (DataType.FLOAT32, BIG_W, BIG_B, [0x3FC0, 0x0000], 1.5),
    (DataType.FLOAT32, LITTLE_W, BIG_B, [0x0000, 0x3FC0], 1.5),
    (DataType.FLOAT32, BIG_W, LITTLE_B, [0xC03F, 0x0000], 1.5),
    (DataType.FLOAT32, LITTLE_W, LITTLE_B, [0x0000, 0xC03F], 1.5),
    # float32 -20.75 = 0xC1A60000
    (DataType.FLOAT32, BIG_W, BIG_B, [0xC1A6, 0x0000], -20.75),
    (DataType.FLOAT32, LITTLE_W, LITTLE_B, [0x0000, 0xA6C1], -20.75),
    # float64 pi = 0x400921FB54442D18
    (DataType.FLOAT64, BIG_W, BIG_B, [0x4009, 0x21FB, 0x5444, 0x2D18], math.pi),
    (DataType.FLOAT64, LITTLE_W, BIG_B, [0x2D18, 0x5444, 0x21FB, 0x4009], math.pi),
    (DataType.FLOAT64, BIG_W, LITTLE_B, [0x0940, 0xFB21, 0x4454, 0x182D], math.pi),
    (DataType.FLOAT64, LITTLE_W, LITTLE_B, [0x182D, 0x4454, 0xFB21, 0x0940], math.pi),
    # bool: one coil / discrete input; orders do not apply but must not disturb it
    (DataType.BOOL, BIG_W, BIG_B, [1], True),
    (DataType.BOOL, LITTLE_W, BIG_B, [0], False),
    (DataType.BOOL, BIG_W, LITTLE_B, [1], True),
    (DataType.BOOL, LITTLE_W, LITTLE_B, [0], False),
]

# bits: logical status word 0x0120 (bits 5 and 8 set); a byte-swapping device sends it as 0x2001.
BIT_CASES: list[tuple[WordOrder, ByteOrder, list[int], int, bool]] = [
    (BIG_W, BIG_B, [0x0120], 5, True),
    (LITTLE_W, BIG_B, [0x0120], 8, True),
    (BIG_W, BIG_B, [0x0120], 0, False),
    (BIG_W, LITTLE_B, [0x2001], 5, True),
    (LITTLE_W, LITTLE_B, [0x2001], 8, True),
    (BIG_W, LITTLE_B, [0x2001], 0, False),
    (BIG_W, LITTLE_B, [0x2001], 13, False),
    (BIG_W, BIG_B, [0x8000], 15, True),
    (BIG_W, LITTLE_B, [0x8000], 7, True),
]


def test_literal_tables_cover_every_type_and_order() -> None:
    covered = {(case[0], case[1], case[2]) for case in LITERAL_CASES}
    covered |= {(DataType.BITS, case[0], case[1]) for case in BIT_CASES}
    assert covered == set(itertools.product(DataType, WordOrder, ByteOrder))


@pytest.mark.parametrize(("data_type", "word_order", "byte_order", "registers", "expected"), LITERAL_CASES)
def test_decode_literal_pattern(
    data_type: DataType,
    word_order: WordOrder,
    byte_order: ByteOrder,
    registers: list[int],
    expected: float | bool,
) -> None:
    value = decode_registers(registers, data_type, word_order=word_order, byte_order=byte_order)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(("data_type", "word_order", "byte_order", "registers", "value"), LITERAL_CASES)
def test_encode_literal_pattern(
    data_type: DataType,
    word_order: WordOrder,
    byte_order: ByteOrder,
    registers: list[int],
    value: float | bool,
) -> None:
    assert encode_value(value, data_type, word_order=word_order, byte_order=byte_order) == registers


@pytest.mark.parametrize(("word_order", "byte_order", "registers", "bit", "expected"), BIT_CASES)
def test_decode_bit(
    word_order: WordOrder, byte_order: ByteOrder, registers: list[int], bit: int, expected: bool
) -> None:
    value = decode_registers(registers, DataType.BITS, word_order=word_order, byte_order=byte_order, bit=bit)
    assert value is expected


def test_register_counts() -> None:
    assert {data_type: register_count(data_type) for data_type in DataType} == {
        DataType.INT16: 1,
        DataType.UINT16: 1,
        DataType.INT32: 2,
        DataType.UINT32: 2,
        DataType.FLOAT32: 2,
        DataType.FLOAT64: 4,
        DataType.BITS: 1,
        DataType.BOOL: 1,
    }


def test_bool_decodes_any_nonzero_register_as_true() -> None:
    assert decode_registers([0x0100], DataType.BOOL) is True
    assert decode_registers([True], DataType.BOOL) is True


# --- NaN and infinity decode: quality is the caller's decision -------------------------------------------


def test_float32_nan_and_infinity_decode() -> None:
    assert math.isnan(float(decode_registers([0x7FC0, 0x0000], DataType.FLOAT32)))
    assert decode_registers([0x7F80, 0x0000], DataType.FLOAT32) == math.inf
    assert decode_registers([0xFF80, 0x0000], DataType.FLOAT32) == -math.inf


def test_float_infinity_encodes() -> None:
    assert encode_value(math.inf, DataType.FLOAT32) == [0x7F80, 0x0000]
    assert encode_value(-math.inf, DataType.FLOAT64) == [0xFFF0, 0, 0, 0]


# --- integer rounding and ranges --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "data_type", "registers"),
    [
        (12.5, DataType.INT16, [13]),
        (-12.5, DataType.INT16, [0xFFF3]),  # -13: ties go away from zero, not to even
        (12.4999, DataType.UINT16, [12]),
        (65535.4, DataType.UINT16, [0xFFFF]),
        (True, DataType.UINT16, [1]),
        (remove_scaling(20.9, scale=0.1), DataType.INT16, [209]),  # 208.99999999999997 must not truncate
        (-0.4, DataType.UINT16, [0]),
    ],
)
def test_integer_encoding_rounds(value: float, data_type: DataType, registers: list[int]) -> None:
    assert encode_value(value, data_type) == registers


@pytest.mark.parametrize(
    ("value", "data_type", "message"),
    [
        (65536, DataType.UINT16, "uint16 (allowed 0..65535)"),
        (65535.5, DataType.UINT16, "uint16 (allowed 0..65535)"),
        (-1, DataType.UINT16, "uint16 (allowed 0..65535)"),
        (32768, DataType.INT16, "int16 (allowed -32768..32767)"),
        (-32769, DataType.INT16, "int16 (allowed -32768..32767)"),
        (2**31, DataType.INT32, "int32 (allowed -2147483648..2147483647)"),
        (2**32, DataType.UINT32, "uint32 (allowed 0..4294967295)"),
        (math.nan, DataType.INT32, "cannot be stored in integer type int32"),
        (math.inf, DataType.UINT16, "cannot be stored in integer type uint16"),
        (1e39, DataType.FLOAT32, "does not fit in float32"),
        (2, DataType.BOOL, "bool value must be 0 or 1"),
        (0.5, DataType.BITS, "bits value must be 0 or 1"),
    ],
)
def test_encode_rejects_out_of_range(value: float, data_type: DataType, message: str) -> None:
    bit = 3 if data_type is DataType.BITS else None
    with pytest.raises(CodecError, match=re.escape(message)):
        encode_value(value, data_type, bit=bit)


# --- register and bit validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("registers", "data_type", "message"),
    [
        ([0x3FC0], DataType.FLOAT32, "float32 needs exactly 2 register"),
        ([1, 2, 3], DataType.FLOAT64, "float64 needs exactly 4 register"),
        ([], DataType.INT16, "int16 needs exactly 1 register"),
        ([65536], DataType.UINT16, "register 0 is 65536, outside 0..65535"),
        ([0, -1], DataType.INT32, "register 1 is -1, outside 0..65535"),
    ],
)
def test_decode_rejects_bad_registers(registers: list[int], data_type: DataType, message: str) -> None:
    with pytest.raises(CodecError, match=re.escape(message)):
        decode_registers(registers, data_type)


def test_decode_rejects_non_integer_register() -> None:
    bad: list[int] = [1.5]  # type: ignore[list-item]  # what a careless caller might pass
    with pytest.raises(CodecError, match="not an integer"):
        decode_registers(bad, DataType.UINT16)


@pytest.mark.parametrize(("bit", "message"), [(None, "needs a bit number"), (16, "bit 16"), (-1, "bit -1")])
def test_bits_requires_valid_bit(bit: int | None, message: str) -> None:
    with pytest.raises(CodecError, match=re.escape(message)):
        decode_registers([0], DataType.BITS, bit=bit)
    with pytest.raises(CodecError, match=re.escape(message)):
        encode_value(True, DataType.BITS, bit=bit)


def test_bit_on_non_bits_type_is_a_configuration_error() -> None:
    with pytest.raises(CodecError, match="only 'bits' selects a bit"):
        decode_registers([0], DataType.UINT16, bit=3)


def test_bits_encode_rejects_bad_base_register() -> None:
    with pytest.raises(CodecError, match=re.escape("outside 0..65535")):
        encode_value(True, DataType.BITS, bit=0, base_register=70000)


# --- bit writing (the simulator sets status bits this way) ------------------------------------------------


@pytest.mark.parametrize(
    ("base", "bit", "state", "byte_order", "expected"),
    [
        (0x0120, 0, True, BIG_B, [0x0121]),
        (0x0120, 5, False, BIG_B, [0x0100]),
        (0x0120, 5, True, BIG_B, [0x0120]),
        (0x2001, 0, True, LITTLE_B, [0x2101]),
        (0x2001, 8, False, LITTLE_B, [0x2000]),
        (0x0000, 15, True, BIG_B, [0x8000]),
        (0x0000, 15, True, LITTLE_B, [0x0080]),
    ],
)
def test_encode_bit_keeps_other_bits(
    base: int, bit: int, state: bool, byte_order: ByteOrder, expected: list[int]
) -> None:
    assert encode_value(state, DataType.BITS, bit=bit, base_register=base, byte_order=byte_order) == expected


# --- round-trip properties --------------------------------------------------------------------------------

orders = st.sampled_from(WordOrder), st.sampled_from(ByteOrder)
INTEGER_RANGES = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
}


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[DataType, int | float]:
    data_type = draw(st.sampled_from([*INTEGER_RANGES, DataType.FLOAT32, DataType.FLOAT64]))
    if data_type in INTEGER_RANGES:
        low, high = INTEGER_RANGES[data_type]
        return data_type, draw(st.integers(low, high))
    if data_type is DataType.FLOAT32:
        return data_type, draw(st.floats(width=32, allow_nan=False))
    return data_type, draw(st.floats(allow_nan=False))


@given(typed_values(), *orders)
def test_encode_then_decode_returns_value(
    typed: tuple[DataType, int | float], word_order: WordOrder, byte_order: ByteOrder
) -> None:
    data_type, value = typed
    registers = encode_value(value, data_type, word_order=word_order, byte_order=byte_order)
    assert len(registers) == register_count(data_type)
    assert all(0 <= register <= 0xFFFF for register in registers)
    assert decode_registers(registers, data_type, word_order=word_order, byte_order=byte_order) == value


@given(st.sampled_from([DataType.FLOAT32, DataType.FLOAT64]), *orders)
def test_nan_round_trips_as_nan(data_type: DataType, word_order: WordOrder, byte_order: ByteOrder) -> None:
    registers = encode_value(math.nan, data_type, word_order=word_order, byte_order=byte_order)
    decoded = decode_registers(registers, data_type, word_order=word_order, byte_order=byte_order)
    assert math.isnan(float(decoded))


@given(st.data(), st.sampled_from(DataType), *orders)
def test_decode_then_encode_returns_registers(
    data: st.DataObject, data_type: DataType, word_order: WordOrder, byte_order: ByteOrder
) -> None:
    count = register_count(data_type)
    max_register = 1 if data_type is DataType.BOOL else 0xFFFF
    registers = data.draw(st.lists(st.integers(0, max_register), min_size=count, max_size=count))
    if data_type is DataType.BITS:
        # A single bit cannot reproduce the other 15: it rewrites itself into the original register.
        bit = data.draw(st.integers(0, 15))
        state = decode_registers(registers, data_type, byte_order=byte_order, bit=bit)
        assert encode_value(state, data_type, byte_order=byte_order, bit=bit, base_register=registers[0]) == registers
        return
    value = decode_registers(registers, data_type, word_order=word_order, byte_order=byte_order)
    if isinstance(value, float) and math.isnan(value):
        return  # NaN payloads are not guaranteed to survive the float64 round trip
    assert encode_value(value, data_type, word_order=word_order, byte_order=byte_order) == registers


@given(st.integers(0, 0xFFFF), st.integers(0, 15), st.booleans(), st.sampled_from(ByteOrder))
def test_bit_write_changes_only_that_bit(base: int, bit: int, state: bool, byte_order: ByteOrder) -> None:
    written = encode_value(state, DataType.BITS, bit=bit, base_register=base, byte_order=byte_order)
    for other in range(16):
        before = decode_registers([base], DataType.BITS, bit=other, byte_order=byte_order)
        after = decode_registers(written, DataType.BITS, bit=other, byte_order=byte_order)
        assert after is (state if other == bit else before)


@given(st.integers(0, 0xFFFF), st.integers(0, 15))
def test_bit_matches_integer_arithmetic(register: int, bit: int) -> None:
    assert decode_registers([register], DataType.BITS, bit=bit) is bool(register & (1 << bit))
    swapped = struct.unpack("<H", struct.pack(">H", register))[0]
    assert decode_registers([swapped], DataType.BITS, bit=bit, byte_order=LITTLE_B) is bool(register & (1 << bit))


# --- scaling ----------------------------------------------------------------------------------------------


def test_apply_scaling_known_values() -> None:
    assert apply_scaling(208, scale=0.1) == pytest.approx(20.8)
    assert apply_scaling(4000, scale=0.005, offset=-4.0) == pytest.approx(16.0)
    assert apply_scaling(True) == 1.0
    assert apply_scaling(7) == 7.0


def test_remove_scaling_rejects_zero_scale() -> None:
    with pytest.raises(CodecError, match="scale 0"):
        remove_scaling(5.0, scale=0.0)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
nonzero_scale = st.floats(min_value=1e-3, max_value=1e3) | st.floats(min_value=-1e3, max_value=-1e-3)


@given(finite, nonzero_scale, finite)
def test_scaling_round_trip(raw: float, scale: float, offset: float) -> None:
    engineering = apply_scaling(raw, scale=scale, offset=offset)
    assert remove_scaling(engineering, scale=scale, offset=offset) == pytest.approx(raw, rel=1e-6, abs=1e-3)
