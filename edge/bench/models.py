"""Every shipped model file on every backend that runs it: file size, load time, latency at batch 1 and batched,
throughput and the memory the runtime and model add.

Each (file, backend) is measured in its own fresh process (``python -m edge.bench.models CASE``): the RSS delta is
that of one runtime and one model (onnxruntime and LiteRT in one process would add up), and no file benefits
from another's warm caches. The input is the manifest's reference input (already normalised, as the file is fed),
its rows repeated to fill the batch; a call is the backend's ``run``, chunked by the backend when the file has a
fixed batch. Load time counts the runtime's import and every check the gateway makes before using a file
(sha256, tensor contract, reference output). Detectors take one frame per call: they are timed at batch 1 only,
and every timing loop stops at its time budget as well as at its call count (a detector takes up to a second).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.bench.gateway_procs import python_env
from edge.bench.procfs import proc_memory
from edge.bench.stats import percentile

DETECTION_TASK = "detection"
CASE_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class ModelCase:
    """One model file on one backend."""

    model: str  # the model directory relative to the shipped-models root, e.g. "text/minilm"
    model_dir: str
    task: str
    file: str
    format: str
    precision: str
    bytes: int
    backend: str

    @property
    def key(self) -> str:
        return f"{self.model}/{self.file}@{self.backend}"


@dataclass(frozen=True, slots=True)
class Timing:
    """How many calls to time at each batch, and for how long at most (whichever ends first, at least 3 calls)."""

    batch: int = 32
    calls_1: int = 300
    calls_batch: int = 50
    budget_s: float = 4.0
    warmup: int = 5


def shipped_cases(root: Path, backends: dict[str, tuple[str, ...]]) -> tuple[list[ModelCase], list[str]]:
    """Cases for every file of every ``manifest.json`` under ``root`` x every backend (name -> formats) that runs
    its format; and a note for each file that cannot be measured (absent, or no backend here runs it)."""
    cases: list[ModelCase] = []
    notes: list[str] = []
    for manifest_path in sorted(root.rglob("manifest.json")):
        model_dir = manifest_path.parent
        model = model_dir.relative_to(root).as_posix()
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
        for entry in data.get("files", []):
            path = model_dir / str(entry["path"])
            if not path.is_file():
                notes.append(f"{model}/{entry['path']}: listed in the manifest but absent (not built here)")
                continue
            runners = [name for name, formats in backends.items() if entry["format"] in formats]
            if not runners:
                notes.append(f"{model}/{entry['path']}: no backend here runs {entry['format']} files")
            cases += [
                ModelCase(
                    model=model,
                    model_dir=str(model_dir),
                    task=str(data.get("task", "")),
                    file=str(entry["path"]),
                    format=str(entry["format"]),
                    precision=str(entry["precision"]),
                    bytes=path.stat().st_size,
                    backend=name,
                )
                for name in runners
            ]
    return cases, notes


def time_calls(run: Callable[[], object], *, calls: int, warmup: int, budget_s: float = float("inf")) -> list[float]:
    """Seconds per call of ``run``: ``warmup`` untimed calls, then up to ``calls`` timed ones, stopping once
    ``budget_s`` is spent (but never before 3 timed calls)."""
    for _ in range(warmup):
        run()
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(samples) < calls and (len(samples) < 3 or time.perf_counter() < deadline):
        started = time.perf_counter_ns()
        run()
        samples.append((time.perf_counter_ns() - started) / 1e9)
    return samples


def latency(samples_s: list[float], batch: int) -> dict[str, float]:
    """Median and p99 per call in ms, and rows per second at the median."""
    median = statistics.median(samples_s)
    return {
        "batch": batch,
        "calls": len(samples_s),
        "median_ms": median * 1e3,
        "p99_ms": percentile(samples_s, 99) * 1e3,
        "rows_per_s": batch / median if median > 0 else float("nan"),
    }


def measure_case(case: ModelCase, timing: Timing) -> dict[str, Any]:
    """Load and time ``case`` in this process (meant to be a fresh one: see the module)."""
    rss_before = proc_memory()["rss"]
    started = time.perf_counter()
    # The runtime's import is part of what loading a model costs on a gateway, hence imported here.
    if case.task == DETECTION_TASK:
        from edge.camera.detector import load_detector  # noqa: PLC0415
        from edge.camera.detector_manifest import reference_input  # noqa: PLC0415

        detector = load_detector(Path(case.model_dir), case.file, prefer=(case.backend,))
        backend, checked_s = detector.backend, detector.load_time_s
        rows = reference_input(detector.manifest.input.shape).astype(np.float32)
        batch: int | None = None
    else:
        from edge.inference.model import load_model  # noqa: PLC0415

        model = load_model(Path(case.model_dir), case.file, prefer=(case.backend,))
        backend, checked_s = model.backend, model.load_time_s
        rows = np.asarray(model.manifest.reference_input, dtype=np.float32)
        batch = timing.batch
    load_s = time.perf_counter() - started
    rss_loaded = proc_memory()["rss"]
    one = rows[:1]
    result: dict[str, Any] = {
        **asdict(case),
        "fixed_batch": backend.fixed_batch,
        "load_s": load_s,
        "load_checked_s": checked_s,
        "batch_1": latency(
            time_calls(lambda: backend.run(one), calls=timing.calls_1, warmup=timing.warmup, budget_s=timing.budget_s),
            1,
        ),
        "batched": None,
    }
    if batch is not None:
        filled = np.resize(rows, (batch, *rows.shape[1:])).astype(np.float32)  # the reference rows, repeated
        samples = time_calls(
            lambda: backend.run(filled),
            calls=timing.calls_batch,
            warmup=min(timing.warmup, 2),
            budget_s=timing.budget_s,
        )
        result["batched"] = latency(samples, batch)
    memory = proc_memory()
    result.update(
        rss_before_bytes=rss_before,
        rss_delta_load_bytes=rss_loaded - rss_before,
        rss_delta_bytes=memory["rss"] - rss_before,
        peak_rss_bytes=memory["peak_rss"],
    )
    return result


def measure_in_child(case: ModelCase, timing: Timing) -> dict[str, Any]:
    """``measure_case`` in a fresh interpreter; ``RuntimeError`` with the child's output when it fails."""
    request = json.dumps({"case": asdict(case), "timing": asdict(timing)})
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "edge.bench.models", request],
        env=python_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=CASE_TIMEOUT_S,
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"measuring {case.key} failed (exit {done.returncode}): {' / '.join(tail)}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _child(request: str) -> None:
    body = json.loads(request)
    figures = measure_case(ModelCase(**body["case"]), Timing(**body["timing"]))
    sys.stdout.write(json.dumps(figures) + "\n")


if __name__ == "__main__":
    _child(sys.argv[1])
