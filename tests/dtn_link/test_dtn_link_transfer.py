"""Two real nodes over loopback/ipc: durable stores, group committers, static/epidemic routers, CurveZMQ."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dtn_link_fixtures import FAST, fill, make_keys, running_node

from edge.dtn.bundle import SURFACE, BundleId, Priority
from edge.dtn.link import DialPeer, LinkSettings
from edge.dtn.routing import PeerKind
from edge.dtn.store import Accept, BundleStore


def _held(store: BundleStore) -> set[BundleId]:
    return store.ids()


async def test_transfer_every_bundle_once_and_custody_only_after_ack(tmp_path: Path) -> None:
    keys = make_keys(tmp_path / "keys", "g1", "g2")
    async with (
        running_node(tmp_path, "g1", keys=keys, hops=1, listen=["tcp://127.0.0.1:*"]) as rx,
        running_node(tmp_path, "g2", keys=keys, hops=2, dial=[DialPeer("g1", rx.link.endpoints[0])]) as tx,
    ):
        sent = {b.id for b in fill(tx.store, 1500)}
        tx.link.wake()
        violations: list[BundleId] = []

        async def custody_watch() -> None:
            # Read the sender first: anything it no longer holds must already be durable at the receiver.
            while True:
                gone = sent - _held(tx.store)
                missing = gone - _held(rx.store)
                violations.extend(missing)
                await asyncio.sleep(0.005)

        watcher = asyncio.create_task(custody_watch())
        try:
            await rx.wait_for(lambda: len(rx.received) >= len(sent), 30)
            await tx.wait_for(lambda: not _held(tx.store), 10)
        finally:
            watcher.cancel()
        assert not violations
        stored = [b.id for _, b, a in rx.received if a is Accept.STORED]
        assert len(stored) == len(sent)
        assert set(stored) == sent
        assert _held(rx.store) == sent
        assert all(b.hop_count == 1 and b.previous_node == "g2" for _, b, _ in rx.received)
        assert tx.store.seen_ids() >= sent  # tombstoned: custody passed
        stats = tx.link.peer_stats()["g1"]
        assert stats.acked == len(sent)
        assert stats.refused == 0
        assert stats.max_in_flight <= FAST.credit
        assert rx.link.counters.credit_violations == 0


async def test_receiver_closed_mid_transfer_then_resumed_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    keys = make_keys(tmp_path / "keys", "g1", "g2")
    endpoint = f"ipc://{tmp_path}/g1.sock"
    total = 3000
    stored_ids: list[BundleId] = []
    async with running_node(tmp_path, "g2", keys=keys, hops=2, dial=[DialPeer("g1", endpoint)]) as tx:
        sent = {b.id for b in fill(tx.store, total)}
        async with running_node(tmp_path, "g1", keys=keys, hops=1, listen=[endpoint]) as rx:
            await rx.wait_for(lambda: len(rx.received) >= 800, 30)
            assert len(rx.received) < total  # closed mid-transfer
        first = rx.received
        await tx.wait_for(lambda: not tx.contact_up("g1"), 5)
        held_after_cut = _held(tx.store)
        assert held_after_cut
        assert len(held_after_cut) < total
        async with running_node(tmp_path, "g1", keys=keys, hops=1, listen=[endpoint]) as rx2:
            await tx.wait_for(lambda: not _held(tx.store), 30)
            assert _held(rx2.store) == sent
            second = rx2.received
        for received in (first, second):
            stored_ids += [b.id for _, b, a in received if a is Accept.STORED]
        assert len(stored_ids) == total
        assert set(stored_ids) == sent
        # Bundles in flight at the cut may come again; the receiver acknowledges them as duplicates.
        assert all(a in (Accept.STORED, Accept.DUPLICATE) for _, _, a in first + second)
        down = [e for e in tx.events if not e.up]
        assert down
        assert down[0].peer.node_id == "g1"
        assert sum(1 for e in tx.events if e.up) == 2


async def test_alarm_waits_at_most_one_frame_behind_bulk(tmp_path: Path) -> None:
    keys = make_keys(tmp_path / "keys", "g1", "g2")
    async with (
        running_node(tmp_path, "g1", keys=keys, hops=1, listen=["tcp://127.0.0.1:*"]) as rx,
        running_node(tmp_path, "g2", keys=keys, hops=2, dial=[DialPeer("g1", rx.link.endpoints[0])]) as tx,
    ):
        bulk = 2000
        fill(tx.store, bulk)
        tx.link.wake()
        await rx.wait_for(lambda: len(rx.received) >= 200, 30)
        alarm = tx.store.create(
            destination=SURFACE, priority=Priority.ALARM, kind="alarm", body={"ch4": 2.1}, lifetime_s=3600
        )
        assert await tx.link.submit(alarm) is Accept.STORED
        mark = len(tx.sent)  # frames handed to ZeroMQ before the alarm was stored and the link told
        await rx.wait_for(lambda: any(b.id == alarm.id for _, b, _ in rx.received), 10)
        position = next(i for i, (_, b, _) in enumerate(tx.sent) if b.id == alarm.id)
        bulk_after_store = sum(1 for _, b, _ in tx.sent[mark:position] if b.priority is Priority.BULK)
        assert bulk_after_store <= 1
        arrived_at = next(i for i, (_, b, _) in enumerate(rx.received) if b.id == alarm.id)
        assert arrived_at < bulk  # it overtook the bulk backlog


async def test_credit_window_is_never_exceeded(tmp_path: Path) -> None:
    keys = make_keys(tmp_path / "keys", "g1", "g2")
    small = LinkSettings(heartbeat_s=0.2, credit=3, urgent_credit=1, select_batch=4, reconnect_pause_s=0.05)
    async with (
        running_node(tmp_path, "g1", keys=keys, hops=1, listen=["tcp://127.0.0.1:*"], settings=small) as rx,
        running_node(
            tmp_path, "g2", keys=keys, hops=2, dial=[DialPeer("g1", rx.link.endpoints[0])], settings=small
        ) as tx,
    ):
        samples: list[int] = []
        fill(tx.store, 300)
        fill(tx.store, 20, priority=Priority.ALARM)
        tx.link.wake()

        async def sample() -> None:
            while True:
                samples.append(tx.link.in_flight("g1"))
                await asyncio.sleep(0)

        sampler = asyncio.create_task(sample())
        try:
            await rx.wait_for(lambda: len(rx.received) >= 320, 30)
        finally:
            sampler.cancel()
        assert max(samples) <= small.credit + small.urgent_credit
        assert tx.link.peer_stats()["g1"].max_in_flight <= small.credit + small.urgent_credit
        assert rx.link.counters.credit_violations == 0
        # Alarms first: all 20 arrived before the bulk backlog.
        first = [b.priority for _, b, _ in rx.received[:20]]
        assert first.count(Priority.ALARM) >= 19


async def test_epidemic_summary_vector_skips_what_the_peer_holds(tmp_path: Path) -> None:
    keys = make_keys(tmp_path / "keys", "c1", "c2")
    async with running_node(
        tmp_path, "c1", keys=keys, hops=None, kind=PeerKind.MOBILE, policy="epidemic", listen=["tcp://127.0.0.1:*"]
    ) as a:
        # 300 bundles on c1; c2 already holds 100 of them (met another carrier earlier).
        bundles = fill(a.store, 300)
        async with running_node(tmp_path, "c2", keys=keys, hops=None, kind=PeerKind.MOBILE, policy="epidemic") as b0:
            b0.store.put_many([(x, 1) for x in bundles[:100]])
            own = {x.id for x in fill(b0.store, 50)}
        async with running_node(
            tmp_path,
            "c2",
            keys=keys,
            hops=None,
            kind=PeerKind.MOBILE,
            policy="epidemic",
            dial=[DialPeer("c1", a.link.endpoints[0])],
        ) as b:
            everything = {x.id for x in bundles} | own
            await b.wait_for(lambda: b.store.ids() == everything, 20)
            await a.wait_for(lambda: a.store.ids() == everything, 20)
            # Anti-entropy: c1 sent only the 200 that c2 lacked, c2 sent its own 50; both keep their copies.
            assert a.link.peer_stats()["c2"].frames_sent == 200
            assert b.link.peer_stats()["c1"].frames_sent == 50
            assert b.link.peer_stats()["c1"].duplicates == 0


async def test_mutual_dialling_yields_one_contact(tmp_path: Path) -> None:
    keys = make_keys(tmp_path / "keys", "g1", "g2")
    e1, e2 = f"ipc://{tmp_path}/g1.sock", f"ipc://{tmp_path}/g2.sock"
    async with (
        running_node(tmp_path, "g1", keys=keys, hops=1, listen=[e1], dial=[DialPeer("g2", e2)]) as n1,
        running_node(tmp_path, "g2", keys=keys, hops=2, listen=[e2], dial=[DialPeer("g1", e1)]) as n2,
    ):
        sent = {b.id for b in fill(n2.store, 200)}
        n2.link.wake()
        await n1.wait_for(lambda: n1.store.ids() == sent, 20)
        await asyncio.sleep(FAST.dead_after_s)  # long enough for a flapping pair to show
        assert [e.up for e in n1.events] == [True]
        assert [e.up for e in n2.events] == [True]
