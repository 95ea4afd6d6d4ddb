"""Classification and distance metrics for pillar prediction (numpy only: this runs where sklearn is not installed).

Conventions, chosen to match scikit-learn so figures can be compared with published ones:

* Precision, recall and F1 are computed per class over the labels present in ``y_true`` *or* ``y_pred``
  (sklearn's default ``labels=None``). A class with no predictions has precision 0, a class with no true
  samples has recall 0 (sklearn's ``zero_division=0``); F1 is 0 where precision + recall is 0. The macro
  average weighs every such class equally, the weighted average weighs by true support, so classes that are
  only predicted (support 0) pull the macro average down and do not enter the weighted one.
* Top-k counts ties against the prediction: the true class is a hit only if fewer than ``k`` classes score
  at least as high as it (excluding itself). A one-hot predictor therefore gets no top-3 credit for a wrong
  top-1, instead of being rewarded for the arbitrary order of its zero scores.
* "Within 61 m" (200 ft, the US tracking guidance for working sections) is the distance from the centre of
  the *predicted* pillar to the *true position* of the miner (``target_xy``). Where the true x, y is unknown
  (NaN, e.g. a dataset in the paper's columns only) the true pillar's centre is used instead, and the share
  of windows that fell back is reported next to the figure.
* The guidance asks for 200 ft *in working sections and strategic areas* and 2,000 ft elsewhere. Where the
  caller says which true positions are in the working area (``working``), ``within_61m_working`` is the
  share within 61 m among those windows and ``meets_guidance`` the share meeting 61 m there and 610 m outby.
  Without that information every window counts as working area (the strict reading).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray

WITHIN_M = 61.0  # 200 ft is 60.96 m; the issue states the yardstick as 61 m
WITHIN_OUTBY_M = 610.0  # 2,000 ft, the guidance outside working sections and strategic areas

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float


def _as_int(a: NDArray[np.generic] | list[int]) -> IntArray:
    return np.asarray(a, dtype=np.int64).reshape(-1)


def accuracy(y_true: NDArray[np.generic], y_pred: NDArray[np.generic]) -> float:
    t, p = _as_int(y_true), _as_int(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.shape[0]} vs {p.shape[0]}")
    return float(np.mean(t == p)) if t.size else float("nan")


def per_class_prf(
    y_true: NDArray[np.generic], y_pred: NDArray[np.generic]
) -> tuple[IntArray, FloatArray, FloatArray, FloatArray, IntArray]:
    """Per-class precision, recall, F1 and support over the labels seen in either array (sklearn order)."""
    t, p = _as_int(y_true), _as_int(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.shape[0]} vs {p.shape[0]}")
    labels = np.union1d(t, p)
    # Map labels to 0..K-1 so bincount stays small even for sparse label codes.
    ti = np.searchsorted(labels, t)
    pi = np.searchsorted(labels, p)
    k = labels.size
    tp = np.bincount(ti[ti == pi], minlength=k).astype(np.float64)
    pred_count = np.bincount(pi, minlength=k).astype(np.float64)
    support = np.bincount(ti, minlength=k)
    precision = np.divide(tp, pred_count, out=np.zeros(k), where=pred_count > 0)
    recall = np.divide(tp, support.astype(np.float64), out=np.zeros(k), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    return labels, precision, recall, f1, support.astype(np.int64)


def macro_prf(y_true: NDArray[np.generic], y_pred: NDArray[np.generic]) -> PRF:
    _, p, r, f, _ = per_class_prf(y_true, y_pred)
    if p.size == 0:
        return PRF(float("nan"), float("nan"), float("nan"))
    return PRF(float(p.mean()), float(r.mean()), float(f.mean()))


def weighted_prf(y_true: NDArray[np.generic], y_pred: NDArray[np.generic]) -> PRF:
    _, p, r, f, s = per_class_prf(y_true, y_pred)
    total = s.sum()
    if total == 0:
        return PRF(float("nan"), float("nan"), float("nan"))
    w = s / total
    return PRF(float(p @ w), float(r @ w), float(f @ w))


def top_k_accuracy(y_true: NDArray[np.generic], scores: NDArray[np.floating], k: int = 3) -> float:
    """Share of rows whose true class is among the k best scores, ties counted against the prediction."""
    t = _as_int(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != t.size:
        raise ValueError(f"scores must be (N, C) with N = {t.size}, got {s.shape}")
    if t.size == 0:
        return float("nan")
    true_score = s[np.arange(t.size), t]
    # Number of *other* classes scoring at least as high as the true class.
    rank = (s >= true_score[:, None]).sum(axis=1) - 1
    return float(np.mean(rank < k))


def distance_to_truth(
    y_pred: NDArray[np.generic],
    y_true: NDArray[np.generic],
    centres: NDArray[np.floating],
    target_xy: NDArray[np.floating] | None,
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """Metres from the predicted pillar's centre to the true position; also which rows fell back.

    ``centres[c]`` is the centre of class ``c``. Rows whose ``target_xy`` is NaN (or when it is None) use the
    true pillar's centre instead; the boolean array marks those rows.
    """
    p, t = _as_int(y_pred), _as_int(y_true)
    c = np.asarray(centres, dtype=np.float64)
    fell_back: NDArray[np.bool_]
    if target_xy is None:
        truth = c[t]
        fell_back = np.ones(t.size, dtype=bool)
    else:
        xy = np.asarray(target_xy, dtype=np.float64).reshape(-1, 2)
        fell_back = np.asarray(~np.isfinite(xy).all(axis=1), dtype=bool)
        truth = np.where(fell_back[:, None], c[t], xy)
    d = np.hypot(*(c[p] - truth).T)
    return d.astype(np.float64), fell_back


def within_share(distances: NDArray[np.floating], metres: float = WITHIN_M) -> float:
    d = np.asarray(distances, dtype=np.float64)
    return float(np.mean(d <= metres)) if d.size else float("nan")


def changed_accuracy(
    y_true: NDArray[np.generic], y_pred: NDArray[np.generic], last_pillar: NDArray[np.generic]
) -> tuple[float, int]:
    """Accuracy on the windows where the target pillar differs from the last known one, and their count."""
    t, p, last = _as_int(y_true), _as_int(y_pred), _as_int(last_pillar)
    moved = t != last
    n = int(moved.sum())
    return (float(np.mean(t[moved] == p[moved])) if n else float("nan")), n


@dataclass(frozen=True)
class MetricSet:
    n: int
    accuracy: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    weighted_precision: float
    weighted_recall: float
    weighted_f1: float
    top3: float
    within_61m: float
    within_61m_working: float  # among windows whose true position is in the working area
    working_share: float  # share of windows whose true position is in the working area
    meets_guidance: float  # within 61 m in the working area, within 610 m outby
    within_fallback_share: float  # share of windows scored against the true pillar centre, not target_xy
    median_error_m: float
    changed_accuracy: float
    n_changed: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def compute_all(
    y_true: NDArray[np.generic],
    scores: NDArray[np.floating],
    last_pillar: NDArray[np.generic],
    centres: NDArray[np.floating],
    target_xy: NDArray[np.floating] | None,
    *,
    working: NDArray[np.bool_] | None = None,
) -> MetricSet:
    """Every metric of the report from class scores (N, C); the prediction is the arg-max of the scores.

    ``working`` marks the windows whose true position is in the working area (None: all of them)."""
    s = np.asarray(scores, dtype=np.float64)
    y_pred = s.argmax(axis=1).astype(np.int64)
    mac = macro_prf(y_true, y_pred)
    wei = weighted_prf(y_true, y_pred)
    dist, fell_back = distance_to_truth(y_pred, y_true, centres, target_xy)
    ch, n_ch = changed_accuracy(y_true, y_pred, last_pillar)
    work = np.ones(dist.size, dtype=bool) if working is None else np.asarray(working, dtype=bool).reshape(-1)
    if work.size != dist.size:
        raise ValueError(f"working has {work.size} rows, the predictions {dist.size}")
    meets = np.where(work, dist <= WITHIN_M, dist <= WITHIN_OUTBY_M)
    return MetricSet(
        n=int(y_pred.size),
        accuracy=accuracy(y_true, y_pred),
        macro_precision=mac.precision,
        macro_recall=mac.recall,
        macro_f1=mac.f1,
        weighted_precision=wei.precision,
        weighted_recall=wei.recall,
        weighted_f1=wei.f1,
        top3=top_k_accuracy(y_true, s, 3),
        within_61m=within_share(dist),
        within_61m_working=within_share(dist[work]),
        working_share=float(work.mean()) if work.size else float("nan"),
        meets_guidance=float(meets.mean()) if meets.size else float("nan"),
        within_fallback_share=float(fell_back.mean()) if fell_back.size else float("nan"),
        median_error_m=float(np.median(dist)) if dist.size else float("nan"),
        changed_accuracy=ch,
        n_changed=n_ch,
    )
