"""The gateway's local control socket (ZeroMQ REP, msgpack) used by ``minegate alarms`` and ``status``.

Requests are ``{"cmd": ..., ...}``; replies ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``.
Bind it to loopback or an ipc:// path: it can acknowledge alarms, so it is not for the mine network.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import msgpack
import zmq
import zmq.asyncio

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ControlError(Exception):
    """A request the gateway refused; the message is shown to the user as is."""


class ControlTarget(Protocol):
    # A handler may return an awaitable for a command that must wait (e.g. a DTN bundle's durable put); the
    # REP socket serves one request at a time, so such a command holds the socket until it resolves.
    def handle_control(self, request: dict[str, Any]) -> dict[str, Any] | Awaitable[dict[str, Any]]: ...


class ControlServer:
    def __init__(self, context: zmq.asyncio.Context, endpoint: str, target: ControlTarget) -> None:
        self._socket = context.socket(zmq.REP)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.bind(endpoint)
        self._target = target
        self.endpoint = endpoint

    async def run(self) -> None:
        try:
            while True:
                raw = await self._socket.recv()
                reply: dict[str, Any]
                try:
                    request = msgpack.unpackb(raw, raw=False)
                    if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
                        raise ControlError("a request is a mapping with a 'cmd' string")
                    result = self._target.handle_control(request)
                    if inspect.isawaitable(result):
                        result = await result
                    reply = {"ok": True, **result}
                except ControlError as exc:
                    reply = {"ok": False, "error": str(exc)}
                except (ValueError, msgpack.UnpackException) as exc:
                    reply = {"ok": False, "error": f"malformed request: {exc}"}
                except Exception as exc:
                    # A handler bug (e.g. a KeyError on a missing field) must cost one request, not the
                    # control socket for the rest of the run; a REP socket must answer before it can recv.
                    log.exception("control request failed")
                    reply = {"ok": False, "error": f"internal error: {type(exc).__name__}: {exc}"}
                try:
                    packed = msgpack.packb(reply, use_bin_type=True)
                except (TypeError, ValueError, OverflowError) as exc:
                    log.exception("control reply cannot be encoded")
                    packed = msgpack.packb({"ok": False, "error": f"internal error: reply not encodable: {exc}"})
                await self._socket.send(packed)
        finally:
            self._socket.close(linger=0)


def request(endpoint: str, payload: dict[str, Any], *, timeout_s: float = 3.0) -> dict[str, Any]:
    """Send one control request and wait for the reply (blocking; for the CLI)."""
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    socket = context.socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVTIMEO, int(timeout_s * 1000))
    socket.setsockopt(zmq.SNDTIMEO, int(timeout_s * 1000))
    try:
        socket.connect(endpoint)
        socket.send(msgpack.packb(payload, use_bin_type=True))
        try:
            reply = msgpack.unpackb(socket.recv(), raw=False)
        except zmq.Again:
            raise ControlError(
                f"no answer from a gateway at {endpoint} within {timeout_s:g} s: is `minegate run` running "
                "with this config?"
            ) from None
    finally:
        socket.close(linger=0)
    if not isinstance(reply, dict):
        raise ControlError("malformed reply from the gateway")
    return reply
