"""Order statistics of timing samples."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, ``q`` in 0..100 (numpy's default method); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: Sequence[float]) -> dict[str, float]:
    """p50, p99, min, max and mean of ``values`` (NaN when empty), keys suffixed ``_s`` as the samples are seconds."""
    if not values:
        return dict.fromkeys(("p50_s", "p99_s", "max_s", "min_s", "mean_s"), math.nan)
    return {
        "p50_s": percentile(values, 50),
        "p99_s": percentile(values, 99),
        "max_s": max(values),
        "min_s": min(values),
        "mean_s": statistics.fmean(values),
    }
