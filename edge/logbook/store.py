"""The gateway's logbook: operation/maintenance/examination entries in one SQLite file, and the case base.

SQLite in WAL mode with ``synchronous=FULL``: ``add`` returns only after the entry is committed and fsynced, so an
entry acknowledged to its writer survives ``kill -9`` and power loss. Several processes may write the same file
(the gateway's folder watcher and ZeroMQ endpoint, ``minegate log add`` with the gateway stopped or running);
SQLite serialises them, each waits up to ``busy_timeout_s``.

Each entry keeps the text encoder's vector of its *retrieval text* (the text plus its equipment and location tags
spelled out, so "BD-2" and "belt drive 2" meet) and the name of the encoder that made it. Vectors of another
encoder, or of none (an entry added by a process that loaded no encoder), are re-encoded before they are compared:
``similar`` does it for whatever is pending, ``reencode`` lets a background task do it ahead of time.

All methods are synchronous and thread-safe (one lock around the one connection); an asyncio caller runs the
writes in a thread (``asyncio.to_thread``), since the fsync of a commit may take tens of milliseconds on an SD card.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.clock import Clock
from edge.hazard.contract import LogEntry, LogKind
from edge.logbook.records import EntryFields, LogInputError, parse_kind, parse_time, validate_alarm, validate_text
from edge.logbook.tags import Tagger
from edge.text.encoder import Encoder, Float32Array

__all__ = ["FileCursor", "LogStore", "LogStoreError", "StoredEntry"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# Part of every stored vector's name: bumped when the retrieval text (what is encoded) changes.
RETRIEVAL_TEXT_VERSION = 1
_REENCODE_BATCH = 64

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS entries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        t_s REAL NOT NULL,
        added_t_s REAL NOT NULL,
        text TEXT NOT NULL,
        kind TEXT NOT NULL,
        source TEXT NOT NULL,
        equipment TEXT NOT NULL,
        location TEXT NOT NULL,
        related_alarm TEXT,
        incident INTEGER NOT NULL DEFAULT 0,
        encoder TEXT,
        vector BLOB
    )""",
    "CREATE INDEX IF NOT EXISTS entries_t_s ON entries (t_s)",
    "CREATE INDEX IF NOT EXISTS entries_incident ON entries (incident) WHERE incident = 1",
    # How far each watched file has been ingested; written in the same transaction as its entries.
    """CREATE TABLE IF NOT EXISTS ingested_files (
        path TEXT PRIMARY KEY,
        device INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        offset INTEGER NOT NULL,
        line INTEGER NOT NULL
    )""",
)
_SELECT_ENTRIES = (
    "SELECT id, t_s, text, kind, source, equipment, location, related_alarm, incident, added_t_s FROM entries"
)


class LogStoreError(Exception):
    """The logbook file cannot be used as asked; the message says what to do."""


@dataclass(frozen=True, slots=True)
class StoredEntry:
    id: int
    t_s: float  # when it happened (wall-clock epoch seconds on the gateway)
    text: str
    kind: LogKind
    source: str  # "cli", "zmq", "folder:<file>:<line>", or what the hazard runtime passed
    equipment: str  # canonical tags, "" when the entry names none
    location: str
    related_alarm: str | None  # the alarm/warning this entry is about
    incident: bool  # part of the case base
    added_t_s: float  # when the gateway stored it

    @property
    def log_entry(self) -> LogEntry:
        return LogEntry(self.t_s, self.text, self.equipment, self.location, self.kind)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "t_s": self.t_s,
            "text": self.text,
            "kind": self.kind.value,
            "source": self.source,
            "equipment": self.equipment,
            "location": self.location,
            "related_alarm": self.related_alarm,
            "incident": self.incident,
            "added_t_s": self.added_t_s,
        }


@dataclass(frozen=True, slots=True)
class FileCursor:
    """How far a watched file has been read: the file is known by its device and inode, not only its name."""

    path: str
    device: int
    inode: int
    offset: int  # bytes consumed
    line: int  # lines consumed


def _entry(row: Sequence[Any]) -> StoredEntry:
    return StoredEntry(
        id=int(row[0]),
        t_s=float(row[1]),
        text=str(row[2]),
        kind=LogKind(row[3]),
        source=str(row[4]),
        equipment=str(row[5]),
        location=str(row[6]),
        related_alarm=None if row[7] is None else str(row[7]),
        incident=bool(row[8]),
        added_t_s=float(row[9]),
    )


