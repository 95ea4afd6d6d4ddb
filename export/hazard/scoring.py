"""Event-level scoring of early warnings: detection, lead time before the statutory deadline, false warnings per
gateway-day, and forecast error against persistence.

Matching (one rule for every predictor):

* An event is *detected* when a warning of its hazard type is active at some time in
  ``[onset - tolerance, deadline]``; the detection time is the later of the warning's raising and
  ``onset - tolerance`` (a warning already standing when the event begins counts from the start of the window, not
  from its own, earlier raising), and the lead time is ``deadline - detection time``.
* A warning raised after the deadline but before the event ends is a *late* detection with lead 0.
* No warning is a *miss*. Events whose deadline never comes (a fan restarted in time) are not scored for detection;
  warnings on them are reported, and are not false (the hazard was real).
* Warnings raised during a warm-up at the start of an episode (``warmup_s``, the 30-min input window of the
  contract) are ignored for every predictor alike: an episode starts cold, a gateway in service does not.
* A warning is *false* when its active span does not touch ``[onset - tolerance, max(end, deadline)]`` of any
  event of its hazard type in the same episode; every warning on a normal day is false. False warnings per
  gateway-day are counted on normal days only (the operating condition the budget is about).

Pure numpy and the standard library, so the same code scores any predictor, including the neural model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge.hazard.contract import HazardType
from edge.sim.hazard.episode import HazardEvent
from export.hazard.warnings import HazardWarning

DAY_S = 86_400.0
DEFAULT_TOLERANCE_S = 300.0

DETECTED = "detected"
LATE = "late"
MISSED = "missed"
NO_DEADLINE = "no_deadline"


@dataclass(frozen=True, slots=True)
class EventOutcome:
    episode_id: str
    hazard: HazardType
    kind: str
    onset_s: float
    deadline_s: float | None
    status: str  # DETECTED, LATE, MISSED or NO_DEADLINE
    lead_s: float | None  # deadline - detection time (0 when late); None when missed or no deadline
    warned: bool  # any matching warning at all (also for events without a deadline)
    first_warning_s: float | None


@dataclass(frozen=True)
class EpisodeScore:
    episode_id: str
    is_normal: bool
    duration_s: float
    outcomes: list[EventOutcome]
    warnings: list[HazardWarning]
    false_warnings: list[HazardWarning]


def _touches(warning: HazardWarning, lo: float, hi: float) -> bool:
    return warning.t_s <= hi and warning.end_s >= lo


def score_episode(
    episode_id: str,
    events: Sequence[HazardEvent],
    warnings: Sequence[HazardWarning],
    *,
    duration_s: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    warmup_s: float = 0.0,
) -> EpisodeScore:
    """Match ``warnings`` to ``events`` of one episode (see the module docstring). Warnings raised in the first
    ``warmup_s`` (before a predictor's input window is full) are ignored and that time is not counted as exposure."""
    if duration_s <= warmup_s:
        raise ValueError(f"duration_s must be > warmup_s ({warmup_s}), got {duration_s}")
    if tolerance_s < 0 or warmup_s < 0:
        raise ValueError(f"tolerance_s and warmup_s must be >= 0, got {tolerance_s}, {warmup_s}")
    ordered = sorted((w for w in warnings if w.t_s >= warmup_s), key=lambda w: w.t_s)
    outcomes: list[EventOutcome] = []
    for event in events:
        same = [w for w in ordered if w.hazard is event.hazard]
        window_lo = event.onset_s - tolerance_s
        horizon_end = max(event.end_s, event.deadline_s if event.deadline_s is not None else -math.inf)
        touching = [w for w in same if _touches(w, window_lo, horizon_end)]
        first = min((max(w.t_s, window_lo) for w in touching), default=None)
        if event.deadline_s is None:
            status, lead = NO_DEADLINE, None
        else:
            in_time = [max(w.t_s, window_lo) for w in same if _touches(w, window_lo, event.deadline_s)]
            if in_time:
                status, lead = DETECTED, event.deadline_s - min(in_time)
            elif touching:
                status, lead = LATE, 0.0
            else:
                status, lead = MISSED, None
        outcomes.append(
            EventOutcome(
                episode_id=episode_id,
                hazard=event.hazard,
                kind=event.kind,
                onset_s=event.onset_s,
                deadline_s=event.deadline_s,
                status=status,
                lead_s=lead,
                warned=bool(touching),
                first_warning_s=first,
            )
        )
    false: list[HazardWarning] = []
    for warning in ordered:
        matched = any(
            event.hazard is warning.hazard
            and _touches(
                warning,
                event.onset_s - tolerance_s,
                max(event.end_s, event.deadline_s if event.deadline_s is not None else -math.inf),
            )
            for event in events
        )
        if not matched:
            false.append(warning)
    return EpisodeScore(
        episode_id=episode_id,
        is_normal=not events,
        duration_s=duration_s - warmup_s,
        outcomes=outcomes,
        warnings=ordered,
        false_warnings=false,
    )


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else math.nan


@dataclass(frozen=True)
class DetectionSummary:
    """Detection and lead time of a group of events (one hazard type, or one hazard/kind)."""

    events: int  # events with a deadline
    detected: int
    late: int
    missed: int
    no_deadline: int
    no_deadline_warned: int
    lead_min: list[float] = field(repr=False)  # detected (lead) and late (0), minutes

    @property
    def detection_rate(self) -> float:
        """Share of events with a warning by the deadline."""
        return self.detected / self.events if self.events else math.nan

    @property
    def detection_rate_incl_late(self) -> float:
        return (self.detected + self.late) / self.events if self.events else math.nan

    @property
    def lead_median_min(self) -> float:
        return percentile(self.lead_min, 50)

    @property
    def lead_p10_min(self) -> float:
        return percentile(self.lead_min, 10)

    @property
    def lead_median_all_min(self) -> float:
        """Median over every event with a deadline, a miss counting 0: a predictor cannot buy lead by silence."""
        return percentile(self.lead_min + [0.0] * self.missed, 50) if self.events else math.nan

    def to_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "detected": self.detected,
            "late": self.late,
            "missed": self.missed,
            "no_deadline": self.no_deadline,
            "no_deadline_warned": self.no_deadline_warned,
            "detection_rate": _finite(self.detection_rate),
            "detection_rate_incl_late": _finite(self.detection_rate_incl_late),
            "lead_median_min": _finite(self.lead_median_min),
            "lead_p10_min": _finite(self.lead_p10_min),
            "lead_median_all_min": _finite(self.lead_median_all_min),
            "lead_min": [round(v, 3) for v in self.lead_min],
        }


