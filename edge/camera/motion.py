"""Motion gating: the detector runs only when the scene changed, and on a slow refresh when it did not.

Frame differencing on the small grey analysis image (blurred a little so sensor noise and compression blocks do
not count as motion) against the previous sampled frame. Chosen over MOG2 background subtraction: at 0.2-1
analysed frames per second the scene between two samples changes far more than a learned background would
smooth, and differencing costs one absdiff on 160 x 120 pixels with no state to warm up.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.camera.config import MotionConfig
from edge.camera.frames import Image


def changed_fraction(previous: Image, current: Image, pixel_threshold: int) -> float:
    """Share (0-1) of pixels whose grey level changed by more than ``pixel_threshold``; 1 when sizes differ."""
    if previous.shape != current.shape:
        return 1.0
    a = cv2.GaussianBlur(previous, (5, 5), 0)
    b = cv2.GaussianBlur(current, (5, 5), 0)
    return float(np.count_nonzero(cv2.absdiff(a, b) > pixel_threshold)) / a.size


@dataclass(frozen=True, slots=True)
class GateDecision:
    run_detector: bool
    motion_level: float  # changed fraction to the previous frame, 0-1 (the motion_level feature)
    reason: str  # "motion", "refresh", "first", "forced", "disabled", "still", "blocked"


class MotionGate:
    """Decides per sampled frame whether the detector runs; counts how many frames reached it."""

    def __init__(self, config: MotionConfig) -> None:
        self._config = config
        self._previous: Image | None = None
        self._last_detect_t: float | None = None
        self.frames_seen = 0
        self.frames_detected = 0

    @property
    def detected_share(self) -> float:
        """Share of sampled frames that reached the detector (1.0 before any frame)."""
        return self.frames_detected / self.frames_seen if self.frames_seen else 1.0

    def decide(self, t_mono: float, grey: Image, *, force: bool = False, blocked: bool = False) -> GateDecision:
        """``force``: run whatever the motion (e.g. a person is being tracked and may be standing still).
        ``blocked``: do not run (the camera is unusable); the motion level is still measured."""
        c = self._config
        level = 0.0 if self._previous is None else changed_fraction(self._previous, grey, c.pixel_threshold)
        self._previous = grey
        self.frames_seen += 1
        if blocked:
            return GateDecision(run_detector=False, motion_level=level, reason="blocked")
        if not c.enabled:
            reason = "disabled"
        elif self._last_detect_t is None:
            reason = "first"
        elif force:
            reason = "forced"
        elif level >= c.min_changed_fraction and level > 0:
            reason = "motion"
        elif t_mono - self._last_detect_t >= c.refresh_every:
            reason = "refresh"
        else:
            return GateDecision(run_detector=False, motion_level=level, reason="still")
        self.frames_detected += 1
        self._last_detect_t = t_mono
        return GateDecision(run_detector=True, motion_level=level, reason=reason)
