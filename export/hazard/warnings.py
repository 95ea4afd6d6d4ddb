"""The operator-facing early warning and the merging / rate limiting that turns per-decision outputs into warnings.

Every predictor (threshold, trend, gradient-boosted trees, the neural model) emits *decision tracks*: for one
hazard and one channel (or modality), a decision every few seconds saying whether its warning condition holds, with
a score and, where it knows one, the predicted time to the statutory threshold. ``merge_tracks`` turns tracks into
``HazardWarning`` records with one policy for all predictors, so "false warnings per gateway-day" measures the
predictor and not its book-keeping.

The policy follows the alarm-management guidance in ../shared/regulations.md section 4:

* **On-delay** (``on_count``): the condition must hold on that many consecutive decisions before a warning is
  raised (ISA-18.2 / OPC UA Part 9 B.1.5 on-delay against fleeting alarms).
* **One warning per hazard while the condition persists; re-arm only after a hold-off** (``hold_off_s``): tracks
  of one hazard are merged (a methane rise seen on the face and the return head is one situation for the operator),
  and a new warning is raised only once the condition has been clear for ``hold_off_s``. This is an off-delay that
  removes chattering (>= 3 activations per minute, section 4.1) and keeps one situation one warning. 15 min is the
  longest risk horizon of the contract: a warning about something due within 15 min stays relevant that long.
* **Flood limit** (``flood_count`` per ``flood_window_s``): across the gateway at most that many new warnings in
  any window; more are suppressed (kept in the result, counted, never annunciated). EEMUA 191 puts the
  manageable steady state at 1 alarm per 10 min and a flood at 10 per 10 min (section 4.2); early warnings are
  advisory, the lowest priority, so they get a small share of that: 3 per 10 min by default.

Warnings enter the alarm manager at ``WARNING_PRIORITY`` (LOW, below every statutory alarm, section 4.3 item 2)
and are never on the statutory path: nothing here can suppress, delay or clear a statutory alarm (section 4.3
item 4); the flood limit only ever drops *warnings*.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from edge.hazard.contract import HazardType

# The policy, the warning record and the actions live with the gateway, which applies the same policy online
# (edge.hazard.warning_gate); re-exported here for the evaluation code that imports them from this module.
from edge.hazard.warning_policy import (
    RECOMMENDED_ACTIONS,
    WARNING_PRIORITY,
    Evidence,
    HazardWarning,
    WarningPolicy,
)

F64 = NDArray[np.float64]

__all__ = [
    "RECOMMENDED_ACTIONS",
    "WARNING_PRIORITY",
    "DecisionTrack",
    "Evidence",
    "HazardWarning",
    "MergedWarnings",
    "WarningPolicy",
    "merge_tracks",
]


@dataclass(frozen=True)
class DecisionTrack:
    """A predictor's per-decision output for one hazard and one channel.

    ``active[i]`` means the warning condition holds from ``t_s[i]`` until the next decision (the last one holds
    for one decision period). ``time_to_threshold_s`` is NaN where unknown. ``explain(t)`` gives the evidence at a
    decision time, called only when a warning is raised (it may be expensive); ``evidence`` is the static
    fallback.
    """

    hazard: HazardType
    channel: str
    t_s: F64
    active: NDArray[np.bool_]
    score: F64
    time_to_threshold_s: F64 | None = None
    evidence: Evidence = ()
    explain: Callable[[float], Evidence] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        k = self.t_s.shape[0]
        if self.t_s.ndim != 1 or self.active.shape != (k,) or self.score.shape != (k,):
            raise ValueError(
                f"track {self.hazard.value}/{self.channel}: t_s, active and score must be 1-D of one length, got "
                f"{self.t_s.shape}, {self.active.shape}, {self.score.shape}"
            )
        if self.time_to_threshold_s is not None and self.time_to_threshold_s.shape != (k,):
            raise ValueError(f"track {self.hazard.value}/{self.channel}: time_to_threshold_s must have shape ({k},)")
        if k > 1 and bool(np.any(np.diff(self.t_s) <= 0)):
            raise ValueError(f"track {self.hazard.value}/{self.channel}: t_s must be strictly increasing")

    @property
    def period_s(self) -> float:
        return float(np.median(np.diff(self.t_s))) if self.t_s.shape[0] > 1 else 1.0


@dataclass(frozen=True)
class MergedWarnings:
    warnings: list[HazardWarning]  # annunciated, in time order
    suppressed: list[HazardWarning]  # dropped by the flood limit (logged, not shown)


@dataclass(frozen=True, slots=True)
class _Span:
    start: float  # when the on-delay was satisfied (the warning would be raised here)
    end: float
    track: int
    index: int  # decision index in the track at ``start``


def _spans(track: DecisionTrack, track_index: int, on_count: int) -> list[_Span]:
    """Active runs of ``track`` that satisfy the on-delay, as [raise time, end) spans."""
    active = track.active.astype(np.int8)
    if not active.any():
        return []
    edges = np.diff(np.concatenate([[0], active, [0]]))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)  # exclusive
    period = track.period_s
    spans: list[_Span] = []
    for a, b in zip(starts, stops, strict=True):
        if b - a < on_count:
            continue
        raise_index = int(a) + on_count - 1
        end = float(track.t_s[b]) if b < track.t_s.shape[0] else float(track.t_s[b - 1]) + period
        spans.append(_Span(float(track.t_s[raise_index]), end, track_index, raise_index))
    return spans


def _warning(tracks: Sequence[DecisionTrack], first: _Span, end: float) -> HazardWarning:
    track = tracks[first.track]
    ttt: float | None = None
    if track.time_to_threshold_s is not None:
        value = float(track.time_to_threshold_s[first.index])
        ttt = value if np.isfinite(value) else None
    evidence = track.explain(first.start) if track.explain is not None else track.evidence
    return HazardWarning(
        t_s=first.start,
        end_s=end,
        hazard=track.hazard,
        channel=track.channel,
        time_to_threshold_s=ttt,
        score=float(track.score[first.index]),
        evidence=evidence,
        action=RECOMMENDED_ACTIONS[track.hazard],
    )


def merge_tracks(tracks: Sequence[DecisionTrack], policy: WarningPolicy | None = None) -> MergedWarnings:
    """Warnings from ``tracks`` under ``policy`` (see the module docstring): per hazard, active spans closer than
    ``hold_off_s`` are one warning, raised by the earliest span; then the gateway-wide flood limit."""
    policy = policy or WarningPolicy()
    by_hazard: dict[HazardType, list[_Span]] = {}
    for i, track in enumerate(tracks):
        by_hazard.setdefault(track.hazard, []).extend(_spans(track, i, policy.on_count))
    raised: list[HazardWarning] = []
    for spans in by_hazard.values():
        if not spans:
            continue
        spans.sort(key=lambda s: (s.start, s.track))
        first, end = spans[0], spans[0].end
        for span in spans[1:]:
            if span.start - end < policy.hold_off_s:
                end = max(end, span.end)
                continue
            raised.append(_warning(tracks, first, end))
            first, end = span, span.end
        raised.append(_warning(tracks, first, end))
    raised.sort(key=lambda w: (w.t_s, w.hazard.value))
    shown: list[HazardWarning] = []
    suppressed: list[HazardWarning] = []
    for warning in raised:
        recent = sum(1 for w in shown if warning.t_s - w.t_s < policy.flood_window_s)
        (suppressed if recent >= policy.flood_count else shown).append(warning)
    return MergedWarnings(shown, suppressed)
