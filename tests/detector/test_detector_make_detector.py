"""`make detector`'s decision to build or not (export/detector/make_detector.py), without building anything.

The build itself (torch + the AGPL exporter in .venv-detector, ~1 min and 1.6 GB) is not run by the tests; these
check that an up-to-date model directory is left alone (no venv created, nothing downloaded) and that a missing or
altered file is seen, against a copy of the real committed manifest with small stand-in files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from edge.camera.detector_manifest import load_detector_manifest
from export.detector.make_detector import MODEL_DIR, make, stale_files


def _model_dir_with_small_files(tmp_path: Path) -> Path:
    """The committed manifest, its files replaced by a few bytes each (sha256 and size rewritten to match)."""
    manifest = json.loads((MODEL_DIR / "manifest.json").read_text(encoding="utf-8"))
    model_dir = tmp_path / "helmet"
    model_dir.mkdir()
    for entry in manifest["files"]:
        data = f"stand-in for {entry['path']}".encode()
        (model_dir / entry["path"]).write_bytes(data)
        entry["sha256"] = hashlib.sha256(data).hexdigest()
        entry["bytes"] = len(data)
    (model_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return model_dir


def test_an_up_to_date_directory_is_left_alone(tmp_path: Path) -> None:
    model_dir = _model_dir_with_small_files(tmp_path)
    venv, work = tmp_path / "venv-detector", tmp_path / "work"

    files = make(model_dir=model_dir, venv=venv, work=work)

    assert sorted(f.name for f in files) == sorted(f.path for f in load_detector_manifest(model_dir).files)
    assert not venv.exists()  # no exporter venv
    assert not work.exists()  # no download


def test_a_missing_or_altered_file_is_stale(tmp_path: Path) -> None:
    model_dir = _model_dir_with_small_files(tmp_path)
    manifest = load_detector_manifest(model_dir)
    int8, fp32 = (f.path for f in manifest.files)
    assert stale_files(model_dir, manifest) == []

    (model_dir / int8).write_bytes(b"stand-in for something else")
    (model_dir / fp32).unlink()

    assert stale_files(model_dir, manifest) == [int8, fp32]


def test_the_committed_manifest_pins_both_shipped_files() -> None:
    manifest = load_detector_manifest(MODEL_DIR)
    assert {(f.path, f.precision) for f in manifest.files} == {
        ("helmet_yolov12m_int8.onnx", "int8"),
        ("helmet_yolov12m_fp32.onnx", "fp32"),
    }
    upstream = json.loads((MODEL_DIR / "upstream.json").read_text(encoding="utf-8"))
    # The conversion's own record of the fp32 file is the manifest's: a rebuild is checked against one sha256.
    assert upstream["export"]["sha256"] == manifest.file("helmet_yolov12m_fp32.onnx").sha256
