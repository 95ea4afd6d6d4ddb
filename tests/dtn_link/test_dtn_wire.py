"""The link frame codec: round trips, and a fuzzed decoder that only ever raises WireError."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.dtn.bundle import BundleId
from edge.dtn.wire import (
    Ack,
    BundleFrame,
    Heartbeat,
    Hello,
    Message,
    Resync,
    Summary,
    WireError,
    decode_message,
    encode_message,
)

MESSAGES: list[Message] = [
    Hello("g1", "fixed", 3, 16, 2, True),
    Hello("c-7", "mobile", None, 1, 0, False),
    Heartbeat(),
    Resync(),
    BundleFrame(12, 4, True, b"\x01\x02"),
    Ack((1, 2, 3), ((4, "refused_full"),), 3, 1),
    Summary(frozenset({BundleId("g1", 5, 1), BundleId("g1", 5, 2), BundleId("c2", 9, 0)})),
    Summary(frozenset()),
]


@pytest.mark.parametrize("message", MESSAGES)
def test_round_trip(message: Message) -> None:
    assert decode_message(encode_message(2**64 - 1, message)) == (2**64 - 1, message)


@pytest.mark.parametrize(
    ("parts", "match"),
    [
        ([b"H", b"\0" * 8], "3 parts"),
        ([b"H", b"\0" * 7, b"\x90"], "session part"),
        ([b"Z", b"\0" * 8, b"\x90"], "unknown link message type"),
        ([b"B", b"\0" * 8, b"\x93\x01\x01\xc2"], "4 parts"),
        ([b"H", b"\0" * 8, b"\x97\x02\xa2g1\xa5fixed\xc0\x10\x00\xc2"], "version 2"),
        ([b"H", b"\0" * 8, b"\x97\x01\xa2g1\xa5fixed\xc0\x00\x00\xc2"], "HELLO credit"),
        ([b"Y", b"\0" * 8, b"\x91\x01"], "empty body"),
        ([b"A", b"\0" * 8, b"\xc1"], "not valid msgpack"),
    ],
)
def test_malformed_messages_name_the_problem(parts: list[bytes], match: str) -> None:
    with pytest.raises(WireError, match=match):
        decode_message(parts)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([b"H", b"Y", b"B", b"A", b"S", b"R", b"X"]),
    st.binary(min_size=0, max_size=10),
    st.lists(st.binary(max_size=64), min_size=1, max_size=2),
)
def test_fuzzed_parts_raise_only_wire_error(kind: bytes, session: bytes, rest: list[bytes]) -> None:
    with contextlib.suppress(WireError):
        decode_message([kind, session, *rest])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(MESSAGES), st.data())
def test_mutated_valid_messages_raise_only_wire_error(message: Message, data: st.DataObject) -> None:
    parts = encode_message(7, message)
    index = data.draw(st.integers(0, len(parts) - 1))
    body = bytearray(parts[index])
    if body:
        pos = data.draw(st.integers(0, len(body) - 1))
        body[pos] = data.draw(st.integers(0, 255))
    parts[index] = bytes(body[: data.draw(st.integers(0, len(body)))])
    with contextlib.suppress(WireError):
        decode_message(parts)
