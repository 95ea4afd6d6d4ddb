"""Semantics of the statutory threshold engine, pinned with explicit reading timestamps."""

from __future__ import annotations

import logging
import math

import pytest

from edge.clock import FakeClock
from edge.readings import Quality, QualityReason, Reading
from edge.rules.jurisdictions import template
from edge.rules.signals import ConditionChange, Direction, Priority, SignalClass
from edge.rules.site import build_point_rules
from edge.rules.thresholds import PointRules, RateOfRise, RuleDefinitionError, RuleEngine, Threshold

POINT = "ch4_tg_mm12"
WALL0 = 1_767_225_600.0


def reading(
    value: float | None,
    t: float,
    *,
    unit: str = "%",
    quality: Quality = Quality.GOOD,
    reason: QualityReason = QualityReason.NONE,
    point: str = POINT,
    detail: str = "",
) -> Reading:
    return Reading(
        point_id=point,
        t_mono=t,
        t_wall=WALL0 + t,
        value=value,
        unit=unit,
        quality=quality,
        reason=reason,
        detail=detail,
    )


def bad(t: float, reason: QualityReason = QualityReason.COMM_LOSS, value: float | None = None) -> Reading:
    return reading(value, t, quality=Quality.BAD, reason=reason)


def us_methane(*, lel_vol_percent: float | None = None) -> PointRules:
    rules, _ = build_point_rules(
        POINT,
        "tailgate MM-12",
        template("us_msha_coal", "methane_working_place"),
        lel_vol_percent=lel_vol_percent,
    )
    return rules


def high(*, limit: float = 1.5, clear: float = 1.0, on_delay_s: float = 0.0, off_delay_s: float = 0.0) -> Threshold:
    return Threshold(
        name="alarm",
        signal=SignalClass.ALARM,
        direction=Direction.HIGH,
        limit=limit,
        clear_limit=clear,
        on_delay_s=on_delay_s,
        off_delay_s=off_delay_s,
        priority=Priority.CRITICAL,
        action="withdraw persons",
        source="test",
        outputs=("siren",),
        latch=False,
    )


def point(*thresholds: Threshold, rates: tuple[RateOfRise, ...] = ()) -> PointRules:
    return PointRules(
        point_id=POINT,
        label="Methane",
        location="tailgate MM-12",
        unit="%",
        thresholds=thresholds,
        rates=rates,
    )


def ids(changes: list[ConditionChange]) -> list[tuple[str, bool]]:
    return [(c.condition_id, c.active) for c in changes]


# -- thresholds and messages ---------------------------------------------------------------------------


def test_example_message_and_fields_of_a_us_methane_alarm() -> None:
    engine = RuleEngine([us_methane()])
    clock = FakeClock()

    changes = engine.evaluate(reading(1.62, clock.monotonic()))

    assert ids(changes) == [(f"{POINT}:alert", True), (f"{POINT}:alarm", True)]
    alert, alarm = changes
    assert alarm.message == "Methane 1.62 % at tailgate MM-12 exceeds 1.5 %: de-energize and withdraw persons"
    assert alert.message == (
        "Methane 1.62 % at tailgate MM-12 exceeds 1.0 %: "
        "de-energize electric equipment in the affected area and adjust ventilation"
    )
    assert alarm.signal is SignalClass.ALARM
    assert alert.signal is SignalClass.ALERT
    assert alarm.priority is Priority.CRITICAL
    assert alert.priority is Priority.HIGH
    assert alarm.latch
    assert not alert.latch
    assert alarm.statutory
    assert alert.statutory
    assert alarm.outputs == ("siren", "beacon", "power_trip")
    assert alert.outputs == ("beacon",)
    assert alarm.source == "30 CFR 75.323(b)(2) [S]"
    assert alert.source == "30 CFR 75.323(b)(1) [S]"
    assert (alarm.value, alarm.limit, alarm.unit) == (1.62, 1.5, "%")
    assert (alarm.t_mono, alarm.t_wall) == (clock.monotonic(), WALL0 + clock.monotonic())
    assert alarm.point_id == POINT
    assert alarm.action == "de-energize and withdraw persons"


