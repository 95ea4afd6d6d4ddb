"""AlarmJournal and JournalWriter on real SQLite files, including a kill -9 durability test."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import edge
from edge.alarms.events import AlarmEvent, AlarmState, Transition
from edge.alarms.journal import SCHEMA_VERSION, AlarmJournal, JournalError, JournalWriter
from edge.rules.signals import Priority, SignalClass


def event(seq: int, alarm_id: str = "co:alarm") -> AlarmEvent:
    return AlarmEvent(
        seq=seq,
        alarm_id=alarm_id,
        source=alarm_id.split(":", maxsplit=1)[0],
        signal=SignalClass.ALARM,
        priority=Priority.HIGH,
        state=AlarmState.UNACK,
        latched=False,
        shelved=False,
        transition=Transition.ACTIVATED,
        value=12.0,
        limit=10.0,
        unit="ppm",
        message="CO high",
        action="evacuate",
        statutory=True,
        outputs=("siren", "beacon"),
        user="",
        note="",
        t_wall=1_767_225_600.0 + seq,
        t_mono=1000.0 + seq,
    )


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[AlarmJournal]:
    j = AlarmJournal(tmp_path / "var" / "alarms.db")
    yield j
    j.close()


def test_journal_creates_its_directory_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "alarms.db"
    AlarmJournal(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_append_read_and_last_seq(journal: AlarmJournal) -> None:
    assert journal.last_seq() == 0
    assert journal.events() == []
    batch = [event(i, f"a{i % 3}:x") for i in range(1, 11)]
    journal.append(batch)
    assert journal.events() == batch
    assert journal.last_seq() == 10
    assert journal.events(since_seq=7) == batch[7:]
    assert journal.events(since_seq=2, limit=3) == batch[2:5]


def test_events_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "alarms.db"
    first = AlarmJournal(path)
    first.append([event(1), event(2)])
    first.close()
    first.close()  # idempotent
    second = AlarmJournal(path)
    assert [e.seq for e in second.events()] == [1, 2]
    second.close()


def test_append_is_idempotent_per_seq_but_refuses_a_reused_seq(journal: AlarmJournal) -> None:
    journal.append([event(1), event(2)])
    journal.append([event(2), event(3)])  # a retried batch: seq 2 skipped, 3 stored
    assert [e.seq for e in journal.events()] == [1, 2, 3]
    with pytest.raises(JournalError, match="seq 3 is already stored with different content"):
        journal.append([event(4), replace(event(3), message="something else")])
    assert journal.last_seq() == 3  # the whole batch was rolled back, seq 4 included


def test_a_journal_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "alarms.db"
    AlarmJournal(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(JournalError, match="schema version 99"):
        AlarmJournal(path)


def test_use_after_close_is_a_clear_error(journal: AlarmJournal) -> None:
    journal.close()
    with pytest.raises(JournalError, match="closed"):
        journal.append([event(1)])


CHILD = textwrap.dedent(
    """
    import sys
    from dataclasses import replace
    from pathlib import Path
    from edge.alarms.events import AlarmEvent, AlarmState, Transition
    from edge.alarms.journal import AlarmJournal
    from edge.rules.signals import Priority, SignalClass

    template = AlarmEvent(
        seq=0, alarm_id="ch4:trip", source="ch4", signal=SignalClass.ALARM, priority=Priority.CRITICAL,
        state=AlarmState.UNACK, latched=True, shelved=False, transition=Transition.ACTIVATED, value=1.6,
        limit=1.5, unit="%", message="x" * 200, action="a", statutory=True, outputs=("power_trip",),
        user="", note="", t_wall=0.0, t_mono=0.0,
    )
    journal = AlarmJournal(Path(sys.argv[1]))
    seq = 0
    while True:
        batch = [replace(template, seq=seq + i) for i in range(1, 6)]
        journal.append(batch)
        seq += 5
        sys.stdout.write(f"{seq}\\n")
        sys.stdout.flush()
    """
)


def test_every_event_reported_durable_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "alarms.db"
    repo_root = Path(edge.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, env=env, text=True)
    assert child.stdout is not None
    reported: list[int] = []
    try:
        for line in child.stdout:
            reported.append(int(line))
            if len(reported) >= 150:
                break
        else:
            pytest.fail(f"journal child exited early with {child.wait()}")
        os.kill(child.pid, signal.SIGKILL)  # mid-run: the child is inside its next append
        # Lines written before the kill are in the pipe and were all printed after a durable append.
        reported += [int(line) for line in child.stdout if line.strip()]
    finally:
        child.kill()
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    journal = AlarmJournal(path)
    stored = [e.seq for e in journal.events()]
    journal.close()
    durable = max(reported)
    assert stored[:durable] == list(range(1, durable + 1))
    assert len(stored) in (durable, durable + 5)  # at most the batch in flight, and never a torn one


# ------------------------------------------------------------------------------------------ JournalWriter
async def test_writer_group_commits_many_submits(journal: AlarmJournal) -> None:
    writer = JournalWriter(journal)
    for seq in range(1, 2001):
        writer.submit([event(seq)])
    task = asyncio.create_task(writer.run(), name="alarm-journal-writer")
    await writer.flush()
    assert writer.batches_written == 1  # everything queued before the first commit went in one transaction
    assert writer.durable_seq == 2000
    assert writer.backlog == 0

    # Interleaved submits while commits are in flight are still batched and all arrive.
    for seq in range(2001, 3001):
        writer.submit([event(seq)])
        if seq % 100 == 0:
            await asyncio.sleep(0)
    await writer.flush()
    assert writer.batches_written < 1 + 1000
    await writer.close()
    await task
    assert [e.seq for e in journal.events()] == list(range(1, 3001))


async def test_flushed_events_are_visible_to_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "alarms.db"
    journal = AlarmJournal(path)
    writer = JournalWriter(journal)
    task = asyncio.create_task(writer.run())
    writer.submit([event(1), event(2)])
    await writer.flush()
    other = AlarmJournal(path)
    assert [e.seq for e in other.events()] == [1, 2]
    other.close()
    await writer.close()
    await writer.close()  # idempotent
    await task
    journal.close()


async def test_close_without_run_writes_the_backlog_and_refuses_later_submits(journal: AlarmJournal) -> None:
    writer = JournalWriter(journal)
    writer.submit([event(1)])
    await writer.close()
    assert journal.last_seq() == 1
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit([event(2)])


async def test_backlog_over_max_queue_logs_an_error_and_drops_nothing(
    journal: AlarmJournal, caplog: pytest.LogCaptureFixture
) -> None:
    writer = JournalWriter(journal, max_queue=10)
    with caplog.at_level(logging.ERROR, logger="edge.alarms.journal"):
        for seq in range(1, 26):
            writer.submit([event(seq)])
    assert [r.levelno for r in caplog.records] == [logging.ERROR]  # once per episode, not per event
    assert writer.backlog == 25
    await writer.close()
    assert journal.last_seq() == 25


async def test_writer_retries_a_failed_commit_until_the_disk_accepts_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "alarms.db"
    journal = AlarmJournal(path, busy_timeout_s=0.05)
    writer = JournalWriter(journal, retry_s=0.02)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock: commits fail with "locked"
    task = asyncio.create_task(writer.run())
    writer.submit([event(1)])
    for _ in range(250):  # at most 5 s for the first failed commit to be logged
        if any("failed; retrying" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("a commit against a locked database never failed")
    assert writer.backlog == 1
    blocker.execute("ROLLBACK")
    blocker.close()
    await asyncio.wait_for(writer.flush(), timeout=5)
    assert journal.last_seq() == 1
    await writer.close()
    await task
    journal.close()
