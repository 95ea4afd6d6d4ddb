"""Violations: bare heads and persons in hazard zones, held for N frames, fired once per person-episode.

Per analysed frame, detections become *workers*: a person box (bare-headed when a bare-head box sits in its top
part, helmeted when a helmet box does, unknown otherwise), or a lone head/helmet box -- the helmet data sets label
heads far more often than whole persons -- standing for a body ``body_heads`` heads tall below it. Workers are
tracked; each track is one person-episode and carries one alert (``alert_id``).

A condition must hold ``persist_frames`` analysed frames before it fires. Kinds rank bare head < in zone < both;
an episode fires its first kind, and later only a *more severe* kind (an escalation, same ``alert_id``), so a
bare-headed miner pacing along a zone edge raises one alert, not one per crossing. After ``rearm_frames`` clean
frames the episode may fire again (a new ``alert_id``). The zone's current hazard state, read from the rule
layer when the event fires, sets the priority and the instruction ("Leave the area immediately").
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from edge.camera.config import ViolationConfig
from edge.camera.objects import Detection
from edge.camera.tracker import Box, IouTracker
from edge.camera.zones import Zone
from edge.rules.signals import Priority

HazardLevel = Literal["normal", "alert", "alarm", "unknown"]
ZoneHazard = Callable[[str], HazardLevel]  # zone id -> its hazard state now, from the rule layer

_HAZARD_RANK: dict[str, int] = {"unknown": 0, "normal": 1, "alert": 2, "alarm": 3}


class ViolationKind(enum.StrEnum):
    BARE_HEAD = "bare_head"
    IN_ZONE = "in_zone"
    BARE_HEAD_IN_ZONE = "bare_head_in_zone"


_SEVERITY: dict[ViolationKind, int] = {
    ViolationKind.BARE_HEAD: 1,
    ViolationKind.IN_ZONE: 2,
    ViolationKind.BARE_HEAD_IN_ZONE: 3,
}


@dataclass(frozen=True, slots=True)
class Worker:
    """One person in one frame: a box in frame pixels, and whether the head is bare (None: cannot tell)."""

    box: Box
    bare_head: bool | None
    score: float


def workers_from(detections: Sequence[Detection], config: ViolationConfig, frame_height: int) -> list[Worker]:
    """Group person, bare-head and helmet detections into workers (see the module docstring)."""
    persons = [d for d in detections if d.label in config.person_labels]
    heads = [d for d in detections if d.label in config.bare_head_labels or d.label in config.helmet_labels]
    bare: list[bool | None] = [None] * len(persons)
    workers: list[Worker] = []
    for head in sorted(heads, key=lambda d: -d.score):
        is_bare = head.label in config.bare_head_labels
        owner = _owner(head, persons)
        if owner is None:
            cx = (head.x1 + head.x2) / 2
            half = head.width  # shoulders are about two head widths
            bottom = min(float(frame_height), head.y1 + config.body_heads * head.height)
            workers.append(Worker((cx - half, head.y1, cx + half, bottom), is_bare, head.score))
        elif bare[owner] is None or is_bare:  # a bare head anywhere on the person wins over a helmet box
            bare[owner] = is_bare
    workers.extend(Worker(p.box, bare[i], p.score) for i, p in enumerate(persons))
    return workers


def _owner(head: Detection, persons: Sequence[Detection]) -> int | None:
    """The person whose box holds the head's centre in its top 40 %, the tightest such box."""
    cx, cy = head.centre
    best, best_area = None, float("inf")
    for i, p in enumerate(persons):
        if p.x1 <= cx <= p.x2 and p.y1 <= cy <= p.y1 + 0.4 * p.height:
            area = p.width * p.height
            if area < best_area:
                best, best_area = i, area
    return best


@dataclass(frozen=True, slots=True)
class ViolationEvent:
    alert_id: str  # one per person-episode; an escalation reuses it
    camera_id: str
    track_id: int
    kind: ViolationKind
    zone_id: str | None
    zone_hazard: HazardLevel | None
    escalation: bool
    priority: Priority
    message: str
    t_mono: float
    t_wall: float
    box: Box


@dataclass(frozen=True, slots=True)
class EpisodeEnded:
    """A fired alert's person left the view (or the condition cleared for ``rearm_frames``): the alert may clear."""

    alert_id: str
    camera_id: str
    track_id: int
    t_mono: float


@dataclass(slots=True)
class _Episode:
    runs: dict[ViolationKind, int] = field(default_factory=lambda: dict.fromkeys(ViolationKind, 0))
    fired: int = 0  # severity fired so far in this episode
    clean: int = 0  # consecutive frames with no condition
    number: int = 1


@dataclass(frozen=True, slots=True)
class FrameWorkers:
    """What the violation layer saw in one analysed frame (the camera features are counted from it)."""

    workers: list[Worker]
    track_ids: list[int]
    zones: list[str | None]  # zone id per worker, None outside every zone
    events: list[ViolationEvent]
    ended: list[EpisodeEnded]

    @property
    def persons(self) -> int:
        return len(self.workers)

    @property
    def bare_heads(self) -> int:
        return sum(1 for w in self.workers if w.bare_head)

    @property
    def in_zone(self) -> int:
        return sum(1 for z in self.zones if z is not None)


