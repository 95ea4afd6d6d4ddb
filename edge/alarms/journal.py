"""Crash-safe alarm journal: SQLite in WAL mode with ``synchronous=FULL``, one transaction per batch.

``AlarmJournal.append`` returns only after the batch is committed and fsynced, so an event it accepted
survives ``kill -9`` and power loss. ``JournalWriter`` keeps those fsyncs off the asyncio loop: the loop
submits events without waiting and a single dedicated thread group-commits everything queued since the
previous commit.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgpack

from edge.alarms.events import AlarmEvent

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    # body is the msgpack of AlarmEvent.to_dict(); the other columns exist for queries and retention.
    """CREATE TABLE IF NOT EXISTS alarm_events (
        seq INTEGER PRIMARY KEY,
        alarm_id TEXT NOT NULL,
        transition TEXT NOT NULL,
        t_wall REAL NOT NULL,
        body BLOB NOT NULL
    )""",
)


class JournalError(Exception):
    """The journal cannot be opened or written as asked; the message says what is wrong."""


class AlarmJournal:
    """Append-only event store. Thread-safe: one lock serialises every statement on the one connection."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 5.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._lock = threading.Lock()
        self._closed = False
        # Autocommit mode (isolation_level=None) so transactions are exactly the BEGIN/COMMIT written here;
        # check_same_thread=False because the JournalWriter thread writes and the loop thread reads at start.
        self._conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
        try:
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(f"alarm journal {path}: SQLite refused WAL mode (got {mode!r})")
            # FULL: the WAL is fsynced at every commit, so a committed batch survives power loss too.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._init_schema()
        except BaseException:
            self._conn.close()
            raise

    def _init_schema(self) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA:
                    self._conn.execute(statement)
                row = self._conn.execute("SELECT version FROM schema_version").fetchone()
                if row is None:
                    self._conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
                elif row[0] != SCHEMA_VERSION:
                    raise JournalError(
                        f"alarm journal {self._path} has schema version {row[0]}, this minegate reads "
                        f"version {SCHEMA_VERSION}; keep the file and migrate it, do not delete it"
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    @property
    def path(self) -> Path:
        return self._path

    def append(self, events: Sequence[AlarmEvent]) -> None:
        """Store ``events`` in one transaction; durable when this returns.

        Idempotent per seq, so a batch may be retried after an ambiguous failure: an event whose seq is
        already stored with the same content is skipped; with different content ``JournalError`` is raised
        and nothing of the batch is stored.
        """
        if not events:
            return
        rows = [
            (e.seq, e.alarm_id, e.transition.value, e.t_wall, msgpack.packb(e.to_dict(), use_bin_type=True))
            for e in events
        ]
        with self._lock:
            self._check_open()
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for row in rows:
                    cursor = self._conn.execute(
                        "INSERT OR IGNORE INTO alarm_events (seq, alarm_id, transition, t_wall, body) "
                        "VALUES (?, ?, ?, ?, ?)",
                        row,
                    )
                    if cursor.rowcount == 0:
                        stored = self._conn.execute("SELECT body FROM alarm_events WHERE seq = ?", (row[0],)).fetchone()
                        if stored is None or bytes(stored[0]) != row[4]:
                            raise JournalError(
                                f"alarm journal {self._path}: seq {row[0]} is already stored with "
                                "different content; seqs must never be reused (start the manager at "
                                "last_seq())"
                            )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def events(self, *, since_seq: int = 0, limit: int | None = None) -> list[AlarmEvent]:
        """Events with ``seq > since_seq``, oldest first, at most ``limit`` of them."""
        sql = "SELECT body FROM alarm_events WHERE seq > ? ORDER BY seq"
        params: tuple[int, ...] = (since_seq,)
        if limit is not None:
            sql += " LIMIT ?"
            params = (since_seq, limit)
        with self._lock:
            self._check_open()
            rows = self._conn.execute(sql, params).fetchall()
        return [AlarmEvent.from_dict(msgpack.unpackb(row[0], raw=False)) for row in rows]

    def last_seq(self) -> int:
        """The highest stored seq, 0 for an empty journal."""
        with self._lock:
            self._check_open()
            row = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM alarm_events").fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._conn.close()

    def _check_open(self) -> None:
        if self._closed:
            raise JournalError(f"alarm journal {self._path} is closed")


class JournalWriter:
    """Asyncio front of an ``AlarmJournal``: ``submit`` never blocks and never drops.

    Overflow policy: the backlog is unbounded, because an alarm event must not be lost and the synchronous
    alarm path cannot wait. When it holds more than ``max_queue`` events (the disk is failing or far too
    slow) an ERROR is logged once per episode and ``backlog`` shows the depth. A failed commit is logged and
    retried after ``retry_s`` with the same events. The writer does not own the journal: close it after
    ``close()``.
    """

    def __init__(self, journal: AlarmJournal, *, max_queue: int = 10000, retry_s: float = 1.0) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue}")
        self._journal = journal
        self._max_queue = max_queue
        self._retry_s = retry_s
        self._backlog: deque[AlarmEvent] = deque()
        self._submitted = 0  # events ever submitted
        self._durable = 0  # events ever committed
        self._durable_seq = 0
        self._batches_written = 0
        self._overflowing = False
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()  # set and replaced after every commit and when run() ends
        self._running = False
        self._stopped = asyncio.Event()
        self._closing = False
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alarm-journal")

    @property
    def backlog(self) -> int:
        """Events submitted and not yet durable."""
        return len(self._backlog)

    @property
    def durable_seq(self) -> int:
        """Highest seq committed by this writer (0 before the first commit)."""
        return self._durable_seq

    @property
    def batches_written(self) -> int:
        return self._batches_written

    def submit(self, events: Sequence[AlarmEvent]) -> None:
        """Queue events for the journal; call from the event-loop thread. Raises after ``close()``."""
        if self._closing:
            raise RuntimeError("JournalWriter is closed; alarm events submitted now would be lost")
        if not events:
            return
        self._backlog.extend(events)
        self._submitted += len(events)
        if len(self._backlog) > self._max_queue and not self._overflowing:
            self._overflowing = True
            log.error(
                "alarm journal backlog is %d events (max_queue %d): the disk is failing or too slow; "
                "events are kept in memory, none is dropped",
                len(self._backlog),
                self._max_queue,
            )
        self._wake.set()

    async def run(self) -> None:
        """Write until ``close()``; run it as one named task."""
        if self._running:
            raise RuntimeError("JournalWriter.run() is already running")
        self._running = True
        self._stopped.clear()
        try:
            while True:
                if self._backlog:
                    await self._write_backlog()
                elif self._closing:
                    return
                else:
                    self._wake.clear()
                    await self._wake.wait()
        finally:
            self._running = False
            self._stopped.set()
            self._notify_progress()

    async def flush(self) -> None:
        """Return when every event submitted before this call is durable.

        Raises ``RuntimeError`` if ``run()`` stops first; waits while run() has not started yet.
        """
        target = self._submitted
        while self._durable < target:
            progress = self._progress
            await progress.wait()
            if self._durable < target and self._stopped.is_set() and not self._running:
                missing = target - self._durable
                raise RuntimeError(f"alarm journal writer stopped with {missing} submitted event(s) not durable")

    async def close(self) -> None:
        """Write everything submitted, then stop ``run()`` and the thread. Idempotent."""
        if self._closed:
            return
        self._closing = True
        self._wake.set()
        if self._running:
            await self._stopped.wait()
        while self._backlog:  # run() was never started or was cancelled: write the rest here
            await self._write_backlog()
        self._executor.shutdown(wait=True)  # idle by now: no fsync is in flight
        self._closed = True

    async def _write_backlog(self) -> None:
        batch = list(self._backlog)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._journal.append, batch)
        except Exception:
            log.exception(
                "alarm journal commit of %d event(s) failed; retrying in %.1f s, nothing is dropped",
                len(batch),
                self._retry_s,
            )
            await asyncio.sleep(self._retry_s)
            return
        for _ in batch:
            self._backlog.popleft()
        self._durable += len(batch)
        self._durable_seq = max(self._durable_seq, *(e.seq for e in batch))
        self._batches_written += 1
        if self._overflowing and len(self._backlog) <= self._max_queue // 2:
            self._overflowing = False
            log.warning("alarm journal backlog recovered: %d events queued", len(self._backlog))
        self._notify_progress()

    def _notify_progress(self) -> None:
        progress, self._progress = self._progress, asyncio.Event()
        progress.set()
