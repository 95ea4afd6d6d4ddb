"""The DTN bundle: what moves between gateways, carriers and the surface, and its wire encoding.

A bundle is identified by ``(source node, creation time ms, sequence)``. The sequence comes from the source's
store, which persists its high-water mark, so an id is never reused even after a crash and a clock step back.

Wire form: ``msgpack([version, source, created_ms, seq, destination, priority, lifetime_ms, kind, payload,
hop_count, previous_node]) + crc32 (4 bytes, big endian)`` over the msgpack body. The hop fields change at every
hop, so each hop recomputes the checksum; it guards the frame on the link and the row on disk, not the origin
(CurveZMQ authenticates peers). Decoding never trusts its input: lengths are bounded before msgpack allocates,
and every field is type- and range-checked, so a malformed frame raises ``BundleError`` and nothing else.
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

import msgpack

SCHEMA_VERSION = 1

MAX_PAYLOAD_BYTES = 256 * 1024  # a camera thumbnail or a log excerpt fits; video does not belong in a mine DTN
MAX_LIFETIME_MS = 30 * 24 * 3600 * 1000
MAX_HOPS = 255
_MAX_FRAME_BYTES = MAX_PAYLOAD_BYTES + 4096
_CRC = struct.Struct(">I")

NODE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
KIND_PATTERN = re.compile(r"[a-z][a-z0-9_.-]{0,31}")
SURFACE = "surface"  # the group endpoint every surface sink serves


class BundleError(ValueError):
    """A bundle that cannot be built or decoded; the message names the field, the value and what is allowed."""


class Priority(IntEnum):
    """Transfer and retention class. Lower value = more urgent: sent first, evicted last."""

    ALARM = 0
    CONTROL = 1
    MOVEMENT = 2
    TELEMETRY = 3
    BULK = 4

    @classmethod
    def parse(cls, value: str | int) -> Priority:
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        elif isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        allowed = ", ".join(f"{p.name.lower()} ({p.value})" for p in cls)
        raise BundleError(f"priority {value!r} is not one of {allowed}")


@dataclass(frozen=True, order=True, slots=True)
class BundleId:
    source: str
    created_ms: int
    seq: int

    def __str__(self) -> str:
        return f"{self.source}/{self.created_ms}/{self.seq}"

    @classmethod
    def parse(cls, text: str) -> BundleId:
        parts = text.rsplit("/", 2)
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise BundleError(f"bundle id {text!r} is not 'source/created_ms/seq'")
        return cls(parts[0], int(parts[1]), int(parts[2]))


@dataclass(frozen=True, slots=True)
class Bundle:
    id: BundleId
    destination: str  # a node id, or a group endpoint such as "surface"
    priority: Priority
    lifetime_ms: int
    kind: str  # what the payload is: "alarm", "readings", "movement", "contact", ...
    payload: bytes  # msgpack; see ``payload_object``
    hop_count: int = 0
    previous_node: str = ""

    def __post_init__(self) -> None:
        _check_node("id.source", self.id.source)
        _check_int("id.created_ms", self.id.created_ms, 0, 2**63 - 1)
        _check_int("id.seq", self.id.seq, 0, 2**63 - 1)
        _check_node("destination", self.destination)
        if not isinstance(self.priority, Priority):
            raise BundleError(f"priority must be a Priority, got {self.priority!r}")
        _check_int("lifetime_ms", self.lifetime_ms, 1, MAX_LIFETIME_MS)
        if not isinstance(self.kind, str) or not KIND_PATTERN.fullmatch(self.kind):
            raise BundleError(f"kind {self.kind!r} must match {KIND_PATTERN.pattern}")
        if not isinstance(self.payload, bytes):
            raise BundleError(f"payload must be bytes (msgpack), got {type(self.payload).__name__}")
        if len(self.payload) > MAX_PAYLOAD_BYTES:
            raise BundleError(
                f"payload of {len(self.payload)} bytes exceeds the limit of {MAX_PAYLOAD_BYTES} bytes; "
                "split it or send a reference instead"
            )
        _check_int("hop_count", self.hop_count, 0, MAX_HOPS)
        if self.previous_node:
            _check_node("previous_node", self.previous_node)

    @property
    def expires_ms(self) -> int:
        return self.id.created_ms + self.lifetime_ms

    def expired(self, now_ms: int) -> bool:
        return now_ms >= self.expires_ms

    def payload_object(self) -> Any:
        try:
            return msgpack.unpackb(self.payload, raw=False, strict_map_key=True)
        except Exception as exc:  # msgpack raises several unrelated types for corrupt input
            raise BundleError(f"bundle {self.id}: payload is not valid msgpack ({exc})") from exc

    def forwarded_by(self, node_id: str) -> Bundle:
        """The copy this node sends on: one more hop, this node as the previous one."""
        if self.hop_count >= MAX_HOPS:
            raise BundleError(f"bundle {self.id} has reached the hop limit of {MAX_HOPS}")
        return replace(self, hop_count=self.hop_count + 1, previous_node=node_id)

    @property
    def size(self) -> int:
        """Bytes this bundle costs on the wire and in the store's byte budget."""
        return len(encode(self))


