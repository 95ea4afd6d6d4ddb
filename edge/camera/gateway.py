"""The camera path inside the gateway: the detector, the camera service, and their events as alarm conditions.

A refused detector costs the helmet and zone checks, never the process: the cameras still report their
health (a blind camera is a malfunction an operator must see) and masked feature rows. Zone hazard states
come from the alarm manager: a zone is at "alarm" while an alarm of one of its points is active, "alert"
while an alert is, "normal" otherwise, and "unknown" when the configuration names no points for it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edge.alarms.events import AlarmEvent, AlarmState
from edge.camera.capture import FrameSource
from edge.camera.conditions import CameraConditions
from edge.camera.config import CameraConfig, CamerasSection
from edge.camera.features import CameraFeatures
from edge.camera.health import HealthReport
from edge.camera.objects import Detection
from edge.camera.service import CameraService
from edge.camera.violations import EpisodeEnded, HazardLevel, ViolationEvent
from edge.clock import Clock
from edge.rules.signals import ConditionChange, SignalClass

log = logging.getLogger(__name__)

Image = Any  # an OpenCV BGR frame (numpy array)


class GatewayCameras:
    def __init__(
        self,
        section: CamerasSection,
        *,
        clock: Clock,
        data_dir: Path,
        apply: Callable[[Iterable[ConditionChange]], None],
        alarms: Callable[[], Sequence[AlarmEvent]],
        source_factory: Callable[[CameraConfig], FrameSource] | None = None,
    ) -> None:
        self.section = section
        self._clock = clock
        self._data_dir = data_dir
        self._apply = apply
        self._alarms = alarms
        self._source_factory = source_factory
        self.refused: str | None = None  # why the detector was refused, when it was
        self.detector_name = ""
        self._detect = self._load_detector()
        self.conditions = CameraConditions(clock, detector=self.detector_name)
        self._zone_points = {
            (camera.id, zone.id): frozenset(zone.points) for camera in section.streams for zone in camera.zones
        }
        self.latest_features: dict[str, CameraFeatures] = {}
        self.service: CameraService | None = None

    def _load_detector(self) -> Callable[[Image], list[Detection]] | None:
        config = self.section.detector
        if config is None:
            return None
        # Imported here: onnxruntime/LiteRT cost memory that a gateway without a detector keeps.
        from edge.camera.detector import load_detector  # noqa: PLC0415
        from edge.inference.model import ModelRefused  # noqa: PLC0415

        try:
            detector = load_detector(Path(config.model_dir), config.file, threads=config.threads)
        except (ModelRefused, OSError, ValueError) as exc:
            self.refused = f"detector refused: {exc}"
            log.error("cameras: %s; health checks and masked features only", self.refused)
            return None
        self.detector_name = Path(config.model_dir).name
        return functools.partial(
            detector.detect, confidence=config.confidence, iou=config.iou, max_detections=config.max_detections
        )

    def zone_hazard(self, camera_id: str, zone_id: str) -> HazardLevel:
        points = self._zone_points.get((camera_id, zone_id), frozenset())
        if not points:
            return "unknown"
        level: HazardLevel = "normal"
        for event in self._alarms():
            if event.source not in points or event.state is AlarmState.NORMAL:
                continue
            if event.state is AlarmState.RTN_UNACK:
                continue  # returned to normal, only waiting for an acknowledgement
            if event.signal is SignalClass.ALARM:
                return "alarm"
            if event.signal is SignalClass.ALERT:
                level = "alert"
        return level

    def _on_event(self, event: ViolationEvent) -> None:
        self._apply(self.conditions.on_event(event))

    def _on_episode_end(self, ended: EpisodeEnded) -> None:
        self._apply(self.conditions.on_episode_end(ended))

    def _on_health(self, camera_id: str, report: HealthReport) -> None:
        self._apply(self.conditions.on_health(camera_id, report))

    def _on_features(self, features: CameraFeatures) -> None:
        self.latest_features[features.camera_id] = features

    async def run(self) -> None:
        """Run the cameras until cancelled; a restart by the supervisor builds a fresh service."""
        service = CameraService(
            self.section.streams,
            detect=self._detect,
            zone_hazard=self.zone_hazard,
            clock=self._clock,
            data_dir=self._data_dir,
            source_factory=self._source_factory,
            on_event=self._on_event,
            on_episode_end=self._on_episode_end,
            on_features=self._on_features,
            on_health=self._on_health,
        )
        self.service = service
        try:
            await service.start()
            await asyncio.Event().wait()
        finally:
            self.service = None
            await service.close()

    def status(self) -> dict[str, Any]:
        return {
            "detector": self.detector_name or None,
            "refused": self.refused,
            "cameras": [asdict(s) for s in self.service.status()] if self.service is not None else [],
        }
