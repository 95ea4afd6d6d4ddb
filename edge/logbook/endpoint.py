"""A local ZeroMQ REP endpoint that takes log entries from other programs on the gateway (a tablet app's relay, a
shift-report form, a PLC gateway script).

A request is one JSON or msgpack object ``{"text": ..., "kind"?: ..., "t"?: epoch or ISO-8601, "incident"?: bool,
"alarm"?: id, "equipment"?: tag, "location"?: tag}``; the reply uses the same encoding: ``{"ok": true, "id": N,
"equipment": ..., "location": ..., "t_s": ...}`` once the entry is durable, or ``{"ok": false, "error": "...",
"field": "..."}``. The endpoint accepts writes, so it binds loopback or ipc:// only (checked by the config).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

import msgpack
import zmq
import zmq.asyncio

from edge.clock import Clock
from edge.hazard.contract import LogKind
from edge.logbook.records import LogInputError, record_fields
from edge.logbook.store import LogStore

__all__ = ["LogEndpoint", "send_entry"]

log = logging.getLogger(__name__)


class LogEndpoint:
    def __init__(
        self,
        context: zmq.asyncio.Context,
        endpoint: str,
        store: LogStore,
        *,
        clock: Clock,
        default_kind: LogKind = LogKind.OPERATION,
    ) -> None:
        self._context = context
        self.endpoint = endpoint
        self._store = store
        self._clock = clock
        self._default_kind = default_kind
        self.accepted = 0
        self.refused = 0

    async def run(self) -> None:
        """Bind and serve until cancelled; the socket is opened per run so a supervisor can restart it."""
        socket = self._context.socket(zmq.REP)
        socket.setsockopt(zmq.LINGER, 0)
        try:
            socket.bind(self.endpoint)
            log.info("logbook: taking entries on %s", self.endpoint)
            while True:
                raw = await socket.recv()
                as_json = raw.lstrip()[:1] == b"{"
                reply = await self._handle(raw, as_json=as_json)
                await socket.send(
                    json.dumps(reply).encode("utf-8") if as_json else msgpack.packb(reply, use_bin_type=True)
                )
        finally:
            socket.close(linger=0)

    async def _handle(self, raw: bytes, *, as_json: bool) -> dict[str, Any]:
        try:
            request = json.loads(raw) if as_json else msgpack.unpackb(raw, raw=False)
        except (ValueError, msgpack.UnpackException) as exc:
            self.refused += 1
            what = "JSON" if as_json else "msgpack"
            return {"ok": False, "field": "", "error": f"the request is not a {what} object ({exc})"}
        if not isinstance(request, Mapping):
            self.refused += 1
            return {"ok": False, "field": "", "error": 'a request is one object: {"text": "...", "kind": ...}'}
        try:
            fields = record_fields(request, now_wall=self._clock.wall(), default_kind=self._default_kind)
        except LogInputError as exc:
            self.refused += 1
            log.warning("logbook: entry from %s refused: %s", self.endpoint, exc)
            return {"ok": False, "field": exc.field, "error": str(exc)}
        try:
            # The commit's fsync stays off the event loop.
            stored = await asyncio.to_thread(self._store.add_fields, fields, source="zmq")
        except Exception as exc:
            self.refused += 1
            log.exception("logbook: entry from %s could not be stored", self.endpoint)
            return {"ok": False, "field": "", "error": f"not stored: {type(exc).__name__}: {exc}"}
        self.accepted += 1
        return {
            "ok": True,
            "id": stored.id,
            "t_s": stored.t_s,
            "equipment": stored.equipment,
            "location": stored.location,
        }


def send_entry(endpoint: str, entry: Mapping[str, Any], *, timeout_s: float = 3.0) -> dict[str, Any]:
    """Send one entry to a gateway's logbook endpoint and wait for its reply (blocking; msgpack)."""
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    socket = context.socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVTIMEO, int(timeout_s * 1000))
    socket.setsockopt(zmq.SNDTIMEO, int(timeout_s * 1000))
    try:
        socket.connect(endpoint)
        socket.send(msgpack.packb(dict(entry), use_bin_type=True))
        try:
            reply = msgpack.unpackb(socket.recv(), raw=False)
        except zmq.Again:
            raise TimeoutError(f"no answer from a logbook endpoint at {endpoint} within {timeout_s:g} s") from None
    finally:
        socket.close(linger=0)
    if not isinstance(reply, dict):
        raise ValueError(f"malformed reply from {endpoint}: {reply!r}")
    return reply
