"""``minegate bench [--out DIR] [--quick] [--load N] [--only ...]`` and ``minegate bench compare A.json B.json``.

Imports nothing heavy at parser-building time: ``minegate check`` must start fast on a Pi.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

SECTION_NAMES = "system,models,pipeline,camera,dtn"


def add_bench_parser(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="measure this gateway: system, models, pipeline, camera, DTN store (JSON + Markdown + charts)",
        description="Runs the benchmark suite on this machine and writes bench.json, bench.md and PNG charts. "
        "`minegate bench compare A.json B.json` shows regressions between two runs.",
    )
    p.add_argument("--out", type=Path, default=None, help="report directory (default ./minegate-bench-HOST-UTCTIME)")
    p.add_argument("--quick", action="store_true", help="a smoke run: seconds per section, noisy figures")
    p.add_argument(
        "--load", type=int, default=10, help="simulated 40-value Modbus devices polled at 1 s (default 10 = 400/s)"
    )
    p.add_argument("--only", default=None, help=f"comma-separated sections to run, of {SECTION_NAMES} (default all)")
    p.add_argument("--models", type=Path, default=None, help="shipped models root (default: as the gateway finds it)")
    p.set_defaults(func=bench_command)
    actions = p.add_subparsers(dest="bench_action", metavar="compare")
    c = actions.add_parser("compare", help="compare two bench.json reports; exit 1 on a regression")
    c.add_argument("before", type=Path, help="the earlier bench.json")
    c.add_argument("after", type=Path, help="the later bench.json")
    c.add_argument("--threshold", default="10%", help="relative change counted as a regression (default 10%%)")
    c.set_defaults(func=compare_command)


def bench_command(args: Any) -> int:
    import logging  # noqa: PLC0415

    from edge.bench.runner import bench, default_out_dir, parse_only  # noqa: PLC0415
    from edge.bench.sections import BenchOptions  # noqa: PLC0415

    try:
        names = parse_only(args.only)
    except ValueError as exc:
        sys.stderr.write(f"minegate bench: {exc}\n")
        return 2
    if args.load < 1:
        sys.stderr.write(f"minegate bench: --load must be at least 1 device (got {args.load})\n")
        return 2
    # Loaders log every model they check; the progress lines are the output here.
    logging.basicConfig(level=logging.ERROR)
    out_dir = args.out or default_out_dir()
    options = BenchOptions(quick=args.quick, load=args.load, models_dir=args.models)
    report = bench(names, options, out_dir)
    sys.stdout.write(f"{report}\n{report.with_name('bench.md')}\n")
    return 0


def compare_command(args: Any) -> int:
    from edge.bench.compare import (  # noqa: PLC0415
        compare,
        load_metrics,
        load_report,
        parse_threshold,
        render,
        sizing_differences,
    )

    try:
        threshold = parse_threshold(args.threshold)
        before, after = load_metrics(args.before), load_metrics(args.after)
        differences = sizing_differences(load_report(args.before), load_report(args.after))
    except ValueError as exc:
        sys.stderr.write(f"minegate bench compare: {exc}\n")
        return 2
    comparison = compare(before, after, threshold=threshold)
    text = render(
        comparison,
        threshold=threshold,
        before_name=str(args.before),
        after_name=str(args.after),
        differences=differences,
    )
    sys.stdout.write(text + "\n")
    return 1 if comparison.regressions else 0
