"""Camera path throughput: ``CameraService`` (capture threads, one detection thread, the event loop) over cameras
that replay generated videos at a live camera's frame rate, with motion gating on or off, and the cost per frame.

The detector is a real detection model directory or a stand-in built here (``build_standin``): random weights in a
plain conv net of about YOLOv8n's compute (input 640, ~4.4 GMAC) with a YOLOv8 head ``[1, 4+3, 8400]``. Its
detections are meaningless; its cost is the point. Building it needs ``onnx`` (the ``train`` extra).
"""

from __future__ import annotations

import asyncio
import datetime
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.bench.procfs import proc_memory
from edge.bench.stats import percentile
from edge.camera.capture import CapturedFrame
from edge.camera.config import CameraConfig
from edge.camera.detector import YoloDetector
from edge.camera.detector_manifest import (
    DetectorFile,
    DetectorManifest,
    ImageInput,
    YoloOutput,
    make_reference,
    reference_input,
    write_detector_manifest,
)
from edge.camera.frames import Image
from edge.camera.objects import Detection
from edge.camera.pipeline import CameraAnalyser
from edge.camera.service import CameraService
from edge.camera.violations import HazardLevel
from edge.clock import SystemClock
from edge.inference.backends import open_backend
from edge.inference.manifest import sha256_of

LABELS = ["helmet", "person", "head"]
YOLOV8N_GMAC = 4.35  # 8.7 GFLOPs at 640 as Ultralytics reports it (2 x MACs)


