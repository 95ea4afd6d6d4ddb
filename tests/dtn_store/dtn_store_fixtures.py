"""Helpers shared by the DTN store tests: bundles of a known size, stores on real files."""

from __future__ import annotations

from pathlib import Path

from edge.clock import FakeClock
from edge.dtn.bundle import Bundle, BundleId, Priority, make_bundle
from edge.dtn.store import BundleStore, StoredBundle

NODE = "gw-test"


def bundle(
    seq: int,
    priority: Priority = Priority.BULK,
    *,
    source: str = "peer1",
    created_ms: int = 1_767_225_600_000,
    lifetime_s: float = 3600.0,
    pad: int = 100,
) -> Bundle:
    """A bundle from another node; same ``pad``, same-width seq (0..127) and created_ms -> same frame size."""
    return make_bundle(
        source=source,
        created_ms=created_ms,
        seq=seq,
        destination="surface",
        priority=priority,
        lifetime_s=lifetime_s,
        kind="k",
        body=b"x" * pad,
    )


def open_store(
    path: Path | str, clock: FakeClock, *, capacity_bytes: int = 10_000_000, node_id: str = NODE
) -> BundleStore:
    return BundleStore(path, node_id=node_id, capacity_bytes=capacity_bytes, clock=clock)


def ids_of(stored: list[StoredBundle]) -> list[BundleId]:
    return [s.bundle.id for s in stored]
