"""Baselines on toy inputs whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from loceval_fixtures import PERIOD_S, tiny_layout, toy_windows

from export.localization import metrics as m
from export.localization.baselines import Contact, DeadReckoning, LastKnown, MarkovChain, Track, heading_to_unit


def test_markov_learns_a_deterministic_cycle() -> None:
    cycle = [0, 1, 2, 3]
    last = cycle * 10
    nxt = [(c + 1) % 4 for c in last]
    train = toy_windows(last, nxt, 5)
    test = toy_windows([3, 0, 1, 2, 4], [0, 1, 2, 3, 4], 5)
    chain = MarkovChain()
    chain.fit(train.subset(np.arange(30)), train.subset(np.arange(30, 40)))
    pred = chain.predict_proba(test).argmax(axis=1)
    assert pred.tolist() == [0, 1, 2, 3, 4]  # class 4 was never seen: it stays put


def test_markov_majority_transition_wins() -> None:
    train = toy_windows([0, 0, 0, 1], [1, 1, 2, 1], 3)
    chain = MarkovChain()
    chain.fit(train, train.subset(np.arange(0)))
    probs = chain.predict_proba(toy_windows([0], [1], 3))
    assert probs.argmax(axis=1).tolist() == [1]
    assert probs[0, 1] == pytest.approx(2 / 3)


def test_last_known_scores_zero_on_changed_windows() -> None:
    w = toy_windows([0, 1, 2, 2, 3], [0, 2, 2, 3, 1], 4)
    scores = LastKnown().predict_proba(w)
    acc, n = m.changed_accuracy(w.y, scores.argmax(axis=1), w.last_pillar)
    assert n == 3
    assert acc == 0.0
    assert m.accuracy(w.y, scores.argmax(axis=1)) == pytest.approx(0.4)


def test_heading_conventions() -> None:
    ex, ny = heading_to_unit(np.array([0.0, 90.0]), "compass")
    assert ex == pytest.approx([0.0, 1.0], abs=1e-12)
    assert ny == pytest.approx([1.0, 0.0], abs=1e-12)
    ex, ny = heading_to_unit(np.array([0.0, 90.0]), "math")
    assert ex == pytest.approx([1.0, 0.0], abs=1e-12)
    assert ny == pytest.approx([0.0, 1.0], abs=1e-12)


def _straight_walk(heading: float, speed: float, n: int) -> Track:
    t = np.arange(n, dtype=np.float64) * PERIOD_S
    return Track(t, np.full(n, speed), np.full(n, heading))


def test_dead_reckoning_on_a_straight_walk_lands_in_the_right_pillar() -> None:
    layout = tiny_layout()
    centres = layout.pillar_centres()
    x0 = layout.params.pitch_across_m  # entry 1's centre line
    # North (compass 0 deg) at 1.2 m/s from (x0, 3) where the miner was last heard by a gateway at t = 0..10 s.
    track = _straight_walk(0.0, 1.2, 40)
    dr = DeadReckoning(
        tracks={0: track},
        contacts={0: [Contact(0.0, 10.0, x0, 3.0 + 1.2 * 10.0)]},
        centres=centres,
        locate=layout.pillar_index_at,
    )
    t_last = np.array([20.0, 50.0, 100.0])
    w = toy_windows([0, 0, 0], [0, 0, 0], len(centres))
    w.t_last = t_last
    xs, ys, ok = dr.positions(w)
    assert ok.all()
    # Horizon 1: one record period past the window's end.
    assert xs == pytest.approx([x0] * 3)
    assert ys == pytest.approx(3.0 + 1.2 * (t_last + PERIOD_S))
    pred = dr.predict_proba(w).argmax(axis=1)
    expected = [layout.pillar_ids.index(layout.pillar_at(x0, 3.0 + 1.2 * (t + PERIOD_S))) for t in t_last]
    assert pred.tolist() == expected
    assert len(set(expected)) == 3  # the walk crosses pillars: the test is not trivially the same pillar


def test_dead_reckoning_restarts_at_the_latest_contact_and_falls_back_without_one() -> None:
    layout = tiny_layout()
    y_gw = 2 * layout.params.pitch_along_m
    track = _straight_walk(90.0, 1.0, 40)  # east along a crosscut
    dr = DeadReckoning(
        tracks={0: track, 1: track},
        contacts={0: [Contact(0.0, 0.0, 0.0, 0.0), Contact(60.0, 70.0, 0.0, y_gw)]},
        centres=layout.pillar_centres(),
        locate=layout.pillar_index_at,
    )
    w = toy_windows([7, 7], [7, 7], len(layout.pillar_ids), miner=[0, 1])
    w.t_last = np.array([80.0, 80.0])
    xs, ys, ok = dr.positions(w)
    assert ok.tolist() == [True, False]
    assert xs[0] == pytest.approx(80.0 - 70.0 + PERIOD_S)
    assert ys[0] == pytest.approx(y_gw)
    scores = dr.predict_proba(w)
    assert scores[1].argmax() == 7  # no contact: last known pillar
    assert dr.no_contact_share == pytest.approx(0.5)
