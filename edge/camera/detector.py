"""The detector contract: any YOLO model (ONNX or TFLite) with a detection manifest, run on the inference backends.

``load_detector`` refuses a file with ``ModelRefused`` (as sequence models are refused) when its checksum, its
tensors or its reference output disagree with the manifest. ``YoloDetector.detect`` is synchronous and not
re-entrant (runtimes are not): run it on ``DetectionWorker``'s single thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.camera.detector_manifest import DetectorFile, DetectorManifest, load_detector_manifest, reference_input
from edge.camera.frames import Image
from edge.camera.objects import Detection
from edge.camera.yolo import Detections, Letterbox, decode, detect_layout, letterbox, to_tensor
from edge.inference.backends import DEFAULT_PREFERENCE, Backend, BackendError, backend_formats, open_backend
from edge.inference.manifest import ManifestError, sha256_of
from edge.inference.model import ModelRefused, load_first

__all__ = ["DetectionWorker", "YoloDetector", "load_detector"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class YoloDetector:
    manifest: DetectorManifest
    file: DetectorFile
    backend: Backend
    layout: str  # "yolov5" or "yolov8", resolved at load
    load_time_s: float

    @property
    def labels(self) -> list[str]:
        return self.manifest.labels

    def preprocess(self, frame: Image) -> tuple[np.ndarray, Letterbox]:
        spec = self.manifest.input
        padded, box = letterbox(frame, spec.width, spec.height, spec.pad_value)
        return to_tensor(padded, layout=spec.layout, rgb=spec.color == "rgb", scale=spec.scale), box

    def raw(self, frame: Image) -> tuple[np.ndarray, Letterbox]:
        tensor, box = self.preprocess(frame)
        return self.backend.run(tensor), box

    def detect(
        self, frame: Image, *, confidence: float = 0.35, iou: float = 0.45, max_detections: int = 100
    ) -> list[Detection]:
        """Detections in frame pixels, best first."""
        output, box = self.raw(frame)
        spec = self.manifest.input
        found = decode(
            output,
            num_classes=len(self.labels),
            layout="yolov5" if self.layout == "yolov5" else "yolov8",
            box_units=self.manifest.output.box_units,
            input_size=(spec.width, spec.height),
            confidence=confidence,
            iou=iou,
            max_detections=max_detections,
        )
        return to_detections(found, box, self.labels)


def to_detections(found: Detections, box: Letterbox, labels: Sequence[str]) -> list[Detection]:
    boxes = box.to_frame(found.boxes)
    return [
        Detection(float(b[0]), float(b[1]), float(b[2]), float(b[3]), float(s), int(c), labels[int(c)])
        for b, s, c in zip(boxes, found.scores, found.classes, strict=True)
    ]


def _contract_problem(backend: Backend, manifest: DetectorManifest) -> str | None:
    (info_in,) = backend.inputs
    (info_out,) = backend.outputs
    spec_in, spec_out = manifest.input, manifest.output
    if info_in.dtype != "float32" or info_out.dtype != "float32":
        return f"tensors are {info_in.dtype} -> {info_out.dtype}; the runtime exchanges float32 with the model"
    fixed_in = [1 if d is None else d for d in info_in.shape]
    if fixed_in != spec_in.shape:
        return f"the file's input is {list(info_in.shape)}, the manifest says {spec_in.shape} ({spec_in.layout})"
    if len(info_out.shape) != 3 or any(
        d is not None and d != s for d, s in zip(info_out.shape, spec_out.shape, strict=True)
    ):
        return f"the file's output is {list(info_out.shape)}, the manifest says {spec_out.shape}"
    if backend.names_preserved and (info_in.name, info_out.name) != (spec_in.name, spec_out.name):
        return (
            f"the file's tensors are named {info_in.name!r} -> {info_out.name!r}, the manifest says "
            f"{spec_in.name!r} -> {spec_out.name!r}"
        )
    return None


def _reference_problem(backend: Backend, manifest: DetectorManifest, entry: DetectorFile) -> str | None:
    try:
        out = backend.run(reference_input(manifest.input.shape))
    except (BackendError, ValueError, RuntimeError) as exc:
        return f"the reference input does not run: {exc}"
    if list(out.shape) != manifest.output.shape:
        return f"the reference input gives output of shape {list(out.shape)}, the manifest says {manifest.output.shape}"
    flat = out.ravel()
    ref = entry.reference
    if max(ref.sample_indices) >= flat.size:
        return f"reference.sample_indices go up to {max(ref.sample_indices)}, the output has {flat.size} values"
    if not np.isfinite(flat).all():
        return "the reference input gives NaN or infinite outputs: the file or the runtime is broken"
    worst = float(np.abs(flat[ref.sample_indices] - np.asarray(ref.sample_values, dtype=np.float32)).max())
    if worst > ref.atol:
        return f"max |Δ| {worst:.3g} > atol {ref.atol:g} on the reference samples: wrong file or mis-executed model"
    total = float(flat.astype(np.float64).sum())
    if abs(total - ref.output_sum) > ref.sum_rtol * max(1.0, abs(ref.output_sum)):
        return f"the reference output sums to {total:.6g}, the manifest says {ref.output_sum:.6g}"
    return None


def _load_file(
    model_dir: Path, manifest: DetectorManifest, entry: DetectorFile, *, prefer: Sequence[str], threads: int
) -> YoloDetector:
    started = time.perf_counter()
    path = model_dir / entry.path
    if not path.is_file():
        raise ModelRefused(path, "listed in the manifest but missing")
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise ModelRefused(
            path, f"sha256 {actual} does not match the manifest's {entry.sha256}: re-export or restore it"
        )
    try:
        backend = open_backend(path, prefer=prefer, threads=threads)
    except BackendError as exc:
        raise ModelRefused(path, str(exc).removeprefix(f"{path}: ")) from exc
    problem = _contract_problem(backend, manifest)
    if problem:
        raise ModelRefused(path, f"{problem}: the file does not match its manifest; re-export the model")
    try:
        layout = manifest.output.layout
        resolved = detect_layout(tuple(manifest.output.shape), len(manifest.labels)) if layout == "auto" else layout
    except ValueError as exc:
        raise ModelRefused(path, str(exc)) from exc
    problem = _reference_problem(backend, manifest, entry)
    if problem:
        raise ModelRefused(path, problem)
    load_time_s = time.perf_counter() - started
    _log.info(
        "detector %s: %s (%s %s, %s head) on %s in %.2f s",
        manifest.name,
        entry.path,
        entry.format,
        entry.precision,
        resolved,
        backend.name,
        load_time_s,
    )
    return YoloDetector(manifest, entry, backend, resolved, load_time_s)


def load_detector(
    model_dir: Path,
    file: str | None = None,
    *,
    prefer_precision: Sequence[str] = ("int8", "fp16", "fp32"),
    prefer: Sequence[str] = DEFAULT_PREFERENCE,
    threads: int = 1,
) -> YoloDetector:
    """The detector in ``model_dir``: ``file`` if given, else the first file (by precision, then backend) that
    passes every check. ``ModelRefused`` lists every refusal when none does."""
    try:
        manifest = load_detector_manifest(model_dir)
        entries = [manifest.file(file)] if file is not None else list(manifest.files)
    except ManifestError as exc:
        raise ModelRefused(model_dir, str(exc)) from exc
    formats = [fmt for name in prefer for fmt in backend_formats(name)]
    candidates = sorted(
        (e for e in entries if e.format in formats and (file is not None or e.precision in prefer_precision)),
        key=lambda e: (
            list(prefer_precision).index(e.precision) if e.precision in prefer_precision else 99,
            formats.index(e.format),
        ),
    )
    if not candidates:
        raise ModelRefused(
            model_dir,
            f"no file in a format of backends {list(prefer)} and precision "
            f"{list(prefer_precision)}; the manifest lists {[f.path for f in manifest.files]}",
        )
    return load_first(
        model_dir,
        candidates,
        lambda entry: _load_file(model_dir, manifest, entry, prefer=prefer, threads=threads),
        what="detector",
    )


class DetectionWorker:
    """Runs ``detect(frame)`` on one dedicated thread for every camera of the gateway.

    Overflow policy: at most ``max_waiting`` frames wait behind the one running; a further frame is skipped at
    once (``None``, counted in ``skipped``): the next sampled frame is fresher than a queued one would be.
    """

    def __init__(self, detect: Callable[[Image], list[Detection]], *, name: str = "camera", max_waiting: int = 2):
        if max_waiting < 0:
            raise ValueError(f"max_waiting must be >= 0 (got {max_waiting})")
        self._detect = detect
        self._max_waiting = max_waiting
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"detector-{name}")
        self._in_flight = 0
        self._closed = False
        self.frames_run = 0
        self.skipped = 0
        self.busy_s = 0.0

    async def detect(self, frame: Image) -> list[Detection] | None:
        if self._closed:
            raise RuntimeError("detection worker is closed")
        if self._in_flight > self._max_waiting:
            self.skipped += 1
            return None
        self._in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._timed, frame)
        finally:
            self._in_flight -= 1

    def _timed(self, frame: Image) -> list[Detection]:
        started = time.perf_counter()
        try:
            return self._detect(frame)
        finally:
            self.busy_s += time.perf_counter() - started
            self.frames_run += 1

    async def close(self) -> None:
        """Idempotent; a running detection finishes on its thread, nothing new starts."""
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
