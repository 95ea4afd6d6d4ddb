"""Properties of the threshold engine that must hold for every reading sequence."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge.readings import Quality, QualityReason, Reading
from edge.rules.signals import ConditionChange, Direction, Priority, SignalClass
from edge.rules.thresholds import PointRules, RuleEngine, Threshold

POINT = "p1"
values = st.floats(min_value=0.0, max_value=3.0, allow_nan=False)


@st.composite
def limits(draw: st.DrawFn) -> tuple[float, float]:
    limit = draw(st.floats(min_value=0.5, max_value=2.5))
    deadband = draw(st.floats(min_value=0.0, max_value=0.5))
    return limit, limit - deadband


def engine_for(direction: Direction, limit: float, clear_limit: float) -> RuleEngine:
    threshold = Threshold(
        name="alarm",
        signal=SignalClass.ALARM,
        direction=direction,
        limit=limit,
        clear_limit=clear_limit,
        priority=Priority.CRITICAL,
        action="act",
        source="test",
        outputs=(),
        latch=True,
    )
    return RuleEngine([PointRules(point_id=POINT, label="Gas", location="here", unit="%", thresholds=(threshold,))])


def good(value: float, t: float) -> Reading:
    return Reading(point_id=POINT, t_mono=t, t_wall=t, value=value, unit="%", quality=Quality.GOOD)


def bad(t: float) -> Reading:
    return Reading(
        point_id=POINT,
        t_mono=t,
        t_wall=t,
        value=None,
        unit="%",
        quality=Quality.BAD,
        reason=QualityReason.COMM_LOSS,
    )


def alarm_active(engine: RuleEngine) -> bool:
    return any(c.condition_id == f"{POINT}:alarm" for c in engine.active_conditions())


@given(limits(), st.lists(values, max_size=60))
def test_high_threshold_is_active_iff_last_crossing_was_above_limit(
    limit_pair: tuple[float, float], sequence: list[float]
) -> None:
    limit, clear_limit = limit_pair
    engine = engine_for(Direction.HIGH, limit, clear_limit)
    expected = False
    alarm_changes: list[bool] = []
    for t, value in enumerate(sequence):
        if value >= limit:
            expected = True
        elif value < clear_limit:
            expected = False
        alarm_changes += [c.active for c in engine.evaluate(good(value, float(t)))]
        assert alarm_active(engine) == expected
    # activate / clear strictly alternate, starting with an activation
    assert alarm_changes == [i % 2 == 0 for i in range(len(alarm_changes))]


@given(limits(), st.lists(values, max_size=60))
def test_low_threshold_mirrors_the_high_one(limit_pair: tuple[float, float], sequence: list[float]) -> None:
    limit, deadband_end = limit_pair
    clear_limit = limit + (limit - deadband_end)
    engine = engine_for(Direction.LOW, limit, clear_limit)
    expected = False
    for t, value in enumerate(sequence):
        if value <= limit:
            expected = True
        elif value > clear_limit:
            expected = False
        engine.evaluate(good(value, float(t)))
        assert alarm_active(engine) == expected


readings_or_faults = st.lists(st.one_of(values, st.none()), max_size=60)


def run(engine: RuleEngine, sequence: list[float | None]) -> list[ConditionChange]:
    changes: list[ConditionChange] = []
    for t, value in enumerate(sequence):
        changes += engine.evaluate(bad(float(t)) if value is None else good(value, float(t)))
    return changes


@given(limits(), readings_or_faults)
def test_same_readings_give_the_same_changes(limit_pair: tuple[float, float], sequence: list[float | None]) -> None:
    first = run(engine_for(Direction.HIGH, *limit_pair), sequence)
    second = run(engine_for(Direction.HIGH, *limit_pair), sequence)
    assert first == second


@given(limits(), readings_or_faults)
def test_bad_readings_never_change_a_threshold_state(
    limit_pair: tuple[float, float], sequence: list[float | None]
) -> None:
    engine = engine_for(Direction.HIGH, *limit_pair)
    for t, value in enumerate(sequence):
        before = alarm_active(engine)
        if value is None:
            changes = engine.evaluate(bad(float(t)))
            assert all(c.signal is SignalClass.MALFUNCTION for c in changes)
            assert alarm_active(engine) == before
        else:
            engine.evaluate(good(value, float(t)))
    malfunction_active = any(c.signal is SignalClass.MALFUNCTION for c in engine.active_conditions())
    assert malfunction_active == (bool(sequence) and sequence[-1] is None)


@given(limits(), readings_or_faults)
def test_every_change_is_statutory_and_alternates_per_condition(
    limit_pair: tuple[float, float], sequence: list[float | None]
) -> None:
    changes = run(engine_for(Direction.HIGH, *limit_pair), sequence)
    assert all(c.statutory for c in changes)
    for condition_id in {c.condition_id for c in changes}:
        states = [c.active for c in changes if c.condition_id == condition_id]
        assert states == [i % 2 == 0 for i in range(len(states))]
