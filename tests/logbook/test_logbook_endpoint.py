"""The ZeroMQ endpoint over a real socket: JSON and msgpack in, the stored id (or the refusal) back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import zmq
import zmq.asyncio
from logbook_fixtures import hashed_store

from edge.clock import FakeClock
from edge.hazard.contract import LogKind
from edge.logbook.endpoint import LogEndpoint, send_entry
from edge.logbook.store import LogStore


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, LogStore, LogEndpoint]]:
    endpoint = f"ipc://{tmp_path}/logbook.sock"
    context = zmq.asyncio.Context()
    store = hashed_store(tmp_path / "log.sqlite", FakeClock())
    server = LogEndpoint(context, endpoint, store, clock=FakeClock(), default_kind=LogKind.OPERATION)
    task = asyncio.create_task(server.run())
    try:
        yield endpoint, store, server
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        store.close()
        context.term()


async def test_msgpack_round_trip_stores_the_entry_and_answers_its_id(
    served: tuple[str, LogStore, LogEndpoint],
) -> None:
    endpoint, store, server = served
    reply = await asyncio.to_thread(
        send_entry,
        endpoint,
        {"text": "belt drive 2 bearing hot to touch", "kind": "maintenance", "incident": True, "alarm": "w-17"},
    )
    assert reply["ok"] is True
    assert (reply["equipment"], reply["location"]) == ("BD-2", "")
    stored = store.get(reply["id"])
    assert (stored.source, stored.kind, stored.incident, stored.related_alarm) == (
        "zmq",
        LogKind.MAINTENANCE,
        True,
        "w-17",
    )
    assert server.accepted == 1


async def test_json_requests_get_json_replies_and_bad_ones_a_reason(
    served: tuple[str, LogStore, LogEndpoint],
) -> None:
    endpoint, store, server = served

    def ask(payloads: list[bytes]) -> list[dict[str, object]]:
        socket: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.REQ)
        socket.setsockopt(zmq.RCVTIMEO, 5000)
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(endpoint)
        replies = []
        try:
            for payload in payloads:
                socket.send(payload)
                replies.append(json.loads(socket.recv()))
        finally:
            socket.close()
        return replies

    ok, long_text, bad_time, not_json = await asyncio.to_thread(
        ask,
        [
            json.dumps({"text": "smell of burning rubber near XC 4", "t": "2026-01-01T05:30:00Z"}).encode(),
            json.dumps({"text": "y" * 200}).encode(),
            json.dumps({"text": "fine", "t": 1767225600000}).encode(),
            b"{not json",
        ],
    )
    assert ok["ok"] is True
    assert store.get(int(ok["id"])).t_s == 1767245400.0  # type: ignore[call-overload]
    assert (long_text["ok"], long_text["field"]) == (False, "text")
    assert "200 characters" in str(long_text["error"])
    assert "at most 160" in str(long_text["error"])
    assert (bad_time["ok"], bad_time["field"]) == (False, "t")
    assert not_json["ok"] is False
    assert "not a JSON object" in str(not_json["error"])
    assert store.count() == 1
    assert (server.accepted, server.refused) == (1, 3)
