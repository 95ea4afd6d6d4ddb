"""YOLO pre- and post-processing: letterbox, the two common output layouts, confidence threshold and NMS.

Layouts (batch 1, C classes, N candidate boxes, boxes as centre x, centre y, width, height):

* ``yolov5`` -- ``[1, N, 5 + C]``: box, objectness, per-class scores; score = objectness x class score
  (YOLOv5, v7, and exports that keep that head).
* ``yolov8`` -- ``[1, 4 + C, N]``: box then per-class scores, no objectness (YOLOv8, v9, v10 non-e2e, 11).

``detect_layout`` tells them apart by shape and refuses an ambiguous or unknown shape instead of guessing.
Box coordinates are in input pixels, or 0-1 of the input when the export normalised them (many TFLite exports).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from edge.camera.frames import Image

OutputLayout = Literal["yolov5", "yolov8"]
BoxUnits = Literal["pixels", "normalized"]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a frame was fitted into the model input: scaled by ``scale`` then padded by ``pad_x``/``pad_y``."""

    scale: float
    pad_x: float
    pad_y: float
    frame_width: int
    frame_height: int

    def to_frame(self, boxes_xyxy: FloatArray) -> FloatArray:
        """Boxes in model-input pixels -> boxes in frame pixels, clipped to the frame."""
        out = boxes_xyxy.astype(np.float32, copy=True)
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, self.frame_width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, self.frame_height)
        return out

    def to_input(self, boxes_xyxy: FloatArray) -> FloatArray:
        """Frame pixels -> model-input pixels (the inverse of ``to_frame`` inside the frame)."""
        out = boxes_xyxy.astype(np.float32, copy=True)
        out[:, [0, 2]] = out[:, [0, 2]] * self.scale + self.pad_x
        out[:, [1, 3]] = out[:, [1, 3]] * self.scale + self.pad_y
        return out


def letterbox(image: Image, width: int, height: int, pad_value: int = 114) -> tuple[Image, Letterbox]:
    """Resize keeping the aspect ratio and pad the rest evenly (as YOLO training does) to ``width`` x ``height``."""
    h, w = image.shape[:2]
    if h == 0 or w == 0:
        raise ValueError(f"cannot letterbox an empty frame of shape {image.shape}")
    scale = min(width / w, height / h)
    new_w, new_h = round(w * scale), round(h * scale)
    resized = (
        image
        if (new_w, new_h) == (w, h)
        else np.asarray(cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
    )
    pad_x, pad_y = (width - new_w) / 2, (height - new_h) / 2
    top, left = round(pad_y - 0.1), round(pad_x - 0.1)
    bottom, right = height - new_h - top, width - new_w - left
    value = (pad_value,) * (image.shape[2] if image.ndim == 3 else 1)
    padded = np.asarray(
        cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=value), dtype=np.uint8
    )
    return padded, Letterbox(scale, float(left), float(top), w, h)


def to_tensor(image: Image, *, layout: Literal["nchw", "nhwc"], rgb: bool, scale: float) -> FloatArray:
    """A BGR uint8 image -> float32 batch of one, channel order and value scale as the model was trained."""
    pixels = image[:, :, ::-1] if rgb else image
    x = pixels.astype(np.float32) * np.float32(scale)
    if layout == "nchw":
        x = x.transpose(2, 0, 1)
    return np.ascontiguousarray(x[np.newaxis])


def detect_layout(shape: tuple[int, ...], num_classes: int) -> OutputLayout:
    """Which YOLO head produced an output of ``shape``; ``ValueError`` naming the shape when it cannot tell."""
    if len(shape) != 3 or shape[0] != 1:
        raise ValueError(
            f"YOLO output must be [1, N, 5+C] (yolov5) or [1, 4+C, N] (yolov8/11), got {list(shape)}; "
            "export with batch 1 and one output tensor"
        )
    _, a, b = shape
    v5 = b == 5 + num_classes
    v8 = a == 4 + num_classes
    if v5 and not v8:
        return "yolov5"
    if v8 and not v5:
        return "yolov8"
    if v5 and v8:
        raise ValueError(
            f"YOLO output {list(shape)} fits both layouts for {num_classes} classes; set output_layout in the manifest"
        )
    raise ValueError(
        f"YOLO output {list(shape)} fits neither layout for {num_classes} classes (the manifest's labels): "
        f"yolov5 needs [1, N, {5 + num_classes}], yolov8/11 [1, {4 + num_classes}, N]; a model with another class "
        "count needs matching labels, and end-to-end heads (NMS inside, [1, N, 6]) are not supported"
    )


