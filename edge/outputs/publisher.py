"""Local ZeroMQ PUB stream of readings and alarm events (msgpack) for displays on the gateway's LAN.

Topics: ``reading.<point_id>`` and ``alarm.<alarm_id>``; frames ``[topic, msgpack(body)]``. A PUB socket
never blocks the reading path: when a slow display fills its high-water mark ZeroMQ drops for that
subscriber. That is acceptable for a display stream (the journal is the record), and it is counted.
"""

from __future__ import annotations

import logging
from typing import Any

import msgpack
import zmq

from edge.alarms.events import AlarmEvent
from edge.readings import Reading

log = logging.getLogger(__name__)


def reading_to_dict(reading: Reading) -> dict[str, Any]:
    return {
        "point_id": reading.point_id,
        "t_mono": reading.t_mono,
        "t_wall": reading.t_wall,
        "value": reading.value,
        "unit": reading.unit,
        "quality": reading.quality.value,
        "reason": reading.reason.value,
        "detail": reading.detail,
    }


class LocalPublisher:
    def __init__(self, context: zmq.Context[Any], endpoint: str, *, hwm: int = 10_000) -> None:
        self._socket = context.socket(zmq.PUB)
        self._socket.setsockopt(zmq.SNDHWM, hwm)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.bind(endpoint)
        self.endpoint = endpoint
        self.sent = 0
        self.dropped = 0

    def _send(self, topic: str, body: dict[str, Any]) -> None:
        try:
            self._socket.send_multipart([topic.encode(), msgpack.packb(body, use_bin_type=True)], flags=zmq.NOBLOCK)
            self.sent += 1
        except zmq.Again:
            self.dropped += 1

    def reading(self, reading: Reading) -> None:
        self._send(f"reading.{reading.point_id}", reading_to_dict(reading))

    def alarm(self, event: AlarmEvent) -> None:
        self._send(f"alarm.{event.alarm_id}", event.to_dict())

    def status(self, body: dict[str, Any]) -> None:
        self._send("status", body)

    def close(self) -> None:
        self._socket.close(linger=0)