# ---- the stand-in detector --------------------------------------------------------------------------------
def _standin_graph(size: int, seed: int) -> tuple[bytes, float]:
    """(ONNX bytes, GMACs): strided 3x3 conv stages + three 1x1 heads at strides 8/16/32, YOLOv8 layout."""
    import onnx  # noqa: PLC0415  (train extra; only the stand-in needs it)
    from onnx import TensorProto, helper, numpy_helper  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    macs = 0.0
    counter = [0]

    def conv(x: str, cin: int, cout: int, *, k: int, stride: int, hw: int, relu: bool = True, bias: float = 0.0) -> str:
        nonlocal macs
        counter[0] += 1
        name = f"c{counter[0]}"
        weight = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2 / (cin * k * k))).astype(np.float32)
        inits.append(numpy_helper.from_array(weight, f"{name}_w"))
        inits.append(numpy_helper.from_array(np.full(cout, bias, dtype=np.float32), f"{name}_b"))
        out_hw = hw // stride
        nodes.append(
            helper.make_node(
                "Conv",
                [x, f"{name}_w", f"{name}_b"],
                [f"{name}_y"],
                kernel_shape=[k, k],
                strides=[stride, stride],
                pads=[k // 2] * 4,
            )
        )
        macs += cout * cin * k * k * out_hw * out_hw
        if not relu:
            return f"{name}_y"
        nodes.append(helper.make_node("Relu", [f"{name}_y"], [f"{name}_r"]))
        return f"{name}_r"

    x, hw = "images", size
    x = conv(x, 3, 16, k=3, stride=2, hw=hw)
    hw //= 2
    x = conv(x, 16, 32, k=3, stride=2, hw=hw)
    hw //= 2
    x = conv(x, 32, 32, k=3, stride=1, hw=hw)
    heads: list[str] = []
    cin = 32
    for cout in (64, 128, 256):  # strides 8, 16, 32
        x = conv(x, cin, cout, k=3, stride=2, hw=hw)
        hw //= 2
        for _ in range(5):  # depth chosen so the total is about YOLOv8n's 4.35 GMAC at 640
            x = conv(x, cout, cout, k=3, stride=1, hw=hw)
        box = conv(x, cout, 4, k=1, stride=1, hw=hw, relu=False)
        # Class logits far below 0: random weights must not flood NMS with thousands of boxes.
        cls_logits = conv(x, cout, len(LABELS), k=1, stride=1, hw=hw, relu=False, bias=-8.0)
        nodes.append(helper.make_node("Sigmoid", [cls_logits], [f"{cls_logits}_s"]))
        nodes.append(helper.make_node("Concat", [box, f"{cls_logits}_s"], [f"head{cout}"], axis=1))
        inits.append(numpy_helper.from_array(np.array([1, 4 + len(LABELS), -1], dtype=np.int64), f"shape{cout}"))
        nodes.append(helper.make_node("Reshape", [f"head{cout}", f"shape{cout}"], [f"flat{cout}"]))
        heads.append(f"flat{cout}")
        cin = cout
    nodes.append(helper.make_node("Concat", heads, ["output0"], axis=2))
    anchors = sum((size // s) ** 2 for s in (8, 16, 32))
    graph = helper.make_graph(
        nodes,
        "yolo_cost_standin",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + len(LABELS), anchors])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="minegate-bench")
    model.ir_version = 8
    return bytes(model.SerializeToString()), macs / 1e9


def build_standin(directory: Path, *, size: int = 640, seed: int = 0) -> tuple[Path, float]:
    """A detection model directory with the stand-in; returns (directory, GMACs)."""
    directory.mkdir(parents=True, exist_ok=True)
    data, gmacs = _standin_graph(size, seed)
    path = directory / "standin.onnx"
    path.write_bytes(data)
    shape = [1, 3, size, size]
    out = open_backend(path, prefer=("onnxruntime",)).run(reference_input(shape))
    manifest = DetectorManifest(
        name="yolo-cost-standin",
        description=f"random-weight conv net of ~{gmacs:.2f} GMAC with a YOLOv8 head: for timing only",
        licence="Apache-2.0",
        created_utc=datetime.datetime.now(datetime.UTC).isoformat(),
        labels=LABELS,
        input=ImageInput(name="images", shape=shape),
        output=YoloOutput(name="output0", shape=list(out.shape), layout="yolov8"),
        files=[
            DetectorFile(
                path=path.name,
                sha256=sha256_of(path),
                bytes=path.stat().st_size,
                format="onnx",
                precision="fp32",
                reference=make_reference(out, atol=1e-2),
            )
        ],
    )
    write_detector_manifest(directory, manifest)
    return directory, gmacs


# ---- the cameras ------------------------------------------------------------------------------------------
def make_video(path: Path, *, width: int, height: int, fps: float, seconds: float, seed: int) -> Path:
    """Still scene with sensor noise; a worker walks across during the middle 40 % of the clip."""
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(40, 160, (height // 16, width // 16), dtype=np.uint8), (width, height))
    base = cv2.cvtColor(np.asarray(base, dtype=np.uint8), cv2.COLOR_GRAY2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    frames = round(fps * seconds)
    walk = range(int(frames * 0.3), int(frames * 0.7))
    for i in range(frames):
        frame = np.clip(base.astype(np.int16) + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8)
        if i in walk:
            x = int(width * (i - walk.start) / len(walk))
            cv2.rectangle(frame, (x, height // 3), (x + width // 20, height - 20), (40, 60, 200), -1)
            cv2.rectangle(frame, (x + 4, height // 3 - 30), (x + width // 20 - 4, height // 3), (150, 150, 220), -1)
        writer.write(frame)
    writer.release()
    return path


def _normal(camera_id: str, zone_id: str) -> HazardLevel:
    return "normal"


class TimedDetect:
    """``detect`` with every call's duration kept (called on the one detection thread only)."""

    def __init__(self, detect: Callable[[Image], list[Detection]]) -> None:
        self._detect = detect
        self.durations_s: list[float] = []

    def __call__(self, image: Image) -> list[Detection]:
        started = time.perf_counter()
        try:
            return self._detect(image)
        finally:
            self.durations_s.append(time.perf_counter() - started)


async def run_case(
    videos: list[Path],
    detector: YoloDetector,
    *,
    sample_rate: float,
    gating: bool,
    camera_fps: float,
    duration: float,
    settle: float = 1.0,
) -> dict[str, Any]:
    cameras = [
        CameraConfig.model_validate(
            {
                "id": f"cam{i + 1}",
                "source": str(video),
                "sample_rate": sample_rate,
                "replay_fps": camera_fps,
                "replay_loop": True,
                "motion": {"enabled": gating},
                "zones": [{"id": "z", "kind": "restricted_area", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}],
                "violations": violation_labels(detector),
            }
        )
        for i, video in enumerate(videos)
    ]
    timed = TimedDetect(detector.detect)
    service = CameraService(cameras, detect=timed, zone_hazard=_normal, clock=SystemClock())
    await service.start()
    worker = service.detection_worker
    await asyncio.sleep(settle)  # let the threads settle before counting
    before = {s.camera_id: s.frames_analysed for s in service.status()}
    first_timed = len(timed.durations_s)
    cpu1, wall1, busy1 = time.process_time(), time.monotonic(), worker.busy_s if worker else 0.0
    await asyncio.sleep(duration)
    cpu2, wall2, busy2 = time.process_time(), time.monotonic(), worker.busy_s if worker else 0.0
    status = service.status()
    detect_ms = [d * 1000 for d in timed.durations_s[first_timed:]]
    await service.close()
    elapsed = wall2 - wall1
    per_camera = [(s.frames_analysed - before[s.camera_id]) / elapsed for s in status]
    return {
        "cameras": len(videos),
        "sample_rate": sample_rate,
        "gating": gating,
        "analysed_fps_per_camera": per_camera,
        "analysed_fps_min": min(per_camera),
        "detected_share": statistics.fmean(s.detected_share for s in status),
        "latency_p50_s": statistics.fmean(s.latency_p50_s or 0.0 for s in status),
        "cpu_cores": (cpu2 - cpu1) / elapsed,
        "detector_busy_share": (busy2 - busy1) / elapsed,
        "detections_run": len(detect_ms),
        "detect_ms_p50": statistics.median(detect_ms) if detect_ms else None,
        "detect_ms_p95": percentile(detect_ms, 95) if detect_ms else None,
        "rss_bytes": proc_memory()["rss"],
        "frames_replaced": sum(s.replaced_in_mailbox for s in status),
        "detector_skipped": sum(s.detector_skipped for s in status),
    }


def violation_labels(detector: YoloDetector) -> dict[str, list[str]]:
    """The helmet-detector model's class names where it has them (its labels are not the data set's defaults)."""
    labels = set(detector.labels)
    if {"With Helmet", "Without Helmet"} <= labels:
        return {"bare_head_labels": ["Without Helmet"], "helmet_labels": ["With Helmet"]}
    return {}


def per_frame_costs(detector: YoloDetector, video: Path, *, frames: int) -> dict[str, float]:
    """Median ms per frame of ``observe`` (grey image, health, motion) and of one detection, on one thread."""
    capture = cv2.VideoCapture(str(video))
    images: list[Image] = []
    while len(images) < frames:
        ok, image = capture.read()
        if not ok:
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        images.append(np.asarray(image, dtype=np.uint8))
    capture.release()
    config = CameraConfig(id="probe", source=str(video))
    analyser = CameraAnalyser(config, zone_hazard=lambda _z: "normal", started_t_mono=0.0)
    observe_ms = []
    for i, image in enumerate(images):
        frame = CapturedFrame("probe", i + 1, float(i), float(i), image)
        started = time.perf_counter()
        analyser.observe(frame)
        observe_ms.append((time.perf_counter() - started) * 1000)
    detect_ms = []
    for image in images[: max(3, frames // 10)]:
        started = time.perf_counter()
        detector.detect(image)
        detect_ms.append((time.perf_counter() - started) * 1000)
    return {
        "observe_ms_p50": statistics.median(observe_ms),
        "observe_ms_p95": percentile(observe_ms, 95),
        "detect_ms_p50": statistics.median(detect_ms),
        "detect_ms_max": max(detect_ms),
    }
