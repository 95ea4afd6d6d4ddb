"""Text encoders on one thread: latency per log entry at batch 1 and 32, load time, RSS delta, size on disk.

    python -m benchmarks.text_encoder [--model-dir var/text/minilm] [--calls-1 300] [--calls-32 40]

Each encoder is measured in its own fresh process (``--case SPEC``) so that its RSS delta is its own: the delta is
VmRSS after loading and encoding, minus VmRSS of the same process with numpy imported and nothing else (the
import of onnxruntime and tokenizers is part of MiniLM's cost); "of which model" leaves those imports out; the
peak (VmHWM, reset at the baseline) is taken after one more batch of 32 texts at the tokenizer's 128-token
limit, the worst case. Load time includes those imports and every
manifest check. The texts are generated log entries (``export.text.logdata``), typical 5-12 words.
The hashed encoder memoises feature hashes; its timed calls clear that memo first, so its figures are the cold
worst case (a steady stream of familiar words is faster). MiniLM cases need the exported model directory
(``python -m export.text.export_minilm --out var/text/minilm --keep int8 fp32``); without one the committed
``models/text/minilm`` (int8 only) is used, and missing files are reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import NOISE_NOTE, REPO, markdown_table, percentile, python_env, write_result

NAME = "text_encoder"
MIB = 1024 * 1024
EXPORT_DIR = REPO / "var" / "text" / "minilm"
COMMITTED_DIR = REPO / "models" / "text" / "minilm"
CASES: tuple[str, ...] = ("hashed:256", "hashed:512", "minilm:fp32", "minilm:int8")
MINILM_FILES = {"fp32": "minilm_l6_fp32.onnx", "int8": "minilm_l6_int8.onnx"}


def _rss(key: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {key} in /proc/self/status (Linux only)")


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the peak measured later is this encoder's."""
    Path("/proc/self/clear_refs").write_text("5", encoding="ascii")


