"""AlarmManager semantics, driven with a FakeClock: states, latch/reset, shelving, chatter, flood, restore."""

from __future__ import annotations

from dataclasses import replace

import pytest

from edge.alarms.events import FLOOD_ALARM_ID, AlarmEvent, AlarmState, Transition
from edge.alarms.manager import (
    AlarmManager,
    ResetRefused,
    ShelvingRefused,
    UnknownAlarmError,
)
from edge.clock import FakeClock
from edge.rules.signals import ConditionChange, Priority, SignalClass

CH4_TRIP = "ch4_tg_mm12:trip"
CO_ALARM = "co_belt_3:alarm"
FAN_VIB = "fan_main:vibration"
ML_WARN = "ml:hazard_early_warning"


def change(
    clock: FakeClock,
    condition_id: str = CO_ALARM,
    *,
    active: bool = True,
    statutory: bool = True,
    latch: bool = False,
    priority: Priority = Priority.HIGH,
    signal: SignalClass = SignalClass.ALARM,
    outputs: tuple[str, ...] = ("siren", "beacon"),
    value: float | None = 12.0,
) -> ConditionChange:
    return ConditionChange(
        condition_id=condition_id,
        point_id=condition_id.split(":", maxsplit=1)[0],
        signal=signal,
        priority=priority,
        active=active,
        statutory=statutory,
        latch=latch,
        value=value,
        limit=10.0,
        unit="ppm",
        message=f"{condition_id} {'active' if active else 'clear'}",
        action="evacuate" if statutory else "inspect",
        source="test",
        outputs=outputs,
        t_mono=clock.monotonic(),
        t_wall=clock.wall(),
    )


def ch4_trip(clock: FakeClock, *, active: bool = True, value: float = 1.6) -> ConditionChange:
    return change(
        clock,
        CH4_TRIP,
        active=active,
        latch=True,
        priority=Priority.CRITICAL,
        outputs=("siren", "power_trip"),
        value=value,
    )


def fan_vib(clock: FakeClock, *, active: bool = True) -> ConditionChange:
    return change(clock, FAN_VIB, active=active, statutory=False, priority=Priority.MEDIUM, outputs=("beacon_fan",))


def ml_warn(clock: FakeClock, condition_id: str = ML_WARN, *, active: bool = True) -> ConditionChange:
    return change(
        clock,
        condition_id,
        active=active,
        statutory=False,
        priority=Priority.LOW,
        signal=SignalClass.WARNING,
        outputs=("lamp_ml",),
    )


def transitions(events: list[AlarmEvent]) -> list[tuple[str, Transition, AlarmState]]:
    return [(e.alarm_id, e.transition, e.state) for e in events]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def manager(clock: FakeClock) -> AlarmManager:
    return AlarmManager(clock=clock)


# ------------------------------------------------------------------------------------------ state machine
def test_activate_ack_clear_returns_to_normal(clock: FakeClock, manager: AlarmManager) -> None:
    assert transitions(manager.apply(change(clock))) == [(CO_ALARM, Transition.ACTIVATED, AlarmState.UNACK)]
    assert manager.desired_outputs() == {"siren", "beacon"}

    [acked] = manager.acknowledge(CO_ALARM, user="shift_boss")
    assert (acked.transition, acked.state, acked.user) == (
        Transition.ACKNOWLEDGED,
        AlarmState.ACKED,
        "shift_boss",
    )
    assert manager.desired_outputs() == {"beacon"}  # the siren is silenced by acknowledgement

    clock.advance(5)
    [cleared] = manager.apply(change(clock, active=False))
    assert (cleared.transition, cleared.state) == (Transition.CLEARED, AlarmState.NORMAL)
    assert cleared.t_mono == clock.monotonic()
    assert manager.desired_outputs() == frozenset()
    assert manager.snapshot() == []


def test_clear_before_ack_is_rtn_unack_and_ack_makes_it_normal(clock: FakeClock, manager: AlarmManager) -> None:
    manager.apply(change(clock))
    [cleared] = manager.apply(change(clock, active=False))
    assert cleared.state is AlarmState.RTN_UNACK
    assert [e.state for e in manager.snapshot()] == [AlarmState.RTN_UNACK]
    assert manager.desired_outputs() == frozenset()  # not latched: the condition is gone

    [acked] = manager.acknowledge(CO_ALARM, user="op")
    assert acked.state is AlarmState.NORMAL
    assert manager.snapshot() == []


