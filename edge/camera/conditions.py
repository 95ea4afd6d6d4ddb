"""Camera events as alarm conditions: one violation condition and one malfunction condition per camera.

The alarm manager keeps every alarm id it has seen, so ids are per camera, not per person-episode (an id per
episode would grow without bound over weeks of shifts). ISA-18.2 asks for one alarm per condition anyway:

- ``camera.<id>:violation`` (signal WARNING, never statutory, no outputs) is active while at least one
  person-episode on that camera has fired and not ended. Its priority and message are those of the most
  urgent open episode: an escalation (bare head -> bare head in a hazardous zone) updates the open alarm
  and is not a second alarm. A *new* person while the alarm is already active is re-annunciated (cleared
  and raised again), so an acknowledged alarm cannot hide a second worker.
- ``camera.<id>:malfunction`` (signal MALFUNCTION) is active while the camera's health report has a
  condition (no frames, frozen, dark, obscured): its detections then mean nothing, which an operator must
  know, but statutory monitoring does not depend on it.

Pure and synchronous: the gateway feeds the returned changes to its alarm manager.
"""

from __future__ import annotations

from edge.camera.health import HealthReport
from edge.camera.violations import EpisodeEnded, ViolationEvent
from edge.clock import Clock
from edge.rules.signals import ConditionChange, Priority, SignalClass

SOURCE = "minegate camera path (helmet / hazard-zone detector)"


class CameraConditions:
    def __init__(self, clock: Clock, *, detector: str = "") -> None:
        self._clock = clock
        self._source = f"{SOURCE}: {detector}" if detector else SOURCE
        self._open: dict[str, dict[str, ViolationEvent]] = {}  # camera -> alert_id -> newest event
        self._faulty: dict[str, frozenset[str]] = {}  # camera -> health conditions raised

    def open_alerts(self, camera_id: str) -> list[ViolationEvent]:
        return list(self._open.get(camera_id, {}).values())

    def on_event(self, event: ViolationEvent) -> list[ConditionChange]:
        episodes = self._open.setdefault(event.camera_id, {})
        was_active = bool(episodes)
        new_person = event.alert_id not in episodes
        episodes[event.alert_id] = event
        raised = self._violation(event.camera_id, active=True)
        if was_active and new_person:
            return [self._violation(event.camera_id, active=False), raised]
        return [raised]

    def on_episode_end(self, ended: EpisodeEnded) -> list[ConditionChange]:
        episodes = self._open.get(ended.camera_id, {})
        if episodes.pop(ended.alert_id, None) is None:
            return []  # an episode that never fired has nothing to clear
        return [self._violation(ended.camera_id, active=bool(episodes))]

    def on_health(self, camera_id: str, report: HealthReport) -> list[ConditionChange]:
        conditions = frozenset(str(c) for c in report.conditions)
        if conditions == self._faulty.get(camera_id, frozenset()):
            return []
        self._faulty[camera_id] = conditions
        listing = ", ".join(sorted(conditions))
        return [
            ConditionChange(
                condition_id=f"camera.{camera_id}:malfunction",
                point_id=f"camera.{camera_id}",
                signal=SignalClass.MALFUNCTION,
                priority=Priority.MEDIUM,
                active=bool(conditions),
                statutory=False,
                latch=False,
                value=report.score,
                limit=None,
                unit="",
                message=(
                    f"camera {camera_id}: {listing}; its helmet and zone checks are blind"
                    if conditions
                    else f"camera {camera_id}: image usable again"
                ),
                action="check the camera's power, cable and lens (dust, condensation, cap-lamp glare)",
                source=self._source,
                outputs=(),
                t_mono=self._clock.monotonic(),
                t_wall=self._clock.wall(),
            )
        ]

    def _violation(self, camera_id: str, *, active: bool) -> ConditionChange:
        episodes = self._open.get(camera_id, {})
        # Most urgent first (lower number), newest among equals: what the operator should read.
        worst = min(episodes.values(), key=lambda e: (e.priority, -e.t_mono), default=None)
        others = len(episodes) - 1
        message = (
            worst.message + (f" (+{others} other worker{'s' if others > 1 else ''} in view)" if others > 0 else "")
            if worst is not None
            else f"camera {camera_id}: no open helmet or zone violation"
        )
        return ConditionChange(
            condition_id=f"camera.{camera_id}:violation",
            point_id=f"camera.{camera_id}",
            signal=SignalClass.WARNING,
            priority=worst.priority if worst is not None else Priority.LOW,
            active=active,
            statutory=False,
            latch=False,
            value=float(len(episodes)),
            limit=None,
            unit="workers",
            message=message,
            action="correct the worker on the spot; keep people out of the marked zone",
            source=self._source,
            outputs=(),
            t_mono=self._clock.monotonic(),
            t_wall=self._clock.wall(),
        )