def test_alarm_restores_only_below_the_restore_limit_and_keeps_its_latch_flag() -> None:
    engine = RuleEngine([us_methane()])
    engine.evaluate(reading(1.62, 0.0))

    assert engine.evaluate(reading(1.2, 1.0)) == []  # below 1.5 but not below 1.0: alarm stays
    assert engine.evaluate(reading(1.0, 2.0)) == []  # exactly 1.0 is not "below 1.0"
    changes = engine.evaluate(reading(0.99, 3.0))

    assert ids(changes) == [(f"{POINT}:alert", False), (f"{POINT}:alarm", False)]
    alarm_clear = changes[1]
    assert alarm_clear.message == "Methane 0.99 % at tailgate MM-12 is back below 1.0 %"
    assert alarm_clear.latch  # the alarm manager keeps it latched until reset
    assert alarm_clear.limit == 1.0
    assert engine.active_conditions() == []


def test_high_limits_are_inclusive_where_the_rule_says_or_more() -> None:
    engine = RuleEngine([us_methane()])
    assert ids(engine.evaluate(reading(0.999, 0.0))) == []
    assert ids(engine.evaluate(reading(1.0, 1.0))) == [(f"{POINT}:alert", True)]
    assert ids(engine.evaluate(reading(1.5, 2.0))) == [(f"{POINT}:alarm", True)]


def test_strict_limit_does_not_trip_at_the_limit_itself() -> None:
    rules, _ = build_point_rules("co2_1", "belt 3", template("us_msha_coal", "carbon_dioxide"))
    engine = RuleEngine([rules])
    assert engine.evaluate(reading(0.5, 0.0, point="co2_1")) == []
    changes = engine.evaluate(reading(0.51, 1.0, point="co2_1"))
    assert [c.message for c in changes] == [
        "Carbon dioxide 0.51 % at belt 3 exceeds 0.5 %: ventilate the area; persons must not work or travel in it"
    ]


def test_low_oxygen_alarms_below_and_clears_above_the_deadband() -> None:
    rules, _ = build_point_rules("o2_1", "intake MM-3", template("us_msha_coal", "oxygen"))
    engine = RuleEngine([rules])

    assert engine.evaluate(reading(19.5, 0.0, point="o2_1")) == []
    changes = engine.evaluate(reading(19.4, 1.0, point="o2_1"))
    assert [c.message for c in changes] == [
        "Oxygen 19.40 % at intake MM-3 is below 19.5 %: ventilate the area; persons must not work or travel in it"
    ]
    assert engine.evaluate(reading(19.7, 2.0, point="o2_1")) == []  # inside the clear deadband
    cleared = engine.evaluate(reading(19.71, 3.0, point="o2_1"))
    assert [(c.active, c.message) for c in cleared] == [(False, "Oxygen 19.71 % at intake MM-3 is back above 19.7 %")]


def test_ppm_values_print_without_spurious_decimals() -> None:
    rules, _ = build_point_rules("co_b3", "belt 3 drive", template("us_msha_coal", "co_toxic"))
    engine = RuleEngine([rules])
    changes = engine.evaluate(reading(57.0, 0.0, unit="ppm", point="co_b3"))
    assert changes[0].message == (
        "Carbon monoxide 57 ppm at belt 3 drive exceeds 50 ppm: "
        "ventilate the area and keep persons out until CO is below the limit"
    )


# -- delays -------------------------------------------------------------------------------------------


def test_on_delay_requires_the_condition_to_persist() -> None:
    engine = RuleEngine([point(high(on_delay_s=5.0))])
    assert engine.evaluate(reading(1.6, 0.0)) == []
    assert engine.evaluate(reading(1.6, 4.9)) == []
    assert ids(engine.evaluate(reading(1.6, 5.0))) == [(f"{POINT}:alarm", True)]


def test_on_delay_restarts_when_the_condition_goes_away() -> None:
    engine = RuleEngine([point(high(on_delay_s=5.0))])
    engine.evaluate(reading(1.6, 0.0))
    engine.evaluate(reading(1.4, 2.0))  # back under the limit: the delay starts over
    engine.evaluate(reading(1.6, 3.0))
    assert engine.evaluate(reading(1.6, 7.9)) == []
    assert ids(engine.evaluate(reading(1.6, 8.0))) == [(f"{POINT}:alarm", True)]


