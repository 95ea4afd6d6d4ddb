"""Camera features for the fusion model: one row per analysed frame, in ``edge.hazard.contract``'s field order.

Counts come from the violation layer (never pixels); ``camera_valid`` is False when the camera is down, frozen,
dark or obscured, and then every value is NaN (the contract's modality masking). A frame the motion gate kept
from the detector repeats the last counts: the scene did not change, so neither did the people in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.hazard.contract import CAMERA_FIELDS, CameraField

NAN = float("nan")


@dataclass(frozen=True, slots=True)
class CameraFeatures:
    camera_id: str
    t_s: float  # monotonic seconds of the frame (the contract's one clock)
    persons_seen: float
    bare_heads: float
    persons_in_zone: float
    motion_level: float  # 0-1
    camera_health: float  # 0-1, 1 = clean image
    camera_valid: bool

    def vector(self) -> npt.NDArray[np.float32]:
        """Values in ``CAMERA_FIELDS`` order, float32; all NaN when ``camera_valid`` is False."""
        values = {
            CameraField.PERSONS_SEEN: self.persons_seen,
            CameraField.BARE_HEADS: self.bare_heads,
            CameraField.PERSONS_IN_ZONE: self.persons_in_zone,
            CameraField.MOTION_LEVEL: self.motion_level,
            CameraField.CAMERA_HEALTH: self.camera_health,
        }
        if not self.camera_valid:
            return np.full(len(CAMERA_FIELDS), np.nan, dtype=np.float32)
        return np.asarray([values[f] for f in CAMERA_FIELDS], dtype=np.float32)


def camera_features(
    camera_id: str,
    t_s: float,
    *,
    valid: bool,
    persons: int = 0,
    bare_heads: int = 0,
    in_zone: int = 0,
    motion_level: float = 0.0,
    health_score: float = 0.0,
) -> CameraFeatures:
    if not valid:
        return CameraFeatures(camera_id, t_s, NAN, NAN, NAN, NAN, NAN, camera_valid=False)
    return CameraFeatures(
        camera_id,
        t_s,
        float(persons),
        float(bare_heads),
        float(in_zone),
        float(motion_level),
        float(health_score),
        True,
    )


def missing_frame(camera_id: str, t_s: float) -> CameraFeatures:
    """The row for a sampling instant at which the camera delivered nothing (down or reconnecting)."""
    return camera_features(camera_id, t_s, valid=False)


def stack_rows(
    rows: Sequence[CameraFeatures],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """One camera's rows, oldest first, as ``edge.hazard.features.camera_tokens`` takes them: (t_s, features, valid)."""
    t_s = np.asarray([r.t_s for r in rows], dtype=np.float64)
    values = np.stack([r.vector() for r in rows]) if rows else np.zeros((0, len(CAMERA_FIELDS)), dtype=np.float32)
    valid = np.asarray([r.camera_valid for r in rows], dtype=np.bool_)
    return t_s, values.astype(np.float32), valid