def test_rtn_unack_reactivates_to_unack(clock: FakeClock, manager: AlarmManager) -> None:
    manager.apply(change(clock))
    manager.apply(change(clock, active=False))
    [again] = manager.apply(change(clock))
    assert (again.transition, again.state) == (Transition.ACTIVATED, AlarmState.UNACK)


def test_reactivation_after_ack_needs_a_new_ack(clock: FakeClock, manager: AlarmManager) -> None:
    manager.apply(change(clock))
    manager.acknowledge(None, user="op")
    manager.apply(change(clock, active=False))
    [again] = manager.apply(change(clock))
    assert again.state is AlarmState.UNACK
    assert "siren" in manager.desired_outputs()


def test_repeated_state_and_unknown_clear_produce_no_events(clock: FakeClock, manager: AlarmManager) -> None:
    assert manager.apply(change(clock, active=False)) == []  # never active: nothing to say
    manager.apply(change(clock, value=12.0))
    assert manager.apply(change(clock, value=15.0)) == []  # a value update is not a transition
    assert manager.acknowledge(CO_ALARM, user="op") != []
    assert manager.acknowledge(CO_ALARM, user="op") == []  # already acknowledged


def test_every_event_gets_the_next_seq_starting_after_start_seq(clock: FakeClock) -> None:
    manager = AlarmManager(clock=clock, start_seq=41)
    events = manager.apply(change(clock)) + manager.acknowledge(None, user="op")
    events += manager.apply(change(clock, active=False))
    assert [e.seq for e in events] == [42, 43, 44]
    assert manager.last_seq == 44


def test_unknown_alarm_error_lists_known_ids(clock: FakeClock, manager: AlarmManager) -> None:
    manager.apply(change(clock))
    manager.apply(fan_vib(clock))
    with pytest.raises(UnknownAlarmError, match="known alarms: co_belt_3:alarm, fan_main:vibration"):
        manager.acknowledge("co_belt_3:alrm", user="op")


def test_acknowledge_all_acks_every_unacknowledged_alarm(clock: FakeClock, manager: AlarmManager) -> None:
    manager.apply(change(clock))
    manager.apply(fan_vib(clock))
    manager.apply(fan_vib(clock, active=False))
    events = manager.acknowledge(None, user="op", now_mono=clock.monotonic() + 1)
    assert sorted(transitions(events)) == [
        (CO_ALARM, Transition.ACKNOWLEDGED, AlarmState.ACKED),
        (FAN_VIB, Transition.ACKNOWLEDGED, AlarmState.NORMAL),
    ]
    assert all(e.t_mono == clock.monotonic() + 1 for e in events)


def test_malfunction_is_an_alarm_with_its_own_outputs(clock: FakeClock, manager: AlarmManager) -> None:
    fault = change(clock, "ch4_tg_mm12:malfunction", signal=SignalClass.MALFUNCTION, outputs=("siren", "fault_lamp"))
    [event] = manager.apply(fault)
    assert event.signal is SignalClass.MALFUNCTION
    assert manager.desired_outputs() == {"siren", "fault_lamp"}


# -------------------------------------------------------------------------------------------- latching
def test_latched_trip_holds_its_output_until_reset_after_clear(clock: FakeClock, manager: AlarmManager) -> None:
    [tripped] = manager.apply(ch4_trip(clock))
    assert tripped.latched
    manager.acknowledge(CH4_TRIP, user="deputy")
    assert manager.desired_outputs() == {"power_trip"}

    with pytest.raises(ResetRefused, match="still active"):
        manager.reset(CH4_TRIP, user="deputy")

    [cleared] = manager.apply(ch4_trip(clock, active=False, value=0.8))
    assert (cleared.state, cleared.latched) == (AlarmState.NORMAL, True)
    assert manager.desired_outputs() == {"power_trip"}  # stays tripped below 1.0 % until a person resets
    assert [(e.alarm_id, e.latched) for e in manager.snapshot()] == [(CH4_TRIP, True)]

    [reset] = manager.reset(CH4_TRIP, user="deputy")
    assert (reset.transition, reset.latched, reset.user) == (Transition.RESET, False, "deputy")
    assert manager.desired_outputs() == frozenset()
    assert manager.snapshot() == []
    assert manager.reset(CH4_TRIP, user="deputy") == []  # nothing left to reset


