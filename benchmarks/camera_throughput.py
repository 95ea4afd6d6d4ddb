"""Camera path throughput: analysed frames/s per camera with motion gating on and off, and the cost per frame.

Runs the gateway's own ``CameraService`` (capture threads, one detection thread, the event loop) over N cameras
that replay generated 1280 x 720 videos at a live camera's frame rate (every frame is grabbed and decoded, as
with an RTSP or V4L2 camera). The scene is still most of the time with a worker walking through now and then.

The detector is ``--model-dir`` (a detection model directory) or, by default, a stand-in built here: random
weights in a plain conv net of about YOLOv8n's compute (input 640, ~4.4 GMAC) with a YOLOv8 head
``[1, 4+3, 8400]``. Its detections are meaningless; its cost is the point. Needs ``onnx`` (``train`` extra) to
build the stand-in.

Cases: the target rate (1 frame/s per camera) and the camera's full rate, each with gating on and off.
Also measured alone: the per-frame cost of the health checks + motion gate (``observe``) and of one detection.
Every detection the service runs is timed too (``detect`` p50/p95: letterbox + model + decode/NMS on the one
detection thread, so with several cameras it includes waiting for the CPU, not for the queue).

``--photos`` (default with ``--model-dir`` when the shared helmet photos are present): the replayed scenes are made
of the real photos in ``../shared/data/helmet`` (read, never copied): an empty still scene that a real photo of
workers crosses now and then, so a real detector sees real heads and bare heads.

``--gateway``: also the whole gateway, as a site runs it: ``minegate sim`` (10 Modbus TCP devices x 40 values at
1 s) and ``minegate run`` with the same cameras in its ``cameras:`` section, gating on and then off, and once without
cameras as the baseline; reported from the gateway process (/proc) and its control socket: analysed frame/s per
camera, frames sampled vs analysed, capture-to-result latency, CPU, RSS, and whether the readings still arrive at
400/s.

    python -m benchmarks.camera_throughput [--cameras 2] [--duration 20] [--model-dir DIR] [--photos] [--gateway]
        [--quick]

The real detector: ``make detector``, then ``--model-dir models/detector/helmet --gateway``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from benchmarks._common import (
    NOISE_NOTE,
    gateway_status,
    markdown_table,
    proc_cpu_s,
    proc_memory,
    running,
    start_gateway,
    start_simulator,
    wait_for_port,
    write_bench_config,
    write_result,
)
from edge.bench.camera import YOLOV8N_GMAC, build_standin, make_video, per_frame_costs, run_case, violation_labels
from edge.camera.detector import YoloDetector, load_detector
from edge.config.resolve import load_config
from export.detector.helmet_data import available as photos_available
from export.detector.helmet_data import calibration_split, load_images

NAME = "camera_throughput"


def make_photo_video(
    path: Path, *, width: int, height: int, fps: float, seconds: float, seed: int
) -> tuple[Path, list[str]]:
    """An empty drift (the still rock-like texture of ``make_video``, with sensor noise) that a real photo of workers
    (evaluation split, with labelled bare heads) crosses during 20 % of the clip (from 30 % to 50 %). Returns the
    path and the photo used. The scene is empty the rest of the time on purpose: while the detector sees a person,
    the gate forces detection on every frame (a person standing still stays seen), so a scene with people always
    in view costs what gating off costs."""
    rng = np.random.default_rng(seed)
    _calibration, evaluation = calibration_split(load_images())
    with_bare = [im for im in evaluation if len(im.boxes_of("bare head"))]
    walker_photo = with_bare[int(rng.integers(len(with_bare)))]
    base = cv2.resize(rng.integers(40, 160, (height // 16, width // 16), dtype=np.uint8), (width, height))
    base = cv2.cvtColor(np.asarray(base, dtype=np.uint8), cv2.COLOR_GRAY2BGR)
    side = height * 2 // 3
    walker = cv2.resize(walker_photo.read(), (side, side), interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    frames = round(fps * seconds)
    walk = range(int(frames * 0.3), int(frames * 0.5))
    top = height - side - 10
    for i in range(frames):
        frame = base.copy()
        if i in walk:
            x = int((width - side) * (i - walk.start) / max(1, len(walk) - 1))
            frame[top : top + side, x : x + side] = walker
        noisy = np.clip(frame.astype(np.int16) + rng.normal(0, 2, frame.shape), 0, 255).astype(np.uint8)
        writer.write(noisy)
    writer.release()
    return path, [walker_photo.name]


# ---- the whole gateway --------------------------------------------------------------------------------------
def gateway_case(
    work: Path,
    videos: list[Path],
    model_dir: Path,
    detector: YoloDetector,
    *,
    gating: bool | None,
    sample_rate: float,
    camera_fps: float,
    devices: int,
    warmup: float,
    duration: float,
) -> dict[str, Any]:
    """Simulator + gateway processes, the cameras in the gateway's config (``gating`` None: no cameras, the
    baseline); figures from /proc and ``status``."""
    case_dir = work / f"gateway-{'baseline' if gating is None else 'gated' if gating else 'ungated'}"
    case_dir.mkdir()
    config_path = write_bench_config(case_dir, devices=devices, poll="1s", publish=False)
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    cameras = {
        "detector": {"model_dir": str(model_dir.resolve()), "threads": 1},
        "streams": [
            {
                "id": f"cam{i + 1}",
                "source": str(video),
                "sample_rate": sample_rate,
                "replay_fps": camera_fps,
                "replay_loop": True,
                "motion": {"enabled": gating},
                "violations": violation_labels(detector),
            }
            for i, video in enumerate(videos)
        ],
    }
    if gating is not None:
        config["cameras"] = cameras
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    spec = load_config(config_path).spec
    sim = start_simulator(config_path, case_dir / "sim.log")
    with running(sim):
        wait_for_port(spec.buses[0].tcp_port, sim)
        gateway = start_gateway(config_path, case_dir / "gateway.log")
        with running(gateway):
            gateway_status(spec.control_endpoint, gateway, timeout_s=60)
            time.sleep(warmup)  # the detector's checks (sha256, reference output) and the first frames
            status0 = gateway_status(spec.control_endpoint, gateway)
            cpu0, t0 = proc_cpu_s(gateway.pid), time.monotonic()
            time.sleep(duration)
            status1 = gateway_status(spec.control_endpoint, gateway)
            cpu1, t1 = proc_cpu_s(gateway.pid), time.monotonic()
            memory = proc_memory(gateway.pid)
    elapsed = t1 - t0
    figures = {
        "gating": gating,
        "sample_rate": sample_rate,
        "devices": devices,
        "window_s": elapsed,
        "readings_per_s": (int(status1["readings_seen"]) - int(status0["readings_seen"])) / elapsed,
        "offered_readings_per_s": devices * 40.0,
        "gateway_cpu_cores": (cpu1 - cpu0) / elapsed,
        "gateway_rss_bytes": memory["rss"],
        "gateway_peak_rss_bytes": memory["peak_rss"],
        "task_faults": status1.get("task_faults"),
    }
    if gating is None:
        return {**figures, "detector": None, "cameras": [], "analysed_fps_min": None}
    cams0 = {c["camera_id"]: c for c in status0["cameras"]["cameras"]}
    cams1 = status1["cameras"]
    if cams1.get("refused"):
        raise RuntimeError(f"the gateway refused the detector: {cams1['refused']}")
    per_camera = []
    for cam in cams1["cameras"]:
        before = cams0[cam["camera_id"]]
        per_camera.append(
            {
                "camera": cam["camera_id"],
                "analysed_fps": (cam["frames_analysed"] - before["frames_analysed"]) / elapsed,
                "sampled_fps": (cam["capture"]["frames_sampled"] - before["capture"]["frames_sampled"]) / elapsed,
                "detected_share": cam["detected_share"],
                "replaced_in_mailbox": cam["replaced_in_mailbox"] - before["replaced_in_mailbox"],
                "detector_skipped": cam["detector_skipped"] - before["detector_skipped"],
                "detector_errors": cam["detector_errors"],
                "latency_p50_s": cam["latency_p50_s"],
                "conditions": cam["conditions"],
            }
        )
    return {
        **figures,
        "detector": cams1["detector"],
        "cameras": per_camera,
        "analysed_fps_min": min(c["analysed_fps"] for c in per_camera),
    }


def _cases_table(cases: list[dict[str, Any]]) -> str:
    return markdown_table(
        [
            "sample rate /s",
            "gating",
            "analysed frame/s per camera",
            "share to detector",
            "detect ms p50 / p95",
            "latency p50 s",
            "CPU cores",
            "detector busy",
            "RSS MiB",
            "replaced in mailbox",
            "detector skipped",
        ],
        [
            [
                c["sample_rate"],
                "on" if c["gating"] else "off",
                " / ".join(f"{v:.2f}" for v in c["analysed_fps_per_camera"]),
                c["detected_share"],
                f"{c['detect_ms_p50']:.0f} / {c['detect_ms_p95']:.0f}" if c["detections_run"] else "-",
                c["latency_p50_s"],
                c["cpu_cores"],
                c["detector_busy_share"],
                c["rss_bytes"] / 2**20,
                c["frames_replaced"],
                c["detector_skipped"],
            ]
            for c in cases
        ],
    )


def _gateway_table(cases: list[dict[str, Any]]) -> str:
    rows = []
    for c in cases:
        if c["gating"] is None:
            rows.append(
                [
                    "no cameras",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    f"{c['readings_per_s']:.0f} ({c['offered_readings_per_s']:g})",
                    c["gateway_cpu_cores"],
                    f"{c['gateway_rss_bytes'] / 2**20:.0f} ({c['gateway_peak_rss_bytes'] / 2**20:.0f})",
                ]
            )
        for cam in c["cameras"]:
            rows.append(
                [
                    "on" if c["gating"] else "off",
                    cam["camera"],
                    f"{cam['analysed_fps']:.2f} ({cam['sampled_fps']:.2f})",
                    cam["detected_share"],
                    cam["latency_p50_s"],
                    cam["replaced_in_mailbox"] + cam["detector_skipped"],
                    f"{c['readings_per_s']:.0f} ({c['offered_readings_per_s']:g})",
                    c["gateway_cpu_cores"],
                    f"{c['gateway_rss_bytes'] / 2**20:.0f} ({c['gateway_peak_rss_bytes'] / 2**20:.0f})",
                ]
            )
    return markdown_table(
        [
            "gating",
            "camera",
            "analysed frame/s (sampled)",
            "share to detector",
            "capture-to-result p50 s",
            "dropped (replaced + skipped)",
            "readings/s (offered)",
            "gateway CPU cores",
            "gateway RSS MiB (peak)",
        ],
        rows,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=2)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per case")
    parser.add_argument("--camera-fps", type=float, default=10.0, help="frame rate the replayed cameras send at")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--imgsz", type=int, default=640, help="stand-in detector input size")
    parser.add_argument("--model-dir", type=Path, default=None, help="a real detection model directory instead")
    parser.add_argument(
        "--photos",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="scenes from the shared helmet photos (default: with --model-dir, when the photos are present)",
    )
    parser.add_argument("--gateway", action="store_true", help="also run the whole gateway (simulator + minegate run)")
    parser.add_argument("--devices", type=int, default=10, help="--gateway: simulated Modbus devices (40 values, 1 s)")
    parser.add_argument("--warmup", type=float, default=10.0, help="--gateway: seconds before the window")
    parser.add_argument("--quick", action="store_true", help="smoke run: short cases, small frames and model")
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.width, args.height, args.imgsz = 1.0, 320, 240, 160
    photos = args.photos if args.photos is not None else (args.model_dir is not None and photos_available())
    if photos and not photos_available():
        parser.error("--photos: the shared helmet photos (../shared/data/helmet) are not present")

    scenes: list[list[str]] = []
    gateway_cases: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="camera-bench-") as tmp:
        work = Path(tmp)
        gmacs: float | None = None
        if args.model_dir is None:
            model_dir, gmacs = build_standin(work / "model", size=args.imgsz)
        else:
            model_dir = args.model_dir
        detector = load_detector(model_dir, threads=1)
        videos = []
        for i in range(args.cameras):
            size: dict[str, Any] = {
                "width": args.width,
                "height": args.height,
                "fps": args.camera_fps,
                # Photo scenes: 40 s, crossed for 8 s: a tracked person keeps the detector running for
                # max_missed_frames (5) analysed frames after leaving, which a 10 s loop would hardly leave room for.
                "seconds": 3 if args.quick else 40 if photos else 10,
                "seed": i,
            }
            if photos:
                video, used = make_photo_video(work / f"cam{i}.avi", **size)
                scenes.append(used)
            else:
                video = make_video(work / f"cam{i}.avi", **size)
            videos.append(video)
        costs = per_frame_costs(detector, videos[0], frames=30 if args.quick else 200)
        cases = []
        for rate in (1.0, args.camera_fps):
            for gating in (True, False):
                cases.append(
                    asyncio.run(
                        run_case(
                            videos,
                            detector,
                            sample_rate=rate,
                            gating=gating,
                            camera_fps=args.camera_fps,
                            duration=args.duration,
                            settle=0.3 if args.quick else 1.0,
                        )
                    )
                )
        if args.gateway:
            gateway_gating: tuple[bool | None, ...] = (None, True, False)  # None: the gateway without cameras
            for with_gate in gateway_gating:
                gateway_cases.append(
                    gateway_case(
                        work,
                        videos,
                        model_dir,
                        detector,
                        gating=with_gate,
                        sample_rate=1.0,
                        camera_fps=args.camera_fps,
                        devices=args.devices,
                        warmup=2.0 if args.quick else args.warmup,
                        duration=args.duration,
                    )
                )

    model_text = f"stand-in {gmacs:.2f} GMAC (YOLOv8n ~{YOLOV8N_GMAC})" if gmacs else str(args.model_dir)
    scene_text = "an empty scene crossed by " + ", ".join("+".join(s) for s in scenes) if photos else "generated"
    print(
        f"camera path: {args.cameras} cameras at {args.width}x{args.height}, {args.camera_fps:g} frame/s sent, "
        f"scenes {scene_text}; detector {model_text}, input {detector.manifest.input.width}, one thread"
    )
    print(
        markdown_table(
            ["per-frame cost", "ms"],
            [
                ["observe: grey image + health checks + motion gate (p50)", costs["observe_ms_p50"]],
                ["observe (p95)", costs["observe_ms_p95"]],
                ["detection: letterbox + model + decode/NMS (p50)", costs["detect_ms_p50"]],
                ["detection (max)", costs["detect_ms_max"]],
            ],
        )
    )
    print()
    print("CameraService in this process (capture threads, one detection thread, the event loop):")
    print(_cases_table(cases))
    if gateway_cases:
        print()
        print(
            f"the whole gateway (minegate run: {args.devices} Modbus TCP devices x 40 values at 1 s from minegate sim, "
            f"health, rules, alarm journal; the {args.cameras} cameras at 1 frame/s in its cameras: section):"
        )
        print(_gateway_table(gateway_cases))
    print(NOISE_NOTE)
    write_result(
        NAME,
        {
            "cameras": args.cameras,
            "frame_size": [args.width, args.height],
            "camera_fps": args.camera_fps,
            "detector": model_text,
            "detector_input": detector.manifest.input.width,
            "scenes": scenes or "generated",
            "per_frame_ms": costs,
            "cases": cases,
            "gateway_cases": gateway_cases,
        },
        results_dir=args.results_dir,
    )


if __name__ == "__main__":
    main()
