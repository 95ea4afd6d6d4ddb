"""The shared helmet photos (``../shared/data/helmet``) as the detector evaluation reads them.

Label mapping (the data set's YOLO classes -> the helmet-detector model's classes):

* ``0 helmet`` (a head wearing a hard hat) -> model class 0 ``With Helmet``
* ``2 head`` (a bare head: the violation) -> model class 1 ``Without Helmet``
* ``1 person`` has no model class and is left out of every figure.

The model was trained on bike helmets; a hard hat is scored as ``With Helmet`` (the closest class) and that
domain gap is part of what the evaluation measures.

Calibration split: the package ships no images, so the int8 calibration uses every fifth photo in name order
(``calibration_split``: 21 of 101) and those photos are excluded from every evaluation figure (80 remain).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "helmet"

#: dataset class id -> evaluated class name (model class index in ``MODEL_CLASS``)
DATASET_TO_EVAL: dict[int, str] = {0: "helmet", 2: "bare head"}
#: evaluated class name -> model output class index (``With Helmet`` = 0, ``Without Helmet`` = 1)
MODEL_CLASS: dict[str, int] = {"helmet": 0, "bare head": 1}
CALIBRATION_EVERY = 5


@dataclass(frozen=True, slots=True)
class LabelledImage:
    name: str
    path: Path
    width: int
    height: int
    boxes: npt.NDArray[np.float32]  # [K, 4] x1, y1, x2, y2 in image pixels
    classes: list[str]  # evaluated class per box ("helmet" / "bare head"); persons dropped

    def read(self) -> npt.NDArray[np.uint8]:
        image = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"{self.path}: not a readable image")
        return np.asarray(image, dtype=np.uint8)

    def boxes_of(self, cls: str) -> npt.NDArray[np.float32]:
        keep = [i for i, c in enumerate(self.classes) if c == cls]
        return self.boxes[keep] if keep else np.zeros((0, 4), np.float32)


def available(data_dir: Path = DATA_DIR) -> bool:
    return (data_dir / "images").is_dir() and (data_dir / "labels_yolo").is_dir()


def _name_key(name: str) -> tuple[str, int]:
    stem = name.rstrip("0123456789")
    digits = name[len(stem) :]
    return stem, int(digits) if digits else -1


def load_images(data_dir: Path = DATA_DIR) -> list[LabelledImage]:
    """Every labelled photo, in natural name order (hard_hat_workers0, 1, 2, ... 10, ...)."""
    if not available(data_dir):
        raise FileNotFoundError(f"{data_dir}: no images/ and labels_yolo/ (the shared helmet photos)")
    result: list[LabelledImage] = []
    for path in sorted((data_dir / "images").glob("*.png"), key=lambda p: _name_key(p.stem)):
        label_path = data_dir / "labels_yolo" / f"{path.stem}.txt"
        pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if pixels is None:
            raise FileNotFoundError(f"{path}: not a readable image")
        height, width = int(pixels.shape[0]), int(pixels.shape[1])
        boxes: list[list[float]] = []
        classes: list[str] = []
        for line_no, line in enumerate(label_path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            fields = line.split()
            if len(fields) != 5:
                raise ValueError(f"{label_path}:{line_no}: expected 'class cx cy w h', got {line!r}")
            cls = int(fields[0])
            if cls not in DATASET_TO_EVAL:
                continue
            cx, cy, w, h = (float(v) for v in fields[1:])
            boxes.append([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height])
            classes.append(DATASET_TO_EVAL[cls])
        array = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        result.append(LabelledImage(path.stem, path, width, height, array, classes))
    return result


def calibration_split(images: list[LabelledImage]) -> tuple[list[LabelledImage], list[LabelledImage]]:
    """(calibration, evaluation): every ``CALIBRATION_EVERY``-th photo in name order calibrates int8."""
    calibration = [im for i, im in enumerate(images) if i % CALIBRATION_EVERY == 0]
    evaluation = [im for i, im in enumerate(images) if i % CALIBRATION_EVERY != 0]
    return calibration, evaluation
