"""Evaluate the shipped helmet detector on the real helmet photos, clean and under simulated mine conditions.

::

    nice -n 10 .venv/bin/python -m export.detector.evaluate --model models/detector/helmet \\
        --out export/reports/detector [--variant NAME=DIR ...]

Inference goes through ``edge.camera.detector.load_detector`` (sha256, tensor contract and reference output
checked), so the evaluated path is the one the gateway runs. Figures are on the evaluation split (80 photos; the
21 calibration photos of the int8 file are left out: ``export.detector.helmet_data``).

* **AP@0.5**: per class, VOC style: detections of that class over all photos, best score first, each matched to
  the unmatched labelled box of that class with the highest IoU if that IoU is >= 0.5 (true positive), else a
  false positive; AP is the area under the precision envelope with all-point interpolation (VOC 2010+).
  Detections down to confidence 0.001, NMS IoU 0.45 per class, at most 300 per frame.
* **Precision / recall** at the gateway's operating confidence (``OPERATING_CONFIDENCE`` = 0.35, the default of
  ``YoloDetector.detect``).
* **Classes**: dataset ``helmet`` vs model ``With Helmet``, dataset ``head`` (bare head) vs ``Without Helmet``;
  ``person`` has no model class and is not scored.
* **Conditions** (``degrade``; one seeded generator per photo, so fp32 and int8 see the same frames):
  ``clean``; ``dark``: x0.3 brightness after gamma 1.5 (a frame lit by cap lamps only); ``glare``: one additive
  elliptical bright blob (a cap lamp looking into the lens), peak +230 grey levels, Gaussian fall-off, axes 12-25 %
  of the frame, at a random place; ``dust``: Gaussian blur sigma 2 and a 45 % grey haze (dust on the lens and in the
  air: lower contrast); ``lowres``: down to 320 px wide (area) and back up (bilinear).
* **Latency**: ``YoloDetector.detect`` per frame (letterbox, inference, decode, NMS) on one thread, per file, 3
  warm-up then ``--latency-frames`` frames; median and p99 (with 30 frames p99 is the slowest but one).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.camera.detector import YoloDetector, load_detector
from edge.camera.detector_manifest import load_detector_manifest, write_detector_manifest
from edge.camera.objects import Detection
from edge.camera.yolo import iou_matrix
from export.detector.helmet_data import DATA_DIR, MODEL_CLASS, LabelledImage, calibration_split, load_images

Image = npt.NDArray[np.uint8]
CLASSES = ("helmet", "bare head")
CONDITIONS = ("clean", "dark", "glare", "dust", "lowres")
OPERATING_CONFIDENCE = 0.35
SWEEP_CONFIDENCES = (0.05, 0.1, 0.2, 0.35, 0.5)
AP_CONFIDENCE = 0.001
IOU_MATCH = 0.5
SEED = 20260611


def _clip(x: npt.NDArray[np.float32]) -> Image:
    return np.asarray(np.clip(np.rint(x), 0, 255), dtype=np.uint8)


def darken(image: Image, *, factor: float = 0.3, gamma: float = 1.5) -> Image:
    return _clip(255.0 * (image.astype(np.float32) / 255.0) ** gamma * factor)


def glare(image: Image, rng: np.random.Generator, *, peak: float = 230.0) -> Image:
    h, w = image.shape[:2]
    cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
    ax, ay = rng.uniform(0.12, 0.25) * w, rng.uniform(0.12, 0.25) * h
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xx - cx, yy - cy
    u = (dx * np.cos(angle) + dy * np.sin(angle)) / ax
    v = (-dx * np.sin(angle) + dy * np.cos(angle)) / ay
    blob = peak * np.exp(-(u * u + v * v))
    return _clip(image.astype(np.float32) + blob[:, :, None])


def dust(image: Image, *, sigma: float = 2.0, haze: float = 0.45, haze_level: float = 170.0) -> Image:
    blurred = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma).astype(np.float32)
    return _clip(blurred * (1.0 - haze) + haze_level * haze)


def low_resolution(image: Image, *, width: int = 320) -> Image:
    h, w = image.shape[:2]
    small = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)


def degrade(image: Image, condition: str, rng: np.random.Generator) -> Image:
    """``image`` as seen under ``condition`` (one of ``CONDITIONS``)."""
    if condition == "clean":
        return image
    if condition == "dark":
        return darken(image)
    if condition == "glare":
        return glare(image, rng)
    if condition == "dust":
        return dust(image)
    if condition == "lowres":
        return low_resolution(image)
    raise ValueError(f"condition {condition!r} is not one of {list(CONDITIONS)}")


def average_precision(recall: npt.NDArray[np.float64], precision: npt.NDArray[np.float64]) -> float:
    """VOC all-point interpolated AP: area under the monotone precision envelope."""
    r = np.concatenate(([0.0], recall, [1.0]))
    p = np.concatenate(([0.0], precision, [0.0]))
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


@dataclass(frozen=True, slots=True)
class ClassScore:
    labelled: int
    ap50: float
    precision: float  # at OPERATING_CONFIDENCE
    recall: float
    true_positives: int
    false_positives: int
    max_recall: float  # recall over every detection down to AP_CONFIDENCE: how many heads it sees at all
    sweep: tuple[tuple[float, float, float], ...] = ()  # (confidence, precision, recall) at SWEEP_CONFIDENCES


def score_class(
    detections: Sequence[Sequence[tuple[npt.NDArray[np.float32], float]]],
    truths: Sequence[npt.NDArray[np.float32]],
    *,
    operating_confidence: float = OPERATING_CONFIDENCE,
    iou_threshold: float = IOU_MATCH,
) -> ClassScore:
    """``detections[i]``: (box, score) of one class on photo i; ``truths[i]``: labelled boxes [K, 4] of it."""
    flat = [(score, i, box) for i, dets in enumerate(detections) for box, score in dets]
    flat.sort(key=lambda t: -t[0])
    used = [np.zeros(len(t), dtype=bool) for t in truths]
    labelled = sum(len(t) for t in truths)
    tp = np.zeros(len(flat), dtype=np.float64)
    for k, (_, i, box) in enumerate(flat):
        if len(truths[i]) == 0:
            continue
        ious = iou_matrix(box[None, :].astype(np.float32), truths[i])[0]
        ious[used[i]] = -1.0
        best = int(np.argmax(ious))
        if ious[best] >= iou_threshold:
            used[i][best] = True
            tp[k] = 1.0
    cum_tp = np.cumsum(tp)
    cum_fp = np.cumsum(1.0 - tp)
    recall = cum_tp / max(labelled, 1)
    precision = cum_tp / np.maximum(cum_tp + cum_fp, 1e-12)
    ap = average_precision(recall, precision) if flat and labelled else 0.0

    def counts(threshold: float) -> tuple[int, int]:
        kept = sum(1 for s, _, _ in flat if s >= threshold)
        return kept, int(cum_tp[kept - 1]) if kept else 0

    sweep = []
    for threshold in SWEEP_CONFIDENCES:
        kept, hits = counts(threshold)
        sweep.append((threshold, hits / kept if kept else 0.0, hits / labelled if labelled else 0.0))
    at_op, op_tp = counts(operating_confidence)
    return ClassScore(
        labelled=labelled,
        ap50=ap,
        precision=op_tp / at_op if at_op else 0.0,
        recall=op_tp / labelled if labelled else 0.0,
        true_positives=op_tp,
        false_positives=at_op - op_tp,
        max_recall=float(recall[-1]) if flat else 0.0,
        sweep=tuple(sweep),
    )


def detections_of(found: Sequence[Detection], model_class: int) -> list[tuple[npt.NDArray[np.float32], float]]:
    return [(np.asarray(d.box, dtype=np.float32), d.score) for d in found if d.class_id == model_class]


def run_conditions(
    detectors: dict[str, YoloDetector],
    images: Sequence[LabelledImage],
    conditions: Sequence[str] = CONDITIONS,
    *,
    seed: int = SEED,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, dict[str, dict[str, ClassScore]]]:
    """``result[detector][condition][class]``; every detector sees the same degraded frames."""
    raw: dict[str, dict[str, list[list[Detection]]]] = {n: {c: [] for c in conditions} for n in detectors}
    for condition in conditions:
        started = time.perf_counter()
        for index, labelled in enumerate(images):
            frame = degrade(labelled.read(), condition, np.random.default_rng([seed, index]))
            for name, detector in detectors.items():
                found = detector.detect(frame, confidence=AP_CONFIDENCE, max_detections=300)
                raw[name][condition].append(found)
        progress(f"{condition}: {len(images)} photos x {len(detectors)} files in {time.perf_counter() - started:.0f} s")
    result: dict[str, dict[str, dict[str, ClassScore]]] = {}
    for name in detectors:
        result[name] = {}
        for condition in conditions:
            per_photo = raw[name][condition]
            result[name][condition] = {
                cls: score_class(
                    [detections_of(found, MODEL_CLASS[cls]) for found in per_photo],
                    [im.boxes_of(cls) for im in images],
                )
                for cls in CLASSES
            }
    return result


def measure_latency(detector: YoloDetector, frames: Sequence[Image], *, count: int) -> dict[str, float]:
    for frame in frames[:3]:
        detector.detect(frame)
    times = []
    for k in range(count):
        started = time.perf_counter()
        detector.detect(frames[k % len(frames)])
        times.append(time.perf_counter() - started)
    ms = np.asarray(times) * 1000.0
    return {
        "frames": float(count),
        "median_ms": float(np.median(ms)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "load_s": detector.load_time_s,
    }


def _table(results: dict[str, dict[str, dict[str, ClassScore]]], names: Sequence[str]) -> list[str]:
    lines = [
        "| class | condition | " + " | ".join(f"{n} P | {n} R | {n} AP@0.5" for n in names) + " |",
        "|---|---|" + "---:|---:|---:|" * len(names),
    ]
    conditions = list(next(iter(results.values())).keys())
    for cls in CLASSES:
        for condition in conditions:
            cells = []
            for n in names:
                s = results[n][condition][cls]
                cells.append(f"{s.precision:.3f} | {s.recall:.3f} | {100 * s.ap50:.1f}")
            lines.append(f"| {cls} | {condition} | " + " | ".join(cells) + " |")
    return lines


def _sweep_table(results: dict[str, dict[str, dict[str, ClassScore]]], condition: str = "clean") -> list[str]:
    lines = [
        f"| file | class | {' | '.join(f'P / R @ {c:g}' for c in SWEEP_CONFIDENCES)} | recall @ {AP_CONFIDENCE:g} |",
        "|---|---|" + "---:|" * (len(SWEEP_CONFIDENCES) + 1),
    ]
    for name, per_condition in results.items():
        for cls, score in per_condition[condition].items():
            cells = " | ".join(f"{p:.2f} / {r:.2f}" for _, p, r in score.sweep)
            lines.append(f"| {name} | {cls} | {cells} | {score.max_recall:.2f} |")
    return lines


def _variant_table(variants: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| int8 variant (clean) | MB | helmet AP@0.5 | bare head AP@0.5 |", "|---|---:|---:|---:|"]
    for name, v in variants.items():
        aps = [100 * v["scores"][cls]["ap50"] for cls in CLASSES]
        lines.append(f"| {name} | {v['bytes'] / 1e6:.1f} | {aps[0]:.1f} | {aps[1]:.1f} |")
    return lines


def _latency_table(latency: dict[str, dict[str, float]]) -> list[str]:
    lines = ["| backend | MB | median ms/frame | p99 ms/frame | load s |", "|---|---:|---:|---:|---:|"]
    for name, v in latency.items():
        lines.append(
            f"| {name} | {v['bytes'] / 1e6:.1f} | {v['median_ms']:.0f} | {v['p99_ms']:.0f} | {v['load_s']:.2f} |"
        )
    return lines


def record_metrics(model_dir: Path, results: dict[str, dict[str, dict[str, ClassScore]]]) -> None:
    """Put the headline figures (clean photos) into the model's manifest (not hashed: the files stay valid)."""
    manifest = load_detector_manifest(model_dir)
    metrics: dict[str, float | str | dict[str, float]] = dict(manifest.metrics)
    for precision, per_condition in results.items():
        for cls, score in per_condition["clean"].items():
            key = f"{precision}_{cls.replace(' ', '_')}"
            metrics[key] = {"ap50": score.ap50, "precision": score.precision, "recall": score.recall}
    metrics["evaluation"] = "80 shared helmet photos (not the calibration ones), export/reports/detector/report.md"
    write_detector_manifest(model_dir, manifest.model_copy(update={"metrics": metrics}))


