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

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import NOISE_NOTE, markdown_table, percentile, python_env, write_result
from edge.clock import SystemClock
from edge.dtn.bundle import Bundle, Priority
from edge.dtn.committer import GroupCommitter
from edge.dtn.store import BundleStore

NAME = "dtn_ingest"
TARGET_DURABLE_PER_S = 5000
MIB = 1024 * 1024
_PRIORITY_MIX = (Priority.ALARM, Priority.MOVEMENT, Priority.TELEMETRY, Priority.TELEMETRY, Priority.BULK)


def _memory() -> dict[str, int]:
    fields = {"VmRSS": "rss", "VmHWM": "peak_rss"}
    out: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(":")
        if key in fields:
            out[fields[key]] = int(value.split()[0]) * 1024
    return out


def _fsync_latency_s(directory: Path, samples: int = 200) -> tuple[float, float]:
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


async def _group_commit(path: Path, *, durable: bool, bundles: int, producers: int, payload: int) -> dict[str, Any]:
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
        "rss_mib": _memory()["rss"] / MIB,
    }


def _one_at_a_time(path: Path, *, durable: bool, bundles: int, payload: int) -> dict[str, Any]:
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
        "rss_mib": _memory()["rss"] / MIB,
    }


def _fill(path: Path, count: int, payload: int) -> int:
    """A store of ``count`` bundles, written fast (not durable: only the reopen is measured)."""
    store = _open(path, durable=False)
    chunk = 5000
    for first in range(0, count, chunk):
        store.put_many([(_make(store, n, payload), 1) for n in range(first, min(first + chunk, count))])
    used = store.stats().bytes_used
    store.close()
    return used


def _recover_in_child(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.dtn_ingest", "--child-recover", str(path)],
        check=True,
        capture_output=True,
        text=True,
        env=python_env(),
    )
    child: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return child


def _child_recover(path: str) -> None:
    baseline = _memory()["rss"]
    started = time.perf_counter()
    store = _open(Path(path), durable=True)
    opened = time.perf_counter() - started
    count = sum(store.stats().count_by_priority.values())
    store.close()
    memory = _memory()
    print(
        json.dumps(
            {
                "count": count,
                "recovery_s": store.recovery_seconds,
                "open_s": opened,
                "peak_rss": memory["peak_rss"],
                "rss_before_open": baseline,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=int, default=20000, help="bundles per group-commit case")
    parser.add_argument("--single", type=int, default=2000, help="bundles for the one-at-a-time cases")
    parser.add_argument("--producers", default="8,64", help="concurrent producers per group-commit case (list)")
    parser.add_argument("--payload", type=int, default=200, help="approximate payload bytes per bundle")
    parser.add_argument("--recovery-counts", default="1000,10000,100000")
    parser.add_argument("--results-dir", type=Path, default=None)
    parser.add_argument("--child-recover", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_recover:
        _child_recover(args.child_recover)
        return

    with tempfile.TemporaryDirectory(prefix="dtn-ingest-") as tmp:
        directory = Path(tmp)
        fsync_p50, fsync_p90 = _fsync_latency_s(directory)
        ingest: list[dict[str, Any]] = []
        for producers in (int(p) for p in args.producers.split(",") if p):
            for durable in (True, False):
                ingest.append(
                    asyncio.run(
                        _group_commit(
                            directory / f"group-{producers}-{durable}.db",
                            durable=durable,
                            bundles=args.bundles,
                            producers=producers,
                            payload=args.payload,
                        )
                    )
                )
        for durable in (True, False):
            ingest.append(
                _one_at_a_time(
                    directory / f"single-{durable}.db", durable=durable, bundles=args.single, payload=args.payload
                )
            )
        recovery: list[dict[str, Any]] = []
        for count in (int(c) for c in args.recovery_counts.split(",") if c):
            path = directory / f"recover-{count}.db"
            stored_bytes = _fill(path, count, args.payload)
            child = _recover_in_child(path)
            recovery.append(
                {
                    "count": count,
                    "stored_mib": stored_bytes / MIB,
                    "file_mib": path.stat().st_size / MIB,
                    "recovery_s": child["recovery_s"],
                    "open_s": child["open_s"],
                    "peak_rss_mib": child["peak_rss"] / MIB,
                    "reopened_count": child["count"],
                }
            )
            path.unlink()

    durable_group = max(r["bundles_per_s"] for r in ingest if r["durable"] and r["mode"].startswith("group"))
    print(
        f"# DTN store ingest and recovery (4 KiB append + fdatasync on this disk: p50 {fsync_p50 * 1e6:.0f} us, "
        f"p90 {fsync_p90 * 1e6:.0f} us)\n"
    )
    print(
        markdown_table(
            ["mode", "durable", "bundles", "bundles/s", "MB/s", "mean batch", "put p50 ms", "put p99 ms", "RSS MiB"],
            [
                [
                    r["mode"],
                    "yes" if r["durable"] else "no",
                    r["bundles"],
                    r["bundles_per_s"],
                    r["mb_per_s"],
                    r["mean_batch"],
                    r["put_p50_ms"],
                    r["put_p99_ms"],
                    r["rss_mib"],
                ]
                for r in ingest
            ],
        )
    )
    print()
    print(
        markdown_table(
            ["stored bundles", "frames MiB", "file MiB", "recovery s", "open s", "peak RSS MiB"],
            [
                [r["count"], r["stored_mib"], r["file_mib"], r["recovery_s"], r["open_s"], r["peak_rss_mib"]]
                for r in recovery
            ],
        )
    )
    verdict = "meets" if durable_group >= TARGET_DURABLE_PER_S else "MISSES"
    print(
        f"\nDurable group commit (best case above): {durable_group:.0f} bundles/s, {verdict} the target of "
        f"{TARGET_DURABLE_PER_S}/s. A batch is what waits during the previous fsync: throughput grows with the "
        "number of concurrent producers (on a link: the credit window)."
    )
    print(NOISE_NOTE)
    path = write_result(
        NAME,
        {
            "fsync_p50_s": fsync_p50,
            "fsync_p90_s": fsync_p90,
            "target_durable_bundles_per_s": TARGET_DURABLE_PER_S,
            "durable_group_commit_bundles_per_s": durable_group,
            "ingest": ingest,
            "recovery": recovery,
            "payload_bytes": args.payload,
            "producers": [int(p) for p in args.producers.split(",") if p],
        },
        results_dir=args.results_dir,
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
