"""End to end on a recorded video: capture thread -> health -> motion gate -> detector -> violations -> features."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("onnx")
from camera_fixtures import background, build_blob_detector, draw_worker, write_video

from edge.camera.capture import CameraCapture, CapturedFrame, CaptureState, OpenCVSource
from edge.camera.config import CameraConfig
from edge.camera.detector import load_detector
from edge.camera.pipeline import CameraAnalyser, FrameResult
from edge.camera.snapshots import SnapshotStore
from edge.camera.violations import HazardLevel, ViolationKind
from edge.clock import SystemClock


def walk_into_zone_video(path: Path) -> Path:
    """10 still frames, a bare-headed worker walking from x=40 to x=260 (the zone starts at x=200), then standing."""
    scene = background(320, 240, seed=7)
    frames = [scene] * 10
    frames += [draw_worker(scene, 40 + round(220 * i / 29), 210, helmet=False) for i in range(30)]
    frames += [draw_worker(scene, 260 + (i % 3), 210, helmet=False) for i in range(20)]
    return write_video(path, frames, fps=10)


def test_a_bare_headed_worker_entering_a_zone_raises_exactly_one_alert(tmp_path: Path) -> None:
    video = walk_into_zone_video(tmp_path / "walk.avi")
    detector = load_detector(build_blob_detector(tmp_path / "model").directory)
    config = CameraConfig.model_validate({
        "id": "cam-xc7",
        "source": str(video),
        "location": "XC-7 belt entry",
        "zones": [
            {"id": "roof", "kind": "unsupported_roof", "label": "unsupported roof inby XC-7",
             "polygon": [[0.625, 0], [1, 0], [1, 1], [0.625, 1]]},
        ],
        "violations": {"persist_frames": 3},
    })  # fmt: skip
    clock = SystemClock()
    frames: list[CapturedFrame] = []
    capture = CameraCapture(
        config.id,
        OpenCVSource(config.source, replay_fps=100),
        sample_interval_s=0.001,  # every frame of the file is a sample
        reconnect=config.reconnect,
        clock=clock,
        on_frame=frames.append,
    )
    capture.start()
    deadline = time.monotonic() + 20
    while capture.state is not CaptureState.ENDED and time.monotonic() < deadline:
        time.sleep(0.02)
    assert capture.stop()
    assert len(frames) == 60

    def zone_hazard(zone_id: str) -> HazardLevel:
        return "alert" if zone_id == "roof" else "unknown"

    snapshots = SnapshotStore(tmp_path / "snapshots", max_files=10, max_bytes=10_000_000)
    analyser = CameraAnalyser(config, zone_hazard=zone_hazard, started_t_mono=frames[0].t_mono, snapshots=snapshots)
    results: list[FrameResult] = [analyser.analyse(f, lambda f: detector.detect(f.image)) for f in frames]

    events = [e for r in results if r.workers for e in r.workers.events]
    assert len({e.alert_id for e in events}) == 1, [e.message for e in events]
    assert [(e.kind, e.escalation) for e in events] == [
        (ViolationKind.BARE_HEAD, False),
        (ViolationKind.BARE_HEAD_IN_ZONE, True),
    ]
    final = events[-1]
    assert final.message == (
        "Worker not wearing safety helmet and approaching hazardous area (unsupported roof inby XC-7; alert standing "
        "there). Leave the area immediately. [XC-7 belt entry]"
    )
    assert len(snapshots.files()) == 2
    # The still opening frames were gated out; every frame with the worker went to the detector.
    assert [r.detections is None for r in results[:10]] == [False] + [True] * 9
    assert all(r.detections is not None for r in results[10:])
    assert analyser.gate.detected_share == pytest.approx(51 / 60)
    assert all(r.observation.health.ok for r in results)
    last = results[-1].features
    assert last.camera_valid
    assert (last.persons_seen, last.bare_heads, last.persons_in_zone) == (1, 1, 1)
    assert results[5].features.persons_seen == 0
    assert results[5].features.motion_level == 0