def test_latched_unacknowledged_trip_keeps_the_siren_after_clear(clock: FakeClock, manager: AlarmManager) -> None:
    manager.apply(ch4_trip(clock))
    [cleared] = manager.apply(ch4_trip(clock, active=False, value=0.8))
    assert (cleared.state, cleared.latched) == (AlarmState.RTN_UNACK, True)
    assert manager.desired_outputs() == {"siren", "power_trip"}


def test_reset_all_skips_alarms_whose_condition_is_still_active(clock: FakeClock, manager: AlarmManager) -> None:
    manager.apply(ch4_trip(clock))
    manager.apply(change(clock, "ch4_tg_mm13:trip", latch=True, outputs=("power_trip_13",)))
    manager.apply(ch4_trip(clock, active=False, value=0.5))
    events = manager.reset(None, user="deputy")
    assert [e.alarm_id for e in events] == [CH4_TRIP]
    assert "power_trip_13" in manager.desired_outputs()


# -------------------------------------------------------------------------------------------- shelving
def test_statutory_alarms_cannot_be_shelved(clock: FakeClock, manager: AlarmManager) -> None:
    manager.apply(ch4_trip(clock))
    with pytest.raises(ShelvingRefused, match="statutory alarms cannot be shelved"):
        manager.shelve(CH4_TRIP, duration_s=600, user="op", reason="sensor being calibrated")
    assert "power_trip" in manager.desired_outputs()


@pytest.mark.parametrize(
    ("duration_s", "reason", "match"),
    [(600, "  ", "reason is required"), (0, "nuisance", "duration"), (8 * 3600 + 1, "nuisance", "8 h")],
)
def test_shelving_needs_a_reason_and_a_bounded_duration(
    clock: FakeClock, manager: AlarmManager, duration_s: float, reason: str, match: str
) -> None:
    manager.apply(fan_vib(clock))
    with pytest.raises(ShelvingRefused, match=match):
        manager.shelve(FAN_VIB, duration_s=duration_s, user="op", reason=reason)


def test_shelved_alarm_is_silent_but_tracked_and_unshelves_at_expiry(clock: FakeClock, manager: AlarmManager) -> None:
    manager.apply(fan_vib(clock))
    [shelved] = manager.shelve(FAN_VIB, duration_s=600, user="op", reason="bearing replacement booked")
    assert (shelved.transition, shelved.shelved, shelved.note) == (
        Transition.SHELVED,
        True,
        "bearing replacement booked",
    )
    assert shelved.shelve_expires_wall == clock.wall() + 600
    assert manager.desired_outputs() == frozenset()

    # Still tracked and journaled while shelved.
    [cleared] = manager.apply(fan_vib(clock, active=False))
    assert (cleared.state, cleared.shelved) == (AlarmState.RTN_UNACK, True)
    [active] = manager.apply(fan_vib(clock))
    assert active.shelved

    clock.advance(599)
    assert [e.transition for e in manager.tick()] == []
    clock.advance(1)
    [unshelved] = manager.tick()
    assert (unshelved.transition, unshelved.user, unshelved.shelved) == (
        Transition.UNSHELVED,
        "system",
        False,
    )
    assert manager.desired_outputs() == {"beacon_fan"}


def test_manual_unshelve(clock: FakeClock, manager: AlarmManager) -> None:
    manager.apply(fan_vib(clock))
    manager.shelve(FAN_VIB, duration_s=60, user="op", reason="test")
    [event] = manager.unshelve(FAN_VIB, user="op2")
    assert (event.transition, event.user) == (Transition.UNSHELVED, "op2")
    assert manager.unshelve(FAN_VIB, user="op2") == []
    assert manager.desired_outputs() == {"beacon_fan"}


def test_a_condition_that_becomes_statutory_is_unshelved(clock: FakeClock, manager: AlarmManager) -> None:
    manager.apply(fan_vib(clock))
    manager.shelve(FAN_VIB, duration_s=60, user="op", reason="test")
    events = manager.apply(change(clock, FAN_VIB, statutory=True, outputs=("beacon_fan",)))
    assert [(e.transition, e.shelved) for e in events] == [(Transition.UNSHELVED, False)]
    assert manager.desired_outputs() == {"beacon_fan"}


# -------------------------------------------------------------------------------------------- chatter
def chatter(clock: FakeClock, manager: AlarmManager, make: ConditionChange, times: int) -> list[AlarmEvent]:
    events: list[AlarmEvent] = []
    for _ in range(times):
        events += manager.apply(make)
        clock.advance(5)
        events += manager.apply(replace(make, active=False))
        clock.advance(5)
    return events


