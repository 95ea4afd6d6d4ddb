"""The gateway's streaming warning gate opens exactly the warnings ``merge_tracks`` raises on the same tracks."""

from __future__ import annotations

import numpy as np
import pytest

from edge.hazard.contract import HAZARD_TYPES, HazardType
from edge.hazard.warning_gate import ClosedWarning, Decision, OpenedWarning, WarningGate
from edge.hazard.warning_policy import WarningPolicy
from export.hazard.warnings import DecisionTrack, HazardWarning, merge_tracks


def random_tracks(rng: np.random.Generator, *, steps: int, period: float) -> list[DecisionTrack]:
    t = np.arange(steps, dtype=np.float64) * period
    tracks = []
    for hazard in HAZARD_TYPES:
        for channel in ("model", "ch4_face")[: int(rng.integers(1, 3))]:
            # runs of activity: a sticky two-state chain, so spans, gaps and hold-offs all occur
            active = np.zeros(steps, dtype=bool)
            state = False
            for i in range(steps):
                if rng.random() < (0.08 if not state else 0.25):
                    state = not state
                active[i] = state
            score = rng.random(steps)
            ttt = np.where(rng.random(steps) < 0.5, rng.uniform(60, 900, steps), np.nan)
            tracks.append(DecisionTrack(hazard, channel, t, active, score, ttt))
    return tracks


def stream(tracks: list[DecisionTrack], policy: WarningPolicy) -> tuple[list[OpenedWarning], list[ClosedWarning]]:
    gate = WarningGate(policy)
    for track in tracks:
        gate.register(track.hazard, track.channel)
    opened: list[OpenedWarning] = []
    closed: list[ClosedWarning] = []
    times = sorted({float(t) for track in tracks for t in track.t_s})
    for t in times:
        decisions = []
        for track in tracks:
            hit = np.flatnonzero(track.t_s == t)
            if hit.size:
                i = int(hit[0])
                ttt = track.time_to_threshold_s
                value = None if ttt is None or not np.isfinite(ttt[i]) else float(ttt[i])
                decisions.append(
                    Decision(track.hazard, track.channel, bool(track.active[i]), float(track.score[i]), value)
                )
        step = gate.decide(t, decisions)
        opened += step.opened
        closed += step.closed
    closed += gate.finish()
    return opened, closed


def as_warning(opened: OpenedWarning, closed: list[ClosedWarning]) -> HazardWarning:
    end = next(c.end_s for c in closed if c.opened == opened)
    return opened.warning(end)


@pytest.mark.parametrize("seed", range(12))
def test_streaming_gate_equals_merge_tracks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    policy = WarningPolicy(
        on_count=int(rng.integers(1, 4)),
        hold_off_s=float(rng.choice([0.0, 60.0, 300.0, 900.0])),
        flood_count=int(rng.integers(1, 4)),
        flood_window_s=float(rng.choice([120.0, 600.0])),
    )
    tracks = random_tracks(rng, steps=400, period=20.0)
    merged = merge_tracks(tracks, policy)
    opened, closed = stream(tracks, policy)
    assert len(merged.warnings) + len(merged.suppressed) > 3  # the tracks exercise the policy
    shown = [as_warning(o, closed) for o in opened if not o.suppressed]
    suppressed = [as_warning(o, closed) for o in opened if o.suppressed]
    assert shown == merged.warnings
    assert suppressed == merged.suppressed


def test_one_situation_stays_one_open_warning_through_the_hold_off() -> None:
    gate = WarningGate(WarningPolicy(hold_off_s=100.0))
    gas = HazardType.GAS_ACCUMULATION

    def at(t: float, active: bool) -> tuple[tuple[ClosedWarning, ...], tuple[OpenedWarning, ...]]:
        step = gate.decide(t, [Decision(gas, "model", active, 0.9 if active else 0.1, None)])
        return step.closed, step.opened

    assert at(0, False) == ((), ())
    _, opened = at(20, True)
    assert [o.t_s for o in opened] == [20]
    assert at(40, False) == ((), ())  # the condition cleared; the warning waits out the hold-off
    assert at(60, True) == ((), ())  # back within the hold-off: the same warning, nothing new
    assert at(80, False) == ((), ())
    closed, opened = at(180, False)  # 100 s after the last span ended at 80
    assert [(c.opened.t_s, c.end_s) for c in closed] == [(20, 80)]
    assert opened == ()
    _, opened = at(200, True)
    assert [o.t_s for o in opened] == [200]
    with pytest.raises(ValueError, match="must increase"):
        gate.decide(200, [])
