"""A light IoU tracker: gives each worker a stable id across analysed frames, so an episode can be counted once.

Greedy matching of detections to tracks by IoU (best pairs first), falling back to centre distance for a person
who moved more than their box width between two samples (at 1 frame/s a walking miner does). A track unseen for
more than ``max_missed`` analysed frames ends: its episode is over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edge.camera.yolo import iou_matrix

Box = tuple[float, float, float, float]


@dataclass(slots=True)
class Track:
    id: int
    box: Box
    first_t: float
    last_t: float
    hits: int = 1
    missed: int = 0  # consecutive analysed frames without a matching detection
    data: dict[str, object] = field(default_factory=dict)  # the owner's per-episode state

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)


class IouTracker:
    def __init__(self, *, match_iou: float = 0.2, max_missed: int = 5, max_centre_shift: float = 1.5) -> None:
        """``max_centre_shift``: a detection within this many box heights of a track's centre may continue it."""
        self._match_iou = match_iou
        self._max_missed = max_missed
        self._max_shift = max_centre_shift
        self._tracks: list[Track] = []
        self._next_id = 1
        self.ended: list[Track] = []  # tracks that ended in the last update

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracks)

    def update(self, t: float, boxes: Sequence[Box]) -> list[Track | None]:
        """Match ``boxes`` to tracks; returns, per box, its track (new or continued). Unmatched tracks age."""
        assigned: list[Track | None] = [None] * len(boxes)
        free_tracks = set(range(len(self._tracks)))
        free_boxes = set(range(len(boxes)))
        if boxes and self._tracks:
            ious = iou_matrix(np.asarray(boxes, np.float32), np.asarray([tr.box for tr in self._tracks], np.float32))
            for b, tr in zip(*np.unravel_index(np.argsort(-ious, axis=None), ious.shape), strict=True):
                if ious[b, tr] < self._match_iou:
                    break
                if b in free_boxes and tr in free_tracks:
                    self._continue(self._tracks[tr], boxes[b], t)
                    assigned[b] = self._tracks[tr]
                    free_boxes.discard(b)
                    free_tracks.discard(tr)
            for b in sorted(free_boxes):
                best = self._nearest(boxes[b], free_tracks)
                if best is not None:
                    self._continue(self._tracks[best], boxes[b], t)
                    assigned[b] = self._tracks[best]
                    free_boxes.discard(b)
                    free_tracks.discard(best)
        for tr in free_tracks:
            self._tracks[tr].missed += 1
        self.ended = [track for track in self._tracks if track.missed > self._max_missed]
        self._tracks = [track for track in self._tracks if track.missed <= self._max_missed]
        for b in sorted(free_boxes):
            track = Track(self._next_id, boxes[b], t, t)
            self._next_id += 1
            self._tracks.append(track)
            assigned[b] = track
        return assigned

    def _nearest(self, box: Box, candidates: set[int]) -> int | None:
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        height = max(box[3] - box[1], 1.0)
        best, best_d = None, self._max_shift * height
        for index in candidates:
            tx, ty = self._tracks[index].centre
            distance = float(np.hypot(tx - cx, ty - cy))
            if distance <= best_d:
                best, best_d = index, distance
        return best

    @staticmethod
    def _continue(track: Track, box: Box, t: float) -> None:
        track.box = box
        track.last_t = t
        track.hits += 1
        track.missed = 0