class LogStore:
    """Use ``LogStore.open``."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path, *, encoder: Encoder | None, clock: Clock, tagger: Tagger
    ) -> None:
        self._conn = conn
        self._path = path
        self._encoder = encoder
        self._clock = clock
        self._tagger = tagger
        self._lock = threading.Lock()  # the writing connection
        # Reads go through their own connection: in WAL mode they never wait for a writer's commit and fsync, so
        # the hazard task's recent() on the event loop is not held up by a folder ingest in a thread.
        self._reader = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
        self._read_lock = threading.Lock()
        self._search_lock = threading.RLock()  # the vector cache (similar() and reencode() from any thread)
        self._closed = False
        self.vector_name = f"{encoder.name}+tags-v{RETRIEVAL_TEXT_VERSION}" if encoder is not None else None
        # Vectors of this encoder by entry id, filled incrementally so similar() does not re-read the file.
        self._cache_ids: list[int] = []
        self._cache_index: dict[int, int] = {}
        self._cache_rows: list[Float32Array] = []
        self._cache_matrix: Float32Array | None = None
        self._cache_last_id = 0

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        encoder: Encoder | None,
        clock: Clock,
        tagger: Tagger | None = None,
        busy_timeout_s: float = 10.0,
    ) -> LogStore:
        """Open (creating if needed) the logbook at ``path``. ``encoder`` None: entries are stored without a
        vector (fast, for ``minegate log add``) and ``similar`` is refused; a later opener with an encoder
        encodes them."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit (isolation_level=None): transactions are exactly the BEGIN/COMMIT written here.
        conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise LogStoreError(
                    f"logbook {path}: SQLite refused WAL mode (got {mode!r}); is it on a network share?"
                )
            conn.execute("PRAGMA synchronous=FULL")  # the WAL is fsynced at every commit
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA:
                    conn.execute(statement)
                row = conn.execute("SELECT version FROM schema_version").fetchone()
                if row is None:
                    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
                elif row[0] != SCHEMA_VERSION:
                    raise LogStoreError(
                        f"logbook {path} has schema version {row[0]}, this minegate reads version {SCHEMA_VERSION}; "
                        "keep the file (it is the site's record) and use the minegate that wrote it"
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise LogStoreError(f"logbook {path} cannot be opened: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return cls(conn, path, encoder=encoder, clock=clock, tagger=tagger or Tagger())

    @property
    def path(self) -> Path:
        return self._path

    @property
    def encoder(self) -> Encoder | None:
        return self._encoder

    @property
    def tagger(self) -> Tagger:
        return self._tagger

    # ---- writing -----------------------------------------------------------------------------------
    def add(
        self,
        text: str,
        *,
        kind: LogKind | str = LogKind.OPERATION,
        source: str = "cli",
        t_s: float | None = None,
        related_alarm: str | None = None,
        incident: bool = False,
        equipment: str | None = None,
        location: str | None = None,
    ) -> StoredEntry:
        """Store one entry; durable when this returns. ``equipment``/``location`` None: tagged from the text.
        Raises ``LogInputError`` (field, value, what is allowed) for an entry it refuses."""
        fields = EntryFields(
            text=validate_text(text),
            kind=kind if isinstance(kind, LogKind) else parse_kind(kind),
            t_s=None if t_s is None else parse_time(t_s, now_wall=self._clock.wall(), field="t_s"),
            equipment=equipment,
            location=location,
            incident=bool(incident),
            related_alarm=validate_alarm(related_alarm),
        )
        (stored,) = self._insert([(fields, source)], cursor=None)
        return stored

    def add_fields(self, fields: EntryFields, *, source: str) -> StoredEntry:
        """Store one entry already checked by ``edge.logbook.records`` (the folder and ZeroMQ inputs)."""
        (stored,) = self._insert([(fields, source)], cursor=None)
        return stored

    def ingest(self, rows: Sequence[tuple[EntryFields, str]], cursor: FileCursor) -> list[StoredEntry]:
        """Store ``rows`` (fields, source) and move the file's cursor in one transaction: after a crash either
        both happened or neither, so a restart neither loses nor repeats a line."""
        return self._insert(rows, cursor=cursor)

    def cursor(self, path: str) -> FileCursor | None:
        with self._read_lock:
            self._check_open()
            row = self._reader.execute(
                "SELECT path, device, inode, offset, line FROM ingested_files WHERE path = ?", (path,)
            ).fetchone()
        return None if row is None else FileCursor(str(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))

    def _insert(self, rows: Sequence[tuple[EntryFields, str]], *, cursor: FileCursor | None) -> list[StoredEntry]:
        now = self._clock.wall()
        prepared = []
        for fields, source in rows:
            tags = self._tagger.tag(fields.text)
            equipment = tags.equipment if fields.equipment is None else fields.equipment
            location = tags.location if fields.location is None else fields.location
            t_s = now if fields.t_s is None else fields.t_s
            prepared.append((fields, source, t_s, equipment, location))
        vectors = self._encode_safely([self.retrieval_text(f.text, e, loc) for f, _, _, e, loc in prepared])
        stored: list[StoredEntry] = []
        with self._lock:
            self._check_open()
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for i, (fields, source, t_s, equipment, location) in enumerate(prepared):
                    vector = None if vectors is None else vectors[i].tobytes()
                    cur = self._conn.execute(
                        "INSERT INTO entries (t_s, added_t_s, text, kind, source, equipment, location, "
                        "related_alarm, incident, encoder, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            t_s,
                            now,
                            fields.text,
                            fields.kind.value,
                            source,
                            equipment,
                            location,
                            fields.related_alarm,
                            int(fields.incident),
                            None if vectors is None else self.vector_name,
                            vector,
                        ),
                    )
                    entry_id = int(cur.lastrowid or 0)  # always set after an INSERT into a rowid table
                    stored.append(
                        StoredEntry(
                            entry_id,
                            t_s,
                            fields.text,
                            fields.kind,
                            source,
                            equipment,
                            location,
                            fields.related_alarm,
                            fields.incident,
                            now,
                        )
                    )
                if cursor is not None:
                    self._conn.execute(
                        "INSERT INTO ingested_files (path, device, inode, offset, line) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT (path) DO UPDATE SET device = excluded.device, inode = excluded.inode, "
                        "offset = excluded.offset, line = excluded.line",
                        (cursor.path, cursor.device, cursor.inode, cursor.offset, cursor.line),
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return stored

    def mark(self, entry_id: int, *, incident: bool | None = None, related_alarm: str | None = None) -> StoredEntry:
        """Put an entry in (or take it out of) the case base, or link it to an alarm/warning id."""
        alarm = validate_alarm(related_alarm)
        with self._lock:
            self._check_open()
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if incident is not None:
                    self._conn.execute("UPDATE entries SET incident = ? WHERE id = ?", (int(incident), entry_id))
                if alarm is not None:
                    self._conn.execute("UPDATE entries SET related_alarm = ? WHERE id = ?", (alarm, entry_id))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return self.get(entry_id)

    # ---- reading -----------------------------------------------------------------------------------
    def get(self, entry_id: int) -> StoredEntry:
        with self._read_lock:
            self._check_open()
            row = self._reader.execute(_SELECT_ENTRIES + " WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise LogInputError("id", "names no entry of this logbook", value=entry_id, allowed="`minegate log list`")
        return _entry(row)

    def recent(self, since_t_s: float) -> list[LogEntry]:
        """Entries that happened at or after ``since_t_s``, oldest first (what the hazard model's text input cuts)."""
        return [e.log_entry for e in self.entries(since_t_s=since_t_s)]

    def entries(self, *, since_t_s: float | None = None, limit: int | None = None) -> list[StoredEntry]:
        """Stored entries in time order; ``limit`` keeps the newest ones."""
        query = _SELECT_ENTRIES
        params: list[Any] = []
        if since_t_s is not None:
            query += " WHERE t_s >= ?"
            params.append(since_t_s)
        query += " ORDER BY t_s DESC, id DESC"
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        with self._read_lock:
            self._check_open()
            rows = self._reader.execute(query, params).fetchall()
        return [_entry(row) for row in reversed(rows)]

    def count(self) -> int:
        with self._read_lock:
            self._check_open()
            return int(self._reader.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    # ---- the case base -----------------------------------------------------------------------------
    def retrieval_text(self, text: str, equipment: str, location: str) -> str:
        """What is encoded for retrieval: the text and its tags spelled out ("BD-2" -> "belt drive BD-2")."""
        tags = " ".join(t for t in (Tagger.describe(equipment) if equipment else "", location) if t)
        return f"{text} | {tags}" if tags else text

    def similar(self, text: str, k: int = 5, *, incidents_only: bool = False) -> list[tuple[StoredEntry, float]]:
        """The ``k`` stored entries most similar to ``text`` (cosine similarity, best first); with
        ``incidents_only`` only the case base (entries marked as incidents)."""
        if self._encoder is None or self.vector_name is None:
            raise LogStoreError("this logbook was opened without a text encoder; open it with one to search it")
        if k < 1:
            raise LogInputError("k", "must be at least 1", value=k)
        query_text = validate_text(text)
        tags = self._tagger.tag(query_text)
        query = self._encoder.encode([self.retrieval_text(query_text, tags.equipment, tags.location)])[0]
        with self._search_lock:
            self.reencode()
            self._refresh_cache()
            if self._cache_matrix is None:
                return []
            scores = self._cache_matrix @ query
            ids = np.asarray(self._cache_ids)
        if incidents_only:
            with self._read_lock:
                self._check_open()
                incident_ids = [r[0] for r in self._reader.execute("SELECT id FROM entries WHERE incident = 1")]
            keep = np.isin(ids, np.asarray(incident_ids, dtype=ids.dtype))
            ids, scores = ids[keep], scores[keep]
        order = np.argsort(-scores, kind="stable")[:k]
        return [(self.get(int(ids[i])), float(scores[i])) for i in order]

    def reencode(self, *, limit: int | None = None) -> int:
        """Encode entries stored without a vector of this encoder (added without one, or by another encoder);
        returns how many. Batches of ``_REENCODE_BATCH`` so a writer is never kept waiting long."""
        if self._encoder is None or self.vector_name is None:
            return 0
        with self._search_lock:
            return self._reencode(self._encoder, limit)

    def _reencode(self, encoder: Encoder, limit: int | None) -> int:
        done = 0
        while limit is None or done < limit:
            batch = _REENCODE_BATCH if limit is None else min(_REENCODE_BATCH, limit - done)
            with self._read_lock:
                self._check_open()
                rows = self._reader.execute(
                    "SELECT id, text, equipment, location FROM entries WHERE encoder IS NULL OR encoder != ? "
                    "ORDER BY id LIMIT ?",
                    (self.vector_name, batch),
                ).fetchall()
            if not rows:
                break
            vectors = encoder.encode([self.retrieval_text(r[1], r[2], r[3]) for r in rows])
            with self._lock:
                self._check_open()
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.executemany(
                        "UPDATE entries SET encoder = ?, vector = ? WHERE id = ?",
                        [(self.vector_name, vectors[i].tobytes(), int(r[0])) for i, r in enumerate(rows)],
                    )
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            self._cache_put([int(r[0]) for r in rows], vectors)
            done += len(rows)
        if done:
            log.info("logbook %s: %d entries encoded with %s", self._path, done, self.vector_name)
        return done

    def _encode_safely(self, texts: list[str]) -> Float32Array | None:
        """Vectors for new entries; an encoder failure must not lose the entry: it is stored without one."""
        if self._encoder is None or not texts:
            return None
        try:
            return self._encoder.encode(texts)
        except Exception:
            log.exception("logbook: the text encoder failed; the entry is stored and will be encoded later")
            return None

    def _refresh_cache(self) -> None:
        with self._read_lock:
            self._check_open()
            rows = self._reader.execute(
                "SELECT id, encoder, vector FROM entries WHERE id > ? ORDER BY id", (self._cache_last_id,)
            ).fetchall()
        ours = [r for r in rows if r[1] == self.vector_name]
        if ours:
            self._cache_put([int(r[0]) for r in ours], np.stack([np.frombuffer(r[2], dtype=np.float32) for r in ours]))
        # The cursor stops before the first entry still without our vector (another writer's, added after the
        # re-encoding pass): it is read again, once encoded, instead of being skipped for good.
        pending = [int(r[0]) for r in rows if r[1] != self.vector_name]
        if pending:
            self._cache_last_id = max(self._cache_last_id, pending[0] - 1)
        elif rows:
            self._cache_last_id = int(rows[-1][0])

    def _cache_put(self, ids: list[int], vectors: Float32Array) -> None:
        for entry_id, vector in zip(ids, vectors, strict=True):
            index = self._cache_index.get(entry_id)
            if index is None:
                self._cache_index[entry_id] = len(self._cache_ids)
                self._cache_ids.append(entry_id)
                self._cache_rows.append(np.asarray(vector, dtype=np.float32))
            else:
                self._cache_rows[index] = np.asarray(vector, dtype=np.float32)
        self._cache_matrix = np.stack(self._cache_rows) if self._cache_rows else None

    # ---- lifecycle ---------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise LogStoreError(f"logbook {self._path} is closed")

    def close(self) -> None:
        with self._lock, self._read_lock:
            if not self._closed:
                self._closed = True
                self._reader.close()
                self._conn.close()

    def __enter__(self) -> LogStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