def test_off_delay_requires_the_condition_to_stay_away() -> None:
    engine = RuleEngine([point(high(off_delay_s=10.0))])
    engine.evaluate(reading(1.6, 0.0))
    assert engine.evaluate(reading(0.5, 1.0)) == []
    assert engine.evaluate(reading(1.2, 5.0)) == []  # not below clear_limit: off-delay restarts
    assert engine.evaluate(reading(0.5, 6.0)) == []
    assert engine.evaluate(reading(0.5, 15.9)) == []
    assert ids(engine.evaluate(reading(0.5, 16.0))) == [(f"{POINT}:alarm", False)]


# -- malfunction --------------------------------------------------------------------------------------


def test_bad_reading_raises_a_malfunction_with_its_reason() -> None:
    engine = RuleEngine([us_methane()])
    changes = engine.evaluate(bad(0.0))

    assert len(changes) == 1
    fault = changes[0]
    assert fault.condition_id == f"{POINT}:malfunction"
    assert fault.signal is SignalClass.MALFUNCTION
    assert fault.active
    assert fault.statutory
    assert fault.message == (
        "Methane sensor at tailgate MM-12 malfunction: comm_loss (no answer): check the transmitter and its wiring"
    )
    assert fault.action == "check the transmitter and its wiring"
    assert fault.priority is Priority.HIGH
    assert fault.outputs == ()
    assert not fault.latch
    assert "75.351" in fault.source
    assert engine.evaluate(bad(1.0, QualityReason.STALE)) == []  # still the same malfunction


def test_reading_detail_is_kept_in_the_malfunction_message() -> None:
    engine = RuleEngine([us_methane()])
    changes = engine.evaluate(reading(None, 0.0, quality=Quality.BAD, reason=QualityReason.FAULT, detail="code 0x12"))
    assert changes[0].message == (
        "Methane sensor at tailgate MM-12 malfunction: fault (transmitter reports a fault; code 0x12): "
        "repair or replace the sensor"
    )


def test_a_dead_sensor_never_clears_an_alarm() -> None:
    engine = RuleEngine([us_methane()])
    engine.evaluate(reading(1.62, 0.0))

    # A BAD reading may carry the last raw value for diagnostics; it must not clear anything.
    changes = engine.evaluate(bad(1.0, QualityReason.FAULT, value=0.0))
    assert ids(changes) == [(f"{POINT}:malfunction", True)]
    assert {c.condition_id for c in engine.active_conditions()} == {
        f"{POINT}:malfunction",
        f"{POINT}:alert",
        f"{POINT}:alarm",
    }

    recovered = engine.evaluate(reading(1.7, 2.0))
    assert ids(recovered) == [(f"{POINT}:malfunction", False)]
    assert recovered[0].message == "Methane sensor at tailgate MM-12 back in service"

    cleared = engine.evaluate(reading(0.2, 3.0))
    assert ids(cleared) == [(f"{POINT}:alert", False), (f"{POINT}:alarm", False)]


def test_malfunction_clears_before_the_same_readings_threshold_changes() -> None:
    engine = RuleEngine([us_methane()])
    engine.evaluate(bad(0.0))
    changes = engine.evaluate(reading(1.62, 1.0))
    assert ids(changes) == [
        (f"{POINT}:malfunction", False),
        (f"{POINT}:alert", True),
        (f"{POINT}:alarm", True),
    ]


def test_off_delay_restarts_after_a_malfunction() -> None:
    engine = RuleEngine([point(high(off_delay_s=10.0))])
    engine.evaluate(reading(1.6, 0.0))
    engine.evaluate(reading(0.5, 1.0))  # off-delay starts
    engine.evaluate(bad(5.0))
    engine.evaluate(reading(0.5, 6.0))  # off-delay starts again here
    assert engine.evaluate(reading(0.5, 15.9)) == []
    assert ids(engine.evaluate(reading(0.5, 16.0))) == [(f"{POINT}:alarm", False)]


def test_uncertain_readings_are_evaluated() -> None:
    engine = RuleEngine([us_methane()])
    changes = engine.evaluate(reading(1.62, 0.0, quality=Quality.UNCERTAIN, reason=QualityReason.WARNING))
    assert ids(changes) == [(f"{POINT}:alert", True), (f"{POINT}:alarm", True)]


@pytest.mark.parametrize("value", [math.nan, math.inf, None])
def test_non_numbers_with_good_quality_are_a_malfunction(value: float | None) -> None:
    engine = RuleEngine([us_methane()])
    engine.evaluate(reading(1.62, 0.0))
    changes = engine.evaluate(reading(value, 1.0))
    assert ids(changes) == [(f"{POINT}:malfunction", True)]
    assert len(engine.active_conditions()) == 3  # alert and alarm held


