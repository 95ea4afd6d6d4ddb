"""The shared record feed: one subscription, each message checked once, fanned out to every consumer."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import msgpack
import zmq
import zmq.asyncio

from edge.localization.records import ContactRecord, MovementRecord
from edge.localization.source import CONTACT_TOPIC, MOVEMENT_TOPIC, RecordFeed


class Consumer:
    def __init__(self) -> None:
        self.records: list[MovementRecord] = []
        self.contacts: list[ContactRecord] = []

    def add_record(self, record: MovementRecord) -> None:
        self.records.append(record)

    def add_contact(self, contact: ContactRecord) -> None:
        self.contacts.append(contact)


def test_every_consumer_gets_each_checked_record_once() -> None:
    feed = RecordFeed(zmq.asyncio.Context.instance(), "inproc://unused")
    a, b = Consumer(), Consumer()
    feed.attach(a)
    feed.attach(b)
    feed.attach(a)  # attaching twice does not double the deliveries
    record = MovementRecord("m1", "cutter", 1000.0, 0.5, 90.0, "p2")
    feed.handle(MOVEMENT_TOPIC, msgpack.packb(record.to_dict()))
    feed.handle(CONTACT_TOPIC, msgpack.packb(ContactRecord("m1", "gw-1", 1.0, 2.0).to_dict()))
    assert len(a.records) == len(b.records) == 1
    assert a.records[0] is b.records[0]  # decoded once, the same object to both
    assert (a.records[0].miner_id, a.records[0].pillar_id, a.records[0].t_wall) == ("m1", "p2", 1000.0)
    assert len(a.contacts) == len(b.contacts) == 1
    # Malformed input is counted, reaches nobody, and never raises.
    feed.handle(MOVEMENT_TOPIC, msgpack.packb({"miner_id": "m2"}))
    feed.handle(MOVEMENT_TOPIC, b"\xc1")
    feed.handle(MOVEMENT_TOPIC, msgpack.packb([1, 2]))
    feed.handle(b"weather", msgpack.packb(record.to_dict()))
    assert (feed.received, feed.rejected) == (2, 4)
    assert len(a.records) == len(b.records) == 1
    feed.detach(b)
    feed.handle(MOVEMENT_TOPIC, msgpack.packb(record.to_dict()))
    assert (len(a.records), len(b.records)) == (2, 1)
    assert feed.consumers == (a,)


async def test_the_feed_can_be_restarted_after_it_stops() -> None:
    """A supervisor restarts ``run`` after a crash: each run opens its own subscription."""
    context = zmq.asyncio.Context()
    with tempfile.TemporaryDirectory(prefix="mg-feed-") as tmp:
        endpoint = f"ipc://{Path(tmp) / 'records.sock'}"
        pub = context.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        pub.bind(endpoint)
        feed = RecordFeed(context, endpoint)
        consumer = Consumer()
        feed.attach(consumer)
        body = msgpack.packb(MovementRecord("m1", "cutter", time.time(), 0.5, 90.0, "p2").to_dict())
        try:
            for run_no in (1, 2):
                task = asyncio.create_task(feed.run())
                async with asyncio.timeout(10.0):
                    while len(consumer.records) < run_no:  # the slow joiner: publish until subscribed
                        await pub.send_multipart([MOVEMENT_TOPIC, body])
                        await asyncio.sleep(0.02)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                consumer.records = consumer.records[:run_no]
        finally:
            pub.close(linger=0)
            context.term()
