"""Parity of exported models: every file against PyTorch fp32 and against the fp32 file of its own backend.

Runs each file of a model directory on *all* given windows with the runtime the gateway uses (onnxruntime,
``ai-edge-litert``), one thread, and reports top-1 agreement, logit deviations, file size and latency per
window (batch 1, median and p99). Writes ``parity.json`` (machine-readable) and ``parity.md`` (the table a
person reads) next to the manifest, and ``parity_windows.npz``: the windows and PyTorch's logits for them, so
anyone can re-run the comparison on the shipped files later (``parity_from_stored``) without the training data.

This module needs no torch: it can re-check shipped models on a machine with only the gateway install. The
PyTorch logits are passed in by the caller that has the model (``export_models.export_all``).
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from importlib import metadata
from pathlib import Path
from typing import Protocol, TypedDict

import numpy as np
import onnxruntime as ort
from ai_edge_litert.interpreter import Interpreter
from numpy.typing import NDArray

from edge.inference.manifest import ModelFile, load_manifest, verify_file_checksum

Floats = NDArray[np.float32]

PARITY_JSON = "parity.json"
PARITY_MD = "parity.md"
PARITY_WINDOWS = "parity_windows.npz"


class Runner(Protocol):
    """One model file loaded in its runtime, one thread."""

    def run(self, windows: Floats) -> Floats:
        """Logits (N, C) for windows (N, L, F), whatever the file's fixed batch."""
        ...

    def run_batch(self, windows: Floats) -> Floats:
        """One call with exactly the batch the file accepts (for timing: no chunking overhead)."""
        ...


class OnnxRunner:
    def __init__(self, path: Path) -> None:
        options = ort.SessionOptions()
        # One thread for both pools: the gateway shares a Pi-class CPU with the statutory alarm path.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"{path}: expected one input and one output, got {len(inputs)} and {len(outputs)}")
        self.input_name: str = inputs[0].name
        self.output_name: str = outputs[0].name
        self.input_shape: list[int | str | None] = list(inputs[0].shape)

    def run_batch(self, windows: Floats) -> Floats:
        result = self._session.run([self.output_name], {self.input_name: windows})[0]
        return np.asarray(result, dtype=np.float32)

    def run(self, windows: Floats) -> Floats:
        return self.run_batch(np.ascontiguousarray(windows, dtype=np.float32))


class TfliteRunner:
    def __init__(self, path: Path) -> None:
        self._interpreter = Interpreter(model_path=str(path), num_threads=1)
        self._interpreter.allocate_tensors()
        signatures = self._interpreter.get_signature_list()
        if len(signatures) != 1:
            raise ValueError(f"{path}: expected one signature, got {sorted(signatures)}")
        (signature,) = signatures.values()
        if len(signature["inputs"]) != 1 or len(signature["outputs"]) != 1:
            raise ValueError(f"{path}: expected one input and one output, got {signature}")
        # Signature names are the contract ("window" -> "logits"); tensor names carry a "serving_default_" prefix.
        self.input_name: str = signature["inputs"][0]
        self.output_name: str = signature["outputs"][0]
        (inp,) = self._interpreter.get_input_details()
        (out,) = self._interpreter.get_output_details()
        self._in_index: int = int(inp["index"])
        self._out_index: int = int(out["index"])
        self.input_shape: list[int] = [int(d) for d in inp["shape"]]
        self.input_dtype: type = inp["dtype"]
        self.output_dtype: type = out["dtype"]
        self.batch: int = self.input_shape[0]

    def run_batch(self, windows: Floats) -> Floats:
        self._interpreter.set_tensor(self._in_index, windows)
        self._interpreter.invoke()
        # get_tensor copies; the interpreter reuses its buffers on the next invoke.
        return np.asarray(self._interpreter.get_tensor(self._out_index), dtype=np.float32)

    def run(self, windows: Floats) -> Floats:
        windows = np.ascontiguousarray(windows, dtype=np.float32)
        chunks = []
        for start in range(0, len(windows), self.batch):
            chunk = windows[start : start + self.batch]
            short = self.batch - len(chunk)
            if short:  # the fixed batch is larger than what is left: pad, then drop the padded rows
                chunk = np.concatenate([chunk, np.zeros((short, *chunk.shape[1:]), dtype=np.float32)])
            chunks.append(self.run_batch(chunk)[: self.batch - short])
        return np.concatenate(chunks)


