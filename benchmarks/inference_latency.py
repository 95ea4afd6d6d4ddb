"""Inference latency per backend and precision: batch 1 and batch 100 on one thread, load time, file size, RSS.

Each model file of the manifest is measured in its own fresh process (``--case FILE``), so the RSS after load is
that of one runtime (onnxruntime and LiteRT in one process would add up) and no file benefits from another's
warm caches. A call is ``LoadedModel.predict``: normalisation + the backend run, what the gateway pays per batch.
Without ``--model-dir`` the exported ``models/localization`` is used when it exists, else a tiny CNN-LSTM is
trained and exported on the spot (needs the ``train`` extra).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import NOISE_NOTE, REPO, markdown_table, percentile, proc_memory, python_env, write_result
from edge.bench.models import time_calls

NAME = "inference_latency"
DEFAULT_MODEL_DIR = REPO / "models" / "localization"
BATCHES = (1, 100)
MIB = 1024 * 1024


def measure_case(model_dir: Path, file: str, *, calls: dict[int, int], seed: int = 0) -> dict[str, Any]:
    """Load ``file`` and time ``predict`` at each batch size (runs in the case's own process)."""
    started = time.perf_counter()
    from edge.inference.model import load_model  # noqa: PLC0415  (the import of the runtime is part of the cost)

    model = load_model(model_dir, file, threads=1)
    load_s = time.perf_counter() - started
    memory = proc_memory()
    spec = model.manifest.inputs[0].shape
    norm = model.manifest.normalisation
    rng = np.random.default_rng(seed)
    result: dict[str, Any] = {
        "file": file,
        "format": model.file.format,
        "precision": model.file.precision,
        "backend": model.backend_name,
        "fixed_batch": model.backend.fixed_batch,
        "bytes": model.file.bytes,
        "load_s": load_s,  # import of the runtime + checksum + session + warm-up + reference check
        "load_checked_s": model.load_time_s,  # the same without the import
        "rss_after_load_bytes": memory["rss"],
        "peak_rss_bytes": memory["peak_rss"],
        "batches": {},
    }
    for batch, n_calls in calls.items():
        shape = (batch, *(1 if dim is None else dim for dim in spec[1:]))
        x = (np.asarray(norm.mean) + np.asarray(norm.std) * rng.normal(size=shape)).astype(np.float32)
        timed = time_calls(functools.partial(model.predict, x), calls=n_calls, warmup=min(20, n_calls))
        samples = [seconds * 1e6 for seconds in timed]
        median, p99 = statistics.median(samples), percentile(samples, 99)
        result["batches"][str(batch)] = {
            "calls": n_calls,
            "median_us_per_call": median,
            "p99_us_per_call": p99,
            "median_us_per_window": median / batch,
            "p99_us_per_window": p99 / batch,
        }
    result["rss_after_run_bytes"] = proc_memory()["rss"]
    return result


def _run_case(model_dir: Path, file: str, calls: dict[int, int]) -> dict[str, Any]:
    args = [sys.executable, "-m", f"benchmarks.{NAME}", "--model-dir", str(model_dir), "--case", file]
    args += ["--calls-1", str(calls[1]), "--calls-100", str(calls[100])]
    done = subprocess.run(args, cwd=REPO, env=python_env(), capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {file} failed:\n{done.stdout}\n{done.stderr}")
    case: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return case


def _table(cases: list[dict[str, Any]]) -> str:
    header = [
        "file",
        "backend",
        "precision",
        "KB",
        "load ms",
        "RSS MiB",
        "b1 median µs",
        "b1 p99 µs",
        "b100 median µs/call",
        "b100 p99 µs/call",
        "b100 median µs/window",
    ]
    rows = []
    for case in cases:
        one, hundred = case["batches"]["1"], case["batches"]["100"]
        rows.append(
            [
                case["file"],
                case["backend"] + (f" (batch {case['fixed_batch']})" if case["fixed_batch"] else ""),
                case["precision"],
                case["bytes"] / 1024,
                case["load_s"] * 1e3,
                case["rss_after_load_bytes"] / MIB,
                one["median_us_per_call"],
                one["p99_us_per_call"],
                hundred["median_us_per_call"],
                hundred["p99_us_per_call"],
                hundred["median_us_per_window"],
            ]
        )
    return markdown_table(header, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else NAME)
    parser.add_argument("--model-dir", type=Path, help="a model directory with manifest.json (default: %(default)s)")
    parser.add_argument("--calls-1", type=int, default=3000, help="timed calls at batch 1")
    parser.add_argument("--calls-100", type=int, default=300, help="timed calls at batch 100")
    parser.add_argument("--results-dir", type=Path, default=None)
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: measure one file in this process
    args = parser.parse_args(argv)
    calls = {1: args.calls_1, 100: args.calls_100}

    if args.case:
        print(json.dumps(measure_case(args.model_dir, args.case, calls=calls)))
        return 0

    with tempfile.TemporaryDirectory(prefix="minegate-bench-") as tmp:
        model_dir = args.model_dir
        source = "given"
        if model_dir is None and (DEFAULT_MODEL_DIR / "manifest.json").is_file():
            model_dir, source = DEFAULT_MODEL_DIR, "models/localization"
        if model_dir is None:
            from benchmarks.tiny_localization_model import build_tiny_model_dir  # noqa: PLC0415  (needs torch)

            print("no exported model: training and exporting a tiny CNN-LSTM (about 15 s) ...", flush=True)
            model_dir, source = build_tiny_model_dir(Path(tmp) / "tiny").directory, "tiny model built by the benchmark"
        from edge.inference.manifest import load_manifest  # noqa: PLC0415  (keeps --case start-up minimal)

        manifest = load_manifest(model_dir)
        cases = [_run_case(model_dir, f.path, calls) for f in manifest.files]

    print(f"## Inference latency: {manifest.name} ({source}), one thread\n")
    print(_table(cases))
    print(f"\nA call is LoadedModel.predict (normalisation + run). {NOISE_NOTE}")
    path = write_result(
        NAME,
        {
            "model": manifest.name,
            "model_dir": str(model_dir) if source != "tiny model built by the benchmark" else None,
            "source": source,
            "threads": 1,
            "cases": cases,
            "note": NOISE_NOTE,
        },
        results_dir=args.results_dir,
    )
    print(f"\nwritten {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
