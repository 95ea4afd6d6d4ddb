"""Property tests: random operator and rule sequences against a small reference model of ISA-18.2 states."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.alarms.events import FLOOD_ALARM_ID, AlarmEvent, AlarmState
from edge.alarms.manager import AlarmManager, ResetRefused, ShelvingRefused, UnknownAlarmError
from edge.clock import FakeClock
from edge.rules.signals import ConditionChange, Priority, SignalClass


@dataclass(frozen=True)
class Config:
    statutory: bool
    latch: bool
    priority: Priority
    outputs: tuple[str, ...]


CONFIGS = {
    "ch4:trip": Config(statutory=True, latch=True, priority=Priority.CRITICAL, outputs=("siren", "power_trip")),
    "co:alarm": Config(statutory=True, latch=False, priority=Priority.MEDIUM, outputs=("siren", "beacon")),
    "fan:vib": Config(statutory=False, latch=True, priority=Priority.HIGH, outputs=("beacon_fan",)),
    "ml:warn": Config(statutory=False, latch=False, priority=Priority.LOW, outputs=("lamp_ml",)),
}
IDS = sorted(CONFIGS)


@dataclass
class Model:
    active: bool = False
    acked: bool = True
    latched: bool = False

    @property
    def state(self) -> AlarmState:
        return AlarmState.of(active=self.active, acknowledged=self.acked)


ops = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.sampled_from(IDS), st.booleans()),
        st.tuples(st.just("ack"), st.sampled_from([*IDS, None])),
        st.tuples(st.just("reset"), st.sampled_from([*IDS, None])),
        st.tuples(st.just("shelve"), st.sampled_from(IDS), st.sampled_from([30.0, 300.0])),
        st.tuples(st.just("unshelve"), st.sampled_from(IDS)),
        st.tuples(st.just("advance"), st.sampled_from([0.5, 7.0, 40.0, 200.0])),
    ),
    max_size=60,
)


def condition(clock: FakeClock, alarm_id: str, active: bool) -> ConditionChange:
    cfg = CONFIGS[alarm_id]
    return ConditionChange(
        condition_id=alarm_id,
        point_id=alarm_id.split(":", maxsplit=1)[0],
        signal=SignalClass.WARNING if alarm_id.startswith("ml") else SignalClass.ALARM,
        priority=cfg.priority,
        active=active,
        statutory=cfg.statutory,
        latch=cfg.latch,
        value=1.0,
        limit=0.5,
        unit="u",
        message="m",
        action="a",
        source="s",
        outputs=cfg.outputs,
        t_mono=clock.monotonic(),
        t_wall=clock.wall(),
    )


def run_op(
    op: tuple[object, ...], clock: FakeClock, manager: AlarmManager, models: dict[str, Model]
) -> list[AlarmEvent]:
    """Apply one op to both the manager and the reference model; returns the manager's events."""
    kind = op[0]
    if kind == "set":
        alarm_id, active = str(op[1]), bool(op[2])
        events = manager.apply(condition(clock, alarm_id, active))
        model = models.get(alarm_id)
        if model is None and active:
            model = models[alarm_id] = Model()
        if model is not None and model.active != active:
            model.active = active
            if active:
                model.acked = False
                model.latched = model.latched or CONFIGS[alarm_id].latch
        return events
    target = op[1] if isinstance(op[1], str) else None
    if target is not None and target not in models and kind != "advance":
        try:
            run_command(kind, op, manager)
        except UnknownAlarmError:
            return []
        raise AssertionError(f"{kind} of a never-seen alarm was accepted")
    if kind == "ack":
        for alarm_id, model in models.items():
            if target in (None, alarm_id):
                model.acked = True
    elif kind == "reset":
        for alarm_id, model in models.items():
            if target in (None, alarm_id) and model.latched and not model.active:
                model.latched = False
        if target is not None and models[target].latched and models[target].active:
            try:
                run_command(kind, op, manager)
            except ResetRefused:
                return []
            raise AssertionError("reset of an active latched alarm was accepted")
    elif kind == "shelve" and target is not None and CONFIGS[target].statutory:
        try:
            run_command(kind, op, manager)
        except ShelvingRefused:
            return []
        raise AssertionError("a statutory alarm was shelved")
    elif kind == "advance":
        assert isinstance(op[1], float)
        clock.advance(op[1])
        return manager.tick()
    return run_command(kind, op, manager)


def run_command(kind: object, op: tuple[object, ...], manager: AlarmManager) -> list[AlarmEvent]:
    target = op[1] if isinstance(op[1], str) else None
    if kind == "ack":
        return manager.acknowledge(target, user="op")
    if kind == "reset":
        return manager.reset(target, user="op")
    if kind == "shelve":
        assert target is not None
        assert isinstance(op[2], float)
        return manager.shelve(target, duration_s=op[2], user="op", reason="property test")
    assert kind == "unshelve"
    assert target is not None
    return manager.unshelve(target, user="op")


@settings(max_examples=300, deadline=None)
@given(ops)
def test_random_sequences_keep_valid_states_increasing_seqs_and_statutory_outputs(
    sequence: list[tuple[object, ...]],
) -> None:
    clock = FakeClock()
    manager = AlarmManager(clock=clock, chatter_count=3, chatter_window_s=60, flood_on_count=3, flood_off_count=2)
    models: dict[str, Model] = {}
    journal: list[AlarmEvent] = []
    latest: dict[str, AlarmEvent] = {}

    for op in sequence:
        events = run_op(op, clock, manager, models)
        journal.extend(events)
        for event in events:
            latest[event.alarm_id] = event

        # Every transition gets the next seq: strictly increasing, no gaps.
        assert [e.seq for e in journal] == list(range(1, len(journal) + 1))
        # The newest event of each alarm agrees with the reference model.
        for alarm_id, model in models.items():
            if alarm_id in latest:
                assert (latest[alarm_id].state, latest[alarm_id].latched) == (model.state, model.latched)
                assert not (latest[alarm_id].shelved and CONFIGS[alarm_id].statutory)
        expected_snapshot = {a for a, m in models.items() if m.state is not AlarmState.NORMAL or m.latched}
        assert {e.alarm_id for e in manager.snapshot()} == expected_snapshot

        # Outputs: exactly what the rules say, given the shelve/chatter/flood flags the manager reports.
        expected: set[str] = set()
        for alarm_id, model in models.items():
            cfg = CONFIGS[alarm_id]
            if not (model.active or model.latched):
                continue
            last = latest[alarm_id]
            suppressed = last.shelved or last.chattering or (manager.flood_active and cfg.priority > Priority.HIGH)
            if cfg.statutory or not suppressed:
                expected |= {o for o in cfg.outputs if not (o == "siren" and model.acked)}
        assert manager.desired_outputs() == expected

    # Replaying the journal on a fresh manager gives the same picture.
    restored = AlarmManager(clock=FakeClock(start_mono=clock.monotonic()), flood_on_count=3, flood_off_count=2)
    restored.restore(journal)
    assert restored.snapshot() == manager.snapshot()
    assert restored.desired_outputs() == manager.desired_outputs()
    assert restored.flood_active == manager.flood_active
    assert restored.last_seq == len(journal)
    assert all(e.alarm_id != FLOOD_ALARM_ID for e in restored.snapshot())
