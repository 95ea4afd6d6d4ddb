"""The rule baselines: threshold only (the statutory alarm itself) and linear-trend extrapolation to the threshold
(what monitoring systems do today). The gradient-boosted trees are in ``export.hazard.gbt``.

Both use the limits that define the events' deadlines, taken from the gateway's own rule layer
(``edge.hazard.contract.statutory_rules`` for the episode's jurisdiction and site CO ambient; ISO 10816 zone D from
``REFERENCE_LIMITS`` for machines): methane at the face and in the return and oxygen at the face for gas, belt CO
for fire, fan and belt-drive vibration for equipment. Strata has no statutory or published trigger
(regulations.md 3.1: TARP triggers ship unset), so neither rule baseline can warn of it.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from edge.hazard.contract import (
    CAMERA_FIELDS,
    CHANNEL_INDEX,
    FORECAST_CHANNEL,
    FORECAST_HORIZONS_S,
    REFERENCE_LIMITS,
    SENSOR_WINDOW_S,
    CameraField,
    HazardType,
    statutory_rules,
)
from edge.rules.signals import Direction
from edge.sim.hazard.episode import Episode
from export.hazard.predictor import Forecast, Predictor
from export.hazard.scoring import DAY_S, EpisodeScore, score_episode, scoreboard
from export.hazard.warnings import DecisionTrack, WarningPolicy, merge_tracks
from export.hazard.window_features import rolling_fit

F64 = NDArray[np.float64]

_STATUTORY_HAZARD = {
    "ch4_face": HazardType.GAS_ACCUMULATION,
    "ch4_return": HazardType.GAS_ACCUMULATION,
    "o2_face": HazardType.GAS_ACCUMULATION,
    "co_belt": HazardType.FIRE,
}
_REFERENCE_HAZARD = {
    ("vib_fan", "zone_d"): HazardType.EQUIPMENT_FAULT,
    ("vib_belt_drive", "zone_d"): HazardType.EQUIPMENT_FAULT,
}
RULE_HAZARDS: tuple[HazardType, ...] = (HazardType.GAS_ACCUMULATION, HazardType.FIRE, HazardType.EQUIPMENT_FAULT)


@dataclass(frozen=True, slots=True)
class ChannelLimit:
    channel: str
    hazard: HazardType
    direction: Direction
    limit: float
    on_delay_s: float
    rule: str  # "ch4_face:alarm", "vib_fan:zone_d"

    def beyond(self, values: F64) -> NDArray[np.bool_]:
        with np.errstate(invalid="ignore"):
            result: NDArray[np.bool_] = (
                values >= self.limit if self.direction is Direction.HIGH else values <= self.limit
            )
        return result


def channel_limits(episode: Episode) -> list[ChannelLimit]:
    """The deadline-defining limits for ``episode`` (its jurisdiction and its site's CO ambient)."""
    rules = statutory_rules(episode.jurisdiction, co_ambient_ppm=float(episode.site["co_ambient_ppm"]))
    limits: list[ChannelLimit] = []
    for channel, hazard in _STATUTORY_HAZARD.items():
        alarm = next(t for t in rules[channel].thresholds if t.name == "alarm")
        limits.append(ChannelLimit(channel, hazard, alarm.direction, alarm.limit, alarm.on_delay_s, f"{channel}:alarm"))
    for ref in REFERENCE_LIMITS:
        reference_hazard = _REFERENCE_HAZARD.get((ref.channel, ref.name))
        if reference_hazard is not None:
            limits.append(
                ChannelLimit(
                    ref.channel,
                    reference_hazard,
                    Direction.HIGH,
                    ref.limit,
                    ref.on_delay_s,
                    f"{ref.channel}:{ref.name}",
                )
            )
    return limits


def held_for(condition: NDArray[np.bool_], samples: int) -> NDArray[np.bool_]:
    """True where ``condition`` has held on the last ``samples`` consecutive samples (an on-delay)."""
    if samples <= 1:
        return condition
    counts = np.concatenate([[0], np.cumsum(condition.astype(np.int64))])
    held = np.zeros_like(condition)
    held[samples - 1 :] = (counts[samples:] - counts[:-samples]) == samples
    return held


class ThresholdBaseline(Predictor):
    """The statutory alarm (and ISO zone D) on the *observed* signal, plus the camera's persistent-violation rule:
    lead 0 by definition, and its false warnings are the statutory alarm's own nuisance rate (spikes, faults)."""

    name = "threshold"
    modalities = ("sensors", "camera")

    def __init__(self, *, camera_persist_frames: int = 3) -> None:
        # The camera pipeline raises a violation only when it persists over several frames (issue 6); one frame
        # with a misread hard hat is not a violation.
        self.camera_persist_frames = camera_persist_frames

    def tracks(self, episode: Episode) -> list[DecisionTrack]:
        t = episode.sensor_t
        out: list[DecisionTrack] = []
        for limit in channel_limits(episode):
            values = episode.sensors[:, CHANNEL_INDEX[limit.channel]].astype(np.float64)
            active = held_for(limit.beyond(values), int(np.ceil(limit.on_delay_s)) + 1)
            out.append(
                DecisionTrack(
                    limit.hazard,
                    limit.channel,
                    t,
                    active,
                    active.astype(np.float64),
                    np.zeros_like(t),
                    evidence=((f"sensors:{limit.channel}", 1.0),),
                )
            )
        if episode.camera_t.shape[0]:
            out.append(camera_violation_track(episode, self.camera_persist_frames))
        return out

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "camera_persist_frames": self.camera_persist_frames}