@dataclass(frozen=True, slots=True)
class Detections:
    """Boxes ``[K, 4]`` x1, y1, x2, y2 (frame pixels after ``Letterbox.to_frame``), scores ``[K]``, classes ``[K]``."""

    boxes: FloatArray
    scores: FloatArray
    classes: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @staticmethod
    def empty() -> Detections:
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))


def decode(
    output: np.ndarray,
    *,
    num_classes: int,
    layout: OutputLayout | Literal["auto"] = "auto",
    box_units: BoxUnits = "pixels",
    input_size: tuple[int, int] = (640, 640),
    confidence: float = 0.25,
    iou: float = 0.45,
    max_detections: int = 100,
    class_agnostic: bool = False,
) -> Detections:
    """Raw YOLO output -> thresholded, non-maximum-suppressed boxes in model-input pixels (x1, y1, x2, y2)."""
    out = np.asarray(output, dtype=np.float32)
    chosen = detect_layout(out.shape, num_classes) if layout == "auto" else layout
    expected = (1, -1, 5 + num_classes) if chosen == "yolov5" else (1, 4 + num_classes, -1)
    if out.ndim != 3 or out.shape[0] != 1 or any(e not in (-1, s) for e, s in zip(expected, out.shape, strict=True)):
        raise ValueError(f"YOLO output {list(out.shape)} is not the {chosen} layout for {num_classes} classes")
    rows = out[0] if chosen == "yolov5" else out[0].T
    class_scores = rows[:, 5:] * rows[:, 4:5] if chosen == "yolov5" else rows[:, 4:]
    classes = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(rows.shape[0]), classes]
    keep = scores >= confidence
    if not keep.any():
        return Detections.empty()
    xywh, scores, classes = rows[keep, :4], scores[keep], classes[keep].astype(np.int64)
    if box_units == "normalized":
        xywh = xywh * np.array([input_size[0], input_size[1], input_size[0], input_size[1]], dtype=np.float32)
    boxes = np.empty_like(xywh)
    boxes[:, 0] = xywh[:, 0] - xywh[:, 2] / 2
    boxes[:, 1] = xywh[:, 1] - xywh[:, 3] / 2
    boxes[:, 2] = xywh[:, 0] + xywh[:, 2] / 2
    boxes[:, 3] = xywh[:, 1] + xywh[:, 3] / 2
    kept = nms(boxes, scores, None if class_agnostic else classes, iou_threshold=iou)[:max_detections]
    return Detections(boxes[kept], scores[kept], classes[kept])


def iou_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    """Pairwise IoU of boxes ``a`` [M, 4] and ``b`` [N, 4] (x1, y1, x2, y2) -> [M, N]."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    area_a = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])).clip(0)
    area_b = ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).clip(0)
    union = area_a[:, None] + area_b[None, :] - inter
    result: FloatArray = np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)
    return result


def nms(
    boxes: FloatArray, scores: FloatArray, classes: npt.NDArray[np.int64] | None, *, iou_threshold: float
) -> npt.NDArray[np.int64]:
    """Indices of the boxes kept, best score first; with ``classes``, boxes of different classes never suppress."""
    if boxes.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    work = boxes
    if classes is not None:
        # Shift each class to its own region so one pass never lets a helmet suppress the person wearing it.
        offset = float(boxes.max() - boxes.min()) + 1.0
        work = boxes + (classes.astype(np.float32) * offset)[:, None]
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        rest = order[1:]
        overlaps = iou_matrix(work[best : best + 1], work[rest])[0]
        order = rest[overlaps <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)
