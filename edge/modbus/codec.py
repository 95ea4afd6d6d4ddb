"""Convert between Modbus 16-bit registers and typed values, and between raw and engineering units.

Built on ``struct`` rather than pymodbus's converter because that converter's signature moves between
pymodbus minors; this module is the one place that knows how registers become numbers.

Conventions: ``WordOrder.BIG`` puts the most significant 16-bit word first (the Modbus default, "ABCD");
``WordOrder.LITTLE`` reverses the words ("CDAB" for 32-bit values). ``ByteOrder.LITTLE`` swaps the two
bytes inside every register ("BADC"). Both may be combined ("DCBA"). Decoding NaN or infinity is not an
error: whether such a value is usable is the caller's quality decision.
"""

from __future__ import annotations

import enum
import math
import operator
import struct
from collections.abc import Sequence

REGISTER_MAX = 0xFFFF
BIT_MAX = 15


class CodecError(ValueError):
    """Registers or a value that cannot be converted for the configured data type."""


class DataType(enum.StrEnum):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    BITS = "bits"  # one bit of a 16-bit register, chosen by ``bit``
    BOOL = "bool"  # one coil or discrete input


class WordOrder(enum.StrEnum):
    """Order of the 16-bit words of a multi-register value."""

    BIG = "big"
    LITTLE = "little"


class ByteOrder(enum.StrEnum):
    """Order of the two bytes inside each register."""

    BIG = "big"
    LITTLE = "little"


# struct format (big-endian) and register count for the types stored as plain numbers.
_NUMERIC_FORMATS: dict[DataType, tuple[str, int]] = {
    DataType.INT16: (">h", 1),
    DataType.UINT16: (">H", 1),
    DataType.INT32: (">i", 2),
    DataType.UINT32: (">I", 2),
    DataType.FLOAT32: (">f", 2),
    DataType.FLOAT64: (">d", 4),
}

_INTEGER_RANGES: dict[DataType, tuple[int, int]] = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
}


def register_count(data_type: DataType) -> int:
    """How many registers (or coils, for ``BOOL``) one value of ``data_type`` occupies."""
    if data_type in (DataType.BITS, DataType.BOOL):
        return 1
    return _NUMERIC_FORMATS[data_type][1]


def decode_registers(
    registers: Sequence[int],
    data_type: DataType,
    *,
    word_order: WordOrder = WordOrder.BIG,
    byte_order: ByteOrder = ByteOrder.BIG,
    bit: int | None = None,
) -> int | float | bool:
    """Decode exactly ``register_count(data_type)`` registers into a value.

    ``BITS`` returns bit ``bit`` (0 = least significant) of the register after byte-order correction.
    ``BOOL`` takes one coil/discrete-input state (or a register) and is true when non-zero.
    """
    words = _checked_registers(registers, data_type)
    bit_number = _checked_bit(data_type, bit)
    if data_type is DataType.BOOL:
        return words[0] != 0
    if bit_number is not None:
        return bool((_apply_byte_order(words[0], byte_order) >> bit_number) & 1)
    fmt, _ = _NUMERIC_FORMATS[data_type]
    raw = _registers_to_bytes(words, word_order=word_order, byte_order=byte_order)
    value: int | float = struct.unpack(fmt, raw)[0]
    return value


def encode_value(
    value: float | int | bool,
    data_type: DataType,
    *,
    word_order: WordOrder = WordOrder.BIG,
    byte_order: ByteOrder = ByteOrder.BIG,
    bit: int | None = None,
    base_register: int = 0,
) -> list[int]:
    """Encode ``value`` into the registers a device would hold for it (the inverse of ``decode_registers``).

    Integer types round to the nearest integer (ties away from zero) and reject values outside the type's
    range. For ``BITS`` the result is ``[base_register]`` with bit ``bit`` set or cleared, so other bits of a
    shared status register survive. ``BITS`` and ``BOOL`` accept only 0/1/False/True.
    """
    bit_number = _checked_bit(data_type, bit)
    if data_type is DataType.BOOL:
        return [int(_as_bit_state(value, data_type))]
    if bit_number is not None:
        state = _as_bit_state(value, data_type)
        (base,) = _checked_registers([base_register], DataType.BITS)
        logical = _apply_byte_order(base, byte_order)
        logical = logical | (1 << bit_number) if state else logical & ~(1 << bit_number)
        return [_apply_byte_order(logical, byte_order)]

    fmt, _ = _NUMERIC_FORMATS[data_type]
    is_integer = data_type in _INTEGER_RANGES
    packed_value: int | float = _rounded_in_range(value, data_type) if is_integer else float(value)
    try:
        raw = struct.pack(fmt, packed_value)
    except (OverflowError, struct.error) as exc:
        raise CodecError(f"value {value!r} does not fit in {data_type.value}: {exc}") from exc
    return _bytes_to_registers(raw, word_order=word_order, byte_order=byte_order)