def test_machine_monitor_malfunction_trips_power_and_latches() -> None:
    rules, _ = build_point_rules(
        "ch4_cm1", "continuous miner CM-1", template("us_msha_coal", "methane_machine_monitor")
    )
    engine = RuleEngine([rules])
    (fault,) = engine.evaluate(reading(None, 0.0, quality=Quality.BAD, reason=QualityReason.FROZEN, point="ch4_cm1"))
    assert fault.outputs == ("power_trip",)
    assert fault.latch
    assert "27.21" in fault.source


# -- units --------------------------------------------------------------------------------------------


def test_readings_in_ppm_are_compared_in_the_rule_unit() -> None:
    engine = RuleEngine([us_methane()])
    changes = engine.evaluate(reading(16_200.0, 0.0, unit="ppm"))
    assert changes[1].message == "Methane 1.62 % at tailgate MM-12 exceeds 1.5 %: de-energize and withdraw persons"
    assert changes[1].value == pytest.approx(1.62)


def test_lel_readings_use_the_iec_basis_by_default() -> None:
    engine = RuleEngine([us_methane()])
    # 30 %LEL on the 4.4 %vol basis is 1.32 %vol: alert only.
    assert ids(engine.evaluate(reading(30.0, 0.0, unit="%LEL"))) == [(f"{POINT}:alert", True)]


def test_lel_basis_of_the_instrument_can_be_set() -> None:
    engine = RuleEngine([us_methane(lel_vol_percent=5.0)])
    # 30 %LEL on a 5.0 %vol basis is 1.5 %vol: alarm.
    changes = engine.evaluate(reading(30.0, 0.0, unit="% LEL"))
    assert ids(changes) == [(f"{POINT}:alert", True), (f"{POINT}:alarm", True)]
    assert changes[1].value == pytest.approx(1.5)


def test_unconvertible_unit_is_a_malfunction_not_a_silent_comparison() -> None:
    engine = RuleEngine([us_methane()])
    engine.evaluate(reading(1.62, 0.0))
    changes = engine.evaluate(reading(0.1, 1.0, unit="°C"))
    assert ids(changes) == [(f"{POINT}:malfunction", True)]
    assert changes[0].message == (
        "Methane sensor at tailgate MM-12 malfunction: unit '°C' cannot be compared with limit unit '%': "
        "correct the point's unit or its rule in the configuration"
    )
    assert len(engine.active_conditions()) == 3


def test_lel_readings_are_refused_for_a_rule_without_lel_basis() -> None:
    rules, _ = build_point_rules("co_b3", "belt 3", template("us_msha_coal", "co_toxic"))
    engine = RuleEngine([rules])
    (fault,) = engine.evaluate(reading(10.0, 0.0, unit="%LEL", point="co_b3"))
    assert fault.signal is SignalClass.MALFUNCTION
    assert "unit '%LEL' cannot be compared with limit unit 'ppm'" in fault.message


# -- rate of rise -------------------------------------------------------------------------------------


def rate_rule() -> RateOfRise:
    return RateOfRise(
        signal=SignalClass.ALERT,
        limit_per_min=0.1,
        window_s=60.0,
        priority=Priority.MEDIUM,
        action="check ventilation",
        source="site rule",
        outputs=("beacon",),
    )


def test_rate_of_rise_needs_half_a_window_then_trips_and_clears() -> None:
    engine = RuleEngine([point(high(limit=5.0, clear=5.0), rates=(rate_rule(),))])
    clock = FakeClock(start_mono=0.0)
    for step in range(3):  # 0.02 % every 10 s = 0.12 %/min, but only 20 s of history
        assert engine.evaluate(reading(0.2 + 0.02 * step, clock.monotonic())) == []
        clock.advance(10.0)
    changes = engine.evaluate(reading(0.26, clock.monotonic()))  # 30 s span: judged now

    assert ids(changes) == [(f"{POINT}:rate_of_rise", True)]
    assert changes[0].message == ("Methane rising 0.12 %/min at tailgate MM-12 exceeds 0.1 %/min: check ventilation")
    assert changes[0].unit == "%/min"
    assert changes[0].value == pytest.approx(0.12)

    cleared: list[ConditionChange] = []
    for _ in range(6):  # flat for a full window
        clock.advance(10.0)
        cleared += engine.evaluate(reading(0.26, clock.monotonic()))
    assert ids(cleared) == [(f"{POINT}:rate_of_rise", False)]
    assert cleared[0].message.startswith("Methane rising ")
    assert cleared[0].message.endswith(" %/min at tailgate MM-12 is back below 0.1 %/min")