def alert_message(kind: ViolationKind, zone: Zone | None, hazard: HazardLevel | None, where: str) -> str:
    """Alert text in the style of the seed paper ("Worker not wearing safety helmet and approaching hazardous
    area. Correct immediately."), naming the zone, its hazard state when it has one, and the camera's place."""
    hazardous = hazard in ("alert", "alarm")
    instruction = "Leave the area immediately." if hazardous else "Correct immediately."
    area = ""
    if zone is not None:
        state = f"; {hazard} standing there" if hazardous else ""
        area = f" ({zone.description}{state})"
    if kind is ViolationKind.BARE_HEAD:
        text = "Worker not wearing safety helmet; rectify immediately."
    elif kind is ViolationKind.IN_ZONE:
        text = f"Worker entering hazardous area{area}. {instruction}"
    else:
        text = f"Worker not wearing safety helmet and approaching hazardous area{area}. {instruction}"
    return f"{text} [{where}]" if where else text


def _priority(kind: ViolationKind, hazard: HazardLevel | None) -> Priority:
    # Never CRITICAL: that is the statutory alarms' rank, which camera warnings may not reach or delay.
    if kind is ViolationKind.BARE_HEAD:
        return Priority.LOW
    return Priority.HIGH if hazard in ("alert", "alarm") else Priority.MEDIUM


class ViolationMonitor:
    """One camera's violation state: tracker, per-episode persistence, events."""

    def __init__(
        self,
        camera_id: str,
        config: ViolationConfig,
        zones: Sequence[Zone],
        zone_hazard: ZoneHazard,
        *,
        where: str = "",
    ) -> None:
        self.camera_id = camera_id
        self._config = config
        self._zones = list(zones)
        self._zone_hazard = zone_hazard
        self._where = where or f"camera {camera_id}"
        self._tracker = IouTracker(match_iou=config.match_iou, max_missed=config.max_missed_frames)
        self.events_fired = 0

    @property
    def active_tracks(self) -> int:
        return len(self._tracker.tracks)

    def update(
        self, t_mono: float, t_wall: float, detections: Sequence[Detection], frame_width: int, frame_height: int
    ) -> FrameWorkers:
        """Analyse one frame's detections; call only for frames the detector ran on (a skipped frame says nothing)."""
        workers = workers_from(detections, self._config, frame_height)
        tracks = self._tracker.update(t_mono, [w.box for w in workers])
        ended = [
            EpisodeEnded(self._alert_id(t.id, ep), self.camera_id, t.id, t_mono)
            for t in self._tracker.ended
            if isinstance(ep := t.data.get("episode"), _Episode) and ep.fired
        ]
        events: list[ViolationEvent] = []
        zone_ids: list[str | None] = []
        track_ids: list[int] = []
        for worker, track in zip(workers, tracks, strict=True):
            if track is None:  # update() gives every box a track
                raise RuntimeError("tracker returned no track for a detection")
            zone = self._zone_of(worker, frame_width, frame_height)
            zone_ids.append(zone.id if zone else None)
            track_ids.append(track.id)
            episode = track.data.get("episode")
            if not isinstance(episode, _Episode):
                episode = track.data["episode"] = _Episode()
            event, finished = self._advance(episode, track.id, worker, zone, t_mono=t_mono, t_wall=t_wall)
            if finished is not None:
                ended.append(finished)
            if event is not None:
                events.append(event)
        self.events_fired += len(events)
        return FrameWorkers(workers, track_ids, zone_ids, events, ended)

    def _zone_of(self, worker: Worker, frame_width: int, frame_height: int) -> Zone | None:
        inside = [z for z in self._zones if z.contains_box(worker.box, frame_width, frame_height)]
        if not inside:
            return None
        # In two overlapping zones, the one with the worse hazard state is the one to name.
        return max(inside, key=lambda z: _HAZARD_RANK[self._zone_hazard(z.id)])

    def _advance(
        self, episode: _Episode, track_id: int, worker: Worker, zone: Zone | None, *, t_mono: float, t_wall: float
    ) -> tuple[ViolationEvent | None, EpisodeEnded | None]:
        bare = worker.bare_head is True
        holding = {
            ViolationKind.BARE_HEAD: bare,
            ViolationKind.IN_ZONE: zone is not None,
            ViolationKind.BARE_HEAD_IN_ZONE: bare and zone is not None,
        }
        for kind, holds in holding.items():
            episode.runs[kind] = episode.runs[kind] + 1 if holds else 0
        finished = None
        if any(holding.values()):
            episode.clean = 0
        else:
            episode.clean += 1
            if episode.fired and episode.clean >= self._config.rearm_frames:
                finished = EpisodeEnded(self._alert_id(track_id, episode), self.camera_id, track_id, t_mono)
                episode.fired = 0
                episode.number += 1
        due = [k for k, run in episode.runs.items() if run >= self._config.persist_frames]
        if not due:
            return None, finished
        kind = max(due, key=lambda k: _SEVERITY[k])
        if _SEVERITY[kind] <= episode.fired:
            return None, finished
        escalation = episode.fired > 0
        episode.fired = _SEVERITY[kind]
        hazard = self._zone_hazard(zone.id) if zone is not None and kind is not ViolationKind.BARE_HEAD else None
        shown_zone = zone if kind is not ViolationKind.BARE_HEAD else None
        event = ViolationEvent(
            alert_id=self._alert_id(track_id, episode),
            camera_id=self.camera_id,
            track_id=track_id,
            kind=kind,
            zone_id=shown_zone.id if shown_zone else None,
            zone_hazard=hazard,
            escalation=escalation,
            priority=_priority(kind, hazard),
            message=alert_message(kind, shown_zone, hazard, self._where),
            t_mono=t_mono,
            t_wall=t_wall,
            box=worker.box,
        )
        return event, finished

    def _alert_id(self, track_id: int, episode: _Episode) -> str:
        return f"camera.{self.camera_id}.person{track_id}.{episode.number}"
