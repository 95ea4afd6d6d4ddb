from __future__ import annotations

import numpy as np
import pytest

from edge.camera.yolo import decode, detect_layout, letterbox, nms, to_tensor

C = 3  # helmet, person, head


def v8_output(rows: list[tuple[float, float, float, float, list[float]]], anchors: int = 20) -> np.ndarray:
    """[1, 4+C, N]: unused anchors are all zero (score 0)."""
    out = np.zeros((1, 4 + C, anchors), dtype=np.float32)
    for i, (cx, cy, w, h, scores) in enumerate(rows):
        out[0, :4, i] = (cx, cy, w, h)
        out[0, 4:, i] = scores
    return out


def v5_output(rows: list[tuple[float, float, float, float, float, list[float]]], anchors: int = 20) -> np.ndarray:
    """[1, N, 5+C] with objectness."""
    out = np.zeros((1, anchors, 5 + C), dtype=np.float32)
    for i, (cx, cy, w, h, obj, scores) in enumerate(rows):
        out[0, i, :5] = (cx, cy, w, h, obj)
        out[0, i, 5:] = scores
    return out


def test_v8_layout_decodes_boxes_scores_and_classes() -> None:
    out = v8_output([(100, 200, 40, 80, [0.0, 0.9, 0.1]), (300, 50, 20, 20, [0.1, 0.0, 0.7])])
    found = decode(out, num_classes=C, confidence=0.5)
    assert found.classes.tolist() == [1, 2]
    np.testing.assert_allclose(found.scores, [0.9, 0.7], rtol=1e-6)
    np.testing.assert_allclose(found.boxes, [[80, 160, 120, 240], [290, 40, 310, 60]])


def test_v5_layout_multiplies_objectness_into_the_class_score() -> None:
    out = v5_output([(100, 200, 40, 80, 0.5, [0.0, 0.9, 0.1]), (300, 50, 20, 20, 0.9, [0.0, 0.0, 0.8])])
    found = decode(out, num_classes=C, confidence=0.5)
    # 0.5 x 0.9 = 0.45 falls below the threshold; 0.9 x 0.8 = 0.72 stays.
    assert found.classes.tolist() == [2]
    np.testing.assert_allclose(found.scores, [0.72], rtol=1e-6)
    np.testing.assert_allclose(found.boxes, [[290, 40, 310, 60]])


def test_layout_is_detected_from_the_shape_and_refused_when_it_cannot_be() -> None:
    assert detect_layout((1, 20, 8), C) == "yolov5"
    assert detect_layout((1, 7, 8400), C) == "yolov8"
    with pytest.raises(ValueError, match="fits both layouts"):
        detect_layout((1, 7, 8), C)
    with pytest.raises(ValueError, match=r"fits neither layout for 3 classes.*\[1, N, 8\]"):
        detect_layout((1, 9, 100), C)
    with pytest.raises(ValueError, match="batch 1"):
        detect_layout((2, 7, 100), C)
    with pytest.raises(ValueError, match="not the yolov5 layout"):
        decode(np.zeros((1, 7, 100), np.float32), num_classes=C, layout="yolov5")


def test_normalised_box_units_are_scaled_to_the_input() -> None:
    out = v8_output([(0.5, 0.25, 0.1, 0.2, [0.9, 0.0, 0.0])])
    found = decode(out, num_classes=C, box_units="normalized", input_size=(640, 320), confidence=0.5)
    np.testing.assert_allclose(found.boxes, [[288, 48, 352, 112]], rtol=1e-5)


def test_nms_is_class_aware_and_keeps_the_best_box() -> None:
    out = v8_output(
        [
            (100, 100, 50, 50, [0.0, 0.9, 0.0]),  # person
            (102, 101, 50, 50, [0.0, 0.8, 0.0]),  # the same person again: suppressed
            (101, 100, 50, 50, [0.85, 0.0, 0.0]),  # a helmet on the same spot: another class, kept
            (400, 400, 50, 50, [0.0, 0.6, 0.0]),  # another person
        ]
    )
    found = decode(out, num_classes=C, confidence=0.5, iou=0.5)
    assert found.classes.tolist() == [1, 0, 1]
    np.testing.assert_allclose(found.scores, [0.9, 0.85, 0.6], rtol=1e-6)
    agnostic = decode(out, num_classes=C, confidence=0.5, iou=0.5, class_agnostic=True)
    assert agnostic.classes.tolist() == [1, 1]


def test_nms_and_max_detections_on_plain_arrays() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=np.float32)
    scores = np.array([0.5, 0.9, 0.7], dtype=np.float32)
    assert nms(boxes, scores, None, iou_threshold=0.5).tolist() == [1, 2]
    assert nms(boxes, scores, None, iou_threshold=0.99).tolist() == [1, 2, 0]
    out = v8_output([(10 + 30 * i, 10, 10, 10, [0.9 - i * 0.01, 0, 0]) for i in range(10)])
    assert len(decode(out, num_classes=C, max_detections=4)) == 4
    assert len(decode(np.zeros((1, 7, 5), np.float32), num_classes=C)) == 0


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (480, 640), (640, 640), (200, 100)])
def test_letterbox_round_trip_maps_boxes_back_to_the_frame(width: int, height: int) -> None:
    frame = np.full((height, width, 3), 50, dtype=np.uint8)
    padded, box = letterbox(frame, 640, 640)
    assert padded.shape == (640, 640, 3)
    frame_boxes = np.array([[10, 20, width / 2, height / 2], [0, 0, width, height]], dtype=np.float32)
    in_input = box.to_input(frame_boxes)
    assert (in_input >= -0.5).all()
    assert (in_input <= 640.5).all()
    np.testing.assert_allclose(box.to_frame(in_input), frame_boxes, atol=1e-3)
    # The image sits centred, the padding has the training grey.
    xs, ys = int(box.pad_x), int(box.pad_y)
    assert padded[ys + 1, xs + 1, 0] == 50
    if xs > 0:
        assert padded[320, 0, 0] == 114
    if ys > 0:
        assert padded[0, 320, 0] == 114


def test_to_tensor_layouts_and_channel_order() -> None:
    image = np.zeros((4, 6, 3), dtype=np.uint8)
    image[..., 0] = 255  # blue in OpenCV's BGR
    nchw = to_tensor(image, layout="nchw", rgb=True, scale=1 / 255)
    assert nchw.shape == (1, 3, 4, 6)
    assert nchw.dtype == np.float32
    assert nchw[0, 2].max() == pytest.approx(1.0)  # RGB: blue is the last channel
    assert nchw[0, 0].max() == 0
    nhwc = to_tensor(image, layout="nhwc", rgb=False, scale=1.0)
    assert nhwc.shape == (1, 4, 6, 3)
    assert nhwc[0, 0, 0, 0] == 255