def camera_violation_track(episode: Episode, persist_frames: int) -> DecisionTrack:
    """A person without a hard hat or inside the hazard zone on ``persist_frames`` consecutive valid frames."""
    bare = episode.camera[:, CAMERA_FIELDS.index(CameraField.BARE_HEADS)]
    zone = episode.camera[:, CAMERA_FIELDS.index(CameraField.PERSONS_IN_ZONE)]
    with np.errstate(invalid="ignore"):
        seen = episode.camera_valid & ((bare >= 1) | (zone >= 1))
    active = held_for(seen, persist_frames)
    return DecisionTrack(
        HazardType.PEOPLE,
        "camera",
        episode.camera_t,
        active,
        active.astype(np.float64),
        np.zeros_like(episode.camera_t),
        evidence=(("camera:bare_heads|persons_in_zone", 1.0),),
    )


def despike(x: F64, width: int = 5) -> F64:
    """Rolling median over ``width`` samples ending at each sample (causal): a 1-3 s transmitter spike is gone,
    a real rise is delayed by ``width // 2`` s."""
    padded = np.concatenate([np.full(width - 1, np.nan), x])
    windows = sliding_window_view(padded, width)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows (a dead transmitter) give NaN
        result: F64 = np.nanmedian(windows, axis=1)
    return result


@dataclass(frozen=True)
class TrendParams:
    window_s: int = 300  # least-squares window
    horizon_s: int = 900  # warn when the extrapolated time to the limit is below this
    min_t: float = 5.0  # slope / its standard error: a trend, not noise
    min_valid: float = 0.8  # share of valid samples in the window


TREND_GRID: dict[str, tuple[Any, ...]] = {
    "window_s": (120, 300, 600, 900),
    "horizon_s": (300, 600, 900, 1800),
    "min_t": (3.0, 6.0, 10.0),
}
TREND_BUDGET_PER_DAY: dict[HazardType, float] = {
    HazardType.GAS_ACCUMULATION: 0.5,
    HazardType.FIRE: 0.25,
    HazardType.EQUIPMENT_FAULT: 0.25,
}


@dataclass(frozen=True)
class _ChannelFit:
    level: F64
    slope: F64
    stderr: F64
    valid: F64