def _finite(value: float) -> float | None:
    return None if not math.isfinite(value) else round(value, 4)


def summarize_outcomes(outcomes: Iterable[EventOutcome]) -> DetectionSummary:
    items = list(outcomes)
    by_status = {s: [o for o in items if o.status == s] for s in (DETECTED, LATE, MISSED, NO_DEADLINE)}
    return DetectionSummary(
        events=len(items) - len(by_status[NO_DEADLINE]),
        detected=len(by_status[DETECTED]),
        late=len(by_status[LATE]),
        missed=len(by_status[MISSED]),
        no_deadline=len(by_status[NO_DEADLINE]),
        no_deadline_warned=sum(1 for o in by_status[NO_DEADLINE] if o.warned),
        lead_min=[(o.lead_s or 0.0) / 60.0 for o in by_status[DETECTED] + by_status[LATE]],
    )


@dataclass(frozen=True)
class Scoreboard:
    """Everything event-level about one predictor on one set of episodes."""

    per_hazard: dict[str, DetectionSummary]
    per_kind: dict[str, DetectionSummary]  # "hazard/kind"
    normal_days: float
    normal_false_warnings: int
    hazard_episode_false_warnings: int
    hazard_episode_days: float
    false_by_hazard: dict[str, int]  # false warnings on normal days by the hazard they named
    # seconds of normal days under a false warning, by hazard: a warning that stands all day counts once above, and
    # this is where it shows
    false_active_s_by_hazard: dict[str, float] = field(default_factory=dict)

    @property
    def false_per_day(self) -> float:
        return self.normal_false_warnings / self.normal_days if self.normal_days else math.nan

    @property
    def false_active_share(self) -> dict[str, float]:
        """Per hazard, the share of normal-day time under a false warning (NaN without normal days)."""
        seconds = self.normal_days * DAY_S
        return {k: v / seconds if seconds else math.nan for k, v in self.false_active_s_by_hazard.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "per_hazard": {k: v.to_json() for k, v in self.per_hazard.items()},
            "per_kind": {k: v.to_json() for k, v in self.per_kind.items()},
            "normal_days": round(self.normal_days, 4),
            "normal_false_warnings": self.normal_false_warnings,
            "false_per_day": _finite(self.false_per_day),
            "false_by_hazard_per_day": {
                k: round(v / self.normal_days, 4) if self.normal_days else None for k, v in self.false_by_hazard.items()
            },
            "false_active_share": {k: _finite(v) for k, v in self.false_active_share.items()},
            "hazard_episode_false_warnings": self.hazard_episode_false_warnings,
            "hazard_episode_false_per_day": (
                round(self.hazard_episode_false_warnings / self.hazard_episode_days, 4)
                if self.hazard_episode_days
                else None
            ),
        }


