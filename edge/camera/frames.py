"""Frame types and the one downscaled grey image that the health checks and the motion gate share."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]  # H x W x 3 BGR (OpenCV's order) or H x W grey

# Health and motion only need coarse structure: 160 px wide keeps each check well under a millisecond on a Pi
# while a person at 10 m still covers several pixels.
ANALYSIS_WIDTH = 160


def analysis_grey(image: Image, width: int = ANALYSIS_WIDTH) -> Image:
    """The frame as a small grey image, ``width`` pixels wide (aspect kept), for health and motion checks."""
    if image.ndim == 3:
        if image.shape[2] != 3:
            raise ValueError(f"a colour frame needs 3 channels (BGR), got shape {image.shape}")
        grey = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    elif image.ndim == 2:
        grey = np.asarray(image, dtype=np.uint8)
    else:
        raise ValueError(f"a frame is H x W x 3 (BGR) or H x W (grey), got shape {image.shape}")
    h, w = grey.shape
    if w <= width:
        return np.ascontiguousarray(grey, dtype=np.uint8)
    height = max(1, round(h * width / w))
    return np.asarray(cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA), dtype=np.uint8)
