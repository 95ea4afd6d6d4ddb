"""The camera path inside a running gateway: a replayed recording of a bare-headed worker walking into a zone
ends as exactly one camera alarm (raised, then escalated), a camera that stops sending is a malfunction, and
the configuration refuses a zone tied to a point the gateway does not have."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import zmq.asyncio

pytest.importorskip("onnx")
from camera_fixtures import build_blob_detector
from test_camera_replay import walk_into_zone_video

from edge.alarms.events import Transition
from edge.app import Gateway
from edge.clock import SystemClock
from edge.config.issues import ConfigError
from edge.config.resolve import load_config
from edge.rules.signals import Priority, SignalClass


async def _until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s")
        await asyncio.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _config(tmp_path: Path, model_dir: Path, *, zone_points: str = "[]") -> Path:
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"""gateway:
  id: gw-cam
  jurisdiction: us_msha_coal
  data_dir: data
  publish: null
  control: tcp://127.0.0.1:{_free_port()}
cameras:
  detector:
    model_dir: {model_dir}
  streams:
    - id: cam-xc7
      source: walk.avi            # relative to this file
      location: XC-7 belt entry
      sample_rate: 30
      replay_fps: 20
      health: {{no_frames_after: 1s}}
      violations: {{persist_frames: 3}}
      zones:
        - id: roof
          kind: unsupported_roof
          label: unsupported roof inby XC-7
          polygon: [[0.625, 0], [1, 0], [1, 1], [0.625, 1]]
          points: {zone_points}
""",
        encoding="utf-8",
    )
    return path


async def test_a_replayed_worker_entering_a_zone_is_one_alarm_and_a_silent_camera_a_malfunction(
    tmp_path: Path,
) -> None:
    walk_into_zone_video(tmp_path / "walk.avi")
    model = build_blob_detector(tmp_path / "model")
    gateway = Gateway(load_config(_config(tmp_path, model.directory)), clock=SystemClock())
    assert gateway.cameras is not None
    assert gateway.cameras.refused is None
    stop = asyncio.Event()
    run = asyncio.create_task(gateway.run(stop))
    try:
        # The file ends after 3 s; a second later the camera sends nothing: a malfunction.
        await _until(lambda: any(e.alarm_id == "camera.cam-xc7:malfunction" for e in gateway.alarms.snapshot()))
        await _until(lambda: gateway.journal_writer.durable_seq >= gateway.alarms.last_seq)
        status = gateway.status()["cameras"]
        assert status["detector"] == model.directory.name
        (camera,) = status["cameras"]
        assert camera["frames_analysed"] >= 50
        assert camera["conditions"] == ["no_frames"]
        events = [e for e in gateway.journal.events() if e.alarm_id.startswith("camera.")]
    finally:
        stop.set()
        await run
    violation = [e for e in events if e.alarm_id == "camera.cam-xc7:violation"]
    assert [e.transition for e in violation] == [Transition.ACTIVATED, Transition.ESCALATED], [
        e.message for e in violation
    ]
    assert violation[0].signal is SignalClass.WARNING
    assert not violation[0].statutory
    assert violation[0].outputs == ()
    assert violation[-1].priority is Priority.MEDIUM  # the zone names no points: its hazard state is unknown
    assert "approaching hazardous area" in violation[-1].message or "zone" in violation[-1].message
    malfunction = [e for e in events if e.alarm_id == "camera.cam-xc7:malfunction"]
    assert [e.transition for e in malfunction] == [Transition.ACTIVATED]
    assert "no_frames" in malfunction[0].message
    assert gateway.safety_functions_ok()


def test_a_zone_tied_to_an_unknown_point_is_refused_with_the_allowed_names(tmp_path: Path) -> None:
    model = build_blob_detector(tmp_path / "model")
    with pytest.raises(ConfigError) as caught:
        load_config(_config(tmp_path, model.directory, zone_points="[ch4_xc7]"))
    text = str(caught.value)
    assert "cameras.streams[0].zones[0].points[0]" in text or "points" in text
    assert "ch4_xc7" in text
    assert "no point of that name" in text


def test_a_refused_detector_keeps_the_cameras_and_the_heartbeat(tmp_path: Path) -> None:
    model = build_blob_detector(tmp_path / "model")
    onnx_file = sorted(model.directory.glob("*.onnx"))[0]
    onnx_file.write_bytes(onnx_file.read_bytes() + b"tampered")
    # Built, never run: its ZeroMQ context and journal are closed here (a context left to the garbage
    # collector can hang a later test in term()).
    context = zmq.asyncio.Context()
    gateway = Gateway(load_config(_config(tmp_path, model.directory)), clock=SystemClock(), zmq_context=context)
    try:
        assert gateway.cameras is not None
        assert gateway.cameras.refused is not None
        assert "cameras" in gateway.task_faults
        assert gateway.safety_functions_ok()
        assert any(e.alarm_id == "gateway.cameras:malfunction" for e in gateway.alarms.snapshot())
    finally:
        gateway.journal.close()
        context.destroy(linger=0)
