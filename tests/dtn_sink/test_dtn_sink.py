"""The surface sink end to end: real SQLite store, real group commit, real Mosquitto broker, real subscriber."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from mosquitto_broker import MosquittoBroker, Subscriber, eventually, require_mosquitto

from edge.aio import within
from edge.clock import FakeClock
from edge.dtn.bundle import SURFACE, Bundle, BundleId, Priority, make_bundle
from edge.dtn.committer import GroupCommitter
from edge.dtn.mqtt import MqttPublisher
from edge.dtn.sink import SinkStatus, SurfaceSink, WrongDestination
from edge.dtn.store import Accept, BundleStore

CLOCK = FakeClock()
_seq = itertools.count(1)


def bundle(priority: Priority = Priority.TELEMETRY, *, source: str = "gw-1", kind: str = "readings") -> Bundle:
    seq = next(_seq)
    return make_bundle(
        source=source,
        created_ms=int(CLOCK.wall() * 1000),
        seq=seq,
        destination=SURFACE,
        priority=priority,
        lifetime_s=3600,
        kind=kind,
        body={"seq": seq, "methane_ppm": 410.5},
    ).forwarded_by("gw-0")


@dataclass
class Gate:
    """Holds the publisher's reconnection while open is False (its back-off sleep waits here)."""

    open: asyncio.Event

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(min(seconds, 0.02))
        await self.open.wait()


@dataclass
class Stack:
    sink: SurfaceSink
    publisher: MqttPublisher
    store: BundleStore


@asynccontextmanager
async def sink_stack(
    path: Path,
    port: int,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    start_publisher: bool = True,
) -> AsyncIterator[Stack]:
    store = BundleStore(path, node_id="surface-1", capacity_bytes=64 << 20, clock=CLOCK)
    committer = GroupCommitter(store)
    publisher = MqttPublisher(
        "127.0.0.1", port, client_id="sink-surface-1", rng=random.Random(7), backoff_initial_s=0.05, sleep=sleep
    )
    sink = SurfaceSink(committer, publisher, node_id="surface-1")
    await committer.start()
    if start_publisher:
        await publisher.start()
    await sink.start()
    try:
        yield Stack(sink, publisher, store)
    finally:
        await sink.close()
        await publisher.close()
        await committer.close()
        store.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    broker = MosquittoBroker(require_mosquitto(), tmp_path)
    broker.start()
    yield broker
    broker.kill()


async def drained(sink: SurfaceSink, timeout_s: float = 20.0) -> SinkStatus:
    await eventually(lambda: sink.status().pending + sink.status().inflight == 0, "sink drained", timeout_s)
    return sink.status()


