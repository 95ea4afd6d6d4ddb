"""The feature contract: thresholds come from the rule layer, names and shapes are consistent."""

from __future__ import annotations

import pytest

from edge.hazard import contract
from edge.rules.jurisdictions import template


def test_statutory_rules_are_the_rule_layers_templates() -> None:
    rules = contract.statutory_rules("us_msha_coal", co_ambient_ppm=2.0)
    assert rules["ch4_face"] == template("us_msha_coal", "methane_working_place")
    assert {t.name: t.limit for t in rules["ch4_face"].thresholds} == {"alert": 1.0, "alarm": 1.5}
    assert {t.name: t.limit for t in rules["co_belt"].thresholds} == {"alert": 7.0, "alarm": 12.0}
    cn = contract.statutory_rules("cn_coal", co_ambient_ppm=2.0)
    assert {t.name: t.limit for t in cn["ch4_return"].thresholds} == {"alert": 1.0, "alarm": 1.0}
    assert all(channel in contract.CHANNEL_NAMES for channel in rules)


def test_unknown_jurisdiction_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="allowed: us_msha_coal, cn_coal"):
        contract.statutory_rules("atlantis", co_ambient_ppm=0.0)


def test_channels_and_reference_limits_are_consistent() -> None:
    assert len(set(contract.CHANNEL_NAMES)) == len(contract.CHANNEL_NAMES)
    for ref in contract.REFERENCE_LIMITS:
        channel = contract.SENSOR_CHANNELS[contract.CHANNEL_INDEX[ref.channel]]
        assert channel.low < ref.limit < channel.high
    for zones in (contract.FAN_ZONES, contract.BELT_DRIVE_ZONES):
        assert 0 < zones.a_b < zones.b_c < zones.c_d
    assert contract.CAMERA_RATE_HZ == (0.2, 1.0)
    assert contract.SENSOR_WINDOW_S == contract.CAMERA_TOKEN_S * contract.CAMERA_WINDOW_TOKENS


def test_log_entry_refuses_overlong_text() -> None:
    with pytest.raises(ValueError, match="at most 160"):
        contract.LogEntry(0.0, "x" * 161, "", "f3", contract.LogKind.OPERATION)
