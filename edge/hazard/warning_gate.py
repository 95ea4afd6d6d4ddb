"""The warning policy applied online: decisions arrive one decision time at a time, warnings open and close.

``export.hazard.warnings.merge_tracks`` applies ``WarningPolicy`` to whole decision tracks after the fact; the
gateway cannot wait for the end of a track, so ``WarningGate`` keeps the same state incrementally and opens exactly
the warnings ``merge_tracks`` would raise, at the same decision, with the same fields (tested on the same tracks):

* per track, an *active span* starts at the decision that completes ``on_count`` consecutive active decisions and
  ends at the first inactive decision;
* per hazard, a span that starts while another span of the hazard is open, or less than ``hold_off_s`` after the
  last one ended, belongs to the open warning; otherwise it opens a new warning (the lowest track wins a tie);
* gateway-wide, a new warning is *suppressed* (kept, never annunciated) when ``flood_count`` warnings were
  annunciated in the last ``flood_window_s``; new warnings of one decision time are counted in hazard-name order.

A warning *closes* once none of its spans is open and ``hold_off_s`` has passed since the last one ended: only
then is it certain that no later span belongs to it, and ``end_s`` (the end of its last span) is final. The gateway
keeps the warning's alarm condition active until it closes, so the operator sees one alarm per situation, as the
evaluation counts one warning per situation; the hold-off is the off-delay that keeps a flickering probability
from chattering the alarm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from edge.hazard.contract import HazardType
from edge.hazard.warning_policy import RECOMMENDED_ACTIONS, Evidence, HazardWarning, WarningPolicy


@dataclass(frozen=True, slots=True)
class Decision:
    """One track's output at one decision time; a track is one (hazard, channel) pair, e.g. (gas, "model")."""

    hazard: HazardType
    channel: str
    active: bool
    score: float
    time_to_threshold_s: float | None = None


@dataclass(frozen=True, slots=True)
class OpenedWarning:
    """A warning the gate opened at decision time ``t_s``; ``suppressed`` when the flood limit held it back."""

    t_s: float
    hazard: HazardType
    channel: str
    time_to_threshold_s: float | None
    score: float
    suppressed: bool

    def warning(self, end_s: float, evidence: Evidence = ()) -> HazardWarning:
        return HazardWarning(
            t_s=self.t_s,
            end_s=end_s,
            hazard=self.hazard,
            channel=self.channel,
            time_to_threshold_s=self.time_to_threshold_s,
            score=self.score,
            evidence=evidence,
            action=RECOMMENDED_ACTIONS[self.hazard],
        )


@dataclass(frozen=True, slots=True)
class ClosedWarning:
    opened: OpenedWarning
    end_s: float  # end of the warning's last active span


@dataclass(frozen=True, slots=True)
class GateStep:
    """What one decision time changed: warnings closed (before any opened at the same time) and opened."""

    closed: tuple[ClosedWarning, ...] = ()
    opened: tuple[OpenedWarning, ...] = ()


@dataclass(slots=True)
class _Track:
    index: int
    run: int = 0  # consecutive active decisions
    in_span: bool = False
    last_t: float | None = None
    period_s: float = 1.0


@dataclass(slots=True)
class _Group:
    opened: OpenedWarning
    end_s: float
    open_spans: set[tuple[HazardType, str]] = field(default_factory=set)


