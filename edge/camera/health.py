"""Camera health: no frames, frozen image, too dark, obscured or blurred lens. Each is a malfunction signal.

Pure measurements on the small grey analysis image, and a monitor that turns them into conditions with
hysteresis: dark and obscured must hold ``raise_after`` to be raised and be absent ``clear_after`` to clear, with a
looser clear threshold, so a miner's cap lamp sweeping the lens does not make the signal chatter. Frozen and
no-frames clear at once, because one fresh, different frame is proof the camera works.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import cv2
import numpy as np

from edge.camera.config import HealthConfig
from edge.camera.frames import Image


class HealthCondition(enum.StrEnum):
    NO_FRAMES = "no_frames"
    FROZEN = "frozen"
    DARK = "dark"
    OBSCURED = "obscured"  # blurred, dusty, covered or fogged lens: no usable edges


def mean_luminance(grey: Image) -> float:
    return float(grey.mean())


def sharpness(grey: Image) -> float:
    """Variance of the Laplacian: edges make it large; blur, dust and a covered lens drive it towards 0."""
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def mean_difference(a: Image, b: Image) -> float:
    """Mean absolute grey difference (0-255); inf when the sizes differ (the stream changed, not frozen)."""
    if a.shape != b.shape:
        return float("inf")
    return float(cv2.absdiff(a, b).mean())


@dataclass(frozen=True, slots=True)
class FrameQuality:
    luminance: float
    sharpness: float
    difference: float  # to the previous frame; inf for the first one


@dataclass(frozen=True, slots=True)
class HealthReport:
    t_mono: float
    conditions: frozenset[HealthCondition]
    score: float  # 0-1, 1 = clean image (the camera_health feature); 0 when no usable frame
    last_frame_age_s: float | None  # None: no frame yet
    quality: FrameQuality | None

    @property
    def ok(self) -> bool:
        return not self.conditions

    @property
    def usable(self) -> bool:
        """Whether this camera's detections mean anything: not down, not frozen, not blind."""
        return not self.conditions


class _Hysteresis:
    """A condition raised after ``bad`` held ``raise_after_s`` and cleared after ``good`` held ``clear_after_s``."""

    def __init__(self, raise_after_s: float, clear_after_s: float) -> None:
        self._raise_after_s = raise_after_s
        self._clear_after_s = clear_after_s
        self.raised = False
        self._since: float | None = None

    def update(self, t_mono: float, *, bad: bool, good: bool) -> None:
        moving_towards_change = good if self.raised else bad
        if not moving_towards_change:
            self._since = None
            return
        if self._since is None:
            self._since = t_mono
        wait = self._clear_after_s if self.raised else self._raise_after_s
        if t_mono - self._since >= wait:
            self.raised = not self.raised
            self._since = None


class CameraHealthMonitor:
    """Feed it every analysed frame (``observe``) and ask it for the camera's state at any time (``report``)."""

    def __init__(self, config: HealthConfig, *, started_t_mono: float) -> None:
        self._config = config
        self._started = started_t_mono
        self._last_frame_t: float | None = None
        self._previous: Image | None = None
        self._identical_since: float | None = None
        self._quality: FrameQuality | None = None
        self._dark = _Hysteresis(config.raise_after, config.clear_after)
        self._obscured = _Hysteresis(config.raise_after, config.clear_after)

    def observe(self, t_mono: float, grey: Image) -> FrameQuality:
        """Measure one analysis image captured at ``t_mono`` and update the conditions."""
        c = self._config
        quality = FrameQuality(
            luminance=mean_luminance(grey),
            sharpness=sharpness(grey),
            difference=float("inf") if self._previous is None else mean_difference(grey, self._previous),
        )
        if quality.difference <= c.frozen_max_difference:
            if self._identical_since is None:
                self._identical_since = self._last_frame_t if self._last_frame_t is not None else t_mono
        else:
            self._identical_since = None
        self._dark.update(t_mono, bad=quality.luminance < c.dark_below, good=quality.luminance > c.dark_clear_above)
        # A dark frame has no edges either: dark explains it, so it does not count against the lens.
        dark_now = quality.luminance < c.dark_below
        self._obscured.update(
            t_mono,
            bad=not dark_now and quality.sharpness < c.blur_below,
            good=dark_now or quality.sharpness > c.blur_clear_above,
        )
        self._previous = grey
        self._last_frame_t = t_mono
        self._quality = quality
        return quality

    def report(self, t_mono: float) -> HealthReport:
        c = self._config
        conditions: set[HealthCondition] = set()
        reference = self._last_frame_t if self._last_frame_t is not None else self._started
        age = t_mono - reference
        if age >= c.no_frames_after:
            conditions.add(HealthCondition.NO_FRAMES)
        if self._identical_since is not None and t_mono - self._identical_since >= c.frozen_after:
            conditions.add(HealthCondition.FROZEN)
        if self._dark.raised:
            conditions.add(HealthCondition.DARK)
        if self._obscured.raised:
            conditions.add(HealthCondition.OBSCURED)
        return HealthReport(
            t_mono=t_mono,
            conditions=frozenset(conditions),
            score=self._score(conditions),
            last_frame_age_s=None if self._last_frame_t is None else age,
            quality=self._quality,
        )

    def _score(self, conditions: set[HealthCondition]) -> float:
        q = self._quality
        if q is None or conditions & {HealthCondition.NO_FRAMES, HealthCondition.FROZEN}:
            return 0.0
        # 1 at twice the clear threshold, 0 at nothing: a soft measure the fusion model can weigh.
        light = q.luminance / (2 * self._config.dark_clear_above) if self._config.dark_clear_above > 0 else 1.0
        edges = q.sharpness / (2 * self._config.blur_clear_above) if self._config.blur_clear_above > 0 else 1.0
        return float(np.clip(min(light, edges), 0.0, 1.0))