def test_rate_of_rise_ignores_two_close_samples() -> None:
    engine = RuleEngine([point(high(limit=5.0, clear=5.0), rates=(rate_rule(),))])
    engine.evaluate(reading(0.2, 0.0))
    assert engine.evaluate(reading(0.9, 1.0)) == []  # 42 %/min on a 1 s span: not enough history


def test_rate_of_rise_forgets_samples_older_than_the_window() -> None:
    engine = RuleEngine([point(high(limit=5.0, clear=5.0), rates=(rate_rule(),))])
    engine.evaluate(reading(0.0, 0.0))
    # 100 s later: the first sample is out of the window, so no rate can be judged from one sample.
    assert engine.evaluate(reading(0.5, 100.0)) == []


# -- engine housekeeping ------------------------------------------------------------------------------


def test_points_without_rules_produce_no_changes() -> None:
    engine = RuleEngine([us_methane()])
    assert engine.evaluate(reading(99.0, 0.0, point="vib_fan1")) == []
    assert engine.point_ids == (POINT,)


def test_active_conditions_lists_the_activation_records_in_rule_order() -> None:
    engine = RuleEngine([us_methane()])
    engine.evaluate(reading(1.62, 0.0))
    engine.evaluate(reading(1.7, 1.0))
    active = engine.active_conditions()
    assert [c.condition_id for c in active] == [f"{POINT}:alert", f"{POINT}:alarm"]
    assert all(c.active and c.t_mono == 0.0 for c in active)


def test_reading_older_than_the_previous_one_is_still_evaluated(caplog: pytest.LogCaptureFixture) -> None:
    engine = RuleEngine([us_methane()])
    engine.evaluate(reading(0.2, 10.0))
    with caplog.at_level(logging.WARNING, logger="edge.rules.thresholds"):
        changes = engine.evaluate(reading(1.62, 5.0))
    assert ids(changes) == [(f"{POINT}:alert", True), (f"{POINT}:alarm", True)]
    assert "older than the previous one" in caplog.text


def test_duplicate_point_rules_are_refused() -> None:
    with pytest.raises(RuleDefinitionError, match="defined twice"):
        RuleEngine([us_methane(), us_methane()])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"clear_limit": 1.6}, "must be <= limit"),
        ({"signal": SignalClass.WARNING}, "never from statutory rules"),
        ({"signal": SignalClass.MALFUNCTION}, "malfunction is automatic"),
        ({"name": "malfunction"}, "reserved"),
        ({"name": "a:b"}, "without ':'"),
        ({"limit": math.nan}, "finite"),
        ({"on_delay_s": -1.0}, "on_delay_s must be >= 0"),
    ],
)
def test_invalid_thresholds_are_refused(kwargs: dict[str, object], match: str) -> None:
    base: dict[str, object] = {
        "name": "alarm",
        "signal": SignalClass.ALARM,
        "direction": Direction.HIGH,
        "limit": 1.5,
        "clear_limit": 1.0,
        "priority": Priority.CRITICAL,
        "action": "withdraw",
        "source": "test",
        "outputs": (),
        "latch": False,
    }
    with pytest.raises(RuleDefinitionError, match=match):
        Threshold(**(base | kwargs))  # type: ignore[arg-type]


def test_low_threshold_clear_limit_must_be_on_the_safe_side() -> None:
    with pytest.raises(RuleDefinitionError, match="must be >= limit"):
        Threshold(
            name="low",
            signal=SignalClass.ALARM,
            direction=Direction.LOW,
            limit=19.5,
            clear_limit=19.0,
            priority=Priority.CRITICAL,
            action="ventilate",
            source="test",
            outputs=(),
            latch=False,
        )


def test_duplicate_condition_names_on_a_point_are_refused() -> None:
    with pytest.raises(RuleDefinitionError, match="duplicate condition names"):
        point(high(), high())
