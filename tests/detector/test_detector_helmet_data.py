"""The shared helmet photos as the detector evaluation reads them: class mapping, counts, calibration split."""

from __future__ import annotations

from pathlib import Path

import pytest

from export.detector.helmet_data import available, calibration_split, load_images

pytestmark = pytest.mark.skipif(not available(), reason="shared helmet photos (../shared/data/helmet) not present")


def test_labels_map_to_the_model_classes_and_persons_are_dropped() -> None:
    images = load_images()
    assert len(images) == 101
    classes = [c for im in images for c in im.classes]
    # the data set's README: 435 helmet and 234 bare-head boxes
    assert classes.count("helmet") == 435
    assert classes.count("bare head") == 234
    assert set(classes) == {"helmet", "bare head"}
    first = images[0]
    assert first.name == "hard_hat_workers0"
    assert (first.boxes[:, 2] > first.boxes[:, 0]).all()
    assert first.boxes.max() <= max(first.width, first.height) + 1


def test_calibration_photos_are_never_evaluated() -> None:
    calibration, evaluation = calibration_split(load_images())
    assert (len(calibration), len(evaluation)) == (21, 80)
    assert not {im.name for im in calibration} & {im.name for im in evaluation}


def test_a_malformed_label_line_is_named(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "labels_yolo").mkdir()
    source = load_images()[0]
    (tmp_path / "images" / "x1.png").write_bytes(source.path.read_bytes())
    (tmp_path / "labels_yolo" / "x1.txt").write_text("0 0.5 0.5 0.1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"x1\.txt:1: expected 'class cx cy w h'"):
        load_images(tmp_path)
