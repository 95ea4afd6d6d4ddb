"""Hazard zones drawn on a camera's image, and whether a person is in one.

A person is in a zone when the bottom-centre of the box (where the feet are) lies inside the polygon
(``membership: foot``, right for zones drawn on the floor), or when at least ``min_overlap`` of the box does
(``overlap``, for zones drawn around a machine). The polygon is frame-relative (0-1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.camera.config import ZoneConfig, ZoneKind

_KIND_TEXT: dict[str, str] = {
    "restricted_area": "restricted area",
    "unsupported_roof": "unsupported roof",
    "conveyor_pinch_point": "conveyor pinch point",
}

_OVERLAP_GRID = 7  # 49 sample points: overlap to within ~2 %, no raster mask per frame


def point_in_polygon(x: float, y: float, polygon: Sequence[tuple[float, float]]) -> bool:
    """Even-odd ray casting; a point exactly on an edge may fall either way (irrelevant at pixel scale)."""
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < x_cross:
                inside = not inside
    return inside


def polygon_area(polygon: Sequence[tuple[float, float]]) -> float:
    xs = np.array([p[0] for p in polygon])
    ys = np.array([p[1] for p in polygon])
    return float(abs(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))) / 2)


@dataclass(frozen=True, slots=True)
class Zone:
    id: str
    kind: ZoneKind
    label: str
    polygon: tuple[tuple[float, float], ...]  # frame-relative
    membership: str
    min_overlap: float

    @staticmethod
    def from_config(config: ZoneConfig) -> Zone:
        polygon = tuple((float(p[0]), float(p[1])) for p in config.polygon)
        if polygon_area(polygon) < 1e-4:
            raise ValueError(
                f"zone {config.id!r}: polygon {list(polygon)} has (almost) no area; give its corners in order"
            )
        return Zone(config.id, config.kind, config.label, polygon, config.membership, config.min_overlap)

    @property
    def description(self) -> str:
        """How the alert names it: the site's label, else the kind."""
        return self.label or f"{_KIND_TEXT[self.kind]} {self.id}"

    def contains_box(self, box: tuple[float, float, float, float], frame_width: int, frame_height: int) -> bool:
        x1, y1, x2, y2 = (box[0] / frame_width, box[1] / frame_height, box[2] / frame_width, box[3] / frame_height)
        if self.membership == "foot":
            return point_in_polygon((x1 + x2) / 2, y2, self.polygon)
        return self.overlap(x1, y1, x2, y2) >= self.min_overlap

    def overlap(self, x1: float, y1: float, x2: float, y2: float) -> float:
        """Approximate share (0-1) of the frame-relative box inside the polygon."""
        steps = (np.arange(_OVERLAP_GRID) + 0.5) / _OVERLAP_GRID
        inside = sum(
            point_in_polygon(x1 + (x2 - x1) * sx, y1 + (y2 - y1) * sy, self.polygon) for sx in steps for sy in steps
        )
        return inside / _OVERLAP_GRID**2