def open_runner(path: Path, file_format: str) -> OnnxRunner | TfliteRunner:
    if file_format == "onnx":
        return OnnxRunner(path)
    if file_format == "tflite":
        return TfliteRunner(path)
    raise ValueError(f"{path}: no runner for format {file_format!r}")


def latency_us(runner: Runner, windows: Floats, *, repeats: int = 300, warmup: int = 30) -> tuple[float, float]:
    """Median and p99 of one batch-1 call in microseconds, cycling through ``windows`` (one thread)."""
    rows = [np.ascontiguousarray(windows[i : i + 1], dtype=np.float32) for i in range(min(len(windows), 64))]
    for i in range(warmup):
        runner.run_batch(rows[i % len(rows)])
    samples = []
    for i in range(repeats):
        row = rows[i % len(rows)]
        start = time.perf_counter_ns()
        runner.run_batch(row)
        samples.append((time.perf_counter_ns() - start) / 1000.0)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]


def top1_agreement(a: Floats, b: Floats) -> float:
    return float(np.mean(np.argmax(a, axis=1) == np.argmax(b, axis=1)))


class Deviation(TypedDict):
    top1_agreement: float
    max_abs_diff: float
    mean_abs_diff: float


class FileParity(TypedDict):
    path: str
    format: str
    precision: str
    bytes: int
    vs_torch_fp32: Deviation | None
    fp32_counterpart: str | None
    vs_fp32_same_backend: Deviation | None
    latency_us_median: float
    latency_us_p99: float


class ParityReport(TypedDict):
    model: str
    windows: int
    threads: int
    latency_batch: int
    machine: str
    runtimes: dict[str, str]
    files: list[FileParity]


def deviation(candidate: Floats, reference: Floats) -> Deviation:
    diff = np.abs(candidate.astype(np.float64) - reference.astype(np.float64))
    return {
        "top1_agreement": top1_agreement(candidate, reference),
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
    }


def _fp32_counterpart(entry: ModelFile, files: list[ModelFile]) -> ModelFile | None:
    if entry.precision == "fp32":
        return None
    return next((f for f in files if f.format == entry.format and f.precision == "fp32"), None)


