"""The shipped helmet detector (models/detector/helmet) through the gateway's loading path, on real photos.

The ONNX files are not in git (conflicting licence stamps, and 20.8 MB int8 / 78.7 MB fp32): `make detector` builds
them (export/detector/make_detector.py; not part of `make test`: it installs torch and the AGPL exporter in a venv of
its own). The tests skip, saying so, where they are absent, and where the shared helmet photos are absent.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edge.camera.detector import YoloDetector, load_detector
from edge.camera.yolo import iou_matrix
from edge.inference.manifest import sha256_of
from edge.inference.model import ModelRefused
from export.detector.helmet_data import available, calibration_split, load_images

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "detector" / "helmet"
FP32 = "helmet_yolov12m_fp32.onnx"
INT8 = "helmet_yolov12m_int8.onnx"
# Evaluation-split photos (never used for int8 calibration) on which the fp32 file finds every labelled bare
# head at the gateway's operating confidence; the int8 file must too. Their label files hold (bare heads, hard hats):
# pinned, so a label-mapping slip (class ids swapped, persons counted) fails here rather than passing vacuously.
BARE_HEAD_PHOTOS = {"hard_hat_workers148": (1, 5), "hard_hat_workers172": (1, 0), "hard_hat_workers423": (1, 6)}
CONFIDENCE = 0.35

needs_model = pytest.mark.skipif(
    not all((MODEL_DIR / f).is_file() for f in (FP32, INT8, "manifest.json")),
    reason=f"{MODEL_DIR}: ONNX files not built; run `make detector` (not part of make test: torch + AGPL exporter)",
)
needs_photos = pytest.mark.skipif(not available(), reason="shared helmet photos (../shared/data/helmet) not present")


@pytest.fixture(scope="module")
def detectors() -> dict[str, YoloDetector]:
    return {f: load_detector(MODEL_DIR, f) for f in (FP32, INT8)}


@needs_model
def test_the_shipped_detector_loads_through_its_manifest() -> None:
    detector = load_detector(MODEL_DIR)  # the gateway's default choice: int8 first
    assert detector.file.path == INT8
    assert detector.file.precision == "int8"
    assert detector.labels == ["With Helmet", "Without Helmet"]
    assert detector.layout == "yolov8"
    assert detector.manifest.input.shape == [1, 3, 640, 640]
    assert detector.manifest.licence.startswith("MIT")
    upstream = json.loads((MODEL_DIR / "upstream.json").read_text(encoding="utf-8"))
    assert upstream["weights"]["sha256"] in detector.manifest.description
    assert upstream["export"]["sha256"] == detector.manifest.file(FP32).sha256


@needs_model
@needs_photos
def test_labelled_bare_heads_are_found_by_fp32_and_int8(detectors: dict[str, YoloDetector]) -> None:
    _calibration, evaluation = calibration_split(load_images())
    chosen = [im for im in evaluation if im.name in BARE_HEAD_PHOTOS]
    assert len(chosen) == len(BARE_HEAD_PHOTOS), "a chosen photo is missing or in the calibration split"
    for image in chosen:
        bare, hard_hats = image.boxes_of("bare head"), image.boxes_of("helmet")
        assert (len(bare), len(hard_hats)) == BARE_HEAD_PHOTOS[image.name], f"{image.name}: labels changed"
        frame = image.read()
        for name, detector in detectors.items():
            found = [d for d in detector.detect(frame, confidence=CONFIDENCE) if d.label == "Without Helmet"]
            boxes = np.asarray([d.box for d in found], dtype=np.float32).reshape(-1, 4)
            best = iou_matrix(bare, boxes).max(axis=1) if len(boxes) else np.zeros(len(bare))
            missed = int((best < 0.5).sum())
            assert missed == 0, f"{name} on {image.name}: {missed} of {len(bare)} labelled bare heads not found"
            # A worker in a hard hat reported bare-headed is a false violation.
            if len(hard_hats) and len(boxes):
                wrongly_bare = int((iou_matrix(hard_hats, boxes).max(axis=1) >= 0.5).sum())
                assert wrongly_bare == 0, f"{name} on {image.name}: {wrongly_bare} hard hats reported as bare heads"


@needs_model
def test_a_tampered_file_is_refused(tmp_path: Path) -> None:
    shutil.copy(MODEL_DIR / "manifest.json", tmp_path / "manifest.json")
    model = onnx.load(str(MODEL_DIR / INT8))
    # Scale the first float initializer that is big enough to be a weight: the file still loads and runs.
    for init in model.graph.initializer:
        values = numpy_helper.to_array(init)
        if values.dtype == np.float32 and values.size >= 64:
            init.CopyFrom(numpy_helper.from_array(values * np.float32(1.5), init.name))
            break
    onnx.save(model, str(tmp_path / INT8))

    with pytest.raises(ModelRefused, match="sha256"):
        load_detector(tmp_path, INT8)

    # Even with the manifest's checksum forged to match, the reference output gives the file away.
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["files"]:
        if entry["path"] == INT8:
            entry["sha256"] = sha256_of(tmp_path / INT8)
            entry["bytes"] = (tmp_path / INT8).stat().st_size
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelRefused, match="reference"):
        load_detector(tmp_path, INT8)
