"""Event-level scoring on hand-made timelines: detection and lead, tolerance before onset, late, missed, false
warnings on normal days and outside events, events without a deadline, summaries and forecast error."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hazard_eval_fixtures import FIRE, event, warning

from export.hazard.scoring import (
    DETECTED,
    LATE,
    MISSED,
    NO_DEADLINE,
    ForecastError,
    covered_s,
    score_episode,
    scoreboard,
    summarize_outcomes,
)


def test_first_matching_warning_gives_the_lead() -> None:
    score = score_episode("e", [event(1000, 2000, 3000)], [warning(1500), warning(1200)], duration_s=21600)
    (outcome,) = score.outcomes
    assert outcome.status == DETECTED
    assert outcome.lead_s == pytest.approx(800.0)
    assert outcome.first_warning_s == pytest.approx(1200.0)
    assert score.false_warnings == []


def test_warning_at_the_deadline_is_detected_with_lead_zero() -> None:
    (outcome,) = score_episode("e", [event(1000, 2000, 3000)], [warning(2000)], duration_s=21600).outcomes
    assert (outcome.status, outcome.lead_s) == (DETECTED, 0.0)


def test_warning_within_the_tolerance_before_onset_counts_from_when_it_was_raised() -> None:
    (outcome,) = score_episode(
        "e", [event(1000, 2000, 3000)], [warning(800, 900)], duration_s=21600, tolerance_s=300
    ).outcomes
    assert outcome.status == DETECTED
    assert outcome.lead_s == pytest.approx(1200.0)


def test_standing_warning_raised_long_before_onset_counts_from_the_window_start_and_is_not_false() -> None:
    score = score_episode("e", [event(1000, 2000, 3000)], [warning(100, 1500)], duration_s=21600, tolerance_s=300)
    assert score.outcomes[0].status == DETECTED
    assert score.outcomes[0].lead_s == pytest.approx(1300.0)  # from onset - tolerance, not from 100 s
    assert score.false_warnings == []


def test_warning_ended_before_the_tolerance_window_is_false_and_the_event_missed() -> None:
    score = score_episode("e", [event(1000, 2000, 3000)], [warning(100, 600)], duration_s=21600, tolerance_s=300)
    assert score.outcomes[0].status == MISSED
    assert score.outcomes[0].lead_s is None
    assert len(score.false_warnings) == 1


def test_warning_after_the_deadline_is_late_with_lead_zero() -> None:
    score = score_episode("e", [event(1000, 2000, 3000)], [warning(2500)], duration_s=21600)
    assert (score.outcomes[0].status, score.outcomes[0].lead_s) == (LATE, 0.0)
    assert score.false_warnings == []


def test_warning_after_the_event_ended_is_false() -> None:
    score = score_episode("e", [event(1000, 2000, 3000)], [warning(5000)], duration_s=21600)
    assert score.outcomes[0].status == MISSED
    assert len(score.false_warnings) == 1


def test_warning_of_another_hazard_neither_detects_nor_is_excused() -> None:
    score = score_episode("e", [event(1000, 2000, 3000)], [warning(1500, hazard=FIRE)], duration_s=21600)
    assert score.outcomes[0].status == MISSED
    assert [w.hazard for w in score.false_warnings] == [FIRE]


def test_events_without_deadline_are_not_scored_but_excuse_their_warnings() -> None:
    score = score_episode("e", [event(1000, None, 3000)], [warning(1500)], duration_s=21600)
    (outcome,) = score.outcomes
    assert outcome.status == NO_DEADLINE
    assert outcome.warned
    assert score.false_warnings == []


def test_event_window_reaches_the_deadline_when_it_comes_after_the_end() -> None:
    # a fan restarted at 1500 s but methane still reached the alarm at 1700 s
    score = score_episode("e", [event(1000, 1700, 1500)], [warning(1650)], duration_s=21600)
    assert score.outcomes[0].status == DETECTED
    assert score.false_warnings == []


def test_scoreboard_counts_false_warnings_per_normal_gateway_day() -> None:
    normal = [score_episode(f"n{i}", [], [warning(100 * k) for k in range(i)], duration_s=86400) for i in range(4)]
    hazard = [score_episode("h", [event(1000, 2000, 3000)], [warning(1500), warning(9000)], duration_s=21600)]
    board = scoreboard(normal + hazard)
    assert board.normal_days == pytest.approx(4.0)
    assert board.normal_false_warnings == 6
    assert board.false_per_day == pytest.approx(1.5)
    assert board.hazard_episode_false_warnings == 1
    assert board.false_by_hazard["gas_accumulation"] == 6
    document = board.to_json()
    assert document["false_per_day"] == pytest.approx(1.5)
    assert document["per_hazard"]["gas_accumulation"]["detected"] == 1


def test_a_warning_standing_all_day_counts_once_and_shows_in_the_share_of_time_under_warning() -> None:
    standing = score_episode("n0", [], [warning(0, 86400), warning(3000, 9000, FIRE)], duration_s=86400)
    quiet = score_episode("n1", [], [warning(100, 700, FIRE), warning(500, 900, FIRE)], duration_s=86400)
    board = scoreboard([standing, quiet])
    assert board.false_by_hazard["gas_accumulation"] == 1
    share = board.to_json()["false_active_share"]
    assert share["gas_accumulation"] == pytest.approx(0.5)
    assert share["fire"] == pytest.approx((6000 + 800) / (2 * 86400), abs=1e-4)  # overlapping warnings count once
    assert share["strata"] == 0.0


def test_covered_seconds_clip_to_the_range_and_count_overlaps_once() -> None:
    assert covered_s([], 0, 100) == 0.0
    assert covered_s([(-50, 20), (10, 30), (25, 26), (90, 500)], 0, 100) == pytest.approx(30 + 10)
    assert covered_s([(40, 60), (0, 50)], 0, 100) == pytest.approx(60)


def test_summary_medians_p10_and_misses_counting_zero() -> None:
    outcomes = []
    leads = [60.0, 120.0, 600.0, 1200.0]
    for k, lead in enumerate(leads):
        outcomes += score_episode(f"e{k}", [event(0, 3000, 3600)], [warning(3000 - lead)], duration_s=21600).outcomes
    outcomes += score_episode("late", [event(0, 3000, 3600)], [warning(3300)], duration_s=21600).outcomes
    outcomes += score_episode("miss", [event(0, 3000, 3600)], [], duration_s=21600).outcomes
    outcomes += score_episode("nodl", [event(0, None, 3600)], [], duration_s=21600).outcomes
    s = summarize_outcomes(outcomes)
    assert (s.events, s.detected, s.late, s.missed, s.no_deadline) == (6, 4, 1, 1, 1)
    assert s.detection_rate == pytest.approx(4 / 6)
    assert s.detection_rate_incl_late == pytest.approx(5 / 6)
    assert s.lead_min == pytest.approx([1.0, 2.0, 10.0, 20.0, 0.0])
    assert s.lead_median_min == pytest.approx(2.0)
    assert s.lead_p10_min == pytest.approx(float(np.percentile([1, 2, 10, 20, 0], 10)))
    assert s.lead_median_all_min == pytest.approx(1.5)  # [0, 0, 1, 2, 10, 20]


def test_empty_summary_is_nan_not_an_error() -> None:
    s = summarize_outcomes([])
    assert math.isnan(s.detection_rate)
    assert s.to_json()["lead_median_min"] is None


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="duration_s"):
        score_episode("e", [], [], duration_s=0)
    with pytest.raises(ValueError, match="tolerance_s"):
        score_episode("e", [], [], duration_s=10, tolerance_s=-1)


def test_forecast_error_scores_model_and_persistence_on_the_same_points() -> None:
    errors = ForecastError((300, 600))
    forecast = np.array([[1.0, 2.0], [1.0, np.nan], [0.5, 0.5]])
    target = np.array([[1.5, 2.0], [1.0, 1.0], [np.nan, 1.5]])
    current = np.array([1.0, 1.0, 1.0])
    errors.add(forecast, target, current)
    doc = errors.to_json()
    assert doc["+5min"] == {"mae": 0.25, "persistence_mae": 0.25, "skill": 0.0, "points": 2}
    assert doc["+10min"]["points"] == 2  # NaN forecast row dropped for both
    assert doc["+10min"]["mae"] == pytest.approx(0.5)
    assert doc["+10min"]["persistence_mae"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="current"):
        errors.add(forecast, target, current[:2])
