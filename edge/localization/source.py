"""Movement records and gateway contacts arriving over ZeroMQ (msgpack): from a DTN sink or a simulator.

Frames ``[b"movement", msgpack(dict)]`` and ``[b"contact", msgpack(dict)]``. A malformed message is counted
and logged once per kind of problem, never fatal: one bad tag must not blind the muster list.
"""

from __future__ import annotations

import logging
from typing import Any

import msgpack
import zmq
import zmq.asyncio

from edge.localization.records import ContactRecord, MovementRecord, RecordError
from edge.localization.task import LocalizationTask

log = logging.getLogger(__name__)

MOVEMENT_TOPIC = b"movement"
CONTACT_TOPIC = b"contact"


class MovementSubscriber:
    def __init__(self, context: zmq.asyncio.Context, endpoint: str, task: LocalizationTask) -> None:
        self._socket = context.socket(zmq.SUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.RCVHWM, 100_000)
        self._socket.setsockopt(zmq.SUBSCRIBE, MOVEMENT_TOPIC)
        self._socket.setsockopt(zmq.SUBSCRIBE, CONTACT_TOPIC)
        self._socket.connect(endpoint)
        self.endpoint = endpoint
        self._task = task
        self.received = 0
        self.rejected = 0
        self._reported: set[str] = set()

    def handle(self, topic: bytes, body: bytes) -> None:
        try:
            message: Any = msgpack.unpackb(body, raw=False)
            if not isinstance(message, dict):
                raise RecordError("message is not a mapping")
            if topic == MOVEMENT_TOPIC:
                self._task.add_record(MovementRecord.from_dict(message))
            else:
                self._task.add_contact(ContactRecord.from_dict(message))
            self.received += 1
        except (RecordError, ValueError, msgpack.UnpackException) as exc:
            self.rejected += 1
            reason = str(exc).split(":")[0]
            if reason not in self._reported:
                self._reported.add(reason)
                log.warning("localization source %s: rejected a message: %s", self.endpoint, exc)

    async def run(self) -> None:
        try:
            while True:
                frames = await self._socket.recv_multipart()
                if len(frames) == 2:
                    self.handle(frames[0], frames[1])
                else:
                    self.rejected += 1
        finally:
            self._socket.close(linger=0)
