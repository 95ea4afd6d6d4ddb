"""One camera's analysis of a sampled frame: health -> motion gate -> detector -> violations -> features.

Split in two so each part runs where it belongs: ``observe`` (grey image, health, motion: about a millisecond)
runs on the camera's capture thread; the detector runs on the shared detection thread; ``complete`` (tracking,
zones, events, features) is cheap bookkeeping for the event loop. ``analyse`` does all three in one call for
replays, tests and benchmarks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge.camera.capture import CapturedFrame
from edge.camera.config import CameraConfig
from edge.camera.features import CameraFeatures, camera_features, missing_frame
from edge.camera.frames import analysis_grey
from edge.camera.health import CameraHealthMonitor, HealthReport
from edge.camera.motion import GateDecision, MotionGate
from edge.camera.objects import Detection
from edge.camera.snapshots import SnapshotStore
from edge.camera.violations import FrameWorkers, ViolationMonitor, ZoneHazard
from edge.camera.zones import Zone


@dataclass(frozen=True, slots=True)
class Observation:
    frame: CapturedFrame
    health: HealthReport
    gate: GateDecision

    @property
    def run_detector(self) -> bool:
        return self.gate.run_detector


@dataclass(frozen=True, slots=True)
class FrameResult:
    observation: Observation
    detections: list[Detection] | None  # None: the detector did not run on this frame
    workers: FrameWorkers | None
    features: CameraFeatures
    snapshots: list[Path]


class CameraAnalyser:
    def __init__(
        self,
        config: CameraConfig,
        *,
        zone_hazard: ZoneHazard,
        started_t_mono: float,
        snapshots: SnapshotStore | None = None,
    ) -> None:
        self.config = config
        self.health = CameraHealthMonitor(config.health, started_t_mono=started_t_mono)
        self.gate = MotionGate(config.motion)
        zones = [Zone.from_config(z) for z in config.zones]
        self.violations = ViolationMonitor(
            config.id, config.violations, zones, zone_hazard, where=config.location or f"camera {config.id}"
        )
        self._snapshots = snapshots
        self._last_counts = (0, 0, 0)
        # observe() runs on the capture thread, idle() on the event loop: both touch the health monitor.
        self._health_lock = threading.Lock()
        self._was_usable = True

    def observe(self, frame: CapturedFrame) -> Observation:
        grey = analysis_grey(frame.image)
        with self._health_lock:
            self.health.observe(frame.t_mono, grey)
            report = self.health.report(frame.t_mono)
        # While someone is tracked, keep looking even if they stand still: the episode must not stall. After the
        # camera recovers, look at once: the counts from before the outage are stale.
        force = self.violations.active_tracks > 0 or not self._was_usable
        # Detections from a blind or frozen camera mean nothing, and a frozen one would repeat its last scene.
        gate = self.gate.decide(frame.t_mono, grey, force=force, blocked=not report.usable)
        self._was_usable = report.usable
        return Observation(frame, report, gate)

    def complete(self, observation: Observation, detections: list[Detection] | None) -> FrameResult:
        frame, report = observation.frame, observation.health
        workers = None
        saved: list[Path] = []
        if detections is not None and report.usable:
            height, width = frame.image.shape[:2]
            workers = self.violations.update(frame.t_mono, frame.t_wall, detections, width, height)
            self._last_counts = (workers.persons, workers.bare_heads, workers.in_zone)
            if self._snapshots is not None:
                for event in workers.events:
                    path = self._snapshots.save(
                        frame.image, t_wall=frame.t_wall, name=f"{frame.camera_id}_{event.kind}_{event.track_id}"
                    )
                    if path is not None:
                        saved.append(path)
        persons, bare, in_zone = self._last_counts
        features = camera_features(
            frame.camera_id,
            frame.t_mono,
            valid=report.usable,
            persons=persons,
            bare_heads=bare,
            in_zone=in_zone,
            motion_level=observation.gate.motion_level,
            health_score=report.score,
        )
        return FrameResult(observation, detections, workers, features, saved)

    def analyse(self, frame: CapturedFrame, detect: Callable[[CapturedFrame], list[Detection]]) -> FrameResult:
        observation = self.observe(frame)
        detections = detect(frame) if observation.run_detector else None
        return self.complete(observation, detections)

    def idle(self, t_mono: float) -> tuple[HealthReport, CameraFeatures]:
        """At a sampling instant without a new frame: the health now and a masked feature row."""
        with self._health_lock:
            report = self.health.report(t_mono)
        return report, missing_frame(self.config.id, t_mono)
