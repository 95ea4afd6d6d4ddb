"""Every statutory profile builds, cites its source and carries the values of regulations.md."""

from __future__ import annotations

import re

import pytest

from edge.readings import Quality, Reading
from edge.rules.jurisdictions import (
    RuleTemplate,
    TemplateParameterError,
    UnknownRuleError,
    jurisdictions,
    template,
)
from edge.rules.signals import ConditionChange, Direction, SignalClass
from edge.rules.site import build_point_rules
from edge.rules.thresholds import RuleEngine

TAG = re.compile(r"\[(C|S|R)\]")
PARAMETERS = {"ambient": 2.0}


def all_templates() -> list[tuple[str, str]]:
    return [(key, name) for key, profile in jurisdictions().items() for name in profile.templates]


def build(key: str, name: str) -> RuleTemplate:
    spec = jurisdictions()[key].templates[name]
    return template(key, name, parameters={p: PARAMETERS[p] for p in spec.parameters})


def first_changes(rules_template: RuleTemplate, value: float, unit: str | None = None) -> list[ConditionChange]:
    rules, _ = build_point_rules("p", "here", rules_template)
    reading = Reading(point_id="p", t_mono=0.0, t_wall=0.0, value=value, unit=unit or rules.unit, quality=Quality.GOOD)
    return RuleEngine([rules]).evaluate(reading)


def test_required_jurisdictions_and_templates_exist() -> None:
    assert set(jurisdictions()) == {"us_msha_coal", "cn_coal"}
    assert {
        "methane_working_place",
        "methane_return_split",
        "methane_machine_monitor",
        "oxygen",
        "carbon_dioxide",
        "co_belt",
        "co_toxic",
    } <= set(jurisdictions()["us_msha_coal"].templates)
    assert {
        "methane_face_t1",
        "methane_return_t2",
        "methane_intake_t3",
        "oxygen",
        "carbon_monoxide",
        "carbon_dioxide",
    } <= set(jurisdictions()["cn_coal"].templates)


@pytest.mark.parametrize(("key", "name"), all_templates())
def test_every_template_builds_and_cites_a_tagged_source(key: str, name: str) -> None:
    built = build(key, name)
    assert built.name == name
    assert built.description
    assert built.thresholds
    assert TAG.search(built.malfunction_source)
    for threshold in built.thresholds:
        assert TAG.search(threshold.source), f"{key}/{name}:{threshold.name} has no confidence tag"
        assert threshold.on_delay_s == 0.0  # statutory conditions are never delayed
        assert threshold.action
    assert jurisdictions()[key].sources
    RuleEngine([build_point_rules("p", "here", built)[0]])  # binds to a point and loads


@pytest.mark.parametrize(("key", "name"), all_templates())
def test_every_template_trips_beyond_its_limits(key: str, name: str) -> None:
    built = build(key, name)
    beyond = {
        Direction.HIGH: max(t.limit for t in built.thresholds) * 2 + 1,
        Direction.LOW: min(t.limit for t in built.thresholds) / 2,
    }[built.thresholds[0].direction]
    changes = first_changes(built, beyond)
    assert {c.condition_id for c in changes} == {f"p:{t.name}" for t in built.thresholds}


def test_us_working_place_methane_values() -> None:
    built = template("us_msha_coal", "methane_working_place")
    alert, alarm = built.thresholds
    assert (alert.signal, alert.limit, alert.clear_limit, alert.latch) == (SignalClass.ALERT, 1.0, 1.0, False)
    assert (alarm.signal, alarm.limit, alarm.clear_limit, alarm.latch) == (SignalClass.ALARM, 1.5, 1.0, True)
    assert "power_trip" in alarm.outputs
    assert built.lel_vol_percent == 4.4


def test_us_machine_monitor_is_fail_safe() -> None:
    built = template("us_msha_coal", "methane_machine_monitor")
    assert [t.limit for t in built.thresholds] == [1.0, 2.0]
    assert built.malfunction_outputs == ("power_trip",)
    assert "27.21" in built.malfunction_source


def test_us_co_belt_is_relative_to_ambient() -> None:
    built = template("us_msha_coal", "co_belt", parameters={"ambient": 3.0})
    assert [(t.name, t.limit) for t in built.thresholds] == [("alert", 8.0), ("alarm", 13.0)]
    assert built.unit == "ppm"
    assert built.parameters == ("ambient",)
    assert [c.message for c in first_changes(built, 8.0)] == [
        "Carbon monoxide 8 ppm at here exceeds 8 ppm: "
        "identify the sensor, notify the AMS operator and investigate the cause"
    ]


def test_missing_parameter_is_named() -> None:
    with pytest.raises(TemplateParameterError, match=r"needs parameter\(s\) ambient"):
        template("us_msha_coal", "co_belt")


def test_unexpected_parameter_is_refused() -> None:
    with pytest.raises(TemplateParameterError, match="does not take parameter"):
        template("us_msha_coal", "oxygen", parameters={"ambient": 1.0})


@pytest.mark.parametrize("ambient", [-1.0, float("nan"), float("inf")])
def test_invalid_ambient_is_refused(ambient: float) -> None:
    with pytest.raises(TemplateParameterError, match="finite number >= 0"):
        template("us_msha_coal", "co_belt", parameters={"ambient": ambient})


def test_unknown_template_lists_allowed_names_and_suggests_one() -> None:
    with pytest.raises(UnknownRuleError) as caught:
        template("us_msha_coal", "methane_workng_place")
    message = str(caught.value)
    assert message.startswith("unknown rule template 'methane_workng_place'")
    assert "allowed: carbon_dioxide, co_belt" in message
    assert "did you mean 'methane_working_place'?" in message
    assert isinstance(caught.value, KeyError)


def test_unknown_jurisdiction_suggests_one() -> None:
    with pytest.raises(UnknownRuleError, match="did you mean 'cn_coal'"):
        template("cn_cole", "oxygen")


def test_china_return_t2_alarms_and_cuts_power_at_the_same_level() -> None:
    built = template("cn_coal", "methane_return_t2")
    changes = first_changes(built, 1.0)
    assert [(c.signal, c.outputs) for c in changes] == [
        (SignalClass.ALERT, ("beacon",)),
        (SignalClass.ALARM, ("siren", "beacon", "power_trip")),
    ]
    assert all(t.clear_limit == 1.0 for t in built.thresholds)


def test_china_face_t1_restores_power_only_below_one_percent() -> None:
    alert, alarm = template("cn_coal", "methane_face_t1").thresholds
    assert (alert.limit, alarm.limit, alarm.clear_limit, alarm.latch) == (1.0, 1.5, 1.0, True)
    assert "AQ 1029" in alarm.source


def test_china_intake_t3_values() -> None:
    built = template("cn_coal", "methane_intake_t3")
    assert [(t.limit, t.clear_limit) for t in built.thresholds] == [(0.5, 0.5), (0.5, 0.5)]


def test_china_oxygen_and_carbon_monoxide_limits() -> None:
    assert first_changes(template("cn_coal", "oxygen"), 20.0) == []
    assert len(first_changes(template("cn_coal", "oxygen"), 19.9)) == 1
    assert first_changes(template("cn_coal", "carbon_monoxide"), 23.9) == []
    (co,) = first_changes(template("cn_coal", "carbon_monoxide"), 24.0)
    assert co.message.startswith("Carbon monoxide 24 ppm at here exceeds 24 ppm: ")
    assert first_changes(template("cn_coal", "carbon_dioxide_return"), 1.5) == []
    assert len(first_changes(template("cn_coal", "carbon_dioxide_return"), 1.51)) == 1
