"""The DTN's durable bundle store: SQLite in WAL mode, bounded by bytes, the one source of truth on disk.

"Accepted" means durable: ``put``/``put_many`` return ``Accept.STORED`` only after the transaction is committed,
and with ``durable=True`` (``synchronous=FULL``) that commit is fsynced, so the bundle survives ``kill -9`` and
power loss. ``put_many`` is one transaction and one fsync for the whole batch (the group commit of
``edge.dtn.committer`` builds on it).

Budget and eviction. Each bundle costs ``len(encode(bundle))`` bytes of ``capacity_bytes`` (the frame as stored;
SQLite's per-row and index overhead is not charged). When a bundle does not fit: expired bundles of any class go
first, then BULK, TELEMETRY, MOVEMENT, CONTROL, oldest (``created_ms``, ``seq``) first within a class -- but only
classes strictly less urgent than the incoming one, so an ALARM is never evicted to admit anything, and an
incoming ALARM may evict everything except ALARMs. If even that cannot make room, nothing is evicted and the
bundle is ``REFUSED_FULL`` (counted in ``StoreStats.refused_full``). Evicted bundles get no tombstone: a class
can only be displaced by a more urgent one, so an evicted bundle offered again is refused, it cannot ping-pong.

Duplicates. A bundle id held now, or tombstoned by ``remove`` (custody passed on, delivered), is ``DUPLICATE``.
A tombstone lives until the bundle's own expiry: after that the bundle would be ``EXPIRED`` at arrival anyway.

Ids. ``new_id`` hands out sequence numbers from blocks of ``SEQ_BLOCK`` whose upper end is committed (fsynced
when durable) before the first number of the block is used; a reopened store starts after the persisted mark,
so a sequence number is never reused, even after a crash and a wall-clock step back.

Lifetime. Expiry is absolute (``created_ms + lifetime_ms`` on the source's wall clock), so downtime counts.

Recovery on open, bounded by the store size (itself bounded by ``capacity_bytes``): every row's frame is decoded
(crc32 and field checks) and compared with its columns; a row that fails is moved to the ``quarantine`` table
with the reason logged (never a crash); the byte and count budgets are rebuilt by one aggregate query; expired
bundles and tombstones are purged. ``recovery_seconds`` says how long it took.

Threads. The store is synchronous. Writes use one connection under one lock, so any thread may call any method
(``GroupCommitter`` writes from its thread while the event loop reads). A file-backed store reads through a
second connection: in WAL mode a reader never waits for the writer's fsync, so a read on the event loop is not
stalled by a group commit. ``":memory:"`` has a single connection (an in-memory database is private to it),
which suits the single-threaded simulation. One store file belongs to one process: two processes writing the
same file would hand out the same sequence numbers.
"""

from __future__ import annotations

import enum
import logging
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.clock import Clock
from edge.dtn.bundle import NODE_ID_PATTERN, Bundle, BundleError, BundleId, Priority, decode, encode, make_bundle

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SEQ_BLOCK = 1000  # sequence numbers reserved per durable write of the high-water mark
MAX_QUARANTINE_ROWS = 1000  # corrupt rows kept for inspection; outside the byte budget, so bounded here
MEMORY = ":memory:"

