"""Metrics against values worked out by hand (and matching scikit-learn's zero_division=0 conventions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from export.localization import metrics as m

# Labels seen: 0, 1, 2 (true only), 3 (predicted only).
Y_TRUE = np.array([0, 0, 1, 1, 2, 2])
Y_PRED = np.array([0, 1, 1, 1, 0, 3])


def test_accuracy() -> None:
    assert m.accuracy(Y_TRUE, Y_PRED) == pytest.approx(0.5)


def test_per_class_by_hand() -> None:
    labels, p, r, f, s = m.per_class_prf(Y_TRUE, Y_PRED)
    assert labels.tolist() == [0, 1, 2, 3]
    # class 0: tp 1 of 2 predicted, 2 true; class 1: tp 2 of 3 predicted, 2 true; 2: never predicted;
    # 3: predicted once, never true (precision 0, recall 0 by zero_division=0).
    assert p == pytest.approx([0.5, 2 / 3, 0.0, 0.0])
    assert r == pytest.approx([0.5, 1.0, 0.0, 0.0])
    assert f == pytest.approx([0.5, 0.8, 0.0, 0.0])
    assert s.tolist() == [2, 2, 2, 0]


def test_macro_and_weighted_by_hand() -> None:
    mac = m.macro_prf(Y_TRUE, Y_PRED)
    assert (mac.precision, mac.recall, mac.f1) == pytest.approx((7 / 24, 0.375, 0.325))
    wei = m.weighted_prf(Y_TRUE, Y_PRED)
    # Weights 2/6 each for classes 0..2; class 3 has no support and drops out.
    assert (wei.precision, wei.recall, wei.f1) == pytest.approx((7 / 18, 0.5, 1.3 / 3))


def test_top3_counts_ties_against_the_prediction() -> None:
    scores = np.array(
        [
            [0.1, 0.2, 0.3, 0.4],  # true 0 is 4th: miss
            [0.1, 0.2, 0.3, 0.4],  # true 1 is 3rd: hit
            [1.0, 0.0, 0.0, 0.0],  # one-hot, true 2 tied with two other zeros: miss
            [0.0, 0.0, 1.0, 0.0],  # true 2 is 1st: hit
        ]
    )
    assert m.top_k_accuracy(np.array([0, 1, 2, 2]), scores, 3) == pytest.approx(0.5)
    assert m.top_k_accuracy(np.array([0, 1, 2, 2]), scores, 1) == pytest.approx(0.25)
    assert m.top_k_accuracy(np.array([0, 1, 2, 2]), scores, 4) == pytest.approx(1.0)  # every class is a top-4


def test_within_61m_uses_true_position_and_falls_back_to_the_pillar_centre() -> None:
    centres = np.array([[0.0, 0.0], [30.0, 0.0], [100.0, 0.0]])
    y_true = np.array([0, 0, 2, 1])
    y_pred = np.array([0, 1, 0, 0])
    target = np.array([[70.0, 0.0], [0.0, 0.0], [np.nan, np.nan], [30.0, 0.0]])
    d, fell_back = m.distance_to_truth(y_pred, y_true, centres, target)
    # Row 0 is "right" pillar but the miner is 70 m from its centre; row 2 falls back to centre 2 (100 m).
    assert d == pytest.approx([70.0, 30.0, 100.0, 30.0])
    assert fell_back.tolist() == [False, False, True, False]
    assert m.within_share(d) == pytest.approx(0.5)
    assert m.within_share(np.array([61.0, 61.01])) == pytest.approx(0.5)


def test_guidance_scope_scores_61_m_in_the_working_area_and_610_m_outby() -> None:
    centres = np.array([[0.0, 0.0], [30.0, 0.0]])
    y_true = np.array([0, 0, 0, 1])
    scores = np.eye(2)[[0, 0, 1, 1]]
    # Row 0: in the panel, on its pillar. Row 1: outby, 75 m from the nearest centre (the portal drift).
    # Row 2: outby, 700 m off. Row 3: in the panel, 90 m off.
    target = np.array([[0.0, 0.0], [0.0, -75.0], [30.0, -700.0], [30.0, 90.0]])
    working = np.array([True, False, False, True])
    ms = m.compute_all(y_true, scores, np.array([0, 0, 0, 1]), centres, target, working=working)
    assert ms.within_61m == pytest.approx(0.25)  # only row 0 everywhere
    assert ms.within_61m_working == pytest.approx(0.5)  # rows 0 and 3, row 0 within
    assert ms.working_share == pytest.approx(0.5)
    assert ms.meets_guidance == pytest.approx(0.5)  # rows 0 and 1
    without_scope = m.compute_all(y_true, scores, np.array([0, 0, 0, 1]), centres, target)
    assert without_scope.within_61m_working == pytest.approx(without_scope.within_61m)
    with pytest.raises(ValueError, match="working has 3 rows"):
        m.compute_all(y_true, scores, np.array([0, 0, 0, 1]), centres, target, working=working[:3])


def test_changed_accuracy() -> None:
    y_true = np.array([1, 2, 2, 3])
    last = np.array([1, 1, 2, 2])
    y_pred = np.array([1, 2, 2, 2])
    acc, n = m.changed_accuracy(y_true, y_pred, last)
    assert n == 2
    assert acc == pytest.approx(0.5)
    acc_none, n_none = m.changed_accuracy(np.array([1]), np.array([1]), np.array([1]))
    assert n_none == 0
    assert math.isnan(acc_none)


def test_compute_all_is_consistent() -> None:
    scores = np.eye(4)[Y_PRED]
    centres = np.array([[0.0, 0.0], [30.0, 0.0], [60.0, 0.0], [90.0, 0.0]])
    ms = m.compute_all(Y_TRUE, scores, np.array([0, 1, 1, 0, 2, 2]), centres, None)
    assert ms.accuracy == pytest.approx(0.5)
    assert ms.macro_f1 == pytest.approx(0.325)
    assert ms.within_fallback_share == 1.0
    # Distances 0, 30, 0, 0, 60, 30 m: all within 61 m.
    assert ms.within_61m == pytest.approx(1.0)
    # Changed: row 1 (last 1, true 0, predicted 1: wrong) and row 3 (last 0, true 1, predicted 1: right).
    assert ms.n_changed == 2
    assert ms.changed_accuracy == pytest.approx(0.5)


def test_length_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        m.accuracy(np.array([1, 2]), np.array([1]))