def scoreboard(scores: Sequence[EpisodeScore]) -> Scoreboard:
    outcomes = [o for s in scores for o in s.outcomes]
    per_hazard = {
        h.value: summarize_outcomes(o for o in outcomes if o.hazard is h)
        for h in HazardType
        if any(o.hazard is h for o in outcomes)
    }
    kinds = sorted({f"{o.hazard.value}/{o.kind}" for o in outcomes})
    per_kind = {k: summarize_outcomes(o for o in outcomes if f"{o.hazard.value}/{o.kind}" == k) for k in kinds}
    normal = [s for s in scores if s.is_normal]
    hazard_eps = [s for s in scores if not s.is_normal]
    false_by_hazard = {h.value: 0 for h in HazardType}
    false_active_s = {h.value: 0.0 for h in HazardType}
    for s in normal:
        for w in s.false_warnings:
            false_by_hazard[w.hazard.value] += 1
        for h in HazardType:
            false_active_s[h.value] += covered_s(
                [(w.t_s, w.end_s) for w in s.false_warnings if w.hazard is h], 0.0, s.duration_s
            )
    return Scoreboard(
        per_hazard=per_hazard,
        per_kind=per_kind,
        normal_days=sum(s.duration_s for s in normal) / DAY_S,
        normal_false_warnings=sum(len(s.false_warnings) for s in normal),
        hazard_episode_false_warnings=sum(len(s.false_warnings) for s in hazard_eps),
        hazard_episode_days=sum(s.duration_s for s in hazard_eps) / DAY_S,
        false_by_hazard=false_by_hazard,
        false_active_s_by_hazard=false_active_s,
    )


def covered_s(spans: Iterable[tuple[float, float]], lo: float, hi: float) -> float:
    """Seconds of ``[lo, hi]`` inside the union of ``spans`` (overlaps counted once)."""
    total = 0.0
    reach = lo
    for span_start, span_end in sorted(spans):
        start, end = max(span_start, reach), min(span_end, hi)
        if end > start:
            total += end - start
            reach = end
    return total


class ForecastError:
    """Mean absolute error of a forecast and of persistence (the last observed value) per horizon, accumulated
    over episodes. Only decisions where the target, the forecast and the persistence value are all finite count,
    so both are scored on exactly the same points."""

    def __init__(self, horizons_s: Sequence[int]) -> None:
        self.horizons_s = tuple(horizons_s)
        h = len(self.horizons_s)
        self._model = np.zeros(h)
        self._persistence = np.zeros(h)
        self._count = np.zeros(h, dtype=np.int64)

    def add(self, forecast: NDArray[np.float64], target: NDArray[np.float64], current: NDArray[np.float64]) -> None:
        """``forecast`` and ``target`` (k, H); ``current`` (k,) the observed value at the decision time."""
        h = len(self.horizons_s)
        if forecast.shape != target.shape or forecast.ndim != 2 or forecast.shape[1] != h:
            raise ValueError(f"forecast and target must both be (k, {h}), got {forecast.shape} and {target.shape}")
        if current.shape != (forecast.shape[0],):
            raise ValueError(f"current must be ({forecast.shape[0]},), got {current.shape}")
        persistence = np.repeat(current[:, None], h, axis=1)
        ok = np.isfinite(forecast) & np.isfinite(target) & np.isfinite(persistence)
        self._model += np.where(ok, np.abs(forecast - target), 0.0).sum(axis=0)
        self._persistence += np.where(ok, np.abs(persistence - target), 0.0).sum(axis=0)
        self._count += ok.sum(axis=0)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, horizon in enumerate(self.horizons_s):
            n = int(self._count[k])
            mae = self._model[k] / n if n else math.nan
            pers = self._persistence[k] / n if n else math.nan
            out[f"+{horizon // 60}min"] = {
                "mae": _finite(float(mae)),
                "persistence_mae": _finite(float(pers)),
                "skill": _finite(float(1.0 - mae / pers)) if n and pers > 0 else None,
                "points": n,
            }
        return out


def merge_scoreboard_json(boards: Mapping[str, Scoreboard]) -> dict[str, Any]:
    return {name: board.to_json() for name, board in boards.items()}