def write_report(out_dir: Path, payload: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--model", type=Path, default=Path("models/detector/helmet"))
    parser.add_argument("--out", type=Path, default=Path("export/reports/detector"))
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument("--variant", action="append", default=[], help="NAME=DIR: another int8 build (clean only)")
    parser.add_argument("--latency-frames", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="inference threads for the accuracy runs")
    args = parser.parse_args(argv)

    _, evaluation = calibration_split(load_images(args.data))
    fp32 = load_detector(args.model, "helmet_yolov12m_fp32.onnx", threads=args.threads)
    int8 = load_detector(args.model, "helmet_yolov12m_int8.onnx", threads=args.threads)
    results = run_conditions({"fp32": fp32, "int8": int8}, evaluation, progress=_say)
    variants: dict[str, dict[str, Any]] = {}
    for spec in args.variant:
        name, _, directory = spec.partition("=")
        detector = load_detector(Path(directory), "helmet_yolov12m_int8.onnx", threads=args.threads)
        clean = run_conditions({name: detector}, evaluation, ("clean",), progress=_say)[name]["clean"]
        variants[name] = {"bytes": detector.file.bytes, "scores": {cls: asdict(s) for cls, s in clean.items()}}
    frames = [im.read() for im in evaluation[:10]]
    latency = {}
    for name, path in (
        ("onnxruntime fp32", "helmet_yolov12m_fp32.onnx"),
        ("onnxruntime int8", "helmet_yolov12m_int8.onnx"),
    ):
        detector = load_detector(args.model, path, threads=1)
        latency[name] = measure_latency(detector, frames, count=args.latency_frames) | {"bytes": detector.file.bytes}
    payload = {
        "model": fp32.manifest.name,
        "evaluation_photos": len(evaluation),
        "labelled": {cls: sum(len(im.boxes_of(cls)) for im in evaluation) for cls in CLASSES},
        "operating_confidence": OPERATING_CONFIDENCE,
        "seed": SEED,
        "results": {n: {c: {k: asdict(v) for k, v in per.items()} for c, per in r.items()} for n, r in results.items()},
        "int8_variants_clean": variants,
        "latency": latency,
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
    }
    write_report(args.out, payload)
    record_metrics(args.model, results)
    tables = [
        *_table(results, ["fp32", "int8"]),
        "",
        *_sweep_table(results),
        "",
        *_variant_table(variants),
        "",
        *_latency_table(latency),
    ]
    (args.out / "tables.md").write_text("\n".join(tables) + "\n", encoding="utf-8")
    sys.stdout.write("\n".join(tables) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
