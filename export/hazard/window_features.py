"""Hand-made window features for the gradient-boosted-tree baseline, computed at decision times from the streams.

Per sensor channel: the last valid value, and over trailing spans of 1, 5, 15 and 30 min the mean, least-squares
slope (per minute), standard deviation and maximum, plus the share of valid samples in the last 5 min. Camera:
per field the mean over valid frames and the valid share in the last 5 and 30 min, and the maximum bare heads and
persons in the zone in the last 5 min. Text: counts of entries using each keyword group in the last 30 min and
8 h, and the age of the newest such entry. Only values at or before the decision time are read (the same rule as
``edge.hazard.features``); a dead modality gives NaN features, which the trees route as missing.

Everything is computed for all decision times at once with cumulative sums, so a 24 h day at 1 s costs a fraction
of a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge.hazard.contract import CAMERA_FIELDS, CHANNEL_NAMES, TEXT_WINDOW_S, CameraField, LogEntry
from edge.sim.hazard.episode import Episode

F64 = NDArray[np.float64]
SENSOR_SPANS_S: tuple[int, ...] = (60, 300, 900, 1800)
CAMERA_SPANS_S: tuple[int, ...] = (300, 1800)
TEXT_SPANS_S: tuple[int, ...] = (1800, TEXT_WINDOW_S)

# Words an examiner or fitter writes about each kind of trouble, and the words that say it was dealt with. The
# trees learn which matter; the groups only keep the feature count small.
KEYWORD_GROUPS: dict[str, tuple[str, ...]] = {
    "gas": ("gas", "methane", "ch4", "feeder", "outburst", "bumping", "gassing"),
    "ventilation": ("fan", "curtain", "brattice", "door", "ventilation", "barometer"),
    "fire": ("smell", "burning", "haze", "smoke", "hot", "rubbing", "misaligned"),
    "equipment": ("bearing", "vibration", "noisy", "rough", "grinding", "tripped"),
    "strata": ("roof", "rib", "cracking", "dribbling", "convergence", "sloughing"),
    "people": ("hard hat", "unsupported", "helmet", "without"),
    "resolved": ("greased", "fixed", "replaced", "ok", "normal", "settled", "cleared", "restarted", "closed"),
}

MODALITIES: tuple[str, ...] = ("sensors", "camera", "text")


@dataclass(frozen=True)
class FeatureNames:
    names: tuple[str, ...]
    modality: tuple[str, ...]  # per feature: "sensors", "camera" or "text"
    channel: tuple[str, ...]  # per feature: the sensor channel, camera field or keyword group

    def columns(self, modalities: Sequence[str]) -> NDArray[np.int64]:
        wanted = set(modalities)
        unknown = wanted - set(MODALITIES)
        if unknown:
            raise ValueError(f"unknown modalities {sorted(unknown)}; allowed: {', '.join(MODALITIES)}")
        return np.array([i for i, m in enumerate(self.modality) if m in wanted], dtype=np.int64)


def _names() -> FeatureNames:
    names: list[str] = []
    modality: list[str] = []
    channel: list[str] = []

    def add(name: str, mod: str, ch: str) -> None:
        names.append(name)
        modality.append(mod)
        channel.append(ch)

    for ch in CHANNEL_NAMES:
        add(f"{ch}.last", "sensors", ch)
        for span in SENSOR_SPANS_S:
            for stat in ("mean", "slope", "std", "max"):
                add(f"{ch}.{stat}{span}", "sensors", ch)
        add(f"{ch}.valid300", "sensors", ch)
    for span in CAMERA_SPANS_S:
        for f in CAMERA_FIELDS:
            add(f"camera.{f.value}.mean{span}", "camera", f.value)
        add(f"camera.valid{span}", "camera", "valid")
    add("camera.bare_heads.max300", "camera", CameraField.BARE_HEADS.value)
    add("camera.persons_in_zone.max300", "camera", CameraField.PERSONS_IN_ZONE.value)
    for group in KEYWORD_GROUPS:
        for span in TEXT_SPANS_S:
            add(f"text.{group}.count{span}", "text", group)
        add(f"text.{group}.age", "text", group)
    return FeatureNames(tuple(names), tuple(modality), tuple(channel))


FEATURES = _names()


def decision_indices(n: int, stride_s: int, start_s: int = 0) -> NDArray[np.int64]:
    """Decision times (sample indices, 1 s grid) every ``stride_s`` from ``start_s``."""
    if stride_s < 1:
        raise ValueError(f"stride_s must be >= 1, got {stride_s}")
    return np.arange(start_s, n, stride_s, dtype=np.int64)


def _window_sums(x: F64, spans: Sequence[int], ends: NDArray[np.int64]) -> dict[int, tuple[F64, F64, F64, F64]]:
    """Per span: count, sum of values, sum of squares and sum of (age * value) of the valid samples in
    ``(end - span, end]``, with the sample age measured back from the end."""
    valid = np.isfinite(x)
    v = np.where(valid, x, 0.0)
    idx = np.arange(x.shape[0], dtype=np.float64)
    c_n = np.concatenate([[0.0], np.cumsum(valid)])
    c_y = np.concatenate([[0.0], np.cumsum(v)])
    c_yy = np.concatenate([[0.0], np.cumsum(v * v)])
    c_iy = np.concatenate([[0.0], np.cumsum(idx * v)])
    c_i = np.concatenate([[0.0], np.cumsum(idx * valid)])
    c_ii = np.concatenate([[0.0], np.cumsum(idx * idx * valid)])
    out: dict[int, tuple[F64, F64, F64, F64]] = {}
    hi = ends + 1
    for span in spans:
        lo = np.maximum(hi - span, 0)
        n = c_n[hi] - c_n[lo]
        sy = c_y[hi] - c_y[lo]
        syy = c_yy[hi] - c_yy[lo]
        # slope = cov(i, y) / var(i) over valid samples; computed from absolute indices
        si = c_i[hi] - c_i[lo]
        sii = c_ii[hi] - c_ii[lo]
        siy = c_iy[hi] - c_iy[lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            sxx = sii - si * si / n
            sxy = siy - si * sy / n
            slope = np.where((n >= 3) & (sxx > 0), sxy / sxx, np.nan)
        out[span] = (n, sy, syy, slope)
    return out


def rolling_fit(x: F64, span: int, ends: NDArray[np.int64]) -> tuple[F64, F64, F64, F64]:
    """Least-squares line over the valid samples of ``(end - span, end]``: (fitted value at the end, slope per
    second, the slope's standard error, valid share of the span)."""
    valid = np.isfinite(x)
    v = np.where(valid, x, 0.0)
    idx = np.arange(x.shape[0], dtype=np.float64)
    sums = [np.concatenate([[0.0], np.cumsum(a)]) for a in (valid, v, v * v, idx * v, idx * valid, idx * idx * valid)]
    hi = ends + 1
    lo = np.maximum(hi - span, 0)
    n, sy, syy, siy, si, sii = (s[hi] - s[lo] for s in sums)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_i = si / n
        mean_y = sy / n
        sxx = sii - si * mean_i
        sxy = siy - si * mean_y
        syy_c = syy - sy * mean_y
        slope = np.where((n >= 3) & (sxx > 0), sxy / sxx, np.nan)
        sse = np.maximum(syy_c - slope * sxy, 0.0)
        stderr = np.sqrt(sse / np.maximum(n - 2, 1) / sxx)
        level = mean_y + slope * (ends - mean_i)
    return level, slope, stderr, n / span


def _last_valid(x: F64, ends: NDArray[np.int64]) -> F64:
    valid = np.isfinite(x)
    positions = np.where(valid, np.arange(x.shape[0]), -1)
    last = np.maximum.accumulate(positions)[ends]
    return np.where(last >= 0, x[np.maximum(last, 0)], np.nan)


def trailing_max(x: F64, span: int) -> F64:
    """Max of the finite values of ``x[i - span + 1 : i + 1]`` for every ``i`` (NaN where none), in O(n) by the
    van Herk / Gil-Werman block method."""
    n = x.shape[0]
    filled = np.where(np.isfinite(x), x, -np.inf)
    padded = np.concatenate([np.full(span - 1, -np.inf), filled])
    blocks = -(-padded.shape[0] // span)
    body = np.full(blocks * span, -np.inf)
    body[: padded.shape[0]] = padded
    grid = body.reshape(blocks, span)
    prefix = np.maximum.accumulate(grid, axis=1).ravel()  # max from block start to here
    suffix = np.maximum.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()  # max from here to block end
    start = np.arange(n)  # window [start, start + span - 1] in padded coordinates
    result = np.maximum(suffix[start], prefix[start + span - 1])
    return np.where(np.isfinite(result), result, np.nan)


def _trailing_max(x: F64, span: int, ends: NDArray[np.int64]) -> F64:
    return trailing_max(x, span)[ends]


def sensor_features(sensors: NDArray[np.float32], ends: NDArray[np.int64]) -> F64:
    rows = ends.shape[0]
    per_channel = 2 + 4 * len(SENSOR_SPANS_S)
    out = np.empty((rows, per_channel * sensors.shape[1]))
    for c in range(sensors.shape[1]):
        x = sensors[:, c].astype(np.float64)
        base = c * per_channel
        out[:, base] = _last_valid(x, ends)
        sums = _window_sums(x, SENSOR_SPANS_S, ends)
        for k, span in enumerate(SENSOR_SPANS_S):
            n, sy, syy, slope = sums[span]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(n > 0, sy / n, np.nan)
                std = np.sqrt(np.maximum(syy / n - mean * mean, 0.0))
            col = base + 1 + 4 * k
            out[:, col] = mean
            out[:, col + 1] = slope * 60.0
            out[:, col + 2] = np.where(n > 1, std, np.nan)
            out[:, col + 3] = _trailing_max(x, span, ends)
        out[:, base + per_channel - 1] = sums[300][0] / 300.0 if 300 in sums else np.nan
    return out


def camera_features(camera_t: F64, camera: NDArray[np.float32], camera_valid: NDArray[np.bool_], ends_s: F64) -> F64:
    fields = len(CAMERA_FIELDS)
    per_span = fields + 1
    out = np.full((ends_s.shape[0], per_span * len(CAMERA_SPANS_S) + 2), np.nan)
    valid = camera_valid & np.all(np.isfinite(camera), axis=1)
    values = np.where(valid[:, None], camera, 0.0).astype(np.float64)
    c_valid = np.concatenate([[0.0], np.cumsum(valid)])
    c_values = np.concatenate([np.zeros((1, fields)), np.cumsum(values, axis=0)])
    hi = np.searchsorted(camera_t, ends_s, side="right")
    for k, span in enumerate(CAMERA_SPANS_S):
        lo = np.searchsorted(camera_t, ends_s - span, side="right")
        frames = (hi - lo).astype(np.float64)
        good = c_valid[hi] - c_valid[lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            means = (c_values[hi] - c_values[lo]) / good[:, None]
        means[good == 0] = np.nan
        out[:, k * per_span : k * per_span + fields] = means
        # no frame at all in the span and no valid frame both read as valid share 0 (a dead camera)
        out[:, k * per_span + fields] = np.where(frames > 0, good / np.maximum(frames, 1), 0.0)
    lo = np.searchsorted(camera_t, ends_s - 300, side="right")
    for j, f in enumerate((CameraField.BARE_HEADS, CameraField.PERSONS_IN_ZONE)):
        column = np.where(valid, camera[:, CAMERA_FIELDS.index(f)], -np.inf).astype(np.float64)
        result = np.full(ends_s.shape[0], -np.inf)
        for r in range(ends_s.shape[0]):
            if hi[r] > lo[r]:
                result[r] = column[lo[r] : hi[r]].max()
        out[:, -2 + j] = np.where(np.isfinite(result), result, np.nan)
    return out


def text_features(logs: Sequence[LogEntry], ends_s: F64) -> F64:
    groups = list(KEYWORD_GROUPS)
    per_group = len(TEXT_SPANS_S) + 1
    out = np.zeros((ends_s.shape[0], per_group * len(groups)))
    times = np.array([e.t_s for e in logs], dtype=np.float64)
    lowered = [e.text.lower() for e in logs]
    for g, group in enumerate(groups):
        hits = np.array([any(w in text for w in KEYWORD_GROUPS[group]) for text in lowered], dtype=bool)
        t_hit = times[hits] if hits.shape[0] else np.zeros(0)
        hi = np.searchsorted(t_hit, ends_s, side="right")
        for k, span in enumerate(TEXT_SPANS_S):
            lo = np.searchsorted(t_hit, ends_s - span, side="right")
            out[:, g * per_group + k] = hi - lo
        newest = np.where(hi > 0, t_hit[np.maximum(hi - 1, 0)] if t_hit.shape[0] else 0.0, np.nan)
        age = ends_s - newest
        out[:, g * per_group + per_group - 1] = np.where(age <= TEXT_WINDOW_S, age, np.nan)
    return out


def episode_features(episode: Episode, ends: NDArray[np.int64]) -> F64:
    """(len(ends), len(FEATURES.names)) features of ``episode`` at the decision sample indices ``ends``."""
    ends_s = episode.sensor_t[ends]
    parts = [
        sensor_features(episode.sensors, ends),
        camera_features(episode.camera_t, episode.camera, episode.camera_valid, ends_s),
        text_features(episode.logs, ends_s),
    ]
    features = np.concatenate(parts, axis=1)
    if features.shape[1] != len(FEATURES.names):
        raise AssertionError(f"feature count {features.shape[1]} != names {len(FEATURES.names)}")
    return features
