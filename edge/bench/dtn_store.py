"""DTN store: durable ingest (group commit vs one fsync per bundle, durability on vs off) and recovery time vs size.

Ingest: ``--producers`` asyncio tasks each create bundles (``store.create``: id, msgpack payload of about
``--payload`` bytes, mixed priority classes) and ``await GroupCommitter.put`` them into a real SQLite file in a
temporary directory; a put counts when it has resolved, i.e. when its batch is committed (and fsynced when
durable). For comparison the same store is fed by plain ``put()`` one bundle at a time (one transaction and one
fsync each). Figures: bundles/s, MB/s of frames, mean batch size, put latency (p50/p99 from call to resolution),
and the process RSS after the case.

Recovery: a store holding N bundles is reopened in a fresh process, which reports ``recovery_seconds`` (decode
and check every row, rebuild the budget, purge expired) and its peak RSS (VmHWM).

The raw fsync latency of the temporary directory's disk is measured first: group commit pays one fsync per batch,
so its gain depends on it (a virtual disk with a write cache answers fsync in tens of microseconds; an SD card
or eMMC takes milliseconds). Target (issue 4): >= 5,000 durable bundles/s with group commit.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from edge.bench.gateway_procs import python_env
from edge.bench.procfs import proc_memory
from edge.bench.stats import percentile
from edge.clock import SystemClock
from edge.dtn.bundle import Bundle, Priority
from edge.dtn.committer import GroupCommitter
from edge.dtn.store import BundleStore

TARGET_DURABLE_PER_S = 5000
MIB = 1024 * 1024
_PRIORITY_MIX = (Priority.ALARM, Priority.MOVEMENT, Priority.TELEMETRY, Priority.TELEMETRY, Priority.BULK)


def fsync_latency_s(directory: Path, samples: int = 200) -> tuple[float, float]:
    """p50 and p90 of appending one 4 KiB page and fdatasync'ing it, as a WAL commit does."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        times = []
        for _ in range(samples):
            os.write(fd, b"x" * 4096)
            started = time.perf_counter()
            os.fdatasync(fd)
            times.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink()
    return percentile(times, 50), percentile(times, 90)


def _make(store: BundleStore, n: int, payload: int) -> Bundle:
    return store.create(
        destination="surface",
        priority=_PRIORITY_MIX[n % len(_PRIORITY_MIX)],
        kind="readings",
        body={"n": n, "blob": b"r" * payload},
        lifetime_s=24 * 3600,
    )


def _open(path: Path, *, durable: bool) -> BundleStore:
    return BundleStore(path, node_id="gw-bench", capacity_bytes=1 << 34, clock=SystemClock(), durable=durable)


async def group_commit(path: Path, *, durable: bool, bundles: int, producers: int, payload: int) -> dict[str, Any]:
    store = _open(path, durable=durable)
    committer = GroupCommitter(store)
    await committer.start()
    latencies: list[float] = []
    frame_bytes = 0

    async def produce(first: int) -> None:
        nonlocal frame_bytes
        for n in range(first, bundles, producers):
            bundle = _make(store, n, payload)
            frame_bytes += bundle.size
            started = time.perf_counter()
            await committer.put(bundle)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(produce(i) for i in range(producers)))
    elapsed = time.perf_counter() - started
    await committer.close()
    stored = sum(store.stats().count_by_priority.values())
    store.close()
    return {
        "mode": f"group commit, {producers} producers",
        "durable": durable,
        "bundles": bundles,
        "stored": stored,
        "seconds": elapsed,
        "bundles_per_s": bundles / elapsed,
        "mb_per_s": frame_bytes / elapsed / MIB,
        "mean_batch": committer.bundles_committed / max(committer.batches_committed, 1),
        "put_p50_ms": percentile(latencies, 50) * 1000,
        "put_p99_ms": percentile(latencies, 99) * 1000,
        "rss_mib": proc_memory()["rss"] / MIB,
    }


def one_at_a_time(path: Path, *, durable: bool, bundles: int, payload: int) -> dict[str, Any]:
    store = _open(path, durable=durable)
    latencies: list[float] = []
    frame_bytes = 0
    started = time.perf_counter()
    for n in range(bundles):
        bundle = _make(store, n, payload)
        frame_bytes += bundle.size
        put_started = time.perf_counter()
        store.put(bundle)
        latencies.append(time.perf_counter() - put_started)
    elapsed = time.perf_counter() - started
    stored = sum(store.stats().count_by_priority.values())
    store.close()
    return {
        "mode": "put() one at a time",
        "durable": durable,
        "bundles": bundles,
        "stored": stored,
        "seconds": elapsed,
        "bundles_per_s": bundles / elapsed,
        "mb_per_s": frame_bytes / elapsed / MIB,
        "mean_batch": 1.0,
        "put_p50_ms": percentile(latencies, 50) * 1000,
        "put_p99_ms": percentile(latencies, 99) * 1000,
        "rss_mib": proc_memory()["rss"] / MIB,
    }


def fill(path: Path, count: int, payload: int) -> int:
    """A store of ``count`` bundles, written fast (not durable: only the reopen is measured)."""
    store = _open(path, durable=False)
    chunk = 5000
    for first in range(0, count, chunk):
        store.put_many([(_make(store, n, payload), 1) for n in range(first, min(first + chunk, count))])
    used = store.stats().bytes_used
    store.close()
    return used


def recover_in_child(path: Path) -> dict[str, Any]:
    """Reopen the store at ``path`` in a fresh process (no warm page cache of this one's): its figures."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "edge.bench.dtn_store", str(path)],
        check=True,
        capture_output=True,
        text=True,
        env=python_env(),
    )
    child: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return child


def child_recover(path: str) -> None:
    """In the fresh process: reopen the store at ``path`` and print its recovery figures as one JSON line."""
    baseline = proc_memory()["rss"]
    started = time.perf_counter()
    store = _open(Path(path), durable=True)
    opened = time.perf_counter() - started
    count = sum(store.stats().count_by_priority.values())
    store.close()
    memory = proc_memory()
    sys.stdout.write(
        json.dumps(
            {
                "count": count,
                "recovery_s": store.recovery_seconds,
                "open_s": opened,
                "peak_rss": memory["peak_rss"],
                "rss_before_open": baseline,
            }
        )
        + "\n"
    )


if __name__ == "__main__":
    child_recover(sys.argv[1])
