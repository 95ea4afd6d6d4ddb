"""Hazard model cost on this machine: per model file (backend x precision) load time, RSS added by loading,
batch-1 latency of the packed input (median / p99), the cost of one full decision (cut the window, pack, run) and
of the evidence pass a raised warning adds (the input re-run with each modality and measured channel masked).

Each file is measured in its own fresh process (``--case FILE``) so its RSS is that of one runtime. Skips cleanly
when ``models/hazard`` (or ``--model-dir``) has no manifest yet.

    python -m benchmarks.hazard_inference [--model-dir DIR] [--calls 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import REPO, markdown_table, percentile, python_env, write_result

NAME = "hazard_inference"
DEFAULT_MODEL_DIR = REPO / "models" / "hazard"
MIB = 1024 * 1024


def _rss() -> int:
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _decision_input(rng: np.random.Generator) -> Any:
    from edge.hazard.camera_rows import masked_camera  # noqa: PLC0415
    from edge.hazard.contract import CHANNEL_NAMES, SENSOR_WINDOW_S  # noqa: PLC0415
    from edge.hazard.decision_input import DecisionInput  # noqa: PLC0415
    from edge.hazard.model_input import TEXT_EMBEDDING_DIM  # noqa: PLC0415

    window = rng.normal(1.0, 0.2, size=(SENSOR_WINDOW_S, len(CHANNEL_NAMES))).astype(np.float32)
    window[rng.random(window.shape) < 0.02] = np.nan  # a few dropped samples, as on a real bus
    text = rng.normal(0, 0.05, size=(3, TEXT_EMBEDDING_DIM)).astype(np.float32)
    return DecisionInput(window, masked_camera(), text, np.array([60.0, 900.0, 7200.0], dtype=np.float32))


def _timed(fn: Any, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def measure_case(model_dir: Path, file: str, *, calls: int) -> dict[str, Any]:
    from edge.hazard.hazard_model import HazardModel  # noqa: PLC0415

    rss_before = _rss()
    started = time.perf_counter()
    from edge.inference.model import load_model  # noqa: PLC0415  (importing the runtime is part of the cost)

    model = HazardModel(load_model(model_dir, file, threads=1))
    load_s = time.perf_counter() - started
    rss_delta = _rss() - rss_before
    decision = _decision_input(np.random.default_rng(0))
    packed = decision.packed()[None]
    model.run(packed)  # warm-up
    run = _timed(lambda: model.run(packed), calls)
    full = _timed(lambda: model.run(decision.packed()[None]), max(20, calls // 4))
    _groups, batch = decision.evidence_batch()
    evidence = _timed(lambda: model.run(decision.evidence_batch()[1]), max(10, calls // 10))
    return {
        "file": file,
        "precision": model.loaded.file.precision,
        "backend": model.loaded.backend_name,
        "bytes": model.loaded.file.bytes,
        "load_s": load_s,
        "rss_delta_mib": rss_delta / MIB,
        "batch1_median_ms": statistics.median(run) * 1e3,
        "batch1_p99_ms": percentile(run, 99) * 1e3,
        "decision_median_ms": statistics.median(full) * 1e3,
        "evidence_rows": int(batch.shape[0]),
        "evidence_median_ms": statistics.median(evidence) * 1e3,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(measure_case(args.model_dir, args.case, calls=args.calls)))
        return 0
    if not (args.model_dir / "manifest.json").is_file():
        print(f"skipped: {args.model_dir} has no manifest.json (the hazard model is not exported yet)")
        return 0
    from edge.inference.manifest import load_manifest  # noqa: PLC0415

    manifest = load_manifest(args.model_dir)
    rows: list[dict[str, Any]] = []
    for entry in manifest.files:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.hazard_inference",
                "--model-dir",
                str(args.model_dir),
                "--calls",
                str(args.calls),
                "--case",
                entry.path,
            ],
            cwd=REPO,
            env=python_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            print(f"{entry.path}: failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    header = [
        "file",
        "precision",
        "backend",
        "MB",
        "load s",
        "RSS +MiB",
        "b1 median ms",
        "b1 p99 ms",
        "decision ms",
        "evidence rows",
        "evidence ms",
    ]
    table = [
        [
            r["file"],
            r["precision"],
            r["backend"],
            f"{r['bytes'] / 1e6:.2f}",
            f"{r['load_s']:.3f}",
            f"{r['rss_delta_mib']:.1f}",
            f"{r['batch1_median_ms']:.2f}",
            f"{r['batch1_p99_ms']:.2f}",
            f"{r['decision_median_ms']:.2f}",
            r["evidence_rows"],
            f"{r['evidence_median_ms']:.2f}",
        ]
        for r in rows
    ]
    print(f"hazard model {manifest.name} ({args.model_dir}), one thread, {args.calls} calls per figure")
    print(markdown_table(header, table))
    write_result(NAME, {"model": manifest.name, "model_dir": str(args.model_dir), "cases": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
