"""The DTN link's frame codec: what two peers say to each other over one ZeroMQ connection.

Every message is a multipart ZeroMQ message ``[type (1 byte), session (8 bytes, big endian), body]``; a BUNDLE
carries the encoded bundle as a fourth part so its bytes are never re-packed. Bodies are msgpack arrays:

=========  ====  =================================================================================================
HELLO      H     ``[version, node, kind, hops or nil, credit, urgent_credit, wants_summary]`` opens a session
HEARTBEAT  Y     ``[]`` -- any message proves the peer alive; this one is sent when nothing else is
BUNDLE     B     ``[tag, copies, urgent]`` + bundle frame; one bundle per message, consumes one credit
ACK        A     ``[[tag, ...] stored, [[tag, reason], ...] refused, credit, urgent_credit]``; returns credit
SUMMARY    S     ``[[source, [created_ms, seq, created_ms, seq, ...]], ...]``: ids the sender already holds or saw
RESYNC     R     ``[]`` -- "I have no session with you": the dialer starts a new one
=========  ====  =================================================================================================

The session id (random, chosen by the dialing side) ties every message to one contact, so a late message from a
contact that has since been torn down is recognised and dropped instead of being taken for the new one.
Decoding never trusts its input: sizes are bounded before msgpack allocates and every field is type- and
range-checked, so a malformed message raises ``WireError`` and nothing else.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from edge.dtn.bundle import NODE_ID_PATTERN, BundleId

PROTOCOL_VERSION = 1
MAX_CREDIT = 4096  # frames a receiver may let one peer have in flight; far above any useful window
MAX_COPIES = 1 << 16
MAX_SUMMARY_IDS = 500_000  # a summary longer than this is cut: the rest are offered and dropped as duplicates
MAX_ACK_ENTRIES = 2 * MAX_CREDIT
MAX_REASON_CHARS = 64
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # ZMQ_MAXMSGSIZE on every link socket: a full summary fits, nothing larger
_MAX_TAG = 2**63 - 1
_SESSION = struct.Struct(">Q")

HELLO = b"H"
HEARTBEAT = b"Y"
BUNDLE = b"B"
ACK = b"A"
SUMMARY = b"S"
RESYNC = b"R"


class WireError(ValueError):
    """A link message that cannot be decoded; the message says which part is wrong and what was expected."""


@dataclass(frozen=True, slots=True)
class Hello:
    node: str
    kind: str  # a routing.PeerKind value; checked by the link, which owns the mapping
    hops_to_surface: int | None
    credit: int  # BUNDLE frames the sender of this HELLO accepts before it returns credit
    urgent_credit: int  # extra frames it accepts for ALARM bundles only, so an alarm never waits for credit
    wants_summary: bool  # "send me your summary vector": the sender's router avoids offering what it holds
    version: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class Heartbeat:
    pass


@dataclass(frozen=True, slots=True)
class BundleFrame:
    tag: int  # chosen by the sender, unique per link; the ACK names it
    copies: int  # spray-and-wait tokens handed over with the bundle
    urgent: bool  # sent on urgent credit (ALARM only)
    data: bytes  # edge.dtn.bundle.encode() of the forwarded bundle


@dataclass(frozen=True, slots=True)
class Ack:
    stored: tuple[int, ...]  # durably held by the receiver (stored now, or a duplicate it already held/passed on)
    refused: tuple[tuple[int, str], ...]  # not taken: (tag, reason) -- the sender keeps custody
    credit: int
    urgent_credit: int


@dataclass(frozen=True, slots=True)
class Summary:
    ids: frozenset[BundleId]


@dataclass(frozen=True, slots=True)
class Resync:
    pass


Message = Hello | Heartbeat | BundleFrame | Ack | Summary | Resync


def encode_message(session: int, message: Message) -> list[bytes]:
    head = _SESSION.pack(session)
    match message:
        case BundleFrame(tag, copies, urgent, data):
            return [BUNDLE, head, _pack([tag, copies, urgent]), data]
        case Hello(node, kind, hops, credit, urgent_credit, wants_summary, version):
            return [HELLO, head, _pack([version, node, kind, hops, credit, urgent_credit, wants_summary])]
        case Ack(stored, refused, credit, urgent_credit):
            return [ACK, head, _pack([list(stored), [list(r) for r in refused], credit, urgent_credit])]
        case Heartbeat():
            return [HEARTBEAT, head, _pack([])]
        case Summary(ids):
            return [SUMMARY, head, _pack(_summary_body(ids))]
        case Resync():
            return [RESYNC, head, _pack([])]
    raise TypeError(f"not a link message: {message!r}")


def decode_message(parts: Sequence[bytes]) -> tuple[int, Message]:
    """``(session, message)`` from the parts of one ZeroMQ message (routing id already removed)."""
    if len(parts) not in (3, 4):
        raise WireError(f"a link message has 3 parts (4 for BUNDLE), got {len(parts)}")
    kind, head = bytes(parts[0]), bytes(parts[1])
    if len(head) != _SESSION.size:
        raise WireError(f"session part must be {_SESSION.size} bytes, got {len(head)}")
    (session,) = _SESSION.unpack(head)
    if kind == BUNDLE:
        if len(parts) != 4:
            raise WireError("a BUNDLE message has 4 parts: type, session, header, bundle")
        return session, _bundle_frame(_unpack(parts[2], 3), bytes(parts[3]))
    if len(parts) != 3:
        raise WireError(f"a {kind!r} message has 3 parts, got {len(parts)}")
    if kind == SUMMARY:
        return session, _summary(parts[2])
    body = _unpack(parts[2], MAX_ACK_ENTRIES)
    if kind == HELLO:
        return session, _hello(body)
    if kind == ACK:
        return session, _ack(body)
    if kind in (HEARTBEAT, RESYNC):
        if body != []:
            raise WireError(f"a {kind!r} message has an empty body")
        return session, Heartbeat() if kind == HEARTBEAT else Resync()
    raise WireError(f"unknown link message type {kind!r}; expected one of H, Y, B, A, S, R")


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def _unpack(data: bytes, max_array: int) -> list[Any]:
    try:
        value = msgpack.unpackb(
            bytes(data),
            raw=False,
            strict_map_key=True,
            max_str_len=256,
            max_bin_len=0,
            max_array_len=max_array,
            max_map_len=0,
            max_ext_len=0,
        )
    except Exception as exc:  # msgpack raises ValueError, ExtraData, FormatError, StackError, ...
        raise WireError(f"message body is not valid msgpack: {exc}") from exc
    if not isinstance(value, list):
        raise WireError(f"message body must be a msgpack array, got {type(value).__name__}")
    return value


def _int(name: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise WireError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _node(name: str, value: object) -> str:
    if not isinstance(value, str) or not NODE_ID_PATTERN.fullmatch(value):
        raise WireError(f"{name} {value!r} is not a node id")
    return value


def _hello(body: list[Any]) -> Hello:
    if len(body) != 7:
        raise WireError(f"HELLO body has 7 fields, got {len(body)}")
    version, node, kind, hops, credit, urgent_credit, wants_summary = body
    if version != PROTOCOL_VERSION:
        raise WireError(f"link protocol version {version!r} is not supported (this node speaks {PROTOCOL_VERSION})")
    if not isinstance(kind, str) or len(kind) > 16:
        raise WireError(f"HELLO kind must be a short string, got {kind!r}")
    if not isinstance(wants_summary, bool):
        raise WireError(f"HELLO wants_summary must be a boolean, got {wants_summary!r}")
    return Hello(
        _node("HELLO node", node),
        kind,
        None if hops is None else _int("HELLO hops", hops, 0, 255),
        _int("HELLO credit", credit, 1, MAX_CREDIT),
        _int("HELLO urgent_credit", urgent_credit, 0, MAX_CREDIT),
        wants_summary,
    )


def _bundle_frame(header: list[Any], data: bytes) -> BundleFrame:
    if len(header) != 3:
        raise WireError(f"BUNDLE header has 3 fields, got {len(header)}")
    tag, copies, urgent = header
    if not isinstance(urgent, bool):
        raise WireError(f"BUNDLE urgent must be a boolean, got {urgent!r}")
    return BundleFrame(_int("BUNDLE tag", tag, 0, _MAX_TAG), _int("BUNDLE copies", copies, 1, MAX_COPIES), urgent, data)


def _ack(body: list[Any]) -> Ack:
    if len(body) != 4:
        raise WireError(f"ACK body has 4 fields, got {len(body)}")
    stored, refused, credit, urgent_credit = body
    if not isinstance(stored, list) or not isinstance(refused, list):
        raise WireError("ACK stored and refused must be arrays")
    refusals: list[tuple[int, str]] = []
    for item in refused:
        if not isinstance(item, list) or len(item) != 2:
            raise WireError(f"ACK refusal must be [tag, reason], got {item!r}")
        reason = item[1]
        if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
            raise WireError(f"ACK refusal reason must be a string of at most {MAX_REASON_CHARS} characters")
        refusals.append((_int("ACK tag", item[0], 0, _MAX_TAG), reason))
    return Ack(
        tuple(_int("ACK tag", t, 0, _MAX_TAG) for t in stored),
        tuple(refusals),
        _int("ACK credit", credit, 0, MAX_CREDIT),
        _int("ACK urgent_credit", urgent_credit, 0, MAX_CREDIT),
    )


def _summary_body(ids: Iterable[BundleId]) -> list[Any]:
    by_source: dict[str, list[int]] = defaultdict(list)
    for count, bid in enumerate(ids):
        if count >= MAX_SUMMARY_IDS:
            break
        by_source[bid.source] += (bid.created_ms, bid.seq)
    return [[source, flat] for source, flat in by_source.items()]


def _summary(data: bytes) -> Summary:
    try:
        body = msgpack.unpackb(
            bytes(data),
            raw=False,
            strict_map_key=True,
            max_str_len=256,
            max_bin_len=0,
            max_array_len=2 * MAX_SUMMARY_IDS,
            max_map_len=0,
            max_ext_len=0,
        )
    except Exception as exc:  # msgpack raises ValueError, ExtraData, FormatError, StackError, ...
        raise WireError(f"SUMMARY body is not valid msgpack: {exc}") from exc
    if not isinstance(body, list):
        raise WireError("SUMMARY body must be an array of [source, [created_ms, seq, ...]]")
    ids: set[BundleId] = set()
    for entry in body:
        if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[1], list) or len(entry[1]) % 2:
            raise WireError("SUMMARY entry must be [source, [created_ms, seq, ...]] with an even number of integers")
        source, flat = _node("SUMMARY source", entry[0]), entry[1]
        for i in range(0, len(flat), 2):
            created_ms = _int("SUMMARY created_ms", flat[i], 0, 2**63 - 1)
            seq = _int("SUMMARY seq", flat[i + 1], 0, 2**63 - 1)
            ids.add(BundleId(source, created_ms, seq))
        if len(ids) > MAX_SUMMARY_IDS:
            raise WireError(f"SUMMARY holds more than {MAX_SUMMARY_IDS} ids")
    return Summary(frozenset(ids))
