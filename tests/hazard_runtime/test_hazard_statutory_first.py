"""A burst of early warnings can neither suppress nor delay a statutory alarm."""

from __future__ import annotations

from dataclasses import replace

from edge.alarms.events import Transition
from edge.alarms.manager import AlarmManager
from edge.clock import FakeClock
from edge.hazard.contract import HAZARD_TYPES
from edge.hazard.warning_gate import Decision, WarningGate
from edge.hazard.warning_policy import WARNING_PRIORITY, WarningPolicy
from edge.rules.signals import ConditionChange, Priority, SignalClass


def change(
    condition: str,
    *,
    signal: SignalClass,
    priority: Priority,
    statutory: bool,
    clock: FakeClock,
    outputs: tuple[str, ...] = (),
) -> ConditionChange:
    return ConditionChange(
        condition_id=condition,
        point_id=condition.partition(":")[0],
        signal=signal,
        priority=priority,
        active=True,
        statutory=statutory,
        latch=statutory,
        value=1.6 if statutory else 0.9,
        limit=1.5 if statutory else 0.5,
        unit="%" if statutory else "probability",
        message=condition,
        action="",
        source="test",
        outputs=outputs,
        t_mono=clock.monotonic(),
        t_wall=clock.wall(),
    )


def test_statutory_alarm_activates_at_once_while_warnings_flood() -> None:
    clock = FakeClock()
    manager = AlarmManager(clock=clock, flood_on_count=3, flood_off_count=1, flood_window_s=600.0)
    gate = WarningGate(WarningPolicy(flood_count=3, flood_window_s=600.0, hold_off_s=0.0))
    # Every hazard turns on and off every decision: far more warnings than the flood limit lets through.
    annunciated = 0
    for k in range(40):
        clock.advance(20.0)
        step = gate.decide(20.0 * k, [Decision(h, "model", k % 2 == 0, 0.9, None) for h in HAZARD_TYPES])
        for opened in step.opened:
            if opened.suppressed:
                continue
            annunciated += 1
            events = manager.apply(
                change(
                    f"hazard.{opened.hazard.value}",
                    signal=SignalClass.WARNING,
                    priority=WARNING_PRIORITY,
                    statutory=False,
                    clock=clock,
                )
            )
            assert events
            assert events[0].transition is Transition.ACTIVATED
        for closed in step.closed:
            if closed.opened.suppressed:
                continue
            cleared = change(
                f"hazard.{closed.opened.hazard.value}",
                signal=SignalClass.WARNING,
                priority=WARNING_PRIORITY,
                statutory=False,
                clock=clock,
            )
            manager.apply(replace(cleared, active=False))
    assert gate.suppressed_count > 50, "the gate's flood limit must be saturated"
    assert annunciated <= 3 * (40 * 20 // 600 + 1)
    # The gate keeps warnings under the manager's flood threshold; other advisory alarms push it over.
    for i in range(4):
        manager.apply(
            change(
                f"camera.c{i}:violation",
                signal=SignalClass.WARNING,
                priority=Priority.LOW,
                statutory=False,
                clock=clock,
                outputs=("beacon",),
            )
        )
    assert manager.flood_active, "the manager's own flood state is on as well"

    statutory = change(
        "ch4_face3:alarm",
        signal=SignalClass.ALARM,
        priority=Priority.CRITICAL,
        statutory=True,
        clock=clock,
        outputs=("siren", "beacon", "power_trip"),
    )
    events = manager.apply(statutory)  # the same synchronous call the reading path makes
    assert [e.transition for e in events][:1] == [Transition.ACTIVATED]
    assert events[0].t_mono == clock.monotonic(), "activated at the reading's instant, not later"
    assert {"siren", "beacon", "power_trip"} <= manager.desired_outputs(), "flood suppression never mutes it"
    warnings = [e for e in manager.snapshot() if e.signal is SignalClass.WARNING]
    assert warnings
    assert all(e.priority > Priority.CRITICAL and not e.statutory for e in warnings)
