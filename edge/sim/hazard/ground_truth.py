"""Ground truth from clean signals, with the thresholds of the gateway's own statutory rule layer.

A threshold activates when ``Threshold.trips`` holds and clears when ``Threshold.restores`` holds -- the methods the
rule engine itself calls -- with the statutory defaults of zero on/off delay, so the activation times here are the
times the gateway would raise the condition on a perfect sensor. Labels for the risk head ("a statutory alarm is
raised within h seconds") are derived from these times.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from edge.hazard.contract import (
    CHANNEL_INDEX,
    FORECAST_HORIZONS_S,
    REFERENCE_LIMITS,
    RISK_HORIZONS_S,
    STATUTORY_CHANNELS,
)
from edge.rules.jurisdictions import RuleTemplate
from edge.rules.signals import Direction, Priority, SignalClass
from edge.rules.thresholds import Threshold
from edge.sim.hazard.dynamics import F64

Crossings = dict[str, dict[str, list[float]]]


def activation_times(values: F64, threshold: Threshold) -> list[float]:
    """Sample times (s, 1 s grid) at which ``threshold`` becomes active on ``values`` (NaN never trips or clears).

    An ``on_delay_s`` of d seconds needs the trip condition on d + 1 consecutive samples, as in the rule engine.
    """
    with np.errstate(invalid="ignore"):
        if threshold.direction is Direction.HIGH:
            trips = values >= threshold.limit if threshold.inclusive else values > threshold.limit
            restores = values < threshold.clear_limit
        else:
            trips = values <= threshold.limit if threshold.inclusive else values < threshold.limit
            restores = values > threshold.clear_limit
    delay = math.ceil(threshold.on_delay_s)
    if delay > 0:
        held = np.concatenate([[0], np.cumsum(trips)])
        window = held[delay + 1 :] - held[: -delay - 1]
        trips = np.concatenate([np.zeros(delay, dtype=bool), window == delay + 1])
    trip_index = np.flatnonzero(trips)
    restore_index = np.flatnonzero(restores)
    times: list[float] = []
    position = 0
    while True:
        k = int(np.searchsorted(trip_index, position))
        if k >= trip_index.shape[0]:
            return times
        on = int(trip_index[k])
        times.append(float(on))
        j = int(np.searchsorted(restore_index, on + 1))
        if j >= restore_index.shape[0]:
            return times
        position = int(restore_index[j])


def reference_threshold(limit: float, name: str, source: str, on_delay_s: float = 0.0) -> Threshold:
    """A plain high limit (clears below the limit) for a channel without a statutory value."""
    return Threshold(
        on_delay_s=on_delay_s,
        name=name,
        signal=SignalClass.ALERT,
        direction=Direction.HIGH,
        limit=limit,
        clear_limit=limit,
        priority=Priority.MEDIUM,
        action="reference limit for event timing",
        source=source,
        outputs=(),
        latch=False,
    )


def all_crossings(clean: F64, statutory: Mapping[str, RuleTemplate]) -> Crossings:
    """Activation times of every statutory and reference threshold, by channel and threshold name."""
    crossings: Crossings = {}
    for channel, rule in statutory.items():
        column = clean[:, CHANNEL_INDEX[channel]]
        crossings[channel] = {t.name: activation_times(column, t) for t in rule.thresholds}
    for ref in REFERENCE_LIMITS:
        column = clean[:, CHANNEL_INDEX[ref.channel]]
        crossings.setdefault(ref.channel, {})[ref.name] = activation_times(
            column, reference_threshold(ref.limit, ref.name, ref.source, ref.on_delay_s)
        )
    return crossings


def first_at_or_after(times: Iterable[float], t0: float) -> float | None:
    later = [t for t in times if t >= t0]
    return min(later) if later else None


def within_horizon(event_times: Sequence[float], n: int, horizons_s: Sequence[int]) -> NDArray[np.bool_]:
    """``(n, len(horizons))``: True at second ``t`` when an event time lies in ``(t, t + h]``."""
    times = np.sort(np.asarray(event_times, dtype=np.float64))
    t = np.arange(n, dtype=np.float64)
    out = np.zeros((n, len(horizons_s)), dtype=bool)
    if times.shape[0] == 0:
        return out
    nxt = np.searchsorted(times, t, side="right")  # index of the first event strictly after t
    has_next = nxt < times.shape[0]
    next_time = np.where(has_next, times[np.minimum(nxt, times.shape[0] - 1)], np.inf)
    for k, horizon in enumerate(horizons_s):
        out[:, k] = next_time - t <= horizon
    return out


def risk_labels(
    crossings: Mapping[str, Mapping[str, Sequence[float]]],
    n: int,
    *,
    level: str = "alarm",
    horizons_s: Sequence[int] = RISK_HORIZONS_S,
) -> NDArray[np.bool_]:
    """``(n, len(horizons))``: a statutory ``level`` activation on any statutory channel within each horizon."""
    times = [t for channel in STATUTORY_CHANNELS for t in crossings.get(channel, {}).get(level, [])]
    return within_horizon(times, n, horizons_s)


def forecast_targets(clean_series: F64, horizons_s: Sequence[int] = FORECAST_HORIZONS_S) -> F64:
    """``(n, len(horizons))``: the clean value ``h`` seconds ahead (NaN past the end of the episode)."""
    n = clean_series.shape[0]
    out = np.full((n, len(horizons_s)), np.nan)
    for k, horizon in enumerate(horizons_s):
        if horizon < n:
            out[: n - horizon, k] = clean_series[horizon:]
    return out
