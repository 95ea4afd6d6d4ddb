"""Choosing a learned predictor's per-hazard warning thresholds on validation normal days, within a false-warning
budget: the GBT baseline and the fusion model use the same rule, so their rates are comparable.

Per hazard, the lowest threshold on ``THRESHOLD_GRID`` whose merged warnings (``merge_tracks`` under the shared
policy) stay within ``budget[h]`` false warnings per normal gateway-day; ``NEVER`` when not even the highest does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from edge.hazard.contract import HAZARD_TYPES, HazardType
from export.hazard.warnings import DecisionTrack, WarningPolicy, merge_tracks

NEVER = 1.01  # a threshold no probability reaches: the hazard is never warned (no threshold held the budget)
THRESHOLD_GRID = np.concatenate(
    [np.logspace(-3, -1, 15, endpoint=False), np.linspace(0.1, 0.9, 33), 1.0 - np.logspace(-1, -4, 25)]
)
DEFAULT_BUDGET = {h: 1.0 / len(HAZARD_TYPES) for h in HAZARD_TYPES}


def choose_thresholds(
    scores: Sequence[tuple[NDArray[np.float64], NDArray[np.float64]]],
    days: float,
    budget: Mapping[HazardType, float],
    policy: WarningPolicy,
) -> tuple[dict[HazardType, float], dict[str, float]]:
    """``scores``: per normal validation episode, the decision times and the ``(n, len(HAZARD_TYPES))`` hazard
    probabilities. Returns the thresholds and the false warnings per day each achieved on validation."""
    if days <= 0:
        raise ValueError("thresholds need normal validation days (training seeds) to count false warnings on")
    chosen: dict[HazardType, float] = {}
    achieved: dict[str, float] = {}
    for k, hazard in enumerate(HAZARD_TYPES):
        allowed = budget.get(hazard, 0.0)
        best, best_rate = NEVER, 0.0
        for threshold in sorted(THRESHOLD_GRID, reverse=True):
            count = 0
            for t, p in scores:
                score = p[:, k]
                count += len(
                    merge_tracks([DecisionTrack(hazard, "model", t, score >= threshold, score)], policy).warnings
                )
            rate = count / days
            if rate > allowed:
                break
            best, best_rate = float(threshold), rate
        chosen[hazard] = best
        achieved[hazard.value] = round(best_rate, 4)
    return chosen, achieved