async def test_delivered_bundles_reach_a_subscriber_and_are_marked_published(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    bundles = [bundle(source=f"gw-{n % 3}", kind=("readings", "movement")[n % 2]) for n in range(60)]
    async with Subscriber(broker.port) as subscriber, sink_stack(tmp_path / "sink.db", broker.port) as stack:
        results = await asyncio.gather(*(stack.sink.deliver(b) for b in bundles))
        assert results == [Accept.STORED] * 60
        status = await drained(stack.sink)
        await subscriber.wait_for(lambda s: len(s.received) >= 60)
        assert (status.received, status.published, status.duplicates, status.pending) == (60, 60, 0, 0)
        assert all(stack.sink.has_seen(b.id) for b in bundles)  # tombstoned: the durable "published" mark
        assert stack.store.ids() == set()
    by_id = {body["id"]: (topic, body) for topic, body in subscriber.received}
    assert len(subscriber.received) == 60
    for b in bundles:
        topic, body = by_id[str(b.id)]
        assert topic == f"minegate/{b.id.source}/{b.kind}"
        assert body["payload"] == b.payload_object()
        assert (body["source"], body["created_ms"], body["hop_count"]) == (b.id.source, b.id.created_ms, 1)


async def test_a_bundle_delivered_many_times_is_stored_and_published_once(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    b = bundle(Priority.ALARM, kind="alarm")
    async with Subscriber(broker.port) as subscriber, sink_stack(tmp_path / "sink.db", broker.port) as stack:
        first = await asyncio.gather(*(stack.sink.deliver(b) for _ in range(5)))  # in one group commit
        assert sorted(r.value for r in first) == ["duplicate"] * 4 + ["stored"]
        await drained(stack.sink)
        assert await stack.sink.deliver(b) is Accept.DUPLICATE  # after publication: the tombstone answers
        marker = bundle()
        await stack.sink.deliver(marker)
        await subscriber.wait_for(lambda s: str(marker.id) in s.ids())
        status = await drained(stack.sink)  # the PUBACK can reach the subscriber before the mark is committed
    assert subscriber.ids().count(str(b.id)) == 1
    assert (status.received, status.duplicates, status.published) == (2, 5, 2)


async def test_a_bundle_for_another_endpoint_is_refused(tmp_path: Path, broker: MosquittoBroker) -> None:
    b = make_bundle(
        source="gw-1", created_ms=int(CLOCK.wall() * 1000), seq=next(_seq), destination="gw-4",
        priority=Priority.CONTROL, lifetime_s=60, kind="control", body={},
    )  # fmt: skip
    async with sink_stack(tmp_path / "sink.db", broker.port) as stack:
        with pytest.raises(WrongDestination, match="addressed to 'gw-4'; sink surface-1 serves"):
            await stack.sink.deliver(b)
        assert not stack.sink.has_seen(b.id)


async def test_alarms_are_published_before_bulk_when_both_are_pending(tmp_path: Path, broker: MosquittoBroker) -> None:
    bulk = [bundle(Priority.BULK, kind="log") for _ in range(120)]
    telemetry = [bundle(Priority.TELEMETRY) for _ in range(20)]
    alarms = [bundle(Priority.ALARM, kind="alarm") for _ in range(10)]  # the newest, delivered last
    async with (
        Subscriber(broker.port) as subscriber,
        sink_stack(tmp_path / "sink.db", broker.port, start_publisher=False) as stack,
    ):
        for b in bulk + telemetry + alarms:
            assert await stack.sink.deliver(b) is Accept.STORED
        await stack.publisher.start()
        await drained(stack.sink)
        await subscriber.wait_for(lambda s: len(s.received) >= 150)
    order = [body["priority"] for _, body in subscriber.received]
    assert order == ["alarm"] * 10 + ["telemetry"] * 20 + ["bulk"] * 120
    assert subscriber.ids()[:10] == [str(b.id) for b in alarms]


async def test_broker_killed_mid_stream_loses_nothing(tmp_path: Path, broker: MosquittoBroker) -> None:
    gate = Gate(asyncio.Event())
    gate.open.set()
    bundles = [bundle(p) for p in itertools.islice(itertools.cycle(Priority), 400)]
    async with sink_stack(tmp_path / "sink.db", broker.port, sleep=gate.sleep) as stack:
        await within(stack.publisher.wait_connected(), 10)
        first = Subscriber(broker.port)
        async with first:
            delivering = asyncio.create_task(_deliver_slowly(stack.sink, bundles))
            await eventually(lambda: stack.sink.status().published >= 100, "100 published")
            gate.open.clear()  # hold the sink's reconnection until the new subscriber listens
            broker.kill()
            await eventually(lambda: not stack.publisher.connected, "broker loss noticed", 10)
        broker.start()
        async with Subscriber(broker.port) as second:
            gate.open.set()
            await delivering
            status = await drained(stack.sink, 30)
            await second.wait_for(lambda s: len(set(first.ids()) | set(s.ids())) >= len(bundles), 20)
        assert stack.store.ids() == set()
    # Including what the dead broker had acknowledged but not passed on: the sink replays the tail it confirmed.
    received = set(first.ids()) | set(second.ids())
    assert received == {str(b.id) for b in bundles}
    assert status.received == len(bundles)
    assert status.published == len(bundles)  # marked once each, even if published twice
    assert 1 <= status.replayed <= stack.publisher.max_inflight
    assert stack.publisher.stats().connections_lost == 1


async def _deliver_slowly(sink: SurfaceSink, bundles: list[Bundle]) -> None:
    for start in range(0, len(bundles), 10):
        results = await asyncio.gather(*(sink.deliver(b) for b in bundles[start : start + 10]))
        assert set(results) == {Accept.STORED}
        await asyncio.sleep(0.005)


async def test_sink_restart_publishes_what_was_left_unpublished(tmp_path: Path, broker: MosquittoBroker) -> None:
    path = tmp_path / "sink.db"
    left = [bundle(Priority.MOVEMENT, kind="movement") for _ in range(40)]
    async with sink_stack(path, broker.port, start_publisher=False) as stack:  # the broker is out of reach
        for b in left:
            assert await stack.sink.deliver(b) is Accept.STORED
        assert stack.sink.status().pending == 40
    async with Subscriber(broker.port) as subscriber:
        async with sink_stack(path, broker.port) as stack:
            status = await drained(stack.sink)
            await subscriber.wait_for(lambda s: len(s.received) >= 40)
            assert (status.received, status.published) == (0, 40)
        assert sorted(subscriber.ids()) == sorted(str(b.id) for b in left)
        async with sink_stack(path, broker.port) as stack:  # published survives a restart: nothing goes again
            assert [await stack.sink.deliver(b) for b in left[:3]] == [Accept.DUPLICATE] * 3
            await asyncio.sleep(0.3)
            assert stack.sink.status().published == 0
        assert len(subscriber.received) == 40
    assert all(isinstance(BundleId.parse(i), BundleId) for i in subscriber.ids())