_EVICTION_ORDER = (Priority.BULK, Priority.TELEMETRY, Priority.MOVEMENT, Priority.CONTROL)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value NOT NULL)",
    # frame is the last column: scans that do not read it never touch its overflow pages.
    """CREATE TABLE IF NOT EXISTS bundles (
        source TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        priority INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        size INTEGER NOT NULL,
        copies INTEGER NOT NULL,
        received_ms INTEGER NOT NULL,
        frame BLOB NOT NULL,
        PRIMARY KEY (source, created_ms, seq)
    )""",
    "CREATE INDEX IF NOT EXISTS bundles_by_order ON bundles (priority, created_ms, seq)",
    "CREATE INDEX IF NOT EXISTS bundles_by_expiry ON bundles (expires_ms)",
    """CREATE TABLE IF NOT EXISTS tombstones (
        source TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        PRIMARY KEY (source, created_ms, seq)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS tombstones_by_expiry ON tombstones (expires_ms)",
    """CREATE TABLE IF NOT EXISTS quarantine (
        id INTEGER PRIMARY KEY,
        quarantined_ms INTEGER NOT NULL,
        reason TEXT NOT NULL,
        source,
        created_ms,
        seq,
        frame
    )""",
)


class StoreError(Exception):
    """The store cannot be opened or used as asked; the message says what is wrong and what to do."""


class Accept(enum.Enum):
    STORED = "stored"  # durable (fsync'd when the store is durable) before put() returns
    DUPLICATE = "duplicate"  # already held, or a tombstone says it was held and passed on/delivered
    EXPIRED = "expired"  # lifetime already over at arrival
    REFUSED_FULL = "refused_full"  # no room even after evicting everything of a lower class


@dataclass(frozen=True)
class StoredBundle:
    bundle: Bundle
    copies: int  # spray-and-wait tokens this node holds (1 for static/epidemic)
    received_ms: int
    size: int  # bytes charged to the budget


@dataclass(frozen=True)
class StoreStats:
    count_by_priority: dict[Priority, int]
    bytes_by_priority: dict[Priority, int]
    bytes_used: int
    capacity_bytes: int
    tombstones: int
    evicted_by_priority: dict[Priority, int]  # since open
    refused_full: int  # since open
    expired_dropped: int  # since open: held bundles dropped because their lifetime ended


def _zero() -> dict[Priority, int]:
    return dict.fromkeys(Priority, 0)


@dataclass
class _Counters:
    """What the store keeps in memory about the rows; replaced as a whole when a transaction commits."""

    count: dict[Priority, int] = field(default_factory=_zero)
    bytes: dict[Priority, int] = field(default_factory=_zero)
    tombstones: int = 0
    evicted: dict[Priority, int] = field(default_factory=_zero)
    refused_full: int = 0
    expired_dropped: int = 0

    def copy(self) -> _Counters:
        return _Counters(
            dict(self.count),
            dict(self.bytes),
            self.tombstones,
            dict(self.evicted),
            self.refused_full,
            self.expired_dropped,
        )

    @property
    def bytes_used(self) -> int:
        return sum(self.bytes.values())


def _id_params(bid: BundleId) -> tuple[str, int, int]:
    return (bid.source, bid.created_ms, bid.seq)


class BundleStore:
    """Durable, byte-bounded, priority-aware bundle store. See the module docstring for the guarantees."""

    def __init__(
        self, path: str | Path, *, node_id: str, capacity_bytes: int, clock: Clock, durable: bool = True
    ) -> None:
        if not isinstance(node_id, str) or not NODE_ID_PATTERN.fullmatch(node_id):
            raise StoreError(
                f"node_id {node_id!r} is not a node id: 1-64 characters, letters, digits, '_', '.', '-', "
                "starting with a letter or digit"
            )
        if not isinstance(capacity_bytes, int) or isinstance(capacity_bytes, bool) or capacity_bytes < 1:
            raise StoreError(f"capacity_bytes must be a positive integer, got {capacity_bytes!r}")
        started = time.perf_counter()  # a measurement of this machine's work, not the (injected) domain time
        self.node_id = node_id
        self.capacity_bytes = capacity_bytes
        self.durable = durable
        self._clock = clock
        self._memory = str(path) == MEMORY
        self._path = MEMORY if self._memory else str(path)
        if not self._memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.RLock()
        self._stats_lock = threading.Lock()
        self._id_lock = threading.Lock()
        self._closed = False
        self._counters = _Counters()
        self._next_seq = 0
        self._reserved_until = 0  # exclusive; numbers below it may have been handed out already
        self._refusing = False
        self._conn = self._connect(read_only=False)
        self._read_conn: sqlite3.Connection | None = None
        try:
            self._init_schema()
            self._recover()
            if not self._memory:
                self._read_conn = self._connect(read_only=True)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreError(
                f"bundle store {self._path} is damaged beyond its rows ({exc}); move it aside for inspection "
                "and restore a backup -- a fresh file would restart this node's sequence numbers"
            ) from exc
        except BaseException:
            self._conn.close()
            raise
        # A :memory: database is private to its one connection, so reads share the writer's lock and connection.
        self._read_lock = self._write_lock if self._read_conn is None else threading.Lock()
        self.recovery_seconds = time.perf_counter() - started

    # ---- opening and recovery ------------------------------------------------------------------------------

    def _connect(self, *, read_only: bool) -> sqlite3.Connection:
        try:
            # Autocommit (isolation_level=None): transactions are exactly the BEGIN/COMMIT written here.
            # check_same_thread=False: the locks below serialise use, and the committer's thread writes.
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=30.0)
        except sqlite3.Error as exc:
            raise StoreError(f"bundle store {self._path}: cannot open ({exc})") from exc
        try:
            if not self._memory:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"bundle store {self._path}: SQLite refused WAL mode (got {mode!r})")
            # FULL: the WAL is fsynced at every commit, so an accepted bundle survives power loss too.
            conn.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'OFF'}")
            if read_only:
                conn.execute("PRAGMA query_only=ON")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(
                f"bundle store {self._path} is not a readable SQLite database ({exc}); move it aside for "
                "inspection and restore a backup -- a fresh file would restart this node's sequence numbers"
            ) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _init_schema(self) -> None:
        with self._transaction() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if not meta:
                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("schema_version", SCHEMA_VERSION), ("node_id", self.node_id), ("seq_reserved", 0)],
                )
                meta = {"schema_version": SCHEMA_VERSION, "node_id": self.node_id, "seq_reserved": 0}
            if meta.get("schema_version") != SCHEMA_VERSION:
                raise StoreError(
                    f"bundle store {self._path} has schema version {meta.get('schema_version')!r}, this minegate "
                    f"reads version {SCHEMA_VERSION}; keep the file and migrate it, do not delete it"
                )
            if meta.get("node_id") != self.node_id:
                raise StoreError(
                    f"bundle store {self._path} belongs to node {meta.get('node_id')!r}, not {self.node_id!r}; "
                    "use that node id or another store file (reusing it would mix two nodes' bundle ids)"
                )
            reserved = meta.get("seq_reserved")
            if not isinstance(reserved, int) or reserved < 0:
                raise StoreError(f"bundle store {self._path}: sequence high-water mark {reserved!r} is corrupt")
            self._next_seq = self._reserved_until = reserved

    def _recover(self) -> None:
        now_ms = self._now_ms()
        bad: list[tuple[int, str]] = []
        rows = self._conn.execute(
            "SELECT rowid, source, created_ms, seq, priority, expires_ms, size, copies, received_ms, frame FROM bundles"
        )
        for rowid, source, created_ms, seq, priority, expires_ms, size, copies, received_ms, frame in rows:
            reason = _row_problem(
                source=source,
                created_ms=created_ms,
                seq=seq,
                priority=priority,
                expires_ms=expires_ms,
                size=size,
                copies=copies,
                received_ms=received_ms,
                frame=frame,
            )
            if reason is not None:
                bad.append((rowid, reason))
        if bad:
            with self._transaction() as conn:
                for rowid, reason in bad:
                    self._quarantine(conn, rowid, reason, now_ms)
        counters = _Counters()
        for priority, count, size in self._conn.execute(
            "SELECT priority, COUNT(*), COALESCE(SUM(size), 0) FROM bundles GROUP BY priority"
        ):
            counters.count[Priority(priority)] = count
            counters.bytes[Priority(priority)] = size
        counters.tombstones = self._conn.execute("SELECT COUNT(*) FROM tombstones").fetchone()[0]
        self._counters = counters
        # Defensive: the mark is written before any number of a block is used, so this never moves it; if the
        # meta row was ever damaged, the bundles this node still holds or has tombstoned bound it from below.
        own = self._conn.execute(
            "SELECT MAX(m) FROM (SELECT MAX(seq) AS m FROM bundles WHERE source = ? "
            "UNION ALL SELECT MAX(seq) FROM tombstones WHERE source = ?)",
            (self.node_id, self.node_id),
        ).fetchone()[0]
        if own is not None and own >= self._next_seq:
            log.error(
                "bundle store %s: stored sequence %d is above the persisted high-water mark %d; continuing after it",
                self._path,
                own,
                self._next_seq,
            )
            self._next_seq = self._reserved_until = own + 1
        self.expire()
        if self._counters.bytes_used > self.capacity_bytes:
            log.warning(
                "bundle store %s holds %d bytes, more than its capacity of %d: nothing is dropped, new bundles "
                "evict less urgent ones as usual",
                self._path,
                self._counters.bytes_used,
                self.capacity_bytes,
            )

    def _quarantine(self, conn: sqlite3.Connection, rowid: int, reason: str, now_ms: int) -> None:
        log.error("bundle store %s: row %d quarantined: %s", self._path, rowid, reason)
        conn.execute(
            "INSERT INTO quarantine (quarantined_ms, reason, source, created_ms, seq, frame) "
            "SELECT ?, ?, source, created_ms, seq, frame FROM bundles WHERE rowid = ?",
            (now_ms, reason, rowid),
        )
        conn.execute("DELETE FROM bundles WHERE rowid = ?", (rowid,))
        conn.execute("DELETE FROM quarantine WHERE id <= (SELECT MAX(id) FROM quarantine) - ?", (MAX_QUARANTINE_ROWS,))

    # ---- ids and creation --------------------------------------------------------------------------------

    def new_id(self) -> BundleId:
        """A fresh id of this node: created_ms from the clock's wall time, seq never handed out before."""
        with self._id_lock:
            if self._next_seq >= self._reserved_until:
                self._reserve(self._next_seq + SEQ_BLOCK)
            seq = self._next_seq
            self._next_seq += 1
        return BundleId(self.node_id, self._now_ms(), seq)

    def _reserve(self, until: int) -> None:
        with self._transaction() as conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'seq_reserved'", (until,))
        self._reserved_until = until

    def create(self, *, destination: str, priority: Priority, kind: str, body: Any, lifetime_s: float) -> Bundle:
        """A new bundle from this node (``new_id`` + ``make_bundle``); not stored yet."""
        bid = self.new_id()
        return make_bundle(
            source=bid.source,
            created_ms=bid.created_ms,
            seq=bid.seq,
            destination=destination,
            priority=priority,
            lifetime_s=lifetime_s,
            kind=kind,
            body=body,
        )

    # ---- writes ------------------------------------------------------------------------------------------

    def put(self, bundle: Bundle, *, copies: int = 1) -> Accept:
        return self.put_many([(bundle, copies)])[0]

    def put_many(self, items: Sequence[tuple[Bundle, int]]) -> list[Accept]:
        """Offer bundles in one transaction (one fsync when durable); all-or-nothing if the write fails."""
        prepared: list[tuple[Bundle, int, bytes]] = []
        for index, item in enumerate(items):
            bundle, copies = item
            if not isinstance(bundle, Bundle):
                raise TypeError(f"put_many item {index}: expected a Bundle, got {type(bundle).__name__}")
            _check_copies(copies)
            prepared.append((bundle, copies, encode(bundle)))
        if not prepared:
            return []
        with self._write_lock:
            self._check_open()
            now_ms = self._now_ms()
            counters = self._counters.copy()
            with self._transaction() as conn:
                results = [self._put_one(conn, counters, item, now_ms) for item in prepared]
            self._commit_counters(counters)
        return results

    def _put_one(
        self, conn: sqlite3.Connection, counters: _Counters, item: tuple[Bundle, int, bytes], now_ms: int
    ) -> Accept:
        bundle, copies, frame = item
        key = _id_params(bundle.id)
        if bundle.expired(now_ms):
            return Accept.EXPIRED
        if (
            conn.execute("SELECT 1 FROM bundles WHERE source = ? AND created_ms = ? AND seq = ?", key).fetchone()
            is not None
            or conn.execute("SELECT 1 FROM tombstones WHERE source = ? AND created_ms = ? AND seq = ?", key).fetchone()
            is not None
        ):
            return Accept.DUPLICATE
        size = len(frame)
        if not self._make_room(conn, counters, size, bundle.priority, now_ms):
            counters.refused_full += 1
            if not self._refusing:
                self._refusing = True
                log.warning(
                    "bundle store %s is full (%d of %d bytes) of bundles at least as urgent as %s %s: refusing "
                    "until there is room",
                    self._path,
                    counters.bytes_used,
                    self.capacity_bytes,
                    bundle.priority.name,
                    bundle.id,
                )
            return Accept.REFUSED_FULL
        self._refusing = False
        conn.execute(
            "INSERT INTO bundles (source, created_ms, seq, priority, expires_ms, size, copies, received_ms, frame) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*key, int(bundle.priority), bundle.expires_ms, size, copies, now_ms, frame),
        )
        counters.count[bundle.priority] += 1
        counters.bytes[bundle.priority] += size
        return Accept.STORED

    def _make_room(
        self, conn: sqlite3.Connection, counters: _Counters, size: int, incoming: Priority, now_ms: int
    ) -> bool:
        if counters.bytes_used + size <= self.capacity_bytes:
            return True
        if size > self.capacity_bytes:
            return False
        self._drop_expired(conn, counters, now_ms)
        need = counters.bytes_used + size - self.capacity_bytes
        if need <= 0:
            return True
        lower = [p for p in _EVICTION_ORDER if p > incoming]
        if sum(counters.bytes[p] for p in lower) < need:
            return False
        for priority in lower:
            victims: list[tuple[str, int, int]] = []
            freed = 0
            cursor = conn.execute(
                "SELECT source, created_ms, seq, size FROM bundles WHERE priority = ? ORDER BY created_ms, seq",
                (int(priority),),
            )
            try:
                for source, created_ms, seq, victim_size in cursor:
                    victims.append((source, created_ms, seq))
                    freed += victim_size
                    if freed >= need:
                        break
            finally:
                cursor.close()
            conn.executemany("DELETE FROM bundles WHERE source = ? AND created_ms = ? AND seq = ?", victims)
            counters.count[priority] -= len(victims)
            counters.bytes[priority] -= freed
            counters.evicted[priority] += len(victims)
            log.debug(
                "bundle store %s: evicted %d %s bundle(s) for a %s",
                self._path,
                len(victims),
                priority.name,
                incoming.name,
            )
            need -= freed
            if need <= 0:
                return True
        raise StoreError(f"bundle store {self._path}: byte counters disagree with the rows; reopen to rebuild them")

    def _drop_expired(self, conn: sqlite3.Connection, counters: _Counters, now_ms: int) -> int:
        dropped = 0
        groups = conn.execute(
            "SELECT priority, COUNT(*), SUM(size) FROM bundles WHERE expires_ms <= ? GROUP BY priority", (now_ms,)
        ).fetchall()
        if groups:
            conn.execute("DELETE FROM bundles WHERE expires_ms <= ?", (now_ms,))
            for priority, count, size in groups:
                counters.count[Priority(priority)] -= count
                counters.bytes[Priority(priority)] -= size
                dropped += count
            counters.expired_dropped += dropped
        return dropped

    def remove(self, bids: Iterable[BundleId], *, reason: str) -> int:
        """Delete held bundles and tombstone them until their expiry (one transaction); returns how many."""
        keys = [_id_params(bid) for bid in bids]
        if not keys:
            return 0
        with self._write_lock:
            self._check_open()
            counters = self._counters.copy()
            removed = 0
            with self._transaction() as conn:
                for key in keys:
                    row = conn.execute(
                        "SELECT priority, expires_ms, size FROM bundles "
                        "WHERE source = ? AND created_ms = ? AND seq = ?",
                        key,
                    ).fetchone()
                    if row is None:
                        continue
                    priority, expires_ms, size = row
                    conn.execute("DELETE FROM bundles WHERE source = ? AND created_ms = ? AND seq = ?", key)
                    cursor = conn.execute(
                        "INSERT OR IGNORE INTO tombstones (source, created_ms, seq, expires_ms) VALUES (?, ?, ?, ?)",
                        (*key, expires_ms),
                    )
                    counters.tombstones += cursor.rowcount
                    counters.count[Priority(priority)] -= 1
                    counters.bytes[Priority(priority)] -= size
                    removed += 1
            self._commit_counters(counters)
        log.debug("bundle store %s: removed %d bundle(s): %s", self._path, removed, reason)
        return removed

    def set_copies(self, bid: BundleId, copies: int) -> None:
        """Set the spray-and-wait tokens held for ``bid``; a no-op if the bundle is no longer held."""
        _check_copies(copies)
        with self._write_lock:
            self._check_open()
            with self._transaction() as conn:
                conn.execute(
                    "UPDATE bundles SET copies = ? WHERE source = ? AND created_ms = ? AND seq = ?",
                    (copies, *_id_params(bid)),
                )

    def expire(self) -> int:
        """Drop expired bundles and tombstones past expiry; returns the number of bundles dropped."""
        with self._write_lock:
            self._check_open()
            now_ms = self._now_ms()
            counters = self._counters.copy()
            with self._transaction() as conn:
                dropped = self._drop_expired(conn, counters, now_ms)
                counters.tombstones -= conn.execute("DELETE FROM tombstones WHERE expires_ms <= ?", (now_ms,)).rowcount
            self._commit_counters(counters)
        return dropped

    # ---- reads -------------------------------------------------------------------------------------------

    def get(self, bid: BundleId) -> StoredBundle | None:
        """The held bundle ``bid``, or None if it is not held or its lifetime is over."""
        rows = self._read(
            "SELECT rowid, frame, copies, received_ms, size FROM bundles "
            "WHERE source = ? AND created_ms = ? AND seq = ? AND expires_ms > ?",
            (*_id_params(bid), self._now_ms()),
        )
        for rowid, frame, copies, received_ms, size in rows:
            return self._stored(rowid, bid, frame, copies=copies, received_ms=received_ms, size=size)
        return None

    def has_seen(self, bid: BundleId) -> bool:
        """Held now or tombstoned (whether or not its lifetime is over)."""
        key = _id_params(bid)
        with self._read_lock:
            conn = self._reader()
            return (
                conn.execute("SELECT 1 FROM bundles WHERE source = ? AND created_ms = ? AND seq = ?", key).fetchone()
                is not None
                or conn.execute(
                    "SELECT 1 FROM tombstones WHERE source = ? AND created_ms = ? AND seq = ?", key
                ).fetchone()
                is not None
            )

    def pending(
        self, *, limit: int = 100, exclude: Collection[BundleId] = (), max_priority: Priority = Priority.BULK
    ) -> list[StoredBundle]:
        """Held, unexpired bundles of ``max_priority`` or more urgent, ordered by (priority, created_ms, seq)."""
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        if limit == 0:
            return []
        skip = exclude if isinstance(exclude, set | frozenset) else set(exclude)
        found: list[tuple[int, BundleId, bytes, int, int, int]] = []
        with self._read_lock:
            cursor = self._reader().execute(
                "SELECT rowid, source, created_ms, seq, frame, copies, received_ms, size FROM bundles "
                "WHERE priority <= ? AND expires_ms > ? ORDER BY priority, created_ms, seq",
                (int(max_priority), self._now_ms()),
            )
            try:
                for rowid, source, created_ms, seq, frame, copies, received_ms, size in cursor:
                    bid = BundleId(source, created_ms, seq)
                    if bid in skip:
                        continue
                    found.append((rowid, bid, frame, copies, received_ms, size))
                    if len(found) >= limit:
                        break
            finally:
                cursor.close()
        out: list[StoredBundle] = []
        for rowid, bid, frame, copies, received_ms, size in found:
            stored = self._stored(rowid, bid, frame, copies=copies, received_ms=received_ms, size=size)
            if stored is not None:
                out.append(stored)
        return out

    def ids(self) -> set[BundleId]:
        """Every held, unexpired bundle id: this node's summary vector."""
        rows = self._read("SELECT source, created_ms, seq FROM bundles WHERE expires_ms > ?", (self._now_ms(),))
        return {BundleId(*row) for row in rows}

    def seen_ids(self) -> set[BundleId]:
        """Held plus tombstoned ids, unexpired: what a peer need not send again."""
        now_ms = self._now_ms()
        rows = self._read(
            "SELECT source, created_ms, seq FROM bundles WHERE expires_ms > ? "
            "UNION SELECT source, created_ms, seq FROM tombstones WHERE expires_ms > ?",
            (now_ms, now_ms),
        )
        return {BundleId(*row) for row in rows}

    def quarantined(self) -> list[tuple[int, str]]:
        """(quarantined_ms, reason) of the rows set aside as corrupt (the newest ``MAX_QUARANTINE_ROWS``)."""
        return self._read("SELECT quarantined_ms, reason FROM quarantine ORDER BY id", ())

    def stats(self) -> StoreStats:
        self._check_open()
        with self._stats_lock:
            c = self._counters
            return StoreStats(
                count_by_priority=dict(c.count),
                bytes_by_priority=dict(c.bytes),
                bytes_used=c.bytes_used,
                capacity_bytes=self.capacity_bytes,
                tombstones=c.tombstones,
                evicted_by_priority=dict(c.evicted),
                refused_full=c.refused_full,
                expired_dropped=c.expired_dropped,
            )

    def close(self) -> None:
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            if self._read_conn is not None:
                with self._read_lock:
                    self._read_conn.close()
            self._conn.close()

    # ---- internals ---------------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self._clock.wall() * 1000)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"bundle store {self._path} is closed")

    def _reader(self) -> sqlite3.Connection:
        self._check_open()
        return self._conn if self._read_conn is None else self._read_conn

    def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._read_lock:
            return self._reader().execute(sql, params).fetchall()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn, self._write_lock)

    def _commit_counters(self, counters: _Counters) -> None:
        with self._stats_lock:
            self._counters = counters

    def _stored(
        self, rowid: int, bid: BundleId, frame: bytes, *, copies: int, received_ms: int, size: int
    ) -> StoredBundle | None:
        """Decode a row read at run time; a row that fails is quarantined instead of reaching the caller."""
        try:
            bundle = decode(frame)
        except BundleError as exc:
            problem = f"frame does not decode: {exc}"
        else:
            if bundle.id == bid and len(frame) == size:
                return StoredBundle(bundle, copies, received_ms, size)
            problem = f"frame holds bundle {bundle.id} ({len(frame)} bytes), the row says {bid} ({size} bytes)"
        with self._write_lock:
            if self._closed:
                return None
            counters = self._counters.copy()
            with self._transaction() as conn:
                row = conn.execute("SELECT priority, size FROM bundles WHERE rowid = ?", (rowid,)).fetchone()
                if row is not None:
                    self._quarantine(conn, rowid, problem, self._now_ms())
                    counters.count[Priority(row[0])] -= 1
                    counters.bytes[Priority(row[0])] -= row[1]
            self._commit_counters(counters)
        return None