def sample_texts(count: int = 256) -> list[str]:
    from export.text.logdata import dataset  # noqa: PLC0415

    texts = [e.text for e in dataset(range(4), seed=77, days=4.0, hazard_rounds=1)]
    return (texts * (count // max(len(texts), 1) + 1))[:count]


def measure_case(spec: str, model_dir: Path, *, calls: dict[int, int]) -> dict[str, Any]:
    """Load the encoder ``spec`` and time ``encode`` (runs in the case's own process)."""
    import numpy as np  # noqa: PLC0415  (the baseline: a gateway process has numpy loaded anyway)

    texts = sample_texts()
    base_rss = _rss()
    _reset_peak()
    started = time.perf_counter()
    clear = None
    if spec.startswith("hashed:"):
        from edge.text.hashed import HashedNgramEncoder, _bucket  # noqa: PLC0415

        imported_rss = _rss()

        encoder: Any = HashedNgramEncoder(int(spec.split(":")[1]))
        clear = _bucket.cache_clear
        size = 0
    else:
        from edge.text.minilm import MiniLmEncoder  # noqa: PLC0415

        imported_rss = _rss()  # onnxruntime and tokenizers: a gateway running any ONNX model has the former
        file = MINILM_FILES[spec.split(":")[1]]
        encoder = MiniLmEncoder.load(model_dir, file, threads=1)
        size = (model_dir / file).stat().st_size + encoder.tokens.path.stat().st_size
    load_s = time.perf_counter() - started
    encoder.encode(texts[:32])
    result: dict[str, Any] = {
        "encoder": spec,
        "name": encoder.name,
        "dim": encoder.dim,
        "bytes_on_disk": size,
        "load_s": load_s,
        "batches": {},
    }
    for batch, n_calls in calls.items():
        samples: list[float] = []
        for i in range(n_calls):
            chunk = [texts[(i * batch + j) % len(texts)] for j in range(batch)]
            if clear is not None:
                clear()
            t0 = time.perf_counter_ns()
            encoder.encode(chunk)
            samples.append((time.perf_counter_ns() - t0) / 1e3 / batch)
        result["batches"][str(batch)] = {
            "calls": n_calls,
            "median_us_per_entry": statistics.median(samples),
            "p99_us_per_entry": percentile(samples, 99),
        }
    result["rss_delta_bytes"] = _rss() - base_rss
    result["rss_delta_after_imports_bytes"] = _rss() - imported_rss
    # Worst case: a batch of texts at the tokenizer's limit (MiniLM: 128 tokens); the peak (VmHWM) is what counts.
    encoder.encode([" ".join(["bearing"] * 200)] * 32)
    result["peak_rss_delta_long_batch_bytes"] = _rss("VmHWM") - base_rss
    result["numpy"] = np.__version__
    return result


def _run_case(spec: str, model_dir: Path, calls: dict[int, int]) -> dict[str, Any]:
    args = [sys.executable, "-m", f"benchmarks.{NAME}", "--case", spec, "--model-dir", str(model_dir)]
    args += ["--calls-1", str(calls[1]), "--calls-32", str(calls[32])]
    done = subprocess.run(args, cwd=REPO, env=python_env(), capture_output=True, text=True, check=False, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {spec} failed:\n{done.stdout}\n{done.stderr}")
    case: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return case


def run_cases(model_dir: Path, calls: dict[int, int], cases: Sequence[str] = CASES) -> list[dict[str, Any]]:
    """Every case in its own process; a MiniLM case whose file is absent is returned as skipped."""
    out: list[dict[str, Any]] = []
    for spec in cases:
        if spec.startswith("minilm:") and not (model_dir / MINILM_FILES[spec.split(":")[1]]).is_file():
            out.append({"encoder": spec, "skipped": f"no {MINILM_FILES[spec.split(':')[1]]} in {model_dir}"})
            continue
        out.append(_run_case(spec, model_dir, calls))
    return out


def table(cases: Sequence[dict[str, Any]]) -> str:
    header = ["encoder", "dim", "MB on disk", "load ms", "RSS delta MiB", "of which model MiB", "peak MiB (32 long)"]
    header += ["b1 median µs/entry", "b1 p99 µs/entry", "b32 median µs/entry", "b32 p99 µs/entry"]
    rows: list[list[object]] = []
    for case in cases:
        if "skipped" in case:
            rows.append([case["encoder"], "skipped: " + case["skipped"], *([""] * 9)])
            continue
        one, many = case["batches"]["1"], case["batches"]["32"]
        rows.append(
            [
                case["encoder"],
                case["dim"],
                case["bytes_on_disk"] / 1e6,
                case["load_s"] * 1e3,
                case["rss_delta_bytes"] / MIB,
                case["rss_delta_after_imports_bytes"] / MIB,
                case["peak_rss_delta_long_batch_bytes"] / MIB,
                one["median_us_per_entry"],
                one["p99_us_per_entry"],
                many["median_us_per_entry"],
                many["p99_us_per_entry"],
            ]
        )
    return markdown_table(header, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else NAME)
    parser.add_argument("--model-dir", type=Path, help="MiniLM export directory (default: var/text/minilm if exported)")
    parser.add_argument("--calls-1", type=int, default=300, help="timed calls at batch 1")
    parser.add_argument("--calls-32", type=int, default=40, help="timed calls at batch 32")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--results-dir", type=Path, default=None)
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: measure one encoder in this process
    args = parser.parse_args(argv)
    calls = {1: args.calls_1, 32: args.calls_32}
    model_dir: Path = args.model_dir or (EXPORT_DIR if (EXPORT_DIR / "manifest.json").is_file() else COMMITTED_DIR)
    if args.case:
        print(json.dumps(measure_case(args.case, model_dir, calls=calls)))
        return 0
    cases = run_cases(model_dir, calls, args.cases)
    print("## Text encoders, one thread\n")
    print(table(cases))
    print(f"\nMiniLM from {model_dir}. Hashed figures with a cold hash memo (worst case). {NOISE_NOTE}")
    path = write_result(
        NAME,
        {"model_dir": str(model_dir), "threads": 1, "cases": cases, "note": NOISE_NOTE},
        results_dir=args.results_dir,
    )
    print(f"\nwritten {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
