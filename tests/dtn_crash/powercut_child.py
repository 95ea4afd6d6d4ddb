"""A process that writes SQLite files under the power-cut shim until it is killed (tests/dtn_crash).

``python tests/dtn_crash/powercut_child.py DIR`` writes three things and reports each acknowledged write on
stdout: rows committed to a WAL database with synchronous=OFF (``off N``) and with synchronous=FULL (``full N``),
and bundles put into a durable and a non-durable DTN store (``durable ID`` / ``volatile ID``).
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

from edge.clock import SystemClock
from edge.dtn.bundle import Priority
from edge.dtn.store import Accept, BundleStore


def _db(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY)")
    return conn


def main() -> None:
    root = Path(sys.argv[1])
    off, full = _db(root / "off.sqlite", "OFF"), _db(root / "full.sqlite", "FULL")
    durable = BundleStore(root / "durable.sqlite", node_id="pc", capacity_bytes=1 << 24, clock=SystemClock())
    volatile = BundleStore(
        root / "volatile.sqlite", node_id="pc", capacity_bytes=1 << 24, clock=SystemClock(), durable=False
    )
    for n in range(1, 201):
        for name, conn in (("off", off), ("full", full)):
            conn.execute("INSERT INTO t (n) VALUES (?)", (n,))
            sys.stdout.write(f"{name} {n}\n")
        for name, store in (("durable", durable), ("volatile", volatile)):
            bundle = store.create(destination="surface", priority=Priority.BULK, kind="test", body=n, lifetime_s=3600)
            if store.put(bundle) is Accept.STORED:
                sys.stdout.write(f"{name} {bundle.id}\n")
    sys.stdout.write("done\n")
    sys.stdout.flush()
    time.sleep(60)  # killed here: nothing is closed, nothing is checkpointed


if __name__ == "__main__":
    main()