class _Transaction:
    """``with`` block = one write transaction on the store's connection, under its write lock."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock) -> None:
        self._conn = conn
        self._lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        try:
            if exc_type is None:
                self._conn.execute("COMMIT")
            else:
                self._conn.execute("ROLLBACK")
        finally:
            self._lock.release()


def _check_copies(copies: object) -> None:
    if not isinstance(copies, int) or isinstance(copies, bool) or copies < 1:
        raise ValueError(f"copies must be an integer >= 1, got {copies!r} (remove() a bundle this node gives up)")


def _row_problem(
    *,
    source: object,
    created_ms: object,
    seq: object,
    priority: object,
    expires_ms: object,
    size: object,
    copies: object,
    received_ms: object,
    frame: object,
) -> str | None:
    """Why a stored row cannot be trusted, or None if its frame decodes and agrees with its columns."""
    if not isinstance(frame, bytes):
        return f"frame is {type(frame).__name__}, not a blob"
    try:
        bundle = decode(frame)
    except BundleError as exc:
        return f"frame does not decode: {exc}"
    expected = (
        bundle.id.source,
        bundle.id.created_ms,
        bundle.id.seq,
        int(bundle.priority),
        bundle.expires_ms,
        len(frame),
    )
    columns = (source, created_ms, seq, priority, expires_ms, size)
    if columns != expected:
        return f"columns {columns!r} disagree with the frame {expected!r}"
    if not isinstance(copies, int) or copies < 1 or not isinstance(received_ms, int):
        return f"copies {copies!r} / received_ms {received_ms!r} are not valid"
    return None