def test_non_statutory_chattering_alarm_is_flagged_and_silenced_until_quiet(
    clock: FakeClock, manager: AlarmManager
) -> None:
    events = chatter(clock, manager, fan_vib(clock), 2)
    assert Transition.CHATTER_ON not in [e.transition for e in events]
    [activated, chatter_on] = manager.apply(fan_vib(clock))  # third activation within 60 s
    assert activated.transition is Transition.ACTIVATED
    assert (chatter_on.transition, chatter_on.chattering, chatter_on.user) == (
        Transition.CHATTER_ON,
        True,
        "system",
    )
    assert manager.desired_outputs() == frozenset()  # active, but chattering and not statutory

    clock.advance(59)
    assert manager.tick() == []  # the third activation is still inside the window
    clock.advance(1)
    [chatter_off] = manager.tick()
    assert (chatter_off.transition, chatter_off.chattering) == (Transition.CHATTER_OFF, False)
    assert manager.desired_outputs() == {"beacon_fan"}


def test_statutory_chattering_alarm_is_flagged_but_never_suppressed(clock: FakeClock, manager: AlarmManager) -> None:
    events = chatter(clock, manager, change(clock), 3)
    assert [e.transition for e in events].count(Transition.CHATTER_ON) == 1
    manager.apply(change(clock))
    assert manager.desired_outputs() == {"siren", "beacon"}


def test_activations_spread_wider_than_the_window_are_not_chatter(clock: FakeClock, manager: AlarmManager) -> None:
    events: list[AlarmEvent] = []
    for _ in range(5):
        events += manager.apply(fan_vib(clock))
        events += manager.apply(fan_vib(clock, active=False))
        clock.advance(31)
    assert Transition.CHATTER_ON not in [e.transition for e in events]


# ---------------------------------------------------------------------------------------------- flood
def test_flood_suppresses_low_priority_outputs_but_never_critical_or_statutory(
    clock: FakeClock, manager: AlarmManager
) -> None:
    manager.apply(ch4_trip(clock))
    manager.apply(change(clock, "co_belt_4:alarm", priority=Priority.MEDIUM, outputs=("beacon_4",)))
    for i in range(8):
        manager.apply(ml_warn(clock, f"ml:warn_{i}"))
        clock.advance(10)
    assert not manager.flood_active
    assert "lamp_ml" in manager.desired_outputs()

    events = manager.apply(ml_warn(clock, "ml:warn_8"))  # 11th activation in 600 s: > 10
    assert [e.transition for e in events] == [Transition.ACTIVATED, Transition.FLOOD_ON]
    flood_on = events[1]
    assert (flood_on.alarm_id, flood_on.value, flood_on.priority) == (FLOOD_ALARM_ID, 11.0, Priority.HIGH)
    assert manager.flood_active
    # LOW (non-statutory) gone; CRITICAL and statutory MEDIUM stay.
    assert manager.desired_outputs() == {"siren", "power_trip", "beacon_4"}


def test_flood_ends_when_activations_in_the_window_fall_below_off_count(clock: FakeClock) -> None:
    manager = AlarmManager(clock=clock, flood_on_count=10, flood_off_count=5, flood_window_s=600)
    for i in range(11):
        manager.apply(ml_warn(clock, f"ml:warn_{i}"))
        clock.advance(50)  # activations at t = 0, 50, ..., 500
    assert manager.flood_active
    clock.advance(250)  # now t = 800: activations at 250..500 (6) remain inside (200, 800]
    assert manager.tick() == []
    clock.advance(50)  # t = 850: 300..500 (5) remain, not below 5
    assert manager.tick() == []
    clock.advance(50)  # t = 900: 4 remain
    [flood_off] = manager.tick()
    assert (flood_off.transition, flood_off.value) == (Transition.FLOOD_OFF, 4.0)
    assert not manager.flood_active
    assert "lamp_ml" in manager.desired_outputs()


