"""BundleStore on real SQLite files: ids never reused, eviction order, tombstones, lifetime, recovery, quarantine."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from dtn_store_fixtures import NODE, bundle, ids_of, open_store

from edge.clock import FakeClock, SystemClock
from edge.dtn.bundle import BundleId, Priority, encode
from edge.dtn.store import SEQ_BLOCK, Accept, BundleStore, StoreError

REPO = Path(__file__).resolve().parents[2]


def test_opens_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s" / "store.db", FakeClock())
    store.close()
    with sqlite3.connect(tmp_path / "s" / "store.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.recovery_seconds >= 0


def test_synchronous_full_when_durable_off_otherwise(tmp_path: Path) -> None:
    durable = BundleStore(tmp_path / "a.db", node_id=NODE, capacity_bytes=1000, clock=FakeClock())
    fast = BundleStore(tmp_path / "b.db", node_id=NODE, capacity_bytes=1000, clock=FakeClock(), durable=False)
    try:
        assert durable._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert fast._conn.execute("PRAGMA synchronous").fetchone()[0] == 0  # OFF
    finally:
        durable.close()
        fast.close()


# ---- ids ------------------------------------------------------------------------------------------------


def test_new_id_uses_the_clock_and_strictly_increasing_seq() -> None:
    clock = FakeClock(start_wall=1_800_000_000.5)
    store = open_store(":memory:", clock)
    first = store.new_id()
    clock.advance(0.25)
    second = store.new_id()
    assert first == BundleId(NODE, 1_800_000_000_500, 0)
    assert second == BundleId(NODE, 1_800_000_000_750, 1)


def test_seq_never_reused_across_clean_reopen(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = open_store(path, FakeClock())
    seen = [store.new_id().seq for _ in range(SEQ_BLOCK + 5)]
    store.close()
    store = open_store(path, FakeClock())
    after = store.new_id().seq
    store.close()
    assert seen == list(range(SEQ_BLOCK + 5))
    assert after > max(seen)


def test_seq_never_reused_after_a_simulated_crash(tmp_path: Path) -> None:
    """The first store is never closed (no clean shutdown); a second one opens the same file."""
    path = tmp_path / "store.db"
    crashed = open_store(path, FakeClock())
    handed_out = [crashed.new_id().seq for _ in range(10)]
    stored = crashed.create(destination="surface", priority=Priority.ALARM, kind="alarm", body=1, lifetime_s=60)
    assert crashed.put(stored) is Accept.STORED
    reopened = open_store(path, FakeClock())
    try:
        assert reopened.get(stored.id) is not None
        assert reopened.new_id().seq > max(*handed_out, stored.id.seq)
        # And again, crashing the second one in the middle of its first block.
        for _ in range(3):
            reopened.new_id()
        last = reopened.new_id().seq
        third = open_store(path, FakeClock())
        assert third.new_id().seq > last
        third.close()
    finally:
        reopened.close()
        crashed.close()


def test_seq_mark_is_persisted_before_numbers_are_handed_out(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = open_store(path, FakeClock())
    seq = store.new_id().seq
    with sqlite3.connect(path) as conn:
        mark = conn.execute("SELECT value FROM meta WHERE key = 'seq_reserved'").fetchone()[0]
    store.close()
    assert mark > seq


@pytest.mark.parametrize("mode", ["put", "committer"])
def test_sigkill_mid_ingest_loses_no_accepted_bundle_and_reuses_no_id(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "store.db"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "dtn_store_child.py"), str(path), mode],
        stdout=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    assert child.stdout is not None
    reported: list[BundleId] = []
    try:
        assert child.stdout.readline() == b"ready\n"
        # Past the first sequence block, so the kill also lands after at least one mark renewal.
        while len(reported) < SEQ_BLOCK + 200:
            line = child.stdout.readline()
            assert line, f"child exited with {child.poll()} after {len(reported)} bundles"
            reported.append(BundleId.parse(line.decode().strip()))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()
    store = BundleStore(path, node_id="gw-child", capacity_bytes=1 << 30, clock=SystemClock())
    try:
        held = store.ids()
        missing = [bid for bid in reported if bid not in held]
        assert not missing, f"{len(missing)} acknowledged bundle(s) lost, e.g. {missing[:3]}"
        assert len({bid.seq for bid in held}) == len(held), "a sequence number was used twice"
        newest = max(bid.seq for bid in held)
        assert store.new_id().seq > newest
    finally:
        store.close()


# ---- admission ------------------------------------------------------------------------------------------


def test_put_get_and_duplicate() -> None:
    store = open_store(":memory:", FakeClock())
    b = bundle(1, Priority.MOVEMENT)
    assert store.put(b, copies=4) is Accept.STORED
    assert store.put(b) is Accept.DUPLICATE
    got = store.get(b.id)
    assert got is not None
    assert got.bundle == b
    assert got.copies == 4
    assert got.size == len(encode(b))
    assert got.received_ms == 1_767_225_600_000
    assert store.has_seen(b.id)
    assert store.get(bundle(2).id) is None
    assert not store.has_seen(bundle(2).id)


def test_duplicate_inside_one_batch() -> None:
    store = open_store(":memory:", FakeClock())
    b = bundle(1)
    assert store.put_many([(b, 1), (b, 1)]) == [Accept.STORED, Accept.DUPLICATE]
    assert store.stats().count_by_priority[Priority.BULK] == 1


def test_expired_at_arrival_is_not_stored() -> None:
    clock = FakeClock()
    store = open_store(":memory:", clock)
    old = bundle(1, created_ms=int(clock.wall() * 1000) - 61_000, lifetime_s=60)
    assert store.put(old) is Accept.EXPIRED
    assert not store.has_seen(old.id)
    assert store.stats().bytes_used == 0


def test_bad_copies_and_bad_items_are_rejected_before_anything_is_written() -> None:
    store = open_store(":memory:", FakeClock())
    with pytest.raises(ValueError, match="copies must be an integer >= 1, got 0"):
        store.put(bundle(1), copies=0)
    with pytest.raises(TypeError, match="put_many item 1: expected a Bundle, got bytes"):
        store.put_many([(bundle(1), 1), (b"frame", 1)])  # type: ignore[list-item]
    assert store.stats().bytes_used == 0


def test_bad_constructor_arguments_name_the_field() -> None:
    with pytest.raises(StoreError, match="node_id 'bad node' is not a node id"):
        BundleStore(":memory:", node_id="bad node", capacity_bytes=1, clock=FakeClock())
    with pytest.raises(StoreError, match="capacity_bytes must be a positive integer, got 0"):
        BundleStore(":memory:", node_id=NODE, capacity_bytes=0, clock=FakeClock())


def test_put_many_is_one_transaction(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store.db", FakeClock())
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    assert store.put_many([(bundle(i), 1) for i in range(100)]) == [Accept.STORED] * 100
    store._conn.set_trace_callback(None)
    store.close()
    assert [s for s in statements if s.startswith(("BEGIN", "COMMIT"))] == ["BEGIN IMMEDIATE", "COMMIT"]


def test_put_many_is_all_or_nothing_when_the_write_fails(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = open_store(path, FakeClock())
    assert store.put(bundle(0)) is Accept.STORED
    before = store.stats()
    with sqlite3.connect(path) as conn:  # a real failure in the middle of the transaction
        conn.execute(
            "CREATE TRIGGER fail_seq_3 BEFORE INSERT ON bundles WHEN NEW.seq = 3 "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
    with pytest.raises(sqlite3.IntegrityError, match="disk says no"):
        store.put_many([(bundle(i), 1) for i in range(1, 6)])
    assert store.stats() == before
    assert store.ids() == {bundle(0).id}
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER fail_seq_3")
    assert store.put_many([(bundle(i), 1) for i in range(1, 6)]) == [Accept.STORED] * 5
    store.close()


# ---- budget and eviction ------------------------------------------------------------------------------


SIZE = len(encode(bundle(0)))


def test_all_test_bundles_have_the_same_size() -> None:
    assert {len(encode(bundle(i, p))) for i in range(128) for p in Priority} == {SIZE}


def test_eviction_order_lower_classes_oldest_first_and_refuse_when_only_urgent_remain() -> None:
    clock = FakeClock()
    store = open_store(":memory:", clock, capacity_bytes=6 * SIZE)
    now = int(clock.wall() * 1000)
    fill = [
        bundle(1, Priority.BULK, created_ms=now - 2),
        bundle(2, Priority.BULK, created_ms=now - 5),  # older: goes first
        bundle(3, Priority.TELEMETRY),
        bundle(4, Priority.MOVEMENT),
        bundle(5, Priority.CONTROL),
        bundle(6, Priority.ALARM),
    ]
    assert store.put_many([(b, 1) for b in fill]) == [Accept.STORED] * 6
    assert store.put(bundle(10, Priority.TELEMETRY)) is Accept.STORED
    assert not store.has_seen(fill[1].id)
    assert store.has_seen(fill[0].id)
    assert store.put(bundle(11, Priority.TELEMETRY)) is Accept.STORED
    assert not store.has_seen(fill[0].id)
    # No bulk left: telemetry may not evict telemetry.
    assert store.put(bundle(12, Priority.TELEMETRY)) is Accept.REFUSED_FULL
    assert store.put(bundle(13, Priority.BULK)) is Accept.REFUSED_FULL
    # An alarm evicts the least urgent class first: telemetry (oldest = seq 3), then movement, then control.
    assert store.put(bundle(20, Priority.ALARM)) is Accept.STORED
    assert not store.has_seen(fill[2].id)
    assert store.put_many([(bundle(n, Priority.ALARM), 1) for n in (21, 22, 23, 24)]) == [Accept.STORED] * 4
    stats = store.stats()
    assert stats.count_by_priority == {Priority.ALARM: 6, **dict.fromkeys(list(Priority)[1:], 0)}
    assert stats.evicted_by_priority == {
        Priority.ALARM: 0,
        Priority.CONTROL: 1,
        Priority.MOVEMENT: 1,
        Priority.TELEMETRY: 3,
        Priority.BULK: 2,
    }
    # Only alarms remain: an alarm is refused, never another alarm evicted, and the refusal is counted.
    assert store.put(bundle(30, Priority.ALARM)) is Accept.REFUSED_FULL
    assert store.put(bundle(31, Priority.CONTROL)) is Accept.REFUSED_FULL
    stats = store.stats()
    assert stats.refused_full == 4
    assert stats.bytes_used == 6 * SIZE
    assert all(store.has_seen(bundle(n).id) for n in (6, 20, 21, 22, 23, 24))


def test_incoming_alarm_evicts_bulk_but_control_cannot_evict_control() -> None:
    store = open_store(":memory:", FakeClock(), capacity_bytes=3 * SIZE)
    store.put_many([(bundle(1, Priority.CONTROL), 1), (bundle(2, Priority.BULK), 1), (bundle(3, Priority.BULK), 1)])
    assert store.put(bundle(4, Priority.ALARM)) is Accept.STORED
    assert store.put(bundle(5, Priority.CONTROL)) is Accept.STORED
    assert store.put(bundle(6, Priority.CONTROL)) is Accept.REFUSED_FULL
    assert store.stats().count_by_priority[Priority.BULK] == 0


def test_a_bigger_bundle_evicts_as_many_as_it_needs_and_nothing_when_it_cannot_fit() -> None:
    store = open_store(":memory:", FakeClock(), capacity_bytes=4 * SIZE)
    store.put_many([(bundle(n, Priority.BULK), 1) for n in range(3)] + [(bundle(3, Priority.MOVEMENT), 1)])
    big = bundle(10, Priority.TELEMETRY, pad=2 * SIZE)
    assert store.put(big) is Accept.STORED
    assert store.ids() == {bundle(3).id, big.id}
    huge = bundle(11, Priority.ALARM, pad=4 * SIZE)  # larger than the whole store
    assert store.put(huge) is Accept.REFUSED_FULL
    assert store.ids() == {bundle(3).id, big.id}  # nothing evicted for a bundle that cannot fit
    too_much = bundle(12, Priority.CONTROL, pad=3 * SIZE)  # would need the movement bundle *and* telemetry
    assert store.put(too_much) is Accept.STORED
    assert store.ids() == {too_much.id}
    assert store.put(bundle(13, Priority.CONTROL, pad=3 * SIZE + 10)) is Accept.REFUSED_FULL


def test_expired_bundles_go_first_whatever_their_class() -> None:
    clock = FakeClock()
    store = open_store(":memory:", clock, capacity_bytes=3 * SIZE)
    short_alarm = bundle(1, Priority.ALARM, lifetime_s=10)
    store.put_many([(short_alarm, 1), (bundle(2, Priority.BULK), 1), (bundle(3, Priority.BULK), 1)])
    clock.advance(11)
    assert store.put(bundle(4, Priority.TELEMETRY)) is Accept.STORED
    assert store.ids() == {bundle(2).id, bundle(3).id, bundle(4).id}
    stats = store.stats()
    assert stats.expired_dropped == 1
    assert stats.evicted_by_priority[Priority.BULK] == 0


def test_capacity_accounting_is_exact_through_every_operation(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "store.db"
    store = open_store(path, clock, capacity_bytes=40 * SIZE + 500)
    for n in range(60):
        store.put(bundle(n, Priority(n % 5), pad=50 + n, lifetime_s=30 + n))
    store.remove([bundle(n).id for n in range(0, 60, 7)], reason="delivered")
    clock.advance(40)
    store.expire()
    store.put(bundle(100, Priority.ALARM, created_ms=int(clock.wall() * 1000), pad=300))

    def on_disk() -> tuple[dict[Priority, int], dict[Priority, int]]:
        with sqlite3.connect(path) as conn:
            rows = conn.execute("SELECT priority, COUNT(*), SUM(size), SUM(length(frame)) FROM bundles GROUP BY 1")
            counts, sizes = dict.fromkeys(Priority, 0), dict.fromkeys(Priority, 0)
            for priority, count, size, frame_bytes in rows:
                assert size == frame_bytes
                counts[Priority(priority)], sizes[Priority(priority)] = count, size
        return counts, sizes

    stats = store.stats()
    assert (stats.count_by_priority, stats.bytes_by_priority) == on_disk()
    assert stats.bytes_used == sum(stats.bytes_by_priority.values()) <= stats.capacity_bytes
    store.close()
    reopened = open_store(path, clock, capacity_bytes=40 * SIZE + 500)
    assert reopened.stats().bytes_by_priority == stats.bytes_by_priority
    reopened.close()


# ---- tombstones, lifetime -----------------------------------------------------------------------------


def test_tombstone_suppresses_redelivery_until_expiry_then_is_dropped() -> None:
    clock = FakeClock()
    store = open_store(":memory:", clock)
    b = bundle(1, Priority.TELEMETRY, lifetime_s=100)
    store.put(b)
    assert store.remove([b.id, bundle(99).id], reason="custody passed") == 1
    assert store.get(b.id) is None
    assert store.has_seen(b.id)
    assert b.id in store.seen_ids()
    assert b.id not in store.ids()
    assert store.put(b) is Accept.DUPLICATE
    stats = store.stats()
    assert (stats.tombstones, stats.bytes_used) == (1, 0)
    clock.advance(99)
    store.expire()
    assert store.put(b) is Accept.DUPLICATE
    clock.advance(1)
    assert store.expire() == 0
    assert store.stats().tombstones == 0
    assert not store.has_seen(b.id)
    assert store.put(b) is Accept.EXPIRED


def test_expire_drops_bundles_and_counts_them() -> None:
    clock = FakeClock()
    store = open_store(":memory:", clock)
    store.put_many([(bundle(n, lifetime_s=10 * (n + 1)), 1) for n in range(3)])
    clock.advance(20)
    assert store.ids() == {bundle(2).id}  # expired ones are no longer offered even before expire()
    assert store.get(bundle(0).id) is None
    assert store.expire() == 2
    stats = store.stats()
    assert stats.expired_dropped == 2
    assert stats.count_by_priority[Priority.BULK] == 1


def test_lifetime_is_honoured_across_downtime(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "store.db"
    store = open_store(path, clock)
    short = store.create(destination="surface", priority=Priority.ALARM, kind="alarm", body=1, lifetime_s=60)
    long = store.create(destination="surface", priority=Priority.ALARM, kind="alarm", body=2, lifetime_s=600)
    store.put_many([(short, 1), (long, 1)])
    store.close()
    clock.advance(61)  # the gateway was off for a minute
    store = open_store(path, clock)
    try:
        assert store.get(short.id) is None
        assert store.get(long.id) is not None
        stats = store.stats()
        assert stats.expired_dropped == 1
        assert stats.count_by_priority[Priority.ALARM] == 1
    finally:
        store.close()


def test_set_copies() -> None:
    store = open_store(":memory:", FakeClock())
    b = bundle(1)
    store.put(b, copies=8)
    store.set_copies(b.id, 4)
    got = store.get(b.id)
    assert got is not None
    assert got.copies == 4
    store.set_copies(bundle(2).id, 3)  # not held (evicted meanwhile): nothing to do
    with pytest.raises(ValueError, match="copies must be an integer >= 1"):
        store.set_copies(b.id, 0)


# ---- reads --------------------------------------------------------------------------------------------


def test_pending_order_filter_exclude_and_limit() -> None:
    clock = FakeClock()
    store = open_store(":memory:", clock)
    now = int(clock.wall() * 1000)
    items = [
        bundle(1, Priority.BULK, created_ms=now - 10),
        bundle(2, Priority.ALARM, created_ms=now - 1),
        bundle(3, Priority.TELEMETRY, created_ms=now - 50),
        bundle(4, Priority.ALARM, created_ms=now - 5),
        bundle(5, Priority.ALARM, created_ms=now - 5),
        bundle(6, Priority.MOVEMENT, created_ms=now - 100, lifetime_s=0.05),  # expired by now
        bundle(7, Priority.CONTROL, created_ms=now - 3),
    ]
    store.put_many([(b, 1) for b in items if not b.expired(now)])
    expected = [b.id for b in sorted(items, key=lambda b: (b.priority, b.id.created_ms, b.id.seq)) if b.id.seq != 6]
    assert ids_of(store.pending()) == expected
    assert ids_of(store.pending(limit=2)) == expected[:2]
    assert ids_of(store.pending(max_priority=Priority.CONTROL)) == expected[:4]
    assert ids_of(store.pending(limit=2, exclude={expected[0], expected[2]})) == [expected[1], expected[3]]
    assert store.pending(limit=0) == []


def test_reads_on_another_thread_while_a_thread_writes(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store.db", FakeClock())
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for batch in range(20):
                store.put_many([(bundle(n, source=f"w{batch}"), 1) for n in range(50)])
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    while thread.is_alive():
        store.pending(limit=10)
        store.has_seen(bundle(3, source="w1").id)
        store.stats()
    thread.join()
    assert not errors
    assert len(store.ids()) == 1000
    store.close()


def test_memory_store_is_light_and_private() -> None:
    clock = FakeClock()
    a = open_store(":memory:", clock, node_id="a")
    b = open_store(":memory:", clock, node_id="b")
    a.put(bundle(1))
    assert b.ids() == set()
    assert a.ids() == {bundle(1).id}


# ---- recovery -----------------------------------------------------------------------------------------


def test_node_id_mismatch_on_reopen_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    open_store(path, FakeClock(), node_id="gw-a").close()
    with pytest.raises(StoreError, match=r"belongs to node 'gw-a', not 'gw-b'"):
        open_store(path, FakeClock(), node_id="gw-b")


def test_schema_version_mismatch_and_non_database_files_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    open_store(path, FakeClock()).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = 99 WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99"):
        open_store(path, FakeClock())
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="is not a readable SQLite database"):
        open_store(junk, FakeClock())


def test_corrupt_rows_are_quarantined_on_open_and_the_rest_survives(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "store.db"
    store = open_store(path, FakeClock())
    store.put_many([(bundle(n, Priority(n % 5)), 1) for n in range(10)])
    store.close()
    with sqlite3.connect(path) as conn:
        frame = bytearray(conn.execute("SELECT frame FROM bundles WHERE seq = 1").fetchone()[0])
        frame[20] ^= 0x40  # bit rot
        conn.execute("UPDATE bundles SET frame = ? WHERE seq = 1", (bytes(frame),))
        conn.execute("UPDATE bundles SET priority = 4 WHERE seq = 2")  # column disagrees with the frame
        conn.execute("UPDATE bundles SET frame = x'00' WHERE seq = 3")  # truncated
        conn.execute("UPDATE bundles SET size = 7 WHERE seq = 4")
    with caplog.at_level(logging.ERROR, logger="edge.dtn.store"):
        store = open_store(path, FakeClock())
    try:
        assert store.ids() == {bundle(n).id for n in (0, 5, 6, 7, 8, 9)}
        reasons = [reason for _, reason in store.quarantined()]
        assert len(reasons) == 4
        assert any("checksum mismatch" in r for r in reasons)
        assert any("disagree with the frame" in r for r in reasons)
        assert sum("quarantined" in r.message for r in caplog.records) == 4
        stats = store.stats()
        assert stats.bytes_used == 6 * SIZE
        assert sum(stats.count_by_priority.values()) == 6
    finally:
        store.close()


def test_a_row_corrupted_while_open_is_quarantined_when_read(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = open_store(path, FakeClock())
    store.put_many([(bundle(n, Priority.ALARM), 1) for n in range(3)])
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE bundles SET frame = x'0102030405060708' WHERE seq = 1")
    assert ids_of(store.pending()) == [bundle(0).id, bundle(2).id]
    assert store.get(bundle(1).id) is None
    assert store.stats().count_by_priority[Priority.ALARM] == 2
    assert len(store.quarantined()) == 1
    store.close()


def test_closed_store_refuses_use() -> None:
    store = open_store(":memory:", FakeClock())
    store.close()
    store.close()
    with pytest.raises(StoreError, match="is closed"):
        store.put(bundle(1))
    with pytest.raises(StoreError, match="is closed"):
        store.pending()
