"""The control socket over real ZeroMQ: ipc:// in tmp_path, msgpack requests, refusals, timeouts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq
import zmq.asyncio

from edge.control import ControlError, ControlServer, request


class Target:
    """A stand-in gateway: echoes, refuses, or fails the way a buggy handler would."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def handle_control(self, req: dict[str, Any]) -> dict[str, Any]:
        self.seen.append(req)
        cmd = req["cmd"]
        if cmd == "refuse":
            raise ControlError("statutory alarms cannot be shelved")
        if cmd == "bad_number":
            return {"value": float(req["value"])}  # ValueError for "abc"
        if cmd == "crash":
            return {"value": req["missing_key"]}  # KeyError: a handler bug
        if cmd == "unencodable":
            return {"value": object()}
        return {"echo": req}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[str, Target]]:
    context = zmq.asyncio.Context()
    endpoint = f"ipc://{tmp_path}/control.sock"
    target = Target()
    srv = ControlServer(context, endpoint, target)
    task = asyncio.create_task(srv.run())
    try:
        yield endpoint, target
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        context.term()


async def ask(endpoint: str, payload: dict[str, Any], timeout_s: float = 3.0) -> dict[str, Any]:
    # request() blocks (it is the CLI's); run it off the loop that serves the socket.
    return await asyncio.to_thread(request, endpoint, payload, timeout_s=timeout_s)


async def test_request_round_trip(server: tuple[str, Target]) -> None:
    endpoint, target = server
    reply = await ask(endpoint, {"cmd": "status", "user": "foreman", "n": [1, 2]})
    assert reply == {"ok": True, "echo": {"cmd": "status", "user": "foreman", "n": [1, 2]}}
    assert target.seen == [{"cmd": "status", "user": "foreman", "n": [1, 2]}]


async def test_refusal_is_an_error_reply_and_the_server_keeps_serving(server: tuple[str, Target]) -> None:
    endpoint, _ = server
    assert await ask(endpoint, {"cmd": "refuse"}) == {"ok": False, "error": "statutory alarms cannot be shelved"}
    reply = await ask(endpoint, {"cmd": "bad_number", "value": "abc"})
    assert reply["ok"] is False
    assert reply["error"].startswith("malformed request: could not convert")
    assert (await ask(endpoint, {"cmd": "status"}))["ok"] is True


@pytest.mark.parametrize("payload", [{"nocmd": 1}, {"cmd": 5}])
async def test_request_without_cmd_string_is_refused(server: tuple[str, Target], payload: dict[str, Any]) -> None:
    endpoint, target = server
    assert await ask(endpoint, payload) == {"ok": False, "error": "a request is a mapping with a 'cmd' string"}
    assert target.seen == []


async def test_garbage_bytes_get_a_malformed_reply(server: tuple[str, Target]) -> None:
    endpoint, _ = server

    def raw_exchange(data: bytes) -> Any:
        context = zmq.Context()
        sock = context.socket(zmq.REQ)
        sock.setsockopt(zmq.RCVTIMEO, 3000)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        try:
            sock.send(data)
            return msgpack.unpackb(sock.recv(), raw=False)
        finally:
            sock.close()
            context.term()

    for data in (b"\xc1", b"\x92\x01", msgpack.packb([1, 2]), b""):
        reply = await asyncio.to_thread(raw_exchange, data)
        assert reply["ok"] is False, data
    assert (await ask(endpoint, {"cmd": "status"}))["ok"] is True


async def test_handler_bug_is_reported_and_does_not_kill_the_socket(server: tuple[str, Target]) -> None:
    # A KeyError in the gateway's handler (e.g. 'shelve' without 'duration_s') must not take the
    # control socket down for the rest of the shift.
    endpoint, _ = server
    reply = await ask(endpoint, {"cmd": "crash"})
    assert reply["ok"] is False
    assert "missing_key" in reply["error"]
    assert (await ask(endpoint, {"cmd": "status"}))["ok"] is True
    reply = await ask(endpoint, {"cmd": "unencodable"})
    assert reply["ok"] is False
    assert "not encodable" in reply["error"]
    assert (await ask(endpoint, {"cmd": "status"}))["ok"] is True


def test_no_gateway_is_a_control_error_after_the_timeout(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match=r"no answer from a gateway at ipc://.* within 0.2 s"):
        request(f"ipc://{tmp_path}/nobody.sock", {"cmd": "status"}, timeout_s=0.2)


async def test_tcp_endpoint_on_a_free_port(tmp_path: Path) -> None:
    with socket.socket() as probe:  # the kernel picks a free port; closed before ZeroMQ binds it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = zmq.asyncio.Context()
    srv = ControlServer(context, f"tcp://127.0.0.1:{port}", Target())
    task = asyncio.create_task(srv.run())
    try:
        assert (await ask(f"tcp://127.0.0.1:{port}", {"cmd": "x"}))["echo"] == {"cmd": "x"}
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        context.term()
