"""The camera service on a real event loop: capture threads, the detection thread, callbacks, a dead camera."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("onnx")
from camera_fixtures import background, build_blob_detector, draw_worker, write_video

from edge.aio import within
from edge.camera.config import CameraConfig
from edge.camera.detector import load_detector
from edge.camera.features import CameraFeatures
from edge.camera.frames import Image
from edge.camera.health import HealthCondition, HealthReport
from edge.camera.objects import Detection
from edge.camera.service import CameraService
from edge.camera.violations import EpisodeEnded, HazardLevel, ViolationEvent, ViolationKind
from edge.clock import SystemClock


async def test_two_cameras_one_replaying_a_violation_one_dead(tmp_path: Path) -> None:
    scene = background(320, 240, seed=9)
    frames = [scene] * 5 + [draw_worker(scene, 250 + (i % 2), 210, helmet=True) for i in range(25)]
    video = write_video(tmp_path / "zone.avi", frames, fps=10)
    detector = load_detector(build_blob_detector(tmp_path / "model").directory)
    zone = {"id": "pinch", "kind": "conveyor_pinch_point", "polygon": [[0.625, 0], [1, 0], [1, 1], [0.625, 1]]}
    cameras = [
        CameraConfig.model_validate({
            "id": "belt", "source": str(video), "replay_fps": 30, "sample_rate": 30, "zones": [zone],
            "snapshots": {"enabled": True},
        }),
        CameraConfig.model_validate({
            "id": "dead", "source": str(tmp_path / "unplugged.avi"), "sample_rate": 5,
            "health": {"no_frames_after": "1s"}, "reconnect": {"initial": "200ms", "max": "1s"},
        }),
    ]  # fmt: skip
    events: list[ViolationEvent] = []
    ended: list[EpisodeEnded] = []
    features: list[CameraFeatures] = []
    health: list[tuple[str, frozenset[HealthCondition]]] = []
    asked: list[tuple[str, str]] = []

    def zone_hazard(camera_id: str, zone_id: str) -> HazardLevel:
        asked.append((camera_id, zone_id))
        return "normal"

    seen_both = asyncio.Event()

    def check() -> None:
        if events and ("dead", frozenset({HealthCondition.NO_FRAMES})) in health:
            seen_both.set()

    def on_health(camera_id: str, report: HealthReport) -> None:
        health.append((camera_id, report.conditions))
        check()

    def on_event(event: ViolationEvent) -> None:
        events.append(event)
        check()

    service = CameraService(
        cameras,
        detect=detector.detect,
        zone_hazard=zone_hazard,
        clock=SystemClock(),
        data_dir=tmp_path / "data",
        on_event=on_event,
        on_episode_end=ended.append,
        on_features=features.append,
        on_health=on_health,
    )
    await service.start()
    try:
        await within(seen_both.wait(), 15)
        await asyncio.sleep(0.5)  # the replay runs out; nothing more may fire
        status = {s.camera_id: s for s in service.status()}
    finally:
        await service.close()
        await service.close()

    assert [(e.camera_id, e.kind, e.zone_id) for e in events] == [("belt", ViolationKind.IN_ZONE, "pinch")]
    assert asked
    assert set(asked) == {("belt", "pinch")}
    assert len(list((tmp_path / "data" / "snapshots" / "belt").glob("*.jpg"))) == 1
    assert ("dead", frozenset({HealthCondition.NO_FRAMES})) in health
    dead_rows = [f for f in features if f.camera_id == "dead"]
    assert dead_rows
    assert not any(f.camera_valid for f in dead_rows)
    belt_rows = [f for f in features if f.camera_id == "belt"]
    assert any(f.camera_valid and f.persons_in_zone == 1 for f in belt_rows)
    assert status["belt"].frames_analysed >= 25
    assert status["belt"].detected_share < 1
    assert status["dead"].capture["open_failures"] >= 2
    assert "no such video file" in status["dead"].capture["last_error"]


async def test_a_failing_detector_does_not_stop_the_camera(tmp_path: Path) -> None:
    scene = background(320, 240, seed=3)
    video = write_video(tmp_path / "clip.avi", [draw_worker(scene, 40 + 10 * i, 210, helmet=False) for i in range(10)])
    config = CameraConfig.model_validate({"id": "c1", "source": str(video), "replay_fps": 20, "sample_rate": 30})
    calls = 0
    features: list[CameraFeatures] = []
    enough = asyncio.Event()

    def broken(image: Image) -> list[Detection]:
        nonlocal calls
        calls += 1
        raise RuntimeError("model runtime crashed")

    def on_features(row: CameraFeatures) -> None:
        if row.camera_valid:  # once the clip has ended, the camera's rows are masked
            features.append(row)
        if len(features) >= 10:
            enough.set()

    service = CameraService(
        [config], detect=broken, zone_hazard=lambda c, z: "normal", clock=SystemClock(), on_features=on_features
    )
    await service.start()
    try:
        await within(enough.wait(), 10)
        (status,) = service.status()
    finally:
        await service.close()
    assert calls >= 5
    assert status.detector_errors == calls
    assert status.errors == 0
    assert status.frames_analysed >= 10
    assert all(f.persons_seen == 0 for f in features)
