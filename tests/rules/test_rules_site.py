"""Site overrides: tightening is free, loosening needs a reason and is recorded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.rules.jurisdictions import template
from edge.rules.site import (
    LimitOverride,
    LooseningWithoutReason,
    OverrideRecord,
    UnknownThresholdError,
    build_point_rules,
)
from edge.rules.thresholds import RuleDefinitionError, Threshold

METHANE = template("us_msha_coal", "methane_working_place")
OXYGEN = template("us_msha_coal", "oxygen")
POINT = "ch4_tg_mm12"


def threshold_named(thresholds: tuple[Threshold, ...], name: str) -> Threshold:
    return next(t for t in thresholds if t.name == name)


def test_no_overrides_keeps_the_template() -> None:
    rules, records = build_point_rules(POINT, "tailgate MM-12", METHANE)
    assert records == []
    assert rules.thresholds == METHANE.thresholds
    assert (rules.point_id, rules.label, rules.location, rules.unit) == (
        POINT,
        "Methane",
        "tailgate MM-12",
        "%",
    )
    assert rules.lel_vol_percent == 4.4


def test_label_can_be_changed() -> None:
    rules, _ = build_point_rules(POINT, "tailgate MM-12", METHANE, label="CH4")
    assert rules.label == "CH4"


def test_tightening_needs_no_reason_and_is_recorded() -> None:
    rules, records = build_point_rules(POINT, "tg", METHANE, [LimitOverride(threshold="alarm", limit=1.2)])
    alarm = threshold_named(rules.thresholds, "alarm")
    assert (alarm.limit, alarm.clear_limit) == (1.2, 1.0)
    assert alarm.source == "30 CFR 75.323(b)(2) [S]; site-tightened"
    assert records == [
        OverrideRecord(
            point_id=POINT,
            threshold="alarm",
            field="limit",
            statutory_value=1.5,
            site_value=1.2,
            loosens=False,
            reason="",
            source="30 CFR 75.323(b)(2) [S]",
        )
    ]


def test_tightened_limit_below_the_clear_limit_drags_the_clear_limit_along() -> None:
    rules, records = build_point_rules(POINT, "tg", METHANE, [LimitOverride(threshold="alarm", limit=0.8)])
    alarm = threshold_named(rules.thresholds, "alarm")
    assert (alarm.limit, alarm.clear_limit) == (0.8, 0.8)
    assert [(r.field, r.site_value, r.loosens) for r in records] == [
        ("limit", 0.8, False),
        ("clear_limit", 0.8, False),
    ]


def test_loosening_without_reason_is_refused_with_an_actionable_message() -> None:
    with pytest.raises(LooseningWithoutReason) as caught:
        build_point_rules(POINT, "tg", METHANE, [LimitOverride(threshold="alarm", limit=2.0)])
    message = str(caught.value)
    assert "point 'ch4_tg_mm12'" in message
    assert "threshold 'alarm'" in message
    assert "limit 2 is less protective than the statutory 1.5" in message
    assert "30 CFR 75.323(b)(2)" in message
    assert "add `override_reason:`" in message
    assert [r.field for r in caught.value.records] == ["limit"]


def test_blank_reason_is_no_reason() -> None:
    with pytest.raises(LooseningWithoutReason):
        build_point_rules(POINT, "tg", METHANE, [LimitOverride(threshold="alarm", limit=2.0)], override_reason="   ")


def test_loosening_with_reason_is_accepted_and_recorded() -> None:
    reason = "MSHA-approved ventilation plan 2026-03, alternative return split"
    rules, records = build_point_rules(
        POINT, "tg", METHANE, [LimitOverride(threshold="alarm", limit=2.0)], override_reason=reason
    )
    alarm = threshold_named(rules.thresholds, "alarm")
    assert alarm.limit == 2.0
    assert alarm.source == f"30 CFR 75.323(b)(2) [S]; site-loosened: {reason}"
    (record,) = records
    assert record.loosens
    assert record.reason == reason
    assert record.describe() == (
        f"{POINT}:alarm limit LOOSENED: statutory 1.5 -> site 2 (30 CFR 75.323(b)(2) [S]); reason: {reason}"
    )


@pytest.mark.parametrize(
    ("template_name", "override", "loosens"),
    [
        ("methane", LimitOverride(threshold="alarm", clear_limit=1.2), True),  # HIGH clears sooner
        ("methane", LimitOverride(threshold="alarm", clear_limit=0.8), False),
        ("methane", LimitOverride(threshold="alarm", on_delay_s=2.0), True),
        ("oxygen", LimitOverride(threshold="alarm", limit=19.0), True),  # LOW alarms later
        ("oxygen", LimitOverride(threshold="alarm", limit=19.6), False),
        ("oxygen", LimitOverride(threshold="alarm", clear_limit=19.6), True),  # LOW clears sooner
        ("oxygen", LimitOverride(threshold="alarm", clear_limit=20.0), False),
    ],
)
def test_which_changes_loosen(template_name: str, override: LimitOverride, loosens: bool) -> None:
    rules_template = METHANE if template_name == "methane" else OXYGEN
    _, records = build_point_rules("p", "here", rules_template, [override], override_reason="test")
    assert [r.loosens for r in records] == [loosens]
    if loosens:
        with pytest.raises(LooseningWithoutReason):
            build_point_rules("p", "here", rules_template, [override])


def test_clear_limit_on_the_wrong_side_is_refused() -> None:
    with pytest.raises(RuleDefinitionError, match=r"point 'p'.*must be <= limit"):
        build_point_rules("p", "here", METHANE, [LimitOverride(threshold="alarm", limit=1.2, clear_limit=1.3)])


def test_unknown_threshold_lists_the_allowed_names() -> None:
    with pytest.raises(UnknownThresholdError) as caught:
        build_point_rules("p", "here", METHANE, [LimitOverride(threshold="alrm", limit=1.2)])
    message = str(caught.value)
    assert "has no threshold 'alrm'; allowed: alarm, alert" in message
    assert "did you mean 'alarm'?" in message


def test_one_threshold_overridden_twice_is_refused() -> None:
    with pytest.raises(RuleDefinitionError, match="overridden twice"):
        build_point_rules(
            "p",
            "here",
            METHANE,
            [LimitOverride(threshold="alarm", limit=1.2), LimitOverride(threshold="alarm", limit=1.1)],
        )


def test_extra_outputs_are_added_after_the_statutory_ones() -> None:
    rules, records = build_point_rules(
        "p", "here", METHANE, [LimitOverride(threshold="alert", extra_outputs=("siren", "beacon", "siren"))]
    )
    assert threshold_named(rules.thresholds, "alert").outputs == ("beacon", "siren")
    assert records == []


def test_lel_basis_raised_is_tightening_lowered_is_loosening() -> None:
    rules, records = build_point_rules("p", "here", METHANE, lel_vol_percent=5.0)
    assert rules.lel_vol_percent == 5.0
    assert [(r.field, r.loosens) for r in records] == [("lel_vol_percent", False)]
    with pytest.raises(LooseningWithoutReason, match="lel_vol_percent 4 is less protective"):
        build_point_rules("p", "here", METHANE, lel_vol_percent=4.0)


def test_lel_basis_is_refused_for_a_rule_that_is_not_methane() -> None:
    with pytest.raises(RuleDefinitionError, match="not a methane rule"):
        build_point_rules("o2", "here", OXYGEN, lel_vol_percent=5.0)


@given(
    st.floats(min_value=0.1, max_value=1.5),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_any_tightening_of_a_high_alarm_needs_no_reason(limit: float, clear_fraction: float) -> None:
    clear_limit = min(1.0, limit * clear_fraction)  # at or below both the new limit and the statutory 1.0
    rules, records = build_point_rules(
        "p", "here", METHANE, [LimitOverride(threshold="alarm", limit=limit, clear_limit=clear_limit)]
    )
    assert not any(r.loosens for r in records)
    alarm = threshold_named(rules.thresholds, "alarm")
    assert (alarm.limit, alarm.clear_limit) == (limit, clear_limit)


@given(st.floats(min_value=1.5, max_value=10.0, exclude_min=True))
def test_any_raise_of_a_high_alarm_needs_a_reason(limit: float) -> None:
    with pytest.raises(LooseningWithoutReason):
        build_point_rules("p", "here", METHANE, [LimitOverride(threshold="alarm", limit=limit)])
