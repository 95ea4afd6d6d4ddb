"""The local record feed: movement records and gateway contacts over ZeroMQ (msgpack), from a tracking
system, a DTN sink or the simulator.

Frames ``[b"movement", msgpack(dict)]`` and ``[b"contact", msgpack(dict)]``. One ``RecordFeed`` per endpoint
decodes and checks each message once and hands it to every attached consumer (the localization task, the
DTN's movement batcher): a gateway with both must not open two subscriptions to the same feed and decode
everything twice. A malformed message is counted and logged once per kind of problem, never fatal: one bad
tag must not blind the muster list.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import msgpack
import zmq
import zmq.asyncio

from edge.localization.records import ContactRecord, MovementRecord, RecordError

log = logging.getLogger(__name__)

MOVEMENT_TOPIC = b"movement"
CONTACT_TOPIC = b"contact"
RECEIVE_HWM = 100_000  # ~15 MB of records: minutes of a large crew if a consumer stalls the loop


class RecordConsumer(Protocol):
    def add_record(self, record: MovementRecord) -> None: ...

    def add_contact(self, contact: ContactRecord) -> None: ...


class RecordFeed:
    """One SUB subscription to a record feed, fanned out to the attached consumers.

    The socket is opened by ``run`` and closed when it ends, so a supervisor can restart ``run`` after a
    failure. Consumers may attach and detach at any time (the DTN's ingest is rebuilt on each restart)."""

    def __init__(self, context: zmq.asyncio.Context, endpoint: str) -> None:
        self._context = context
        self.endpoint = endpoint
        self._consumers: list[RecordConsumer] = []
        self.received = 0
        self.rejected = 0
        self._reported: set[str] = set()

    @property
    def consumers(self) -> tuple[RecordConsumer, ...]:
        return tuple(self._consumers)

    def attach(self, consumer: RecordConsumer) -> None:
        if consumer not in self._consumers:
            self._consumers.append(consumer)

    def detach(self, consumer: RecordConsumer) -> None:
        if consumer in self._consumers:
            self._consumers.remove(consumer)

    def handle(self, topic: bytes, body: bytes) -> None:
        try:
            message: Any = msgpack.unpackb(body, raw=False)
            if not isinstance(message, dict):
                raise RecordError("message is not a mapping")
            if topic == MOVEMENT_TOPIC:
                record = MovementRecord.from_dict(message)
                for consumer in self._consumers:
                    consumer.add_record(record)
            elif topic == CONTACT_TOPIC:
                contact = ContactRecord.from_dict(message)
                for consumer in self._consumers:
                    consumer.add_contact(contact)
            else:
                raise RecordError(f"unknown topic {topic[:32]!r} (allowed: movement, contact)")
            self.received += 1
        except (RecordError, ValueError, msgpack.UnpackException) as exc:
            self._reject(str(exc))

    def _reject(self, why: str) -> None:
        self.rejected += 1
        reason = why.split(":", maxsplit=1)[0]
        if reason not in self._reported:
            self._reported.add(reason)
            log.warning(
                "record feed %s: rejected a message: %s (%d rejected so far)", self.endpoint, why, self.rejected
            )

    async def run(self) -> None:
        socket = self._context.socket(zmq.SUB)
        try:
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.RCVHWM, RECEIVE_HWM)
            socket.setsockopt(zmq.SUBSCRIBE, MOVEMENT_TOPIC)
            socket.setsockopt(zmq.SUBSCRIBE, CONTACT_TOPIC)
            socket.connect(self.endpoint)
            while True:
                frames = await socket.recv_multipart()
                if len(frames) == 2:
                    self.handle(frames[0], frames[1])
                else:
                    self._reject(f"message of {len(frames)} frames (expected 2: topic, msgpack body)")
        finally:
            socket.close(linger=0)