class TrendBaseline(Predictor):
    """Least-squares slope over a trailing window per channel (after a 5 s causal median against spikes); warns
    when the straight line reaches the statutory / zone-D limit within ``horizon_s``, the slope is significant
    (``min_t`` standard errors) and enough of the window is valid. Already past the limit counts as time 0.

    ``fit`` chooses ``TrendParams`` per hazard group on the *training* episodes only: among the grid
    ``TREND_GRID``, the parameters with the largest mean lead time over the group's events (a miss counting 0)
    whose false warnings on the training normal days stay within ``TREND_BUDGET_PER_DAY`` (together 1 per day).
    """

    name = "trend"
    modalities = ("sensors",)

    def __init__(self, params: dict[HazardType, TrendParams] | None = None, *, stride_s: int = 5) -> None:
        self.params = params or {h: TrendParams() for h in RULE_HAZARDS}
        self.stride_s = stride_s
        self.selection: dict[str, Any] = {}

    # -- per episode ----------------------------------------------------------------------------------------

    def _fit_channel(self, episode: Episode, channel: str, window_s: int, ends: NDArray[np.int64]) -> _ChannelFit:
        x = despike(episode.sensors[:, CHANNEL_INDEX[channel]].astype(np.float64))
        level, slope, stderr, valid = rolling_fit(x, window_s, ends)
        return _ChannelFit(level, slope, stderr, valid)

    @staticmethod
    def _track(limit: ChannelLimit, fit: _ChannelFit, params: TrendParams, t: F64) -> DecisionTrack:
        sign = 1.0 if limit.direction is Direction.HIGH else -1.0
        with np.errstate(invalid="ignore", divide="ignore"):
            toward = sign * fit.slope  # rate toward the limit, per second
            gap = sign * (limit.limit - fit.level)  # distance still to go
            significant = toward / fit.stderr >= params.min_t
            ttt = np.where(gap <= 0, 0.0, np.where(toward > 0, gap / toward, np.inf))
            active = (fit.valid >= params.min_valid) & (
                (gap <= 0) | (significant & (toward > 0) & (ttt <= params.horizon_s))
            )
        active = active & np.isfinite(fit.level)
        score = np.clip(1.0 - ttt / max(params.horizon_s, 1), 0.0, 1.0)
        return DecisionTrack(
            limit.hazard,
            limit.channel,
            t,
            active,
            np.where(np.isfinite(score), score, 0.0),
            np.where(np.isfinite(ttt), ttt, np.nan),
            evidence=((f"sensors:{limit.channel}", 1.0),),
        )

    def tracks(self, episode: Episode) -> list[DecisionTrack]:
        ends = np.arange(0, episode.sensors.shape[0], self.stride_s, dtype=np.int64)
        t = episode.sensor_t[ends]
        out: list[DecisionTrack] = []
        for limit in channel_limits(episode):
            params = self.params[limit.hazard]
            fit = self._fit_channel(episode, limit.channel, params.window_s, ends)
            out.append(self._track(limit, fit, params, t))
        return out

    def forecast(self, episode: Episode) -> Forecast:
        """The gas group's line extrapolated to each horizon where its slope is significant, else its level."""
        params = self.params[HazardType.GAS_ACCUMULATION]
        at = np.arange(0, episode.sensors.shape[0], 60, dtype=np.int64)
        fit = self._fit_channel(episode, FORECAST_CHANNEL, params.window_s, at)
        with np.errstate(invalid="ignore", divide="ignore"):
            significant = np.abs(fit.slope) / fit.stderr >= params.min_t
        slope = np.where(significant, fit.slope, 0.0)
        values = np.stack([fit.level + slope * h for h in FORECAST_HORIZONS_S], axis=1)
        values = np.where(fit.valid[:, None] > 0, np.clip(values, 0.0, 5.0), np.nan)
        return Forecast(at, values)

    # -- parameter choice on training episodes ----------------------------------------------------------------

    def fit(self, train: Sequence[Episode], validation: Sequence[Episode]) -> None:
        episodes = list(train) + list(validation)  # both are training seeds; the trend rule has no separate fit
        policy = WarningPolicy()
        chosen: dict[HazardType, TrendParams] = {}
        table: dict[str, Any] = {}
        for hazard in RULE_HAZARDS:
            relevant = [e for e in episodes if e.is_normal or any(ev.hazard is hazard for ev in e.events)]
            best: tuple[float, float, TrendParams] | None = None
            rows = []
            cache: dict[tuple[str, int, str], _ChannelFit] = {}
            for window_s, horizon_s, min_t in itertools.product(*TREND_GRID.values()):
                params = TrendParams(window_s, horizon_s, min_t)
                scores: list[EpisodeScore] = []
                for episode in relevant:
                    ends = np.arange(0, episode.sensors.shape[0], self.stride_s, dtype=np.int64)
                    t = episode.sensor_t[ends]
                    tracks = []
                    for limit in channel_limits(episode):
                        if limit.hazard is not hazard:
                            continue
                        key = (episode.episode_id, window_s, limit.channel)
                        if key not in cache:
                            cache[key] = self._fit_channel(episode, limit.channel, window_s, ends)
                        tracks.append(self._track(limit, cache[key], params, t))
                    merged = merge_tracks(tracks, policy).warnings
                    events = [ev for ev in episode.events if ev.hazard is hazard]
                    scores.append(
                        score_episode(
                            episode.episode_id,
                            events,
                            merged,
                            duration_s=episode.duration_s,
                            warmup_s=SENSOR_WINDOW_S,
                        )
                    )
                board = scoreboard(scores)
                summary = board.per_hazard.get(hazard.value)
                mean_lead = (sum(summary.lead_min) / summary.events) if summary is not None and summary.events else 0.0
                false_per_day = board.false_per_day
                rows.append({**asdict(params), "mean_lead_min": mean_lead, "false_per_day": false_per_day})
                if false_per_day <= TREND_BUDGET_PER_DAY[hazard] and (
                    best is None or (mean_lead, -false_per_day) > (best[0], -best[1])
                ):
                    best = (mean_lead, false_per_day, params)
            chosen[hazard] = best[2] if best is not None else replace(TrendParams(), min_t=max(TREND_GRID["min_t"]))
            table[hazard.value] = {
                "chosen": asdict(chosen[hazard]),
                "train_mean_lead_min": best[0] if best else None,
                "train_false_per_day": best[1] if best else None,
                "grid": rows,
            }
        self.params = chosen
        self.selection = {
            "budget_per_day": {h.value: b for h, b in TREND_BUDGET_PER_DAY.items()},
            "train_normal_days": sum(e.duration_s for e in episodes if e.is_normal) / DAY_S,
            "per_hazard": table,
        }

    def describe(self) -> dict[str, object]:
        return {
            **super().describe(),
            "stride_s": self.stride_s,
            "params": {h.value: asdict(p) for h, p in self.params.items()},
            "selection": {k: v for k, v in self.selection.items() if k != "per_hazard"}
            | {
                "per_hazard": {
                    h: {k: v for k, v in d.items() if k != "grid"}
                    for h, d in self.selection.get("per_hazard", {}).items()
                }
            },
        }
