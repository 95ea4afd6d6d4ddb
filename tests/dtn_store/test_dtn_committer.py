"""GroupCommitter on real SQLite files: concurrent puts share commits, resolve only once durable, fail together."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from dtn_store_fixtures import bundle, open_store

from edge.aio import within
from edge.clock import FakeClock
from edge.dtn.bundle import Priority
from edge.dtn.committer import GroupCommitter
from edge.dtn.store import Accept, BundleStore


def committed_on_disk(path: Path, seq: int) -> bool:
    """Seen by an independent connection: the transaction is committed, not just written by the store."""
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT 1 FROM bundles WHERE seq = ?", (seq,)).fetchone() is not None


async def test_concurrent_puts_share_commits_and_each_is_committed_when_it_resolves(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = open_store(path, FakeClock())
    committer = GroupCommitter(store)
    await committer.start()
    not_yet_visible: list[int] = []

    async def producer(seq: int) -> Accept:
        accept = await committer.put(bundle(seq, Priority(seq % 5)))
        if not committed_on_disk(path, seq):
            not_yet_visible.append(seq)
        return accept

    results = await within(asyncio.gather(*(producer(n) for n in range(100))), 30)
    await committer.close()
    assert results == [Accept.STORED] * 100
    assert not not_yet_visible
    assert committer.bundles_committed == 100
    assert committer.batches_committed < 100  # the puts waiting during a commit went in together
    assert len(store.ids()) == 100
    store.close()


async def test_max_batch_bounds_a_transaction(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store.db", FakeClock())
    commits: list[str] = []
    store._conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    committer = GroupCommitter(store, max_batch=8)
    await committer.start()
    results = await within(asyncio.gather(*(committer.put(bundle(n)) for n in range(40))), 30)
    await committer.close()
    store._conn.set_trace_callback(None)
    assert results == [Accept.STORED] * 40
    assert committer.batches_committed == len(commits) >= 5
    store.close()


async def test_each_put_gets_its_own_answer() -> None:
    clock = FakeClock()
    store = open_store(":memory:", clock, capacity_bytes=2 * len(bundle(0).payload) + 200)
    committer = GroupCommitter(store)
    await committer.start()
    expired = bundle(1, created_ms=int(clock.wall() * 1000) - 10_000, lifetime_s=5)
    results = await within(
        asyncio.gather(
            committer.put(bundle(2)),
            committer.put(bundle(2)),
            committer.put(expired),
            committer.put(bundle(3, pad=10_000)),
        ),
        30,
    )
    await committer.close()
    assert list(results) == [Accept.STORED, Accept.DUPLICATE, Accept.EXPIRED, Accept.REFUSED_FULL]


async def test_a_failed_commit_fails_every_put_of_its_batch_and_the_next_batch_works(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = open_store(path, FakeClock())
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TRIGGER fail_seq_7 BEFORE INSERT ON bundles WHEN NEW.seq = 7 "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
    committer = GroupCommitter(store)
    await committer.start()
    results = await within(
        asyncio.gather(*(committer.put(bundle(n)) for n in range(5, 10)), return_exceptions=True), 30
    )
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results)
    assert store.ids() == set()  # nothing of the failed batch was stored
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER fail_seq_7")
    assert await within(committer.put(bundle(7)), 10) is Accept.STORED
    await committer.close()
    store.close()


async def test_bad_arguments_fail_their_own_caller_only(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store.db", FakeClock())
    committer = GroupCommitter(store)
    with pytest.raises(RuntimeError, match="call start"):
        await committer.put(bundle(1))
    await committer.start()
    with pytest.raises(ValueError, match="copies must be an integer >= 1, got 0"):
        await committer.put(bundle(1), copies=0)
    with pytest.raises(TypeError, match="expected a Bundle, got bytes"):
        await committer.put(b"frame")  # type: ignore[arg-type]
    assert await committer.put(bundle(1)) is Accept.STORED
    await committer.close()
    await committer.close()
    with pytest.raises(RuntimeError, match="do not put"):
        await committer.put(bundle(2))
    with pytest.raises(ValueError, match="max_batch"):
        GroupCommitter(store, max_batch=0)
    store.close()


async def test_close_commits_what_is_queued(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store.db", FakeClock())
    committer = GroupCommitter(store, max_batch=4)
    await committer.start()
    puts = [asyncio.create_task(committer.put(bundle(n))) for n in range(20)]
    await asyncio.sleep(0)  # every put is queued
    await within(committer.close(), 30)
    assert [p.result() for p in puts] == [Accept.STORED] * 20
    assert len(store.ids()) == 20
    store.close()


async def test_a_cancelled_caller_does_not_disturb_the_others(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store.db", FakeClock())
    committer = GroupCommitter(store)
    await committer.start()
    puts = [asyncio.create_task(committer.put(bundle(n))) for n in range(10)]
    await asyncio.sleep(0)
    puts[3].cancel()
    done = await within(asyncio.gather(*puts, return_exceptions=True), 30)
    await committer.close()
    assert isinstance(done[3], asyncio.CancelledError)
    assert [r for i, r in enumerate(done) if i != 3] == [Accept.STORED] * 9
    store.close()


async def test_call_runs_on_the_writer_thread_and_reads_work_during_commits(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store.db", FakeClock())
    committer = GroupCommitter(store)
    await committer.start()
    writer_threads: set[str] = set()
    puts = [asyncio.create_task(committer.put(bundle(n, Priority.TELEMETRY))) for n in range(200)]
    while not all(p.done() for p in puts):
        store.pending(limit=5)  # the loop reads while the writer thread commits
        store.stats()
        await asyncio.sleep(0)

    def remove_some() -> int:
        writer_threads.add(threading.current_thread().name)
        return store.remove([bundle(n).id for n in range(50)], reason="delivered")

    assert await within(committer.call(remove_some), 10) == 50
    await committer.close()
    assert all(name.startswith("dtn-commit") for name in writer_threads)
    assert len(store.ids()) == 150
    assert store.stats().tombstones == 50
    store.close()


async def test_committer_over_a_memory_store() -> None:
    """The simulation may put through a committer too; a :memory: store shares one connection under a lock."""
    store = BundleStore(":memory:", node_id="sim1", capacity_bytes=1 << 20, clock=FakeClock(), durable=False)
    committer = GroupCommitter(store)
    await committer.start()
    results = await within(asyncio.gather(*(committer.put(bundle(n)) for n in range(50))), 30)
    await committer.close()
    assert results == [Accept.STORED] * 50
    assert len(store.pending(limit=100)) == 50
