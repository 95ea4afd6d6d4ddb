"""The feature contract: thresholds come from the rule layer, names and shapes are consistent."""

from __future__ import annotations

import numpy as np
import pytest

from edge.hazard import contract, features
from edge.rules.jurisdictions import template
from edge.sim.hazard.ground_truth import forecast_targets, risk_labels


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


def test_sensor_window_is_padded_and_ends_at_the_decision_time() -> None:
    n = 4000
    sensors = np.tile(np.arange(n, dtype=np.float32)[:, None], (1, len(contract.SENSOR_CHANNELS)))
    early = features.sensor_window(sensors, 99)
    assert early.shape == (contract.SENSOR_WINDOW_S, len(contract.SENSOR_CHANNELS))
    assert np.isnan(early[: contract.SENSOR_WINDOW_S - 100]).all()
    assert early[-1, 0] == 99
    late = features.sensor_window(sensors, 3999)
    assert late[0, 0] == 3999 - contract.SENSOR_WINDOW_S + 1
    with pytest.raises(ValueError, match="end_index must be in"):
        features.sensor_window(sensors, n)


def test_camera_tokens_average_valid_frames_and_mask_empty_spans() -> None:
    t = np.arange(0.0, 1800.0, 2.0) + 2.0  # 0.5 Hz, frames at 2..1800
    values = np.ones((t.shape[0], len(contract.CAMERA_FIELDS)), dtype=np.float32)
    values[t > 1740] = 3.0  # the last token sees 3s
    valid = np.ones(t.shape[0], dtype=bool)
    valid[(t > 60) & (t <= 120)] = False  # camera down for the second token
    values[~valid] = np.nan
    tokens = features.camera_tokens(t, values, valid, 1800.0)
    assert tokens.values.shape == (contract.CAMERA_WINDOW_TOKENS, len(contract.CAMERA_FIELDS) + 1)
    assert tokens.mask.tolist() == [True, False] + [True] * (contract.CAMERA_WINDOW_TOKENS - 2)
    assert tokens.values[0, 0] == pytest.approx(1.0)
    assert tokens.values[-1, 0] == pytest.approx(3.0)
    assert tokens.values[1, -1] == 0.0
    assert tokens.values[0, -1] == 1.0


def test_text_window_keeps_the_newest_entries_of_the_shift() -> None:
    logs = [
        contract.LogEntry(float(t), f"entry {t}", "", "f1", contract.LogKind.OPERATION) for t in range(0, 40_000, 1000)
    ]
    window = features.text_window(logs, 30_500.0)
    assert len(window) == contract.TEXT_MAX_ENTRIES
    assert window[0] == (500.0, logs[30])
    assert all(age < contract.TEXT_WINDOW_S for age, _ in window)


def test_risk_labels_and_forecast_targets() -> None:
    crossings = {"ch4_face": {"alarm": [1000.0]}, "vib_fan": {"alarm": [10.0]}}  # vibration is not statutory
    labels = risk_labels(crossings, 2000)
    assert labels[0].tolist() == [False, False, False]
    assert labels[200].tolist() == [False, False, True]
    assert labels[400].tolist() == [False, True, True]
    assert labels[800].tolist() == [True, True, True]
    series = np.arange(1000.0)
    targets = forecast_targets(series)
    assert targets[0].tolist() == [300.0, 600.0, 900.0]
    assert np.isnan(targets[999]).all()
