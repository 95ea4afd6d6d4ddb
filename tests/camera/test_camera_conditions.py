"""Camera events into the alarm manager: one violation and one malfunction alarm per camera, escalation is an
update, a second worker is re-annunciated, and the manager ends with exactly one activation per episode."""

from __future__ import annotations

from edge.alarms.events import AlarmEvent, Transition
from edge.alarms.manager import AlarmManager
from edge.camera.conditions import CameraConditions
from edge.camera.health import HealthCondition, HealthReport
from edge.camera.violations import EpisodeEnded, ViolationEvent, ViolationKind
from edge.clock import FakeClock
from edge.rules.signals import ConditionChange, Priority, SignalClass


def _event(
    alert: str, kind: ViolationKind, priority: Priority, *, t: float, escalation: bool = False
) -> ViolationEvent:
    return ViolationEvent(
        alert_id=alert,
        camera_id="cam1",
        track_id=int(alert[-1]),
        kind=kind,
        zone_id="roof" if kind is not ViolationKind.BARE_HEAD else None,
        zone_hazard="alarm" if kind is not ViolationKind.BARE_HEAD else None,
        escalation=escalation,
        priority=priority,
        message=f"{kind} by {alert}",
        t_mono=t,
        t_wall=1000.0 + t,
        box=(0.0, 0.0, 10.0, 10.0),
    )


def _feed(manager: AlarmManager, changes: list[ConditionChange]) -> list[AlarmEvent]:
    return [e for c in changes for e in manager.apply(c)]


def test_escalation_updates_the_open_alarm_and_a_second_worker_is_announced_again() -> None:
    clock = FakeClock()
    manager = AlarmManager(clock=clock)
    bridge = CameraConditions(clock, detector="helmet")
    events = _feed(manager, bridge.on_event(_event("a1", ViolationKind.BARE_HEAD, Priority.LOW, t=1)))
    assert [(e.alarm_id, e.transition) for e in events] == [("camera.cam1:violation", Transition.ACTIVATED)]
    assert events[0].signal is SignalClass.WARNING
    assert not events[0].statutory
    assert events[0].outputs == ()
    # The same worker walks into the hazardous zone: the open alarm escalates (annunciated again), no new alarm.
    escalated = bridge.on_event(_event("a1", ViolationKind.BARE_HEAD_IN_ZONE, Priority.HIGH, t=2, escalation=True))
    assert [e.transition for e in _feed(manager, escalated)] == [Transition.ESCALATED]
    (alarm,) = [a for a in manager.snapshot() if a.alarm_id == "camera.cam1:violation"]
    assert alarm.priority is Priority.HIGH
    assert "bare_head_in_zone by a1" in alarm.message
    # A second worker while the alarm stands (say acknowledged): cleared and raised again, so it is seen.
    manager.acknowledge(None, user="op")
    again = _feed(manager, bridge.on_event(_event("a2", ViolationKind.BARE_HEAD, Priority.LOW, t=3)))
    assert [e.transition for e in again] == [Transition.CLEARED, Transition.ACTIVATED]
    assert "+1 other worker" in again[-1].message
    assert again[-1].priority is Priority.HIGH  # the most urgent open episode sets the priority
    # The first worker leaves: still active for the second, at the second's priority; then it clears.
    update = bridge.on_episode_end(EpisodeEnded("a1", "cam1", 1, 4.0))
    assert _feed(manager, update) == []  # a milder priority is an update, not a transition
    assert update[0].priority is Priority.LOW
    cleared = _feed(manager, bridge.on_episode_end(EpisodeEnded("a2", "cam1", 2, 5.0)))
    assert [e.transition for e in cleared] == [Transition.CLEARED]
    assert bridge.on_episode_end(EpisodeEnded("a9", "cam1", 9, 6.0)) == []  # never fired: nothing to clear


def test_health_conditions_raise_and_clear_a_malfunction_once() -> None:
    clock = FakeClock()
    manager = AlarmManager(clock=clock)
    bridge = CameraConditions(clock)

    def report(*conditions: HealthCondition) -> HealthReport:
        return HealthReport(clock.monotonic(), frozenset(conditions), 0.0 if conditions else 1.0, 0.5, None)

    raised = _feed(manager, bridge.on_health("cam1", report(HealthCondition.OBSCURED)))
    assert [(e.alarm_id, e.transition, e.signal) for e in raised] == [
        ("camera.cam1:malfunction", Transition.ACTIVATED, SignalClass.MALFUNCTION)
    ]
    assert "obscured" in raised[0].message
    assert bridge.on_health("cam1", report(HealthCondition.OBSCURED)) == []  # unchanged: nothing to say
    both = bridge.on_health("cam1", report(HealthCondition.OBSCURED, HealthCondition.DARK))
    assert _feed(manager, both) == []  # still the same alarm, its message updated
    assert "dark, obscured" in both[0].message
    assert [e.transition for e in _feed(manager, bridge.on_health("cam1", report()))] == [Transition.CLEARED]
