"""The surface sink's delivery log: one row per delivery event, so a bundle delivered twice shows up twice.

The sink's store answers ``STORED`` once per bundle id and ``DUPLICATE`` after that; the log records every
``STORED`` answer the moment it is given (before the link acknowledges it). The final contents of a store can
never show a duplicate (the id is its primary key); this log can, which is what the crash tests read.

Durability. A row is committed without its own fsync (``synchronous=OFF``): it survives ``kill -9`` (the WAL
write is in the kernel's page cache) but not necessarily a power cut. The store is the ground truth of what was
delivered, so at open the log is reconciled with it: a bundle the store holds (or holds a tombstone of, after
publishing) that has no row gets one, flagged ``recovered`` -- the crash fell between the store's commit and the
log's. Reconciliation adds at most one row per id, so it cannot hide a real duplicate: a second ``STORED`` for
an id is a second row however the first one got there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from edge.dtn.bundle import Bundle, BundleId, Priority

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS deliveries (
        n INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        priority INTEGER NOT NULL,
        kind TEXT NOT NULL,
        hop_count INTEGER NOT NULL,
        previous_node TEXT NOT NULL,
        delivered_wall REAL NOT NULL,
        recovered INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS deliveries_by_id ON deliveries (source, created_ms, seq)",
)


@dataclass(frozen=True, slots=True)
class Delivery:
    n: int  # order of delivery at this sink
    bid: BundleId
    priority: Priority | None  # None: recovered from a tombstone, the class is not known any more
    kind: str
    hop_count: int
    previous_node: str
    delivered_wall: float
    recovered: bool  # added at open: the store had it, the log had not


class DeliveryLog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=OFF")
        for statement in _SCHEMA:
            self._conn.execute(statement)
        self.recorded = 0  # since open

    def record(self, bundle: Bundle, wall: float) -> None:
        self._conn.execute(
            "INSERT INTO deliveries (source, created_ms, seq, priority, kind, hop_count, previous_node, "
            "delivered_wall) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                bundle.id.source,
                bundle.id.created_ms,
                bundle.id.seq,
                int(bundle.priority),
                bundle.kind,
                bundle.hop_count,
                bundle.previous_node,
                wall,
            ),
        )
        self.recorded += 1

    def reconcile(self, held: Iterable[tuple[BundleId, int, str]], wall: float) -> int:
        """Add a ``recovered`` row for every delivered id the log lacks (priority -1 and kind "" when only a
        tombstone is left to say it was delivered); returns how many."""
        logged = {BundleId(*row) for row in self._conn.execute("SELECT source, created_ms, seq FROM deliveries")}
        missing = [(bid, priority, kind) for bid, priority, kind in held if bid not in logged]
        if missing:
            self._conn.execute("BEGIN")
            self._conn.executemany(
                "INSERT INTO deliveries (source, created_ms, seq, priority, kind, hop_count, previous_node, "
                "delivered_wall, recovered) VALUES (?, ?, ?, ?, ?, -1, '', ?, 1)",
                [(b.source, b.created_ms, b.seq, int(p), k, wall) for b, p, k in missing],
            )
            self._conn.execute("COMMIT")
        return len(missing)

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0])

    def close(self) -> None:
        self._conn.close()


def read_deliveries(path: Path) -> list[Delivery]:
    """Every delivery row in order (for tests and benchmarks; opens the file read-only)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT n, source, created_ms, seq, priority, kind, hop_count, previous_node, delivered_wall, recovered "
            "FROM deliveries ORDER BY n"
        ).fetchall()
    finally:
        conn.close()
    return [
        Delivery(n, BundleId(src, created, seq), Priority(pri) if pri >= 0 else None, kind, hops, prev, wall, bool(rec))
        for n, src, created, seq, pri, kind, hops, prev, wall, rec in rows
    ]
