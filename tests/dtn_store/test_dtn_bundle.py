"""Bundle construction and decoding errors: each names the field, the value and what is allowed."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import msgpack
import pytest
from dtn_store_fixtures import bundle

from edge.dtn.bundle import (
    MAX_HOPS,
    MAX_LIFETIME_MS,
    MAX_PAYLOAD_BYTES,
    SCHEMA_VERSION,
    Bundle,
    BundleError,
    BundleId,
    Priority,
    decode,
    encode,
    make_bundle,
)


def build(**overrides: Any) -> Bundle:
    args: dict[str, Any] = {
        "source": "gw-1",
        "created_ms": 1_767_225_600_000,
        "seq": 5,
        "destination": "surface",
        "priority": Priority.ALARM,
        "lifetime_s": 60.0,
        "kind": "alarm",
        "body": {"methane": 2.1},
    }
    args.update(overrides)
    return make_bundle(**args)


def framed(fields: object) -> bytes:
    body = msgpack.packb(fields, use_bin_type=True)
    return body + struct.pack(">I", zlib.crc32(body))


def valid_fields() -> list[Any]:
    return [SCHEMA_VERSION, "gw-1", 1_767_225_600_000, 5, "surface", 0, 60_000, "alarm", b"\x01", 0, ""]


def test_round_trip_and_derived_properties() -> None:
    b = build()
    assert decode(encode(b)) == b
    assert b.expires_ms == 1_767_225_660_000
    assert not b.expired(1_767_225_659_999)
    assert b.expired(1_767_225_660_000)
    assert b.payload_object() == {"methane": 2.1}
    assert b.size == len(encode(b))
    hop = b.forwarded_by("gw-2")
    assert (hop.hop_count, hop.previous_node, hop.id) == (1, "gw-2", b.id)
    assert decode(encode(hop)) == hop


def test_payload_size_limit_is_named() -> None:
    build(body=b"x" * (MAX_PAYLOAD_BYTES - 8))  # fits: msgpack adds a few bytes of header
    with pytest.raises(BundleError, match=rf"payload of {MAX_PAYLOAD_BYTES + 5} bytes exceeds the limit of "):
        build(body=b"x" * MAX_PAYLOAD_BYTES)
    with pytest.raises(BundleError, match="split it or send a reference instead"):
        build(body=b"x" * MAX_PAYLOAD_BYTES)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("source", "bad node", r"id\.source 'bad node' is not a node id: 1-64 characters"),
        ("source", "", r"id\.source '' is not a node id"),
        ("source", "-lead", r"id\.source '-lead' is not a node id"),
        ("source", "n" * 65, r"id\.source 'n{65}' is not a node id"),
        ("destination", "surface/x", r"destination 'surface/x' is not a node id"),
    ],
)
def test_bad_node_ids_are_named(field: str, value: str, message: str) -> None:
    with pytest.raises(BundleError, match=message):
        build(**{field: value})


def test_bad_previous_node_is_named() -> None:
    with pytest.raises(BundleError, match=r"previous_node 'a b' is not a node id"):
        build().forwarded_by("a b")


@pytest.mark.parametrize("kind", ["Alarm", "1alarm", "alarm!", "", "k" * 33])
def test_bad_kind_is_named(kind: str) -> None:
    with pytest.raises(BundleError, match=rf"kind '{kind}' must match \[a-z\]"):
        build(kind=kind)


def test_bad_priority_is_named() -> None:
    with pytest.raises(
        BundleError,
        match=r"priority 'urgent' is not one of alarm \(0\), control \(1\), movement \(2\), telemetry \(3\), "
        r"bulk \(4\)",
    ):
        Priority.parse("urgent")
    with pytest.raises(BundleError, match=r"priority 7 is not one of"):
        Priority.parse(7)
    with pytest.raises(BundleError, match=r"priority True is not one of"):
        Priority.parse(True)
    assert Priority.parse("Telemetry") is Priority.TELEMETRY
    assert Priority.parse(4) is Priority.BULK
    with pytest.raises(BundleError, match=r"priority must be a Priority, got 2"):
        build(priority=2)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lifetime_s": 0}, rf"lifetime_ms must be an integer in \[1, {MAX_LIFETIME_MS}\], got 0"),
        ({"lifetime_s": 31 * 24 * 3600}, r"lifetime_ms must be an integer in \[1, "),
        ({"seq": -1}, r"id\.seq must be an integer in \[0, 9223372036854775807\], got -1"),
        ({"created_ms": 2**63}, r"id\.created_ms must be an integer in \[0, "),
        ({"body": object()}, r"payload of kind 'alarm' cannot be encoded as msgpack"),
        ({"lifetime_s": float("nan")}, r"lifetime_s must be a finite number of seconds, got nan"),
        ({"lifetime_s": float("inf")}, r"lifetime_s must be a finite number of seconds, got inf"),
        ({"lifetime_s": "60"}, r"lifetime_s must be a finite number of seconds, got '60'"),
    ],
)
def test_bad_numbers_and_bodies_are_named(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(BundleError, match=message):
        build(**overrides)


def test_hop_limit() -> None:
    b = build()
    for _ in range(MAX_HOPS):
        b = b.forwarded_by("gw-2")
    with pytest.raises(BundleError, match=rf"has reached the hop limit of {MAX_HOPS}"):
        b.forwarded_by("gw-2")


def test_payload_object_of_a_corrupt_payload_is_a_bundle_error() -> None:
    b = Bundle(BundleId("gw-1", 1, 1), "surface", Priority.BULK, 1000, "bulk", b"\xc1")
    with pytest.raises(BundleError, match=r"bundle gw-1/1/1: payload is not valid msgpack"):
        b.payload_object()


def test_bundle_id_text_form() -> None:
    bid = BundleId("gw.a-1", 123, 4)
    assert BundleId.parse(str(bid)) == bid
    for text in ("gw/1", "gw/x/1", "gw/1/-1", ""):
        with pytest.raises(BundleError, match="is not 'source/created_ms/seq'"):
            BundleId.parse(text)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"", "shorter than the minimum of 5"),
        (b"\x00" * (MAX_PAYLOAD_BYTES + 4097), "exceeds the limit of"),
        (encode(bundle(1))[:-1] + b"\x00", "checksum mismatch"),
        (framed([2, *valid_fields()[1:]]), "schema version 2 is not supported"),
        (framed(valid_fields()[:10]), "array of 11 fields"),
        (framed({"a": 1}), "not valid msgpack"),  # maps are refused before they are built
        (framed([*valid_fields()[:8], "text", 0, ""]), "payload must be bytes, got str"),
        (framed([*valid_fields()[:2], 1.5, *valid_fields()[3:]]), r"id\.created_ms must be an integer, got float"),
        (framed([*valid_fields()[:9], True, ""]), "hop_count must be an integer, got bool"),
        (framed([*valid_fields()[:5], 9, *valid_fields()[6:]]), "priority 9 is not one of"),
        (framed([*valid_fields()[:9], 300, ""]), r"hop_count must be an integer in \[0, 255\], got 300"),
    ],
)
def test_decode_names_what_is_wrong(frame: bytes, message: str) -> None:
    with pytest.raises(BundleError, match=message):
        decode(frame)


def test_decode_accepts_bytearray_and_memoryview_and_refuses_other_types() -> None:
    frame = encode(bundle(3))
    # Annotated as bytes; ZeroMQ hands out memoryviews and buffers, and decode copes with them at run time.
    assert decode(bytearray(frame)) == decode(memoryview(frame)) == bundle(3)  # type: ignore[arg-type]
    with pytest.raises(BundleError, match="must be bytes, got str"):
        decode("frame")  # type: ignore[arg-type]