def apply_scaling(raw: float | int | bool, *, scale: float = 1.0, offset: float = 0.0) -> float:
    """Engineering value from a raw value: ``raw * scale + offset``."""
    return float(raw) * scale + offset


def remove_scaling(engineering: float, *, scale: float = 1.0, offset: float = 0.0) -> float:
    """Raw value from an engineering value: the inverse of ``apply_scaling``."""
    if scale == 0:
        raise CodecError("scale 0 cannot be inverted: every raw value maps to the offset")
    return (engineering - offset) / scale


def _checked_registers(registers: Sequence[int], data_type: DataType) -> list[int]:
    expected = register_count(data_type)
    if len(registers) != expected:
        raise CodecError(
            f"{data_type.value} needs exactly {expected} register(s), got {len(registers)}: {list(registers)!r}"
        )
    words: list[int] = []
    for position, register in enumerate(registers):
        try:
            word = operator.index(register)
        except TypeError as exc:
            raise CodecError(f"register {position} is {register!r}, not an integer") from exc
        if not 0 <= word <= REGISTER_MAX:
            raise CodecError(f"register {position} is {word}, outside 0..{REGISTER_MAX}")
        words.append(word)
    return words


def _checked_bit(data_type: DataType, bit: int | None) -> int | None:
    """The bit number for ``BITS`` (required, 0..15); ``None`` for other types, where a bit is an error."""
    if data_type is not DataType.BITS:
        if bit is not None:
            raise CodecError(f"bit {bit} given for data type {data_type.value}; only 'bits' selects a bit")
        return None
    if bit is None:
        raise CodecError(f"data type bits needs a bit number 0..{BIT_MAX}")
    if not 0 <= bit <= BIT_MAX:
        raise CodecError(f"bit {bit} is outside 0..{BIT_MAX}")
    return bit


def _as_bit_state(value: float | int | bool, data_type: DataType) -> bool:
    if value in (0, 1):
        return bool(value)
    raise CodecError(f"{data_type.value} value must be 0 or 1 (False/True), got {value!r}")


def _rounded_in_range(value: float | int | bool, data_type: DataType) -> int:
    low, high = _INTEGER_RANGES[data_type]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CodecError(f"{value!r} cannot be stored in integer type {data_type.value}")
        # Ties away from zero: what a field engineer expects of 12.5 -> 13, unlike round()'s banker's rule.
        rounded = int(math.copysign(math.floor(abs(value) + 0.5), value))
    else:
        rounded = int(value)
    if not low <= rounded <= high:
        raise CodecError(f"value {value!r} is out of range for {data_type.value} (allowed {low}..{high})")
    return rounded


def _apply_byte_order(word: int, byte_order: ByteOrder) -> int:
    # Swapping is its own inverse, so the same call converts device order to logical order and back.
    if byte_order is ByteOrder.LITTLE:
        return ((word & 0xFF) << 8) | (word >> 8)
    return word


def _registers_to_bytes(words: Sequence[int], *, word_order: WordOrder, byte_order: ByteOrder) -> bytes:
    ordered = [_apply_byte_order(word, byte_order) for word in words]
    if word_order is WordOrder.LITTLE:
        ordered.reverse()
    return b"".join(word.to_bytes(2, "big") for word in ordered)


def _bytes_to_registers(raw: bytes, *, word_order: WordOrder, byte_order: ByteOrder) -> list[int]:
    words = [int.from_bytes(raw[index : index + 2], "big") for index in range(0, len(raw), 2)]
    if word_order is WordOrder.LITTLE:
        words.reverse()
    return [_apply_byte_order(word, byte_order) for word in words]
