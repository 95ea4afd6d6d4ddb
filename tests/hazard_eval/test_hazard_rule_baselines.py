"""The rule baselines on synthetic signals: the trend warns about ``horizon`` before a linear ramp reaches the
statutory alarm (the analytic lead), ignores flat noise and a transmitter spike, and the threshold baseline fires
exactly at the alarm level."""

from __future__ import annotations

import numpy as np
import pytest
from hazard_eval_fixtures import GAS, event, synthetic_episode

from edge.hazard.contract import HazardType
from export.hazard.baselines import (
    ThresholdBaseline,
    TrendBaseline,
    TrendParams,
    channel_limits,
    despike,
    held_for,
)
from export.hazard.scoring import DETECTED, score_episode
from export.hazard.warnings import WarningPolicy

N = 4 * 3600
ONSET = 3600.0
SLOPE = 0.4 / 600.0  # %CH4 per second: 0.4 % per 10 min
ALARM = 1.5
DEADLINE = ONSET + (ALARM - 0.3) / SLOPE  # 0.3 % background -> 1.5 % alarm: 30 min after onset


def ramp(noise_sd: float = 0.0, seed: int = 0) -> np.ndarray:
    t = np.arange(N, dtype=np.float64)
    x = 0.3 + np.clip(t - ONSET, 0.0, None) * SLOPE
    if noise_sd:
        x = x + np.random.default_rng(seed).normal(0.0, noise_sd, N)
    return np.round(x, 2)


def params(horizon: int, window: int = 300, min_t: float = 5.0) -> dict[HazardType, TrendParams]:
    return {h: TrendParams(window_s=window, horizon_s=horizon, min_t=min_t) for h in HazardType}


def test_limits_come_from_the_rule_layer() -> None:
    limits = {limit.rule: limit for limit in channel_limits(synthetic_episode(10))}
    assert limits["ch4_face:alarm"].limit == pytest.approx(1.5)
    assert limits["o2_face:alarm"].limit == pytest.approx(19.5)
    assert limits["co_belt:alarm"].limit == pytest.approx(2.0 + 10.0)  # US belt CO: ambient + 10 ppm
    assert limits["vib_fan:zone_d"].hazard is HazardType.EQUIPMENT_FAULT


@pytest.mark.parametrize("horizon", [300, 600, 900])
def test_trend_lead_on_a_clean_ramp_is_the_horizon(horizon: int) -> None:
    episode = synthetic_episode(N, ch4=ramp(), events=[event(ONSET, DEADLINE, N)])
    trend = TrendBaseline(params(horizon), stride_s=5)
    warnings = trend.warnings(episode, WarningPolicy()).warnings
    score = score_episode("ramp", episode.events, warnings, duration_s=N)
    (outcome,) = score.outcomes
    assert outcome.status == DETECTED
    # analytic lead = horizon; minus the 2 s median delay and up to one decision period and the rounding of values
    assert outcome.lead_s == pytest.approx(horizon, abs=30.0)
    assert score.false_warnings == []
    first = warnings[0]
    assert first.hazard is GAS
    assert first.channel == "ch4_face"
    assert first.time_to_threshold_s == pytest.approx(horizon, abs=30.0)


def test_trend_on_a_noisy_ramp_still_leads_by_about_the_horizon() -> None:
    episode = synthetic_episode(N, ch4=ramp(noise_sd=0.02), events=[event(ONSET, DEADLINE, N)])
    warnings = TrendBaseline(params(900, window=300)).warnings(episode, WarningPolicy()).warnings
    (outcome,) = score_episode("ramp", episode.events, warnings, duration_s=N).outcomes
    assert outcome.status == DETECTED
    assert 600.0 <= (outcome.lead_s or 0.0) <= 1000.0


def test_trend_is_silent_on_flat_noise_and_on_a_spike() -> None:
    rng = np.random.default_rng(3)
    ch4 = np.round(0.3 + rng.normal(0.0, 0.02, N), 2)
    ch4[5000:5003] = 4.5  # a 3 s transmitter spike
    episode = synthetic_episode(N, ch4=ch4)
    assert TrendBaseline(params(900)).warnings(episode, WarningPolicy()).warnings == []
    # while the statutory rule trips on the spike (on-delay 0): the nuisance the trend's median removes
    threshold = ThresholdBaseline().warnings(episode, WarningPolicy()).warnings
    assert [w.t_s for w in threshold] == [5000.0]


def test_trend_forecast_extrapolates_a_significant_line() -> None:
    episode = synthetic_episode(N, ch4=ramp())
    forecast = TrendBaseline(params(900)).forecast(episode)
    row = int(np.searchsorted(forecast.at, 4200))
    expected = 0.3 + (4200 - ONSET + np.array([300, 600, 900])) * SLOPE
    assert forecast.values[row] == pytest.approx(expected, abs=0.02)


def test_threshold_fires_when_the_observed_value_reaches_the_alarm() -> None:
    episode = synthetic_episode(N, ch4=ramp(), events=[event(ONSET, DEADLINE, N)])
    warnings = ThresholdBaseline().warnings(episode, WarningPolicy()).warnings
    gas = [w for w in warnings if w.hazard is GAS]
    assert len(gas) == 1
    # values are rounded to 0.01 %: 1.495 % reads 1.50 %, ~7.5 s of ramp before the exact crossing
    assert gas[0].t_s == pytest.approx(DEADLINE, abs=10.0)
    (outcome,) = score_episode("ramp", episode.events, warnings, duration_s=N).outcomes
    assert outcome.lead_s == pytest.approx(0.0, abs=10.0)


def test_trend_fit_picks_parameters_within_the_false_warning_budget() -> None:
    rng = np.random.default_rng(5)
    normal = [
        synthetic_episode(86_400, ch4=np.round(0.3 + rng.normal(0.0, 0.02, 86_400), 2), episode_id=f"n{i}")
        for i in range(2)
    ]
    hazards = [
        synthetic_episode(N, ch4=ramp(noise_sd=0.02, seed=i), events=[event(ONSET, DEADLINE, N)], episode_id=f"h{i}")
        for i in range(2)
    ]
    trend = TrendBaseline()
    trend.fit(hazards, normal)
    chosen = trend.params[GAS]
    assert chosen.horizon_s == 1800  # the longest horizon stays quiet on flat noise, so it wins on lead
    assert trend.selection["per_hazard"]["gas_accumulation"]["train_false_per_day"] == 0.0


def test_helpers_despike_and_on_delay() -> None:
    x = np.array([1.0, 1.0, 9.0, 1.0, 1.0, 2.0, 2.0, 2.0])
    assert despike(x, 3)[2] == pytest.approx(1.0)
    held = held_for(np.array([True, True, False, True, True, True]), 3)
    assert held.tolist() == [False, False, False, False, False, True]
