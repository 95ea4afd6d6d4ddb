"""DTN store: durable ingest (group commit vs one fsync per bundle, durability on vs off) and recovery time vs size.

The measurements are ``edge.bench.dtn_store`` (also run by ``minegate bench``); this runs every case and prints
the tables. Target (issue 4): >= 5,000 durable bundles/s with group commit.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._common import NOISE_NOTE, markdown_table, write_result
from edge.bench.dtn_store import (
    MIB,
    TARGET_DURABLE_PER_S,
    fill,
    fsync_latency_s,
    group_commit,
    one_at_a_time,
    recover_in_child,
)

NAME = "dtn_ingest"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=int, default=20000, help="bundles per group-commit case")
    parser.add_argument("--single", type=int, default=2000, help="bundles for the one-at-a-time cases")
    parser.add_argument("--producers", default="8,64", help="concurrent producers per group-commit case (list)")
    parser.add_argument("--payload", type=int, default=200, help="approximate payload bytes per bundle")
    parser.add_argument("--recovery-counts", default="1000,10000,100000")
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dtn-ingest-") as tmp:
        directory = Path(tmp)
        fsync_p50, fsync_p90 = fsync_latency_s(directory)
        ingest: list[dict[str, Any]] = []
        for producers in (int(p) for p in args.producers.split(",") if p):
            for durable in (True, False):
                ingest.append(
                    asyncio.run(
                        group_commit(
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
                one_at_a_time(
                    directory / f"single-{durable}.db", durable=durable, bundles=args.single, payload=args.payload
                )
            )
        recovery: list[dict[str, Any]] = []
        for count in (int(c) for c in args.recovery_counts.split(",") if c):
            path = directory / f"recover-{count}.db"
            stored_bytes = fill(path, count, args.payload)
            child = recover_in_child(path)
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
            "durablegroup_commit_bundles_per_s": durable_group,
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
