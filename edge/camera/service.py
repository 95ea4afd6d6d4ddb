"""The camera path as one service for the gateway's event loop: every camera, one detector thread, results out.

Per camera: a capture thread (reads, samples, and runs the cheap ``observe`` step) hands each observation to the
loop through a one-slot mailbox -- a newer observation replaces one not yet taken, so a slow detector makes the
camera skip frames, never queue them. A consumer task per camera sends gated frames to the shared
``DetectionWorker`` and completes the analysis. When a camera delivers nothing for two sampling periods, the task
emits a masked feature row and re-checks the camera's health (no frames) on its own.

Outputs are callbacks (the composition root connects them to the alarm manager, the fusion feature buffer, the
status reply): ``on_event``, ``on_episode_end``, ``on_features``, ``on_health`` (when a camera's conditions change).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.aio import within
from edge.camera.capture import CameraCapture, CapturedFrame, FrameSource, OpenCVSource
from edge.camera.config import CameraConfig
from edge.camera.detector import DetectionWorker
from edge.camera.features import CameraFeatures
from edge.camera.frames import Image
from edge.camera.health import HealthCondition, HealthReport
from edge.camera.objects import Detection
from edge.camera.pipeline import CameraAnalyser, FrameResult, Observation
from edge.camera.snapshots import SnapshotStore
from edge.camera.violations import EpisodeEnded, HazardLevel, ViolationEvent
from edge.clock import Clock

__all__ = ["CameraService", "CameraStatus"]

_log = logging.getLogger(__name__)

ZoneHazardLookup = Callable[[str, str], HazardLevel]  # (camera id, zone id) -> hazard state from the rule layer


def _ignore(_: Any) -> None:
    return None


@dataclass(slots=True)
class _Camera:
    config: CameraConfig
    analyser: CameraAnalyser
    capture: CameraCapture
    mailbox: asyncio.Queue[Observation] = field(default_factory=lambda: asyncio.Queue(maxsize=1))
    conditions: frozenset[HealthCondition] = frozenset()
    replaced: int = 0  # observations replaced in the mailbox before the consumer took them
    analysed: int = 0
    detector_skipped: int = 0
    detector_errors: int = 0
    errors: int = 0
    latency_s: list[float] = field(default_factory=list)  # capture -> result, the newest 1000


@dataclass(frozen=True, slots=True)
class CameraStatus:
    camera_id: str
    capture: dict[str, Any]
    conditions: list[str]
    frames_analysed: int
    detected_share: float
    replaced_in_mailbox: int
    detector_skipped: int
    detector_errors: int
    errors: int
    latency_p50_s: float | None


class CameraService:
    def __init__(
        self,
        cameras: Sequence[CameraConfig],
        *,
        detect: Callable[[Image], list[Detection]] | None,
        zone_hazard: ZoneHazardLookup,
        clock: Clock,
        data_dir: Path | None = None,
        source_factory: Callable[[CameraConfig], FrameSource] | None = None,
        on_event: Callable[[ViolationEvent], None] = _ignore,
        on_episode_end: Callable[[EpisodeEnded], None] = _ignore,
        on_features: Callable[[CameraFeatures], None] = _ignore,
        on_health: Callable[[str, HealthReport], None] | None = None,
        on_result: Callable[[FrameResult], None] = _ignore,
    ) -> None:
        """``detect`` None: no detector (health, motion and masked features only -- e.g. the model was refused)."""
        ids = [c.id for c in cameras]
        if len(set(ids)) != len(ids):
            raise ValueError(f"camera ids must be unique, got {ids}")
        self._configs = list(cameras)
        self._detect = detect
        self._zone_hazard = zone_hazard
        self._clock = clock
        self._data_dir = data_dir
        self._source_factory = source_factory or _opencv_source
        self._on_event = on_event
        self._on_episode_end = on_episode_end
        self._on_features = on_features
        self._on_health = on_health or _log_health
        self._on_result = on_result
        self._cameras: dict[str, _Camera] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._worker: DetectionWorker | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._detect is not None:
            self._worker = DetectionWorker(self._detect, name="cameras", max_waiting=max(1, len(self._configs)))
        for config in self._configs:
            camera = self._build(config)
            self._cameras[config.id] = camera
            camera.capture.start()
            self._tasks.append(asyncio.create_task(self._consume(camera), name=f"camera-{config.id}"))

    def _build(self, config: CameraConfig) -> _Camera:
        snapshots = None
        if config.snapshots.enabled:
            base = self._data_dir if self._data_dir is not None else Path()
            s = config.snapshots
            snapshots = SnapshotStore(
                base / s.directory / config.id,
                max_files=s.max_files,
                max_bytes=s.max_bytes,
                jpeg_quality=s.jpeg_quality,
            )
        analyser = CameraAnalyser(
            config,
            zone_hazard=self._hazard_of(config.id),
            started_t_mono=self._clock.monotonic(),
            snapshots=snapshots,
        )
        holder: list[_Camera] = []
        capture = CameraCapture(
            config.id,
            self._source_factory(config),
            sample_interval_s=1.0 / config.sample_rate,
            reconnect=config.reconnect,
            clock=self._clock,
            replay_loop=config.replay_loop,
            on_frame=lambda frame: self._observed(holder[0], frame),
        )
        camera = _Camera(config, analyser, capture)
        holder.append(camera)
        return camera

    def _hazard_of(self, camera_id: str) -> Callable[[str], HazardLevel]:
        def zone_hazard(zone_id: str) -> HazardLevel:
            return self._zone_hazard(camera_id, zone_id)

        return zone_hazard

    def _observed(self, camera: _Camera, frame: CapturedFrame) -> None:
        """On the capture thread: the cheap analysis, then hand over to the loop."""
        observation = camera.analyser.observe(frame)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
                loop.call_soon_threadsafe(self._deliver, camera, observation)

    @staticmethod
    def _deliver(camera: _Camera, observation: Observation) -> None:
        if camera.mailbox.full():
            camera.mailbox.get_nowait()
            camera.replaced += 1
        camera.mailbox.put_nowait(observation)

    async def _consume(self, camera: _Camera) -> None:
        idle_after_s = 2.0 / camera.config.sample_rate
        while True:
            try:
                observation = await within(camera.mailbox.get(), idle_after_s)
            except TimeoutError:
                report, features = camera.analyser.idle(self._clock.monotonic())
                self._health_changed(camera, report)
                self._on_features(features)
                continue
            try:
                await self._process(camera, observation)
            except Exception:  # one bad frame or a failing callback must not end this camera's task
                camera.errors += 1
                log = _log.exception if camera.errors == 1 else _log.debug
                log("camera %s: analysing a frame failed (%d so far)", camera.config.id, camera.errors)

    async def _process(self, camera: _Camera, observation: Observation) -> None:
        detections = None
        if observation.run_detector and self._worker is not None:
            try:
                detections = await self._worker.detect(observation.frame.image)
            except Exception as exc:  # the model's failure: the frame counts as not analysed by the detector
                camera.detector_errors += 1
                if camera.detector_errors == 1:
                    _log.error("camera %s: detector failed: %s", camera.config.id, exc)
            else:
                if detections is None:
                    camera.detector_skipped += 1
        result = camera.analyser.complete(observation, detections)
        camera.analysed += 1
        camera.latency_s.append(self._clock.monotonic() - observation.frame.t_mono)
        del camera.latency_s[:-1000]
        self._health_changed(camera, observation.health)
        if result.workers is not None:
            for event in result.workers.events:
                self._on_event(event)
            for ended in result.workers.ended:
                self._on_episode_end(ended)
        self._on_features(result.features)
        self._on_result(result)

    def _health_changed(self, camera: _Camera, report: HealthReport) -> None:
        if report.conditions != camera.conditions:
            camera.conditions = report.conditions
            self._on_health(camera.config.id, report)

    def status(self) -> list[CameraStatus]:
        out = []
        for camera in self._cameras.values():
            stats = camera.capture.stats()
            latencies = sorted(camera.latency_s)
            out.append(
                CameraStatus(
                    camera_id=camera.config.id,
                    capture={
                        "state": str(stats.state),
                        "frames_grabbed": stats.frames_grabbed,
                        "frames_sampled": stats.frames_sampled,
                        "open_failures": stats.open_failures,
                        "streams_lost": stats.streams_lost,
                        "last_error": stats.last_error,
                    },
                    conditions=sorted(str(c) for c in camera.conditions),
                    frames_analysed=camera.analysed,
                    detected_share=camera.analyser.gate.detected_share,
                    replaced_in_mailbox=camera.replaced,
                    detector_skipped=camera.detector_skipped,
                    detector_errors=camera.detector_errors,
                    errors=camera.errors,
                    latency_p50_s=latencies[len(latencies) // 2] if latencies else None,
                )
            )
        return out

    @property
    def detection_worker(self) -> DetectionWorker | None:
        return self._worker

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stop the consumers and the capture threads (idempotent); a thread stuck in a read is abandoned."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        deadline = time.monotonic() + timeout_s
        for camera in self._cameras.values():
            stopped = await asyncio.to_thread(camera.capture.stop, max(0.1, deadline - time.monotonic()))
            if not stopped:
                _log.warning("camera %s: capture thread still blocked in a read; abandoned", camera.config.id)
        if self._worker is not None:
            await self._worker.close()
        self._loop = None


def _opencv_source(config: CameraConfig) -> FrameSource:
    return OpenCVSource(config.source, replay_fps=config.replay_fps)


def _log_health(camera_id: str, report: HealthReport) -> None:
    if report.conditions:
        _log.warning("camera %s: malfunction: %s", camera_id, ", ".join(sorted(report.conditions)))
    else:
        _log.info("camera %s: healthy again", camera_id)
