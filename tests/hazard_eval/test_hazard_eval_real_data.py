"""Real data from ../shared/data (skipped with a message when the folder is absent): the gas record becomes an
observation-only episode the predictors run on, seismic-bumps reads with its declared levels and cross-validates.
ROC helpers are checked on hand-made scores (always run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hazard_eval_fixtures import SHARED_DATA

from edge.hazard.contract import CHANNEL_INDEX
from export.hazard.baselines import ThresholdBaseline, TrendBaseline
from export.hazard.real_data import (
    MINE_AIR_FILE,
    SEISMIC_FILE,
    RealDataMissing,
    auc,
    mine_air_episode,
    read_mine_air,
    read_seismic_bumps,
    recall_at_fpr,
    roc_curve,
    seismic_cross_validation,
)
from export.hazard.warnings import WarningPolicy

needs_mine_air = pytest.mark.skipif(
    not (SHARED_DATA / MINE_AIR_FILE).is_file(), reason=f"real gas record not present at {SHARED_DATA / MINE_AIR_FILE}"
)
needs_seismic = pytest.mark.skipif(
    not (SHARED_DATA / SEISMIC_FILE).is_file(), reason=f"seismic-bumps not present at {SHARED_DATA / SEISMIC_FILE}"
)


def test_roc_auc_and_recall_on_hand_made_scores() -> None:
    y = np.array([0, 0, 0, 0, 1, 1])
    perfect = np.array([0.1, 0.2, 0.3, 0.4, 0.8, 0.9])
    fpr, tpr = roc_curve(y, perfect)
    assert auc(fpr, tpr) == pytest.approx(1.0)
    assert recall_at_fpr(fpr, tpr, 0.0) == pytest.approx(1.0)
    inverted = -perfect
    fpr, tpr = roc_curve(y, inverted)
    assert auc(fpr, tpr) == pytest.approx(0.0)
    tied = np.full(6, 0.5)
    fpr, tpr = roc_curve(y, tied)
    assert auc(fpr, tpr) == pytest.approx(0.5)
    mixed = np.array([0.1, 0.6, 0.3, 0.4, 0.5, 0.9])  # one negative above one positive: 7 of 8 pairs right
    fpr, tpr = roc_curve(y, mixed)
    assert auc(fpr, tpr) == pytest.approx(7 / 8)
    assert recall_at_fpr(fpr, tpr, 0.10) == pytest.approx(0.5)


def test_missing_real_data_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RealDataMissing, match="not present"):
        read_mine_air(tmp_path)
    with pytest.raises(RealDataMissing, match="seismic-bumps"):
        read_seismic_bumps(tmp_path)


@needs_mine_air
def test_gas_record_becomes_an_episode_the_predictors_run_on() -> None:
    record = read_mine_air(SHARED_DATA)
    assert record.t_s.shape[0] == 2366
    episode = mine_air_episode(record)
    ch4 = episode.sensors[:, CHANNEL_INDEX["ch4_face"]]
    assert episode.duration_s == pytest.approx(record.t_s[-1] + 1)
    assert 0.1 < float(np.isfinite(ch4).mean()) < 1.0  # held readings, NaN over the long gaps
    co = episode.sensors[:, CHANNEL_INDEX["co_belt"]]
    assert float(np.nanmin(co)) >= 0.0  # negative CO readings are faults, not values
    assert np.isnan(episode.sensors[:, CHANNEL_INDEX["vib_fan"]]).all()
    policy = WarningPolicy()
    statutory = ThresholdBaseline().warnings(episode, policy).warnings
    assert any(w.hazard.value == "gas_accumulation" for w in statutory)  # the record does reach 1.5 % CH4
    trend = TrendBaseline()
    assert trend.forecast(episode).values.shape[1] == 3
    assert episode.site["channels"] == ["ch4_face", "o2_face", "co_belt"]  # the others are absent, not dead


@needs_mine_air
def test_real_record_rates_are_per_day_with_readings() -> None:
    """Three quarters of the record's span are gaps: a rate per calendar day would count them as quiet days."""
    from export.hazard.evaluate import real_gas_record

    out = real_gas_record([ThresholdBaseline(), TrendBaseline()], SHARED_DATA, WarningPolicy())
    assert out["days_with_readings"] == pytest.approx(out["days"] * out["methane_coverage"], rel=1e-3)
    assert out["days_with_readings"] < 0.5 * out["days"]
    for name in ("threshold", "trend"):
        entry = out["predictors"][name]
        assert entry["warnings"] > 0
        assert entry["warnings_per_day"] == pytest.approx(entry["warnings"] / out["days_with_readings"], rel=1e-2)
        assert entry["unconfirmed_per_calendar_day"] == pytest.approx(entry["unconfirmed"] / out["days"], abs=1e-3)
        shares = entry["active_share_with_readings"]
        assert set(shares) == set(entry["by_hazard"])
        assert all(0.0 < v <= 1.0 for v in shares.values())
    # every predictor that forecasts is scored against persistence on the record; the threshold rule does not forecast
    assert set(out["forecast_vs_persistence"]) == {"trend"}
    assert out["forecast_vs_persistence"]["trend"]["+5min"]["points"] > 0


def test_a_standing_warning_fails_the_real_record_check() -> None:
    """One warning that never clears counts once; the share of the time it stands is what the check reads."""
    from export.hazard.report import STANDING_SHARE, targets_check

    def results(share: float) -> dict[str, object]:
        entry = {"unconfirmed_per_day": 0.2, "active_share_with_readings": {"fire": share, "gas_accumulation": 0.01}}
        board = {"per_hazard": {}, "false_per_day": 0.1}
        return {"predictors": {"p": {"test": board}}, "real": {"mine_air": {"predictors": {"p": entry}}}}

    assert targets_check(results(STANDING_SHARE / 2))["p"]["real_record_no_standing_warning"] is True
    assert targets_check(results(0.96))["p"]["real_record_no_standing_warning"] is False


@needs_seismic
def test_seismic_bumps_reads_and_cross_validates_in_the_published_neighbourhood() -> None:
    data = read_seismic_bumps(SHARED_DATA)
    assert data.x.shape[0] == 2584
    assert int(data.y.sum()) == 170
    assert "seismic=a" in data.feature_names
    assert "genergy" in data.feature_names
    result = seismic_cross_validation(data, folds=3, repeats=1)
    for model in ("gbt", "logistic_regression"):
        assert 0.6 < result["models"][model]["auc_mean"] < 0.9
        assert 0.0 < result["models"][model]["recall_at_10pct_fpr_mean"] < 1.0
