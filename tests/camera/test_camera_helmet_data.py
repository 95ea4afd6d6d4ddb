"""On the real helmet photos (../shared/data/helmet, skipped when absent): the health checks do not call a real
scene blind, a dusty lens over the same scenes is caught, and the violation layer turns the photos' labelled
boxes (used as perfect detections) into one bare-head event per bare head -- on real crowd geometry, where the
data set labels heads only and the bodies the layer assumes below them overlap."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.camera.config import HealthConfig, ViolationConfig
from edge.camera.frames import analysis_grey
from edge.camera.health import mean_luminance, sharpness
from edge.camera.objects import Detection
from edge.camera.violations import ViolationKind, ViolationMonitor

HELMET = Path(__file__).resolve().parents[3] / "shared" / "data" / "helmet"
LABELS = {0: "helmet", 1: "person", 2: "head"}

pytestmark = pytest.mark.skipif(not (HELMET / "labels_yolo").is_dir(), reason="shared helmet data not present")


def images() -> list[Path]:
    return sorted((HELMET / "images").glob("*.png"))


def labelled(image: Path, width: int, height: int) -> list[Detection]:
    found = []
    for line in (HELMET / "labels_yolo" / f"{image.stem}.txt").read_text().splitlines():
        cls, cx, cy, w, h = line.split()
        x, y, bw, bh = float(cx) * width, float(cy) * height, float(w) * width, float(h) * height
        found.append(Detection(x - bw / 2, y - bh / 2, x + bw / 2, y + bh / 2, 1.0, int(cls), LABELS[int(cls)]))
    return found


def test_real_scenes_are_not_dark_or_obscured_but_a_dusty_lens_is() -> None:
    config = HealthConfig()
    paths = images()
    assert len(paths) == 101
    for path in paths:
        image = np.asarray(cv2.imread(str(path)), dtype=np.uint8)
        grey = analysis_grey(image)
        assert mean_luminance(grey) > config.dark_clear_above, path.name
        assert sharpness(grey) > config.blur_clear_above, path.name
        dusty = analysis_grey(np.asarray(cv2.GaussianBlur(image, (0, 0), 8), dtype=np.uint8))
        assert sharpness(dusty) < config.blur_below, path.name


def test_labelled_boxes_give_one_bare_head_event_per_bare_head() -> None:
    total_events = total_heads = 0
    for path in images():
        height, width = np.asarray(cv2.imread(str(path))).shape[:2]
        detections = labelled(path, width, height)
        monitor = ViolationMonitor("cam", ViolationConfig(persist_frames=3), [], lambda _z: "normal")
        events = [e for t in range(6) for e in monitor.update(float(t), 0.0, detections, width, height).events]
        heads = sum(1 for d in detections if d.label == "head")
        assert all(e.kind is ViolationKind.BARE_HEAD for e in events)
        assert len(events) == heads, path.name
        assert len({e.alert_id for e in events}) == heads
        total_events += len(events)
        total_heads += heads
    assert total_heads == 234
    assert total_events == 234
