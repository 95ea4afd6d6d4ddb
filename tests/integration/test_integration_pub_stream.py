"""The local PUB stream as a display on the gateway's LAN sees it: a real ZeroMQ SUB socket, msgpack bodies."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq
import zmq.asyncio
from integration_support import (
    CO,
    METHANE,
    METHANE_ALARM,
    METHANE_ALARM_LEVEL,
    METHANE_ALERT,
    STARTUP_DEADLINE_S,
    STEP_DEADLINE_S,
    running_site,
    write_section_config,
)

pytestmark = pytest.mark.integration


async def receive_until(
    sub: zmq.asyncio.Socket, seen: dict[str, list[dict[str, Any]]], topic: str, *, timeout_s: float
) -> dict[str, Any]:
    """Collect messages into ``seen`` by topic until one arrives on ``topic``; return its body."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await sub.poll(timeout=100):
            raw_topic, raw_body = await sub.recv_multipart()
            body = msgpack.unpackb(raw_body, raw=False)
            assert isinstance(body, dict)
            seen.setdefault(raw_topic.decode(), []).append(body)
            if raw_topic.decode() == topic:
                return body
    raise AssertionError(f"no message on {topic!r} within {timeout_s:g} s; topics seen: {sorted(seen)}")


async def test_sub_socket_receives_readings_and_alarms(tmp_path: Path) -> None:
    config = write_section_config(tmp_path, field_kind="tcp")
    context = zmq.asyncio.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    # Two prefixes a display would use; anything else the gateway publishes (status) is filtered out.
    sub.setsockopt(zmq.SUBSCRIBE, b"reading.")
    sub.setsockopt(zmq.SUBSCRIBE, b"alarm.")
    sub.connect(config.publish_endpoint)
    seen: dict[str, list[dict[str, Any]]] = {}
    try:
        async with running_site(config) as site:
            reading = await receive_until(sub, seen, f"reading.{METHANE}", timeout_s=STARTUP_DEADLINE_S)
            assert reading["point_id"] == METHANE
            assert reading["unit"] == "%"
            assert reading["quality"] in ("good", "bad", "uncertain")
            assert isinstance(reading["t_wall"], float)
            co = await receive_until(sub, seen, f"reading.{CO}", timeout_s=STEP_DEADLINE_S)
            assert co["unit"] == "ppm"

            # The subscription is live (slow-joiner window over): raise an alarm and watch it arrive.
            site.set_methane(METHANE_ALARM_LEVEL)
            alarm = await receive_until(sub, seen, f"alarm.{METHANE_ALARM}", timeout_s=STEP_DEADLINE_S)
            assert alarm["alarm_id"] == METHANE_ALARM
            assert alarm["transition"] == "activated"
            assert alarm["signal"] == "alarm"
            assert alarm["statutory"] is True
            assert alarm["latched"] is True
            assert "power_trip" in alarm["outputs"]
            assert alarm["value"] >= 1.5
            assert alarm["source"] == METHANE
            # The alert is raised on the way up and published too (same poll or the one before).
            assert f"alarm.{METHANE_ALERT}" in seen
            assert seen[f"alarm.{METHANE_ALERT}"][0]["transition"] == "activated"
            # The stream keeps carrying good methane readings at the alarm level.
            high = await receive_until(sub, seen, f"reading.{METHANE}", timeout_s=STEP_DEADLINE_S)
            assert high["quality"] == "good"
            assert high["value"] >= 1.5
    finally:
        sub.close(linger=0)
        context.term()
    assert not [t for t in seen if not t.startswith(("reading.", "alarm."))], "subscription filter leaked"
