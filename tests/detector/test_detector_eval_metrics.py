"""The detector evaluation's arithmetic (VOC AP, matching, operating point) and its simulated mine conditions."""

from __future__ import annotations

import numpy as np
import pytest

from export.detector.evaluate import (
    CONDITIONS,
    average_precision,
    darken,
    degrade,
    dust,
    glare,
    low_resolution,
    score_class,
)


def box(x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    return np.asarray([x1, y1, x2, y2], dtype=np.float32)


def truths(*boxes: np.ndarray) -> np.ndarray:
    return np.stack(boxes).astype(np.float32) if boxes else np.zeros((0, 4), np.float32)


def test_all_point_ap_of_a_perfect_and_of_a_half_ranking() -> None:
    assert average_precision(np.array([0.5, 1.0]), np.array([1.0, 1.0])) == pytest.approx(1.0)
    # TP, FP, TP over 2 labelled: envelope 1.0 up to recall 0.5, 2/3 up to 1.0
    assert average_precision(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_matching_counts_each_labelled_box_once_and_needs_iou_half() -> None:
    gt = [truths(box(0, 0, 10, 10), box(50, 50, 60, 60)), truths()]
    dets = [
        [(box(0, 0, 10, 10), 0.9), (box(1, 1, 10, 10), 0.8), (box(50, 50, 56, 56), 0.7)],  # dup, then IoU 0.36
        [(box(0, 0, 10, 10), 0.3)],  # nothing labelled on this photo
    ]
    score = score_class(dets, gt, operating_confidence=0.75)
    assert score.labelled == 2
    # ranking: TP, FP (duplicate), FP (IoU < 0.5), FP: precision 1 at recall 0.5 only
    assert score.ap50 == pytest.approx(0.5)
    assert (score.true_positives, score.false_positives) == (1, 1)
    assert score.precision == pytest.approx(0.5)
    assert score.recall == pytest.approx(0.5)
    assert score.max_recall == pytest.approx(0.5)
    by_confidence = {c: (p, r) for c, p, r in score.sweep}
    assert by_confidence[0.05] == pytest.approx((0.25, 0.5))  # all four kept
    assert by_confidence[0.5] == pytest.approx((1 / 3, 0.5))  # 0.9, 0.8, 0.7 kept, not 0.3


def test_no_detections_scores_zero_not_an_error() -> None:
    score = score_class([[]], [truths(box(0, 0, 5, 5))])
    assert (score.ap50, score.precision, score.recall) == (0.0, 0.0, 0.0)


def test_conditions_keep_the_frame_shape_and_are_reproducible() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(120, 160, 3), dtype=np.uint8)
    for condition in CONDITIONS:
        a = degrade(image, condition, np.random.default_rng([1, 2]))
        b = degrade(image, condition, np.random.default_rng([1, 2]))
        assert a.shape == image.shape
        assert a.dtype == np.uint8
        assert np.array_equal(a, b), condition
    with pytest.raises(ValueError, match="not one of"):
        degrade(image, "fog", rng)


def test_each_condition_does_what_it_says() -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(60, 200, size=(100, 200, 3), dtype=np.uint8)
    assert darken(image).mean() < 0.3 * image.mean()
    lit = glare(image, np.random.default_rng(5))
    assert lit.max() == 255
    assert (lit.astype(int) >= image.astype(int)).all()
    hazy = dust(image)
    assert hazy.std() < 0.6 * image.std()  # blur + haze: far less contrast
    coarse = low_resolution(image, width=50)
    assert coarse.shape == image.shape
    assert np.abs(np.diff(coarse.astype(int), axis=1)).mean() < np.abs(np.diff(image.astype(int), axis=1)).mean()