class WarningGate:
    """Streaming ``WarningPolicy``: feed ``decide`` every decision time in increasing time order."""

    def __init__(self, policy: WarningPolicy | None = None) -> None:
        self.policy = policy or WarningPolicy()
        self._tracks: dict[tuple[HazardType, str], _Track] = {}
        self._groups: dict[HazardType, _Group] = {}
        self._shown_t: list[float] = []  # annunciated warnings inside the flood window
        self._last_t: float | None = None
        self.suppressed_count = 0

    def register(self, hazard: HazardType, channel: str) -> None:
        """Fix a track's rank for tie-breaking (first registered wins), as the order of ``merge_tracks``' list."""
        key = (hazard, channel)
        if key not in self._tracks:
            self._tracks[key] = _Track(index=len(self._tracks))

    def open_warnings(self) -> dict[HazardType, OpenedWarning]:
        """Warnings opened and not yet closed, by hazard (suppressed ones included)."""
        return {hazard: group.opened for hazard, group in self._groups.items()}

    def decide(self, t_s: float, decisions: Sequence[Decision]) -> GateStep:
        if self._last_t is not None and t_s <= self._last_t:
            raise ValueError(f"decision times must increase: {t_s} after {self._last_t}")
        self._last_t = t_s
        for d in decisions:
            self.register(d.hazard, d.channel)
        ordered = sorted(decisions, key=lambda d: self._tracks[(d.hazard, d.channel)].index)
        if len({(d.hazard, d.channel) for d in ordered}) != len(ordered):
            raise ValueError(f"two decisions of one track at t={t_s}")
        starts: list[Decision] = []
        for d in ordered:  # ends first: a span ending now and one starting now are "0 s apart"
            track = self._tracks[(d.hazard, d.channel)]
            if track.last_t is not None:
                track.period_s = t_s - track.last_t
            track.last_t = t_s
            if not d.active:
                track.run = 0
                if track.in_span:
                    track.in_span = False
                    self._end_span(d.hazard, d.channel, t_s)
                continue
            track.run += 1
            if track.run == self.policy.on_count and not track.in_span:
                track.in_span = True
                starts.append(d)
        closed = self._close_due(t_s)
        new: list[Decision] = []
        for d in starts:
            group = self._groups.get(d.hazard)
            if group is not None:
                group.open_spans.add((d.hazard, d.channel))
                continue
            new.append(d)
            self._groups[d.hazard] = _Group(
                OpenedWarning(t_s, d.hazard, d.channel, d.time_to_threshold_s, d.score, False),
                end_s=t_s,
                open_spans={(d.hazard, d.channel)},
            )
        opened: list[OpenedWarning] = []
        window = self.policy.flood_window_s
        self._shown_t = [t for t in self._shown_t if t_s - t < window]
        for d in sorted(new, key=lambda d: d.hazard.value):
            group = self._groups[d.hazard]
            if len(self._shown_t) >= self.policy.flood_count:
                self.suppressed_count += 1
                group.opened = OpenedWarning(t_s, d.hazard, d.channel, d.time_to_threshold_s, d.score, True)
            else:
                self._shown_t.append(t_s)
            opened.append(group.opened)
        return GateStep(tuple(closed), tuple(opened))

    def finish(self) -> list[ClosedWarning]:
        """Close everything at the end of the decision stream: an open span ends one decision period after its
        track's last decision (as ``merge_tracks`` ends a span still active at the end of its track)."""
        for (hazard, channel), track in self._tracks.items():
            if track.in_span and track.last_t is not None:
                track.in_span = False
                track.run = 0
                self._end_span(hazard, channel, track.last_t + track.period_s)
        closed = [ClosedWarning(g.opened, g.end_s) for g in self._groups.values()]
        self._groups.clear()
        return sorted(closed, key=lambda c: (c.opened.t_s, c.opened.hazard.value))

    def _end_span(self, hazard: HazardType, channel: str, end_s: float) -> None:
        group = self._groups.get(hazard)
        if group is None:  # cannot happen: a span always belongs to its hazard's open group
            raise RuntimeError(f"span of {hazard.value}/{channel} ended without an open warning")
        group.open_spans.discard((hazard, channel))
        group.end_s = max(group.end_s, end_s)

    def _close_due(self, t_s: float) -> list[ClosedWarning]:
        closed: list[ClosedWarning] = []
        for hazard in sorted(self._groups, key=lambda h: h.value):
            group = self._groups[hazard]
            if not group.open_spans and t_s - group.end_s >= self.policy.hold_off_s:
                closed.append(ClosedWarning(group.opened, group.end_s))
                del self._groups[hazard]
        return closed
