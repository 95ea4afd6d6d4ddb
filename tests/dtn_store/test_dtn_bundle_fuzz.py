"""Property tests of the bundle decoder: malformed input raises BundleError and nothing else; encode/decode round-trip.

A frame reaches ``decode`` from a peer's link or from a row on disk; anything else escaping it (TypeError,
msgpack's own exceptions, RecursionError, MemoryError) would take a link or the recovery down.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.dtn.bundle import (
    MAX_HOPS,
    MAX_LIFETIME_MS,
    SCHEMA_VERSION,
    Bundle,
    BundleError,
    BundleId,
    Priority,
    decode,
    encode,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

node_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", fullmatch=True)
kinds = st.from_regex(r"[a-z][a-z0-9_.-]{0,31}", fullmatch=True)
int63 = st.integers(min_value=0, max_value=2**63 - 1)

bundles = st.builds(
    Bundle,
    id=st.builds(BundleId, node_ids, int63, int63),
    destination=node_ids,
    priority=st.sampled_from(Priority),
    lifetime_ms=st.integers(min_value=1, max_value=MAX_LIFETIME_MS),
    kind=kinds,
    payload=st.binary(max_size=2048),
    hop_count=st.integers(min_value=0, max_value=MAX_HOPS),
    previous_node=st.one_of(st.just(""), node_ids),
)

# Anything msgpack can carry: the values a hostile or broken peer could put in a field.
msgpack_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
        st.floats(allow_nan=True),
        st.text(max_size=300),
        st.binary(max_size=300),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=20),
        st.dictionaries(st.text(max_size=5), inner, max_size=3),
    ),
    max_leaves=30,
)


def with_crc(body: bytes) -> bytes:
    return body + struct.pack(">I", zlib.crc32(body))


def decode_or_reject(frame: bytes) -> Bundle | None:
    """The decoder's contract: a Bundle or BundleError. Any other exception fails the test."""
    try:
        return decode(frame)
    except BundleError:
        return None


def fields_of(b: Bundle) -> list[Any]:
    return [
        SCHEMA_VERSION,
        b.id.source,
        b.id.created_ms,
        b.id.seq,
        b.destination,
        int(b.priority),
        b.lifetime_ms,
        b.kind,
        b.payload,
        b.hop_count,
        b.previous_node,
    ]


@FUZZ
@given(bundles)
def test_encode_decode_round_trip(b: Bundle) -> None:
    assert decode(encode(b)) == b


@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes(frame: bytes) -> None:
    decode_or_reject(frame)


@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_with_a_valid_checksum(body: bytes) -> None:
    """Past the crc: the msgpack parser and the field checks see the garbage."""
    decode_or_reject(with_crc(body))


@FUZZ
@given(bundles, st.lists(st.integers(min_value=0), min_size=1, max_size=8))
def test_bit_flips_of_a_valid_frame(b: Bundle, positions: list[int]) -> None:
    frame = bytearray(encode(b))
    for position in positions:
        bit = position % (len(frame) * 8)
        frame[bit // 8] ^= 1 << (bit % 8)
    decoded = decode_or_reject(bytes(frame))
    if len({p % (len(frame) * 8) for p in positions}) <= 3:  # crc32 detects every 1-3 bit error here
        assert decoded is None or bytes(frame) == encode(b)


@FUZZ
@given(bundles, st.data())
def test_truncations_of_a_valid_frame(b: Bundle, data: st.DataObject) -> None:
    frame = encode(b)
    cut = data.draw(st.integers(min_value=0, max_value=len(frame) - 1))
    assert decode_or_reject(frame[:cut]) is None
    body = frame[:-4]  # a truncated body with a checksum that matches it: msgpack must notice
    assert decode_or_reject(with_crc(body[: cut % len(body)])) is None


@FUZZ
@given(st.lists(msgpack_values, min_size=0, max_size=14))
def test_valid_msgpack_of_any_shape(fields: list[Any]) -> None:
    decode_or_reject(with_crc(msgpack.packb(fields, use_bin_type=True)))


@FUZZ
@given(bundles, st.integers(min_value=0, max_value=10), msgpack_values)
def test_one_field_of_the_wrong_type_or_range(b: Bundle, index: int, value: Any) -> None:
    fields = fields_of(b)
    fields[index] = value
    decoded = decode_or_reject(with_crc(msgpack.packb(fields, use_bin_type=True)))
    if decoded is not None:
        assert fields_of(decoded) == fields  # accepted only if it is a well-formed bundle after all


@FUZZ
@given(st.integers(min_value=1, max_value=2000))
def test_deeply_nested_input(depth: int) -> None:
    body = b"\x91" * depth + b"\xc0"  # [[[...[nil]...]]]
    decode_or_reject(with_crc(body))