def make_bundle(
    *,
    source: str,
    created_ms: int,
    seq: int,
    destination: str,
    priority: Priority,
    lifetime_s: float,
    kind: str,
    body: Any,
) -> Bundle:
    """Build a bundle from a msgpack-able ``body``."""
    try:
        payload = msgpack.packb(body, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise BundleError(f"payload of kind {kind!r} cannot be encoded as msgpack: {exc}") from exc
    if not isinstance(lifetime_s, int | float) or isinstance(lifetime_s, bool) or not math.isfinite(lifetime_s):
        raise BundleError(f"lifetime_s must be a finite number of seconds, got {lifetime_s!r}")
    lifetime_ms = round(lifetime_s * 1000)
    return Bundle(BundleId(source, created_ms, seq), destination, priority, lifetime_ms, kind, payload)


def encode(bundle: Bundle) -> bytes:
    body = msgpack.packb(
        [
            SCHEMA_VERSION,
            bundle.id.source,
            bundle.id.created_ms,
            bundle.id.seq,
            bundle.destination,
            int(bundle.priority),
            bundle.lifetime_ms,
            bundle.kind,
            bundle.payload,
            bundle.hop_count,
            bundle.previous_node,
        ],
        use_bin_type=True,
    )
    return body + _CRC.pack(zlib.crc32(body))


def decode(frame: bytes) -> Bundle:
    """Parse a wire frame. Raises ``BundleError`` for anything malformed, never another exception."""
    if not isinstance(frame, bytes | bytearray | memoryview):
        raise BundleError(f"a bundle frame must be bytes, got {type(frame).__name__}")
    frame = bytes(frame)
    if len(frame) < 5:
        raise BundleError(f"bundle frame of {len(frame)} bytes is shorter than the minimum of 5")
    if len(frame) > _MAX_FRAME_BYTES:
        raise BundleError(f"bundle frame of {len(frame)} bytes exceeds the limit of {_MAX_FRAME_BYTES}")
    body, (crc,) = frame[:-4], _CRC.unpack(frame[-4:])
    if zlib.crc32(body) != crc:
        raise BundleError("bundle frame checksum mismatch (corrupted in transit or on disk)")
    try:
        fields = msgpack.unpackb(
            body,
            raw=False,
            strict_map_key=True,
            max_bin_len=MAX_PAYLOAD_BYTES,
            max_str_len=256,
            max_array_len=16,
            max_map_len=0,
            max_ext_len=0,
        )
    except Exception as exc:  # msgpack raises ValueError, ExtraData, FormatError, StackError, ...
        raise BundleError(f"bundle frame is not valid msgpack: {exc}") from exc
    if not isinstance(fields, list) or len(fields) != 11:
        raise BundleError("bundle frame must be a msgpack array of 11 fields")
    version, source, created_ms, seq, destination, priority, lifetime_ms, kind, payload, hops, previous = fields
    if version != SCHEMA_VERSION:
        raise BundleError(f"bundle schema version {version!r} is not supported (this node reads {SCHEMA_VERSION})")
    for name, value, typ in (
        ("id.source", source, str),
        ("destination", destination, str),
        ("kind", kind, str),
        ("previous_node", previous, str),
        ("payload", payload, bytes),
    ):
        if not isinstance(value, typ):
            raise BundleError(f"{name} must be {typ.__name__}, got {type(value).__name__}")
    for name, value in (
        ("id.created_ms", created_ms),
        ("id.seq", seq),
        ("priority", priority),
        ("lifetime_ms", lifetime_ms),
        ("hop_count", hops),
    ):
        if not isinstance(value, int) or isinstance(value, bool):
            raise BundleError(f"{name} must be an integer, got {type(value).__name__}")
    return Bundle(
        BundleId(source, created_ms, seq),
        destination,
        Priority.parse(priority),
        lifetime_ms,
        kind,
        payload,
        hops,
        previous,
    )


def _check_node(name: str, value: object) -> None:
    if not isinstance(value, str) or not NODE_ID_PATTERN.fullmatch(value):
        raise BundleError(
            f"{name} {value!r} is not a node id: 1-64 characters, letters, digits, '_', '.', '-', "
            "starting with a letter or digit"
        )


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BundleError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
