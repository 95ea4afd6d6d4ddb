"""Per-decision tracks -> operator-facing warnings: on-delay, one warning per hazard while the condition persists,
re-arm after the hold-off, the flood limit, and what the record carries."""

from __future__ import annotations

import numpy as np
import pytest
from hazard_eval_fixtures import FIRE, GAS, track

from edge.rules.signals import Priority
from export.hazard.warnings import DecisionTrack, WarningPolicy, merge_tracks


def test_one_run_is_one_warning_from_its_first_decision_to_its_clearing() -> None:
    merged = merge_tracks([track([(100, 400)])], WarningPolicy(hold_off_s=0))
    assert len(merged.warnings) == 1
    w = merged.warnings[0]
    assert (w.t_s, w.end_s) == (100.0, 400.0)
    assert w.hazard is GAS
    assert w.channel == "ch4_face"
    assert w.time_to_threshold_s == pytest.approx(500.0)
    assert w.evidence == (("ch4_face", 1.0),)
    assert w.priority is Priority.LOW  # below every statutory alarm
    assert "fan" in w.action


def test_on_delay_raises_at_the_nth_consecutive_decision_and_drops_shorter_runs() -> None:
    merged = merge_tracks([track([(100, 102), (200, 260)])], WarningPolicy(on_count=5, hold_off_s=0))
    assert [w.t_s for w in merged.warnings] == [204.0]


def test_reappearing_within_the_hold_off_is_the_same_warning() -> None:
    policy = WarningPolicy(hold_off_s=600)
    merged = merge_tracks([track([(100, 200), (700, 800)])], policy)
    assert [(w.t_s, w.end_s) for w in merged.warnings] == [(100.0, 800.0)]


def test_a_new_warning_only_after_the_condition_was_clear_for_the_hold_off() -> None:
    policy = WarningPolicy(hold_off_s=600)
    merged = merge_tracks([track([(100, 200), (800, 900)])], policy)
    assert [w.t_s for w in merged.warnings] == [100.0, 800.0]


def test_chattering_condition_gives_one_warning() -> None:
    chatter = [(s, s + 5) for s in range(100, 1000, 20)]  # 3 activations a minute (ISA-18.2 chattering)
    merged = merge_tracks([track(chatter)], WarningPolicy(hold_off_s=900))
    assert len(merged.warnings) == 1
    assert merged.warnings[0].end_s == pytest.approx(985.0)


def test_two_channels_of_one_hazard_are_one_warning_raised_by_the_earlier() -> None:
    face = track([(300, 500)], channel="ch4_face")
    ret = track([(200, 600)], channel="ch4_return")
    merged = merge_tracks([face, ret], WarningPolicy())
    assert len(merged.warnings) == 1
    assert merged.warnings[0].channel == "ch4_return"
    assert (merged.warnings[0].t_s, merged.warnings[0].end_s) == (200.0, 600.0)


def test_different_hazards_are_separate_warnings() -> None:
    merged = merge_tracks([track([(300, 500)]), track([(310, 400)], hazard=FIRE, channel="co_belt")], WarningPolicy())
    assert [(w.hazard, w.t_s) for w in merged.warnings] == [(GAS, 300.0), (FIRE, 310.0)]


def test_flood_limit_suppresses_new_warnings_beyond_the_budget_and_keeps_them() -> None:
    from edge.hazard.contract import HazardType

    tracks = [track([(100 + 10 * k, 200)], hazard=h, channel=h.value) for k, h in enumerate(HazardType)]
    merged = merge_tracks(tracks, WarningPolicy(flood_count=3, flood_window_s=600))
    assert len(merged.warnings) == 3
    assert len(merged.suppressed) == 2
    assert [w.t_s for w in merged.warnings] == [100.0, 110.0, 120.0]


def test_last_active_decision_holds_for_one_period() -> None:
    merged = merge_tracks([track([(3500, 3600)], period=10)], WarningPolicy())
    assert merged.warnings[0].end_s == pytest.approx(3600.0)


def test_explain_is_called_at_the_raising_decision() -> None:
    seen: list[float] = []

    def explain(t: float) -> tuple[tuple[str, float], ...]:
        seen.append(t)
        return (("sensors:ch4_face", 0.4), ("camera", 0.1))

    base = track([(100, 200)])
    with_explain = DecisionTrack(base.hazard, base.channel, base.t_s, base.active, base.score, explain=explain)
    merged = merge_tracks([with_explain], WarningPolicy())
    assert seen == [100.0]
    assert merged.warnings[0].evidence[0] == ("sensors:ch4_face", 0.4)
    assert merged.warnings[0].time_to_threshold_s is None


def test_no_activity_no_warning() -> None:
    assert merge_tracks([track([])], WarningPolicy()).warnings == []


def test_bad_tracks_and_policies_are_refused_with_the_field() -> None:
    t = np.arange(5, dtype=np.float64)
    with pytest.raises(ValueError, match="one length"):
        DecisionTrack(GAS, "x", t, np.zeros(4, dtype=bool), np.zeros(5))
    with pytest.raises(ValueError, match="strictly increasing"):
        DecisionTrack(GAS, "x", t[::-1].copy(), np.zeros(5, dtype=bool), np.zeros(5))
    with pytest.raises(ValueError, match="on_count"):
        WarningPolicy(on_count=0)
    with pytest.raises(ValueError, match="hold_off_s"):
        WarningPolicy(hold_off_s=-1)
