"""The model inputs of the contract (``edge.hazard.contract``) cut from time-stamped streams at decision time ``t``.

One implementation for training, evaluation and the gateway, so the three cannot drift apart. Nothing after ``t``
is ever read. Numpy only: this runs on the gateway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge.hazard.contract import (
    CAMERA_FIELDS,
    CAMERA_TOKEN_S,
    CAMERA_WINDOW_TOKENS,
    SENSOR_CHANNELS,
    SENSOR_WINDOW_S,
    TEXT_MAX_ENTRIES,
    TEXT_WINDOW_S,
    LogEntry,
)


def sensor_window(sensors: NDArray[np.float32], end_index: int) -> NDArray[np.float32]:
    """The ``SENSOR_WINDOW_S`` rows ending at ``end_index`` (inclusive), NaN-padded before the first sample."""
    if sensors.ndim != 2 or sensors.shape[1] != len(SENSOR_CHANNELS):
        raise ValueError(f"sensors must be (n, {len(SENSOR_CHANNELS)}), got {sensors.shape}")
    if not 0 <= end_index < sensors.shape[0]:
        raise ValueError(f"end_index must be in [0, {sensors.shape[0] - 1}], got {end_index}")
    start = end_index + 1 - SENSOR_WINDOW_S
    window = np.full((SENSOR_WINDOW_S, sensors.shape[1]), np.nan, dtype=np.float32)
    window[max(0, -start) :] = sensors[max(0, start) : end_index + 1]
    return window


@dataclass(frozen=True)
class CameraTokens:
    values: NDArray[np.float32]  # (CAMERA_WINDOW_TOKENS, len(CAMERA_FIELDS) + 1): field means, valid fraction
    mask: NDArray[np.bool_]  # (CAMERA_WINDOW_TOKENS,) True where the token holds at least one valid frame


def camera_tokens(
    t_s: NDArray[np.float64], features: NDArray[np.float32], valid: NDArray[np.bool_], t_end: float
) -> CameraTokens:
    """Per ``CAMERA_TOKEN_S`` span ending at ``t_end``: mean of the valid frames and the share of frames valid.

    Token ``k`` covers ``(t_end - (CAMERA_WINDOW_TOKENS - k) * CAMERA_TOKEN_S, t_end - (CAMERA_WINDOW_TOKENS - 1 - k)
    * CAMERA_TOKEN_S]``, oldest first. A span without frames has valid fraction 0 and is masked.
    """
    fields = len(CAMERA_FIELDS)
    if features.ndim != 2 or features.shape[1] != fields:
        raise ValueError(f"camera features must be (frames, {fields}), got {features.shape}")
    start = t_end - CAMERA_WINDOW_TOKENS * CAMERA_TOKEN_S
    lo, hi = np.searchsorted(t_s, [start, t_end], side="right")
    times, rows, ok = t_s[lo:hi], features[lo:hi], valid[lo:hi]
    token = np.minimum(((times - start - 1e-9) // CAMERA_TOKEN_S).astype(np.int64), CAMERA_WINDOW_TOKENS - 1)
    frames = np.bincount(token, minlength=CAMERA_WINDOW_TOKENS).astype(np.float64)
    good = np.bincount(token[ok], minlength=CAMERA_WINDOW_TOKENS).astype(np.float64)
    values = np.zeros((CAMERA_WINDOW_TOKENS, fields + 1), dtype=np.float32)
    for f in range(fields):
        sums = np.bincount(token[ok], weights=rows[ok, f].astype(np.float64), minlength=CAMERA_WINDOW_TOKENS)
        values[:, f] = np.divide(sums, good, out=np.zeros(CAMERA_WINDOW_TOKENS), where=good > 0)
    values[:, fields] = np.divide(good, frames, out=np.zeros(CAMERA_WINDOW_TOKENS), where=frames > 0)
    return CameraTokens(values, good > 0)


def text_window(logs: Sequence[LogEntry], t_end: float) -> list[tuple[float, LogEntry]]:
    """The newest ``TEXT_MAX_ENTRIES`` entries of the last ``TEXT_WINDOW_S`` seconds as ``(age_s, entry)``, newest
    first; ``logs`` must be in time order."""
    recent = [e for e in logs if t_end - TEXT_WINDOW_S < e.t_s <= t_end]
    return [(t_end - e.t_s, e) for e in reversed(recent[-TEXT_MAX_ENTRIES:])]