def _versions() -> dict[str, str]:
    versions = {}
    for dist in ("onnxruntime", "ai-edge-litert", "numpy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


def parity_report(
    out_dir: Path,
    calibration: Floats,
    *,
    torch_logits: Floats | None = None,
    latency_repeats: int = 300,
) -> ParityReport:
    """Run every file of ``out_dir``'s manifest on all ``calibration`` windows and compare.

    ``torch_logits`` are PyTorch fp32's logits for the same windows; without them the ``vs_torch_fp32``
    figures are None. A file whose sha256 does not match the manifest raises ``ManifestError``.
    """
    manifest = load_manifest(out_dir)
    windows = np.ascontiguousarray(calibration, dtype=np.float32)
    if torch_logits is not None and torch_logits.shape[0] != windows.shape[0]:
        raise ValueError(f"torch_logits has {torch_logits.shape[0]} rows for {windows.shape[0]} windows")
    outputs: dict[str, Floats] = {}
    timings: dict[str, tuple[float, float]] = {}
    for entry in manifest.files:
        runner = open_runner(verify_file_checksum(out_dir, entry), entry.format)
        outputs[entry.path] = runner.run(windows)
        timings[entry.path] = latency_us(runner, windows, repeats=latency_repeats)
    files: list[FileParity] = []
    for entry in manifest.files:
        counterpart = _fp32_counterpart(entry, manifest.files)
        files.append(
            {
                "path": entry.path,
                "format": entry.format,
                "precision": entry.precision,
                "bytes": entry.bytes,
                "vs_torch_fp32": None if torch_logits is None else deviation(outputs[entry.path], torch_logits),
                "fp32_counterpart": None if counterpart is None else counterpart.path,
                "vs_fp32_same_backend": (
                    None if counterpart is None else deviation(outputs[entry.path], outputs[counterpart.path])
                ),
                "latency_us_median": round(timings[entry.path][0], 2),
                "latency_us_p99": round(timings[entry.path][1], 2),
            }
        )
    return {
        "model": manifest.name,
        "windows": int(windows.shape[0]),
        "threads": 1,
        "latency_batch": 1,
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}".strip(),
        "runtimes": _versions(),
        "files": files,
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _cells(dev: Deviation | None) -> str:
    if dev is None:
        return "- | - / -"
    return f"{_pct(dev['top1_agreement'])} | {_num(dev['max_abs_diff'])} / {_num(dev['mean_abs_diff'])}"


def parity_markdown(report: ParityReport) -> str:
    lines = [
        f"# Parity: {report['model']}",
        "",
        f"{report['windows']} windows; latency per window at batch {report['latency_batch']}, "
        f"{report['threads']} thread, on {report['machine']} "
        f"({', '.join(f'{k} {v}' for k, v in report['runtimes'].items())}). "
        "Agreement is the share of windows with the same top-1 class; Δ is on logits.",
        "",
        "| file | format | precision | size (KB) | top-1 vs torch fp32 | max / mean abs Δ vs torch | "
        "top-1 vs same-backend fp32 | max / mean abs Δ vs that fp32 | latency median / p99 (µs) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for f in report["files"]:
        lines.append(
            f"| {f['path']} | {f['format']} | {f['precision']} | {f['bytes'] / 1024:.1f} | "
            f"{_cells(f['vs_torch_fp32'])} | {_cells(f['vs_fp32_same_backend'])} | "
            f"{f['latency_us_median']:.1f} / {f['latency_us_p99']:.1f} |"
        )
    lines.append("")
    return "\n".join(lines)


def write_parity(out_dir: Path, report: ParityReport) -> tuple[Path, Path]:
    """Write ``parity.json`` and ``parity.md`` next to the manifest; returns their paths."""
    json_path, md_path = out_dir / PARITY_JSON, out_dir / PARITY_MD
    json_path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    md_path.write_text(parity_markdown(report), encoding="utf-8")
    return json_path, md_path


def write_parity_windows(out_dir: Path, windows: Floats, torch_logits: Floats) -> Path:
    """Store the parity windows (normalised, as fed to the files) and PyTorch fp32's logits for them."""
    if windows.shape[0] != torch_logits.shape[0]:
        raise ValueError(f"torch_logits has {torch_logits.shape[0]} rows for {windows.shape[0]} windows")
    path = out_dir / PARITY_WINDOWS
    with path.open("wb") as handle:
        np.savez_compressed(
            handle,
            windows=np.ascontiguousarray(windows, dtype=np.float32),
            torch_logits=np.ascontiguousarray(torch_logits, dtype=np.float32),
        )
    return path


def load_parity_windows(out_dir: Path) -> tuple[Floats, Floats]:
    """``(windows, torch_logits)`` as written by ``write_parity_windows``."""
    path = out_dir / PARITY_WINDOWS
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no stored parity windows; re-export the model to write them")
    with np.load(path) as data:
        windows = np.asarray(data["windows"], dtype=np.float32)
        logits = np.asarray(data["torch_logits"], dtype=np.float32)
    if windows.ndim != 3 or logits.ndim != 2 or windows.shape[0] != logits.shape[0]:
        raise ValueError(f"{path}: windows {windows.shape} and torch_logits {logits.shape} do not pair up")
    return windows, logits


def parity_from_stored(out_dir: Path, *, latency_repeats: int = 300) -> ParityReport:
    """``parity_report`` of ``out_dir``'s files on its stored windows against the stored PyTorch logits."""
    windows, logits = load_parity_windows(out_dir)
    return parity_report(out_dir, windows, torch_logits=logits, latency_repeats=latency_repeats)
