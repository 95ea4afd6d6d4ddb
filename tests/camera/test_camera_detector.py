from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

pytest.importorskip("onnx")
from camera_fixtures import LABELS, BlobModel, background, build_blob_detector, draw_worker

from edge.camera.detector import DetectionWorker, load_detector
from edge.camera.detector_manifest import load_detector_manifest
from edge.camera.frames import Image
from edge.camera.objects import Detection
from edge.inference.manifest import ManifestError
from edge.inference.model import ModelRefused


@pytest.fixture(scope="module", params=["yolov8", "yolov5"])
def blob(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> BlobModel:
    return build_blob_detector(tmp_path_factory.mktemp(request.param), layout=request.param)


@pytest.fixture
def blob_dir(blob: BlobModel) -> Path:
    return blob.directory


def test_a_detector_finds_the_worker_in_frame_pixels_in_both_layouts(blob: BlobModel) -> None:
    detector = load_detector(blob.directory)
    assert detector.labels == LABELS
    assert detector.layout == blob.layout  # the manifest says "auto": told apart by the output shape
    # A 16:9 frame, letterboxed to the 320 x 320 input and mapped back.
    frame = draw_worker(background(640, 360, seed=1), 400, 300, helmet=False, body=(40, 120))
    found = {d.label: d for d in detector.detect(frame, confidence=0.5)}
    assert set(found) == {"person", "head"}
    person, head = found["person"], found["head"]
    # The drawn body spans x 380-420, y 180-300, the head 26 px on top; letterboxing at scale 0.5 costs ~2 px.
    assert person.x1 == pytest.approx(380, abs=3)
    assert person.x2 == pytest.approx(421, abs=3)
    assert person.y2 == pytest.approx(301, abs=3)
    assert person.y1 == pytest.approx(180 - 26, abs=3)
    assert head.y2 == pytest.approx(180, abs=3)
    helmeted = draw_worker(background(640, 360, seed=1), 100, 300, helmet=True)
    assert {d.label for d in detector.detect(helmeted)} == {"person", "helmet"}
    assert detector.detect(background(640, 360, seed=1)) == []


def test_a_changed_file_or_manifest_is_refused(blob_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = Path(shutil.copytree(blob_dir, tmp_path / "model"))
    manifest = json.loads((copy / "manifest.json").read_text())
    entry = manifest["files"][0]
    good = json.dumps(manifest)

    entry["reference"]["sample_values"] = [v + 1.0 for v in entry["reference"]["sample_values"]]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelRefused, match=r"max \|Δ\|.*reference samples"):
        load_detector(copy)

    manifest = json.loads(good)
    manifest["labels"] = ["helmet", "person"]  # a class missing: the head layout no longer fits
    manifest["output"]["layout"] = "auto"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelRefused, match="fits neither layout for 2 classes"):
        load_detector(copy)

    manifest = json.loads(good)
    manifest["input"]["shape"] = [1, 3, 640, 640]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelRefused, match=r"the file's input is \[1, 3, 320, 320\]"):
        load_detector(copy)

    (copy / "manifest.json").write_text(good)
    (copy / "blob.onnx").write_bytes((copy / "blob.onnx").read_bytes() + b"\0")
    with pytest.raises(ModelRefused, match="sha256"):
        load_detector(copy)


def test_a_sequence_model_manifest_is_not_taken_for_a_detector(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"task": "localization", "name": "x"}))
    with pytest.raises(ManifestError, match="a detector needs task 'detection'"):
        load_detector_manifest(tmp_path)
    with pytest.raises(ModelRefused, match="no manifest"):
        load_detector(tmp_path / "nowhere")


async def test_detection_runs_off_the_loop_and_skips_frames_when_busy() -> None:
    release = threading.Event()
    threads: list[str] = []

    def slow_detect(frame: Image) -> list[Detection]:
        threads.append(threading.current_thread().name)
        release.wait(5)
        return [Detection(0, 0, 1, 1, 0.9, 1, "person")]

    worker = DetectionWorker(slow_detect, name="test", max_waiting=1)
    frame = background()
    first = asyncio.create_task(worker.detect(frame))
    second = asyncio.create_task(worker.detect(frame))
    await asyncio.sleep(0.05)
    assert await worker.detect(frame) is None  # one running, one waiting: the third is skipped
    assert worker.skipped == 1
    release.set()
    results = await asyncio.gather(first, second)
    assert all(r is not None and r[0].label == "person" for r in results)
    assert threads == ["detector-test_0", "detector-test_0"]
    assert worker.frames_run == 2
    await worker.close()
    await worker.close()
    with pytest.raises(RuntimeError, match="closed"):
        await worker.detect(frame)
