"""Gateway events -> bundles: durable alarm events exactly once, reading summaries, movement records, and movement
bundles from peers into the localization task. Real journal, real store, real ZeroMQ, the shipped location model."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgpack
import pytest
import zmq
import zmq.asyncio
from dtn_node_fixtures import eventually, socket_dir

from edge.alarms.events import AlarmEvent, AlarmState, Transition
from edge.alarms.journal import AlarmJournal, JournalWriter
from edge.clock import FakeClock, SystemClock
from edge.dtn.bundle import SURFACE, Bundle, Priority, make_bundle
from edge.dtn.committer import GroupCommitter
from edge.dtn.ingest import (
    ALARM_KIND,
    AlarmForwarder,
    IngestState,
    MovementCollector,
    TelemetrySummarizer,
    alarm_body,
    feed_localization,
)
from edge.dtn.store import Accept, BundleStore
from edge.inference.model import load_model
from edge.localization.records import ContactRecord, MovementRecord
from edge.localization.source import CONTACT_TOPIC, MOVEMENT_TOPIC, RecordFeed
from edge.localization.task import LocalizationTask
from edge.readings import Quality, QualityReason, Reading
from edge.rules.signals import Priority as AlarmPriority
from edge.rules.signals import SignalClass
from edge.sim.mine_layout import MineLayout

REPO = Path(__file__).resolve().parents[2]
MODEL_DIR = REPO / "models" / "localization"


def event(seq: int) -> AlarmEvent:
    return AlarmEvent(
        seq=seq,
        alarm_id="ch4_mm12:alarm",
        source="ch4_mm12",
        signal=SignalClass.ALARM,
        priority=AlarmPriority.HIGH,
        state=AlarmState.UNACK,
        latched=True,
        shelved=False,
        transition=Transition.ACTIVATED,
        value=1.6,
        limit=1.5,
        unit="%",
        message="Methane 1.6 % at tailgate MM-12",
        action="de-energize, withdraw",
        statutory=True,
        outputs=("siren", "power_trip"),
        user="",
        note="",
        t_wall=time.time(),
        t_mono=1000.0 + seq,
    )


class Parts:
    def __init__(self, root: Path) -> None:
        self.journal = AlarmJournal(root / "alarms.sqlite")
        self.writer = JournalWriter(self.journal)
        self.store = BundleStore(root / "bundles.sqlite", node_id="gw-1", capacity_bytes=1 << 24, clock=SystemClock())
        self.committer = GroupCommitter(self.store)
        self.state = IngestState(root / "ingest_state.sqlite")

    def forwarder(self) -> AlarmForwarder:
        return AlarmForwarder(
            gateway_id="gw-1",
            journal=self.journal,
            writer=self.writer,
            state=self.state,
            create=self.store.create,
            put=self.committer.put,
            clock=SystemClock(),
            destination=SURFACE,
            lifetime_s=3600,
            poll_s=0.01,
        )

    def alarm_bundles(self) -> list[Bundle]:
        return [s.bundle for s in self.store.pending(limit=1000) if s.bundle.kind == ALARM_KIND]

    def sent_seqs(self) -> list[int]:
        return [e["seq"] for b in self.alarm_bundles() for e in b.payload_object()["events"]]


@contextlib.asynccontextmanager
async def parts(root: Path) -> AsyncIterator[Parts]:
    p = Parts(root)
    await p.committer.start()
    try:
        yield p
    finally:
        await p.writer.close()
        await p.committer.close()
        p.state.close()
        p.store.close()
        p.journal.close()


@contextlib.asynccontextmanager
async def running(coro_task: asyncio.Task[None]) -> AsyncIterator[None]:
    try:
        yield
    finally:
        coro_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await coro_task


async def test_only_durable_alarm_events_become_alarm_bundles_in_seq_order(tmp_path: Path) -> None:
    async with parts(tmp_path) as p:
        p.journal.append([event(1), event(2)])  # on disk before the gateway (re)started: durable
        forwarder = p.forwarder()
        async with running(asyncio.create_task(forwarder.run())):
            await eventually(lambda: forwarder.sent_seq == 2, what="events 1-2 sent")
            assert p.sent_seqs() == [1, 2]
            p.writer.submit([event(3), event(4)])  # submitted, not yet committed by the writer
            await asyncio.sleep(0.2)
            assert p.sent_seqs() == [1, 2]  # a bundle never claims an alarm the gateway could still lose
            assert forwarder.durable_seq == 2
            async with running(asyncio.create_task(p.writer.run())):
                await eventually(lambda: forwarder.sent_seq == 4, what="events 3-4 sent once durable")
                assert p.sent_seqs() == [1, 2, 3, 4]
        first, _ = sorted(p.alarm_bundles(), key=lambda b: b.id.seq)
        assert first.priority is Priority.ALARM
        assert first.destination == SURFACE
        body = first.payload_object()
        assert body["gateway"] == "gw-1"
        restored = AlarmEvent.from_dict(body["events"][0])  # the surface rebuilds the journal's own event
        assert (restored.seq, restored.alarm_id, restored.state, restored.statutory) == (
            1,
            "ch4_mm12:alarm",
            AlarmState.UNACK,
            True,
        )
        assert p.state.cursor(AlarmForwarder.CURSOR) == 4
        assert forwarder.events_sent == 4


async def test_a_crash_between_intent_and_cursor_replays_the_same_bundle(tmp_path: Path) -> None:
    async with parts(tmp_path) as p:
        p.journal.append([event(1), event(2), event(3)])
        # Crash 1: the intent was written and the bundle stored, the cursor not advanced.
        stored = p.store.create(
            destination=SURFACE,
            priority=Priority.ALARM,
            kind=ALARM_KIND,
            body=alarm_body("gw-1", [event(1)]),
            lifetime_s=60,
        )
        p.state.write_intent(AlarmForwarder.CURSOR, 1, stored)
        assert p.store.put(stored) is Accept.STORED
        forwarder = p.forwarder()
        async with running(asyncio.create_task(forwarder.run())):
            await eventually(lambda: forwarder.sent_seq == 3, what="the rest sent")
        bundles = p.alarm_bundles()
        assert sum(1 for b in bundles if b.id == stored.id) == 1  # replayed as DUPLICATE, not a second copy
        assert sorted(p.sent_seqs()) == [1, 2, 3]  # each event in exactly one bundle

    async with parts(tmp_path / "b") as p:
        p.journal.append([event(1)])
        # Crash 2: the intent was written, the put never happened.
        lost = p.store.create(
            destination=SURFACE,
            priority=Priority.ALARM,
            kind=ALARM_KIND,
            body=alarm_body("gw-1", [event(1)]),
            lifetime_s=60,
        )
        p.state.write_intent(AlarmForwarder.CURSOR, 1, lost)
        forwarder = p.forwarder()
        async with running(asyncio.create_task(forwarder.run())):
            await eventually(lambda: p.state.cursor(AlarmForwarder.CURSOR) == 1, what="intent replayed")
            await asyncio.sleep(0.1)
        assert [b.id for b in p.alarm_bundles()] == [lost.id]  # the very bundle, under its own id, once


def test_reading_summary_per_point() -> None:
    clock = FakeClock()
    summary = TelemetrySummarizer(clock)
    assert summary.take("gw-1") is None
    for value, quality in ((0.4, Quality.GOOD), (0.6, Quality.GOOD), (None, Quality.BAD), (0.5, Quality.UNCERTAIN)):
        summary.observe(
            Reading(
                "ch4",
                clock.monotonic(),
                clock.wall(),
                value,
                "%",
                quality,
                QualityReason.COMM_LOSS if quality is Quality.BAD else QualityReason.NONE,
            )
        )
        clock.advance(1.0)
    summary.observe(Reading("co", clock.monotonic(), clock.wall(), math.nan, "ppm", Quality.GOOD))
    body = summary.take("gw-1")
    assert body is not None
    assert body["to"] - body["from"] == pytest.approx(4.0)
    ch4 = body["points"]["ch4"]
    assert (ch4["n"], ch4["min"], ch4["max"], ch4["last"]) == (4, 0.4, 0.6, 0.5)
    assert ch4["mean"] == pytest.approx(0.5)
    assert (ch4["quality"], ch4["worst"], ch4["bad"]) == ("uncertain", "bad", 1)
    co = body["points"]["co"]
    assert (co["min"], co["mean"], co["last"]) == (None, None, None)  # a NaN is not a value
    assert summary.take("gw-1") is None  # a new period starts empty
    assert msgpack.packb(body)  # the body travels as msgpack


@pytest.fixture
def pub_endpoint() -> Iterator[str]:
    with socket_dir() as sockets:
        yield f"ipc://{sockets}/records.sock"


async def test_movement_records_from_the_local_feed_are_checked_and_batched(pub_endpoint: str) -> None:
    context = zmq.asyncio.Context()
    pub = context.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(pub_endpoint)
    feed = RecordFeed(context, pub_endpoint)
    collector = MovementCollector()
    feed.attach(collector)
    task = asyncio.create_task(feed.run())
    record = MovementRecord("m1", "cutter", time.time(), 0.8, 90.0, "p1").to_dict()
    try:
        while feed.received == 0:  # ZeroMQ's slow joiner: publish until the subscription is in place
            await pub.send_multipart([MOVEMENT_TOPIC, msgpack.packb(record)])
            await asyncio.sleep(0.02)
        await pub.send_multipart([CONTACT_TOPIC, msgpack.packb(ContactRecord("m1", "gw-1", 1.0, 2.0).to_dict())])
        await pub.send_multipart([MOVEMENT_TOPIC, msgpack.packb({"miner_id": "m2"})])  # no time, no pillar
        await pub.send_multipart([MOVEMENT_TOPIC, b"\xc1"])  # not msgpack
        await eventually(lambda: feed.rejected == 2 and len(collector.batch.contacts) == 1, what="feed handled")
        batch = collector.take()
        assert batch.records[0]["miner_id"] == "m1"
        assert batch.contacts == [{"miner_id": "m1", "gateway_id": "gw-1", "t_start": 1.0, "t_end": 2.0}]
        assert len(collector.take()) == 0
        # Detached (the ingest stopped), the collector gets nothing more; the feed goes on.
        feed.detach(collector)
        received = feed.received
        while feed.received == received:
            await pub.send_multipart([MOVEMENT_TOPIC, msgpack.packb(record)])
            await asyncio.sleep(0.02)
        assert len(collector.batch) == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        pub.close(linger=0)
        context.term()


async def test_movement_bundles_from_peers_feed_the_localization_task() -> None:
    model = load_model(MODEL_DIR, None, threads=1)
    task = LocalizationTask(model, layout=MineLayout.load(MODEL_DIR / "layout.json"), clock=SystemClock())
    try:
        now = time.time()
        body = {
            "gateway": "gw-3",
            "records": [
                MovementRecord("m7", "shuttle", now - 10 + i, 1.0, 45.0, model.labels[i]).to_dict() for i in range(3)
            ]
            + [{"miner_id": "m8"}],
            "contacts": [ContactRecord("m7", "gw-3", now - 10, now).to_dict(), "junk"],
        }
        bundle = make_bundle(
            source="gw-3",
            created_ms=int(now * 1000),
            seq=1,
            destination=SURFACE,
            priority=Priority.MOVEMENT,
            lifetime_s=60,
            kind="movement",
            body=body,
        )
        assert feed_localization(bundle, task) == (4, 2)
        assert [r.pillar_id for r in task.store.tracks["m7"]] == model.labels[:3]
        last = task.store.last_contact("m7")
        assert last is not None
        assert last.gateway_id == "gw-3"
    finally:
        await task.worker.close()