# --------------------------------------------------------------------------------------------- restore
def busy_history(clock: FakeClock, manager: AlarmManager) -> list[AlarmEvent]:
    events = manager.apply(ch4_trip(clock))
    events += manager.acknowledge(CH4_TRIP, user="deputy")
    events += manager.apply(ch4_trip(clock, active=False, value=0.7))  # latched, acked, cleared
    events += manager.apply(change(clock))  # statutory CO, unacknowledged
    events += manager.apply(fan_vib(clock))
    events += manager.shelve(FAN_VIB, duration_s=3600, user="op", reason="bearing job")
    events += chatter(clock, manager, ml_warn(clock), 3)  # chattering ML warning, returned unacked
    for i in range(6):
        events += manager.apply(ml_warn(clock, f"ml:warn_{i}"))
    return events


def test_restore_rebuilds_the_same_state_after_a_reboot(clock: FakeClock, manager: AlarmManager) -> None:
    journal = busy_history(clock, manager)
    assert manager.flood_active
    assert [e.seq for e in journal] == list(range(1, len(journal) + 1))

    # A reboot: monotonic time starts again near zero, wall time has moved on by 10 minutes.
    rebooted = FakeClock(start_mono=12.0, start_wall=clock.wall() + 600)
    restored = AlarmManager(clock=rebooted)
    restored.restore(journal)

    assert restored.snapshot() == manager.snapshot()
    assert restored.desired_outputs() == manager.desired_outputs()
    assert restored.flood_active
    assert restored.last_seq == manager.last_seq
    [next_event] = restored.acknowledge(CO_ALARM, user="op")
    assert next_event.seq == manager.last_seq + 1

    # The shelve keeps its remaining wall-clock time (3600 s from shelving minus 10 min reboot and history).
    remaining = next(e for e in journal if e.transition is Transition.SHELVED).shelve_expires_wall
    assert remaining is not None
    rebooted.advance(remaining - rebooted.wall() - 1)
    assert FAN_VIB not in [e.alarm_id for e in restored.tick() if e.transition is Transition.UNSHELVED]
    rebooted.advance(1)
    assert [e.alarm_id for e in restored.tick() if e.transition is Transition.UNSHELVED] == [FAN_VIB]


def test_restored_flags_clear_on_the_first_quiet_tick(clock: FakeClock, manager: AlarmManager) -> None:
    journal = busy_history(clock, manager)
    restored = AlarmManager(clock=FakeClock(start_mono=5.0))
    restored.restore(journal)
    ended = {e.transition for e in restored.tick()}
    assert {Transition.CHATTER_OFF, Transition.FLOOD_OFF} <= ended
    assert not restored.flood_active


def test_restore_refuses_a_manager_that_already_has_state(clock: FakeClock, manager: AlarmManager) -> None:
    journal = manager.apply(change(clock))
    with pytest.raises(RuntimeError, match="fresh AlarmManager"):
        manager.restore(journal)


def test_constructor_rejects_nonsense_thresholds(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="flood_off_count"):
        AlarmManager(clock=clock, flood_on_count=5, flood_off_count=6)
    with pytest.raises(ValueError, match="chatter_count"):
        AlarmManager(clock=clock, chatter_count=1)


def test_a_more_urgent_priority_while_active_is_annunciated_again() -> None:
    clock = FakeClock()
    m = AlarmManager(clock=clock)
    (activated,) = m.apply(change(clock, ML_WARN, statutory=False, priority=Priority.LOW, outputs=("siren",)))
    assert activated.transition is Transition.ACTIVATED
    m.acknowledge(ML_WARN, user="op")
    assert m.desired_outputs() == frozenset()  # silenced on acknowledgement
    assert m.apply(change(clock, ML_WARN, statutory=False, priority=Priority.LOW, outputs=("siren",))) == []
    clock.advance(5)
    (escalated,) = m.apply(change(clock, ML_WARN, statutory=False, priority=Priority.HIGH, outputs=("siren",)))
    assert escalated.transition is Transition.ESCALATED
    assert escalated.priority is Priority.HIGH
    assert escalated.state is AlarmState.UNACK  # wants a new acknowledgement
    assert "siren" in m.desired_outputs()
    assert [e.transition for e in m.snapshot()] == [Transition.ESCALATED]
    # Back to the milder priority, or the same one again: an update, not a transition.
    assert m.apply(change(clock, ML_WARN, statutory=False, priority=Priority.HIGH, outputs=("siren",))) == []
    assert m.apply(change(clock, ML_WARN, statutory=False, priority=Priority.LOW, outputs=("siren",))) == []
    # The journal replays into the same state after a restart.
    restored = AlarmManager(clock=clock)
    restored.restore([activated, escalated])
    assert [e.state for e in restored.snapshot()] == [AlarmState.UNACK]
