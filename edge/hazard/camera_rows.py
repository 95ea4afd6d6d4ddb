"""The camera features of the last 30 min, one row per analysed frame, cut into the model's camera tokens.

Rows come from the camera path (``edge.camera.features.CameraFeatures``: the fields in ``CAMERA_FIELDS`` order and
a valid flag), stamped in story seconds by the caller. A gateway without a camera, or a camera that delivers
nothing, leaves every token masked: the contract's masked modality, as the model was trained to expect.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from numpy.typing import NDArray

from edge.hazard.contract import CAMERA_FIELDS, CAMERA_TOKEN_S, CAMERA_WINDOW_TOKENS
from edge.hazard.features import CameraTokens, camera_tokens

KEEP_S = CAMERA_TOKEN_S * CAMERA_WINDOW_TOKENS


class CameraRows:
    def __init__(self, keep_s: float = KEEP_S) -> None:
        self.keep_s = keep_s
        self._rows: deque[tuple[float, NDArray[np.float32], bool]] = deque()

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, t_s: float, values: NDArray[np.float32], valid: bool) -> None:
        """One analysed frame at story second ``t_s`` (rows must arrive in time order; older ones are ignored)."""
        if values.shape != (len(CAMERA_FIELDS),):
            raise ValueError(f"a camera row has {len(CAMERA_FIELDS)} fields, got shape {values.shape}")
        if self._rows and t_s <= self._rows[-1][0]:
            return
        self._rows.append((t_s, values.astype(np.float32), valid))
        while self._rows and self._rows[0][0] <= t_s - self.keep_s:
            self._rows.popleft()

    def tokens(self, t_end: float) -> CameraTokens:
        rows = list(self._rows)
        t = np.asarray([r[0] for r in rows], dtype=np.float64)
        values = (
            np.stack([r[1] for r in rows]) if rows else np.zeros((0, len(CAMERA_FIELDS)), dtype=np.float32)
        ).astype(np.float32)
        valid = np.asarray([r[2] for r in rows], dtype=np.bool_)
        return camera_tokens(t, values, valid, t_end)


def masked_camera() -> CameraTokens:
    """The camera input of a gateway whose camera saw nothing (no valid frame in any token)."""
    return camera_tokens(
        np.zeros(0), np.zeros((0, len(CAMERA_FIELDS)), dtype=np.float32), np.zeros(0, dtype=np.bool_), 0.0
    )
