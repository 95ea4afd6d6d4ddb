"""Loading with checks: checksum, contract, reference output; and predicting through the manifest's normalisation."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from benchmarks.tiny_localization_model import TinyModel
from edge.inference.manifest import MANIFEST_NAME, load_manifest, sha256_of
from edge.inference.model import ModelRefused, load_model, softmax


def _edit_manifest(model_dir: Path, **changes: Any) -> None:
    path = model_dir / MANIFEST_NAME
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")


def _edit_file_entry(model_dir: Path, name: str, **changes: Any) -> None:
    data = json.loads((model_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    (entry,) = [f for f in data["files"] if f["path"] == name]
    entry.update(changes)
    (model_dir / MANIFEST_NAME).write_text(json.dumps(data), encoding="utf-8")


def test_default_load_prefers_int8_onnx(tiny_model: TinyModel) -> None:
    model = load_model(tiny_model.directory)
    assert model.file.path == "model.int8.onnx"
    assert model.file.precision == "int8"
    assert model.backend_name == "onnxruntime"
    assert model.labels == ["p1", "p2", "p3", "p4", "p5"]
    assert model.manifest.name == "tiny_localization"
    assert 0 < model.load_time_s < 5


def test_precision_and_backend_preference_choose_the_file(tiny_model: TinyModel) -> None:
    assert load_model(tiny_model.directory, prefer_precision=("fp32",)).file.path == "model.onnx"
    on_litert = load_model(tiny_model.directory, prefer=("litert",))
    assert (on_litert.file.path, on_litert.backend_name) == ("model.tflite", "litert")


def test_predict_applies_the_manifest_normalisation(tiny_model: TinyModel) -> None:
    model = load_model(tiny_model.directory, "model.onnx")
    raw = tiny_model.raw_windows(20, seed=11)
    norm = model.manifest.normalisation
    with torch.no_grad():
        expected = tiny_model.module(torch.from_numpy((raw - np.asarray(norm.mean)) / np.asarray(norm.std)).float())
    np.testing.assert_allclose(model.predict(raw), expected.numpy(), atol=1e-4)
    # Un-normalised input gives other answers: the normalisation is not a no-op on this data.
    with torch.no_grad():
        unnormalised = tiny_model.module(torch.from_numpy(raw)).numpy()
    assert np.abs(model.predict(raw) - unnormalised).max() > 0.1


def test_predict_proba_and_top_k(tiny_model: TinyModel) -> None:
    model = load_model(tiny_model.directory, "model.onnx")
    raw = tiny_model.raw_windows(6, seed=12)
    probs = model.predict_proba(raw)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probs, softmax(model.predict(raw)), atol=1e-6)
    top = model.top_k(probs, 3)
    assert len(top) == 6
    for row, best in zip(probs, top, strict=True):
        assert [label for label, _ in best] == [model.labels[i] for i in np.argsort(-row)[:3]]
        assert [p for _, p in best] == sorted((p for _, p in best), reverse=True)
    assert len(model.top_k(probs, 99)[0]) == 5


def test_probability_outputs_are_not_softmaxed_twice(model_dir: Path) -> None:
    _edit_manifest(model_dir, output_kind="probabilities")
    model = load_model(model_dir, "model.onnx")
    x = np.zeros((2, 10, 4), dtype=np.float32)
    np.testing.assert_array_equal(model.predict_proba(x), model.predict(x))


def test_predict_refuses_a_wrong_window_shape(tiny_model: TinyModel) -> None:
    model = load_model(tiny_model.directory, "model.onnx")
    with pytest.raises(ValueError, match=r"takes features of shape \(any, 10, 4\), got \(3, 12, 4\)"):
        model.predict(np.zeros((3, 12, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="got"):
        model.predict(np.zeros((10, 4), dtype=np.float32))


def test_tampered_file_is_refused_by_its_checksum(model_dir: Path) -> None:
    path = model_dir / "model.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelRefused, match=r"model\.onnx: sha256 [0-9a-f]{64} does not match") as refused:
        load_model(model_dir, "model.onnx")
    assert refused.value.path == path
    assert "re-export the model or restore the file" in refused.value.reason


def test_swapped_file_with_updated_checksum_is_refused_by_the_reference_check(
    model_dir: Path, other_model: TinyModel
) -> None:
    swapped = model_dir / "model.onnx"
    shutil.copyfile(other_model.directory / "model.onnx", swapped)
    _edit_file_entry(model_dir, "model.onnx", sha256=sha256_of(swapped), bytes=swapped.stat().st_size)
    with pytest.raises(
        ModelRefused, match=r"max \|Δ\| [0-9.e+-]+ > atol 0\.0001 on reference row \d+: the model computes"
    ):
        load_model(model_dir, "model.onnx")


def test_reference_top1_disagreement_is_refused(model_dir: Path) -> None:
    manifest = load_manifest(model_dir)
    shifted = np.roll(np.asarray(manifest.file("model.onnx").reference_output), 1, axis=1)
    # A loose atol lets the values pass, so only the ranking check can catch it.
    _edit_file_entry(model_dir, "model.onnx", reference_output=shifted.tolist(), atol=1000.0)
    with pytest.raises(ModelRefused, match=r"top-1 agreement with the reference output \d+\.\d% < 100\.0%"):
        load_model(model_dir, "model.onnx")


def test_manifest_input_shape_disagreeing_with_the_file_is_refused(model_dir: Path) -> None:
    _edit_manifest(model_dir, inputs=[{"name": "features", "shape": [None, 12, 4], "dtype": "float32"}])
    with pytest.raises(ModelRefused, match=r"dimension 1: 10 != 12\): the file does not match its manifest"):
        load_model(model_dir, "model.onnx")
    # A TFLite file names its tensors itself, but its shapes are checked the same way.
    with pytest.raises(ModelRefused, match=r"dimension 1: 10 != 12\)"):
        load_model(model_dir, "model.tflite")


def test_manifest_promising_any_window_length_is_refused(model_dir: Path) -> None:
    _edit_manifest(model_dir, inputs=[{"name": "features", "shape": [None, None, 4], "dtype": "float32"}])
    with pytest.raises(ModelRefused, match="dimension 1 is fixed at 10 in the file, 'any' in the manifest"):
        load_model(model_dir, "model.onnx")


def test_manifest_input_name_or_dtype_disagreeing_is_refused(model_dir: Path) -> None:
    _edit_manifest(model_dir, inputs=[{"name": "windows", "shape": [None, 10, 4], "dtype": "float32"}])
    with pytest.raises(ModelRefused, match="input is named 'features' in the file, 'windows' in the manifest"):
        load_model(model_dir, "model.onnx")
    _edit_manifest(model_dir, inputs=[{"name": "features", "shape": [None, 10, 4], "dtype": "int8"}])
    with pytest.raises(ModelRefused, match="is float32 in the file, int8 in the manifest"):
        load_model(model_dir, "model.onnx")


def test_refused_int8_falls_back_to_fp32_with_an_error_logged(
    model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (model_dir / "model.int8.onnx").write_bytes(b"\x00" * 100)
    with caplog.at_level(logging.ERROR, logger="edge.inference.model"):
        model = load_model(model_dir)
    assert model.file.path == "model.onnx"
    assert any("model.int8.onnx" in r.getMessage() and "sha256" in r.getMessage() for r in caplog.records)


def test_every_file_refused_lists_each_reason(model_dir: Path) -> None:
    for name in ("model.onnx", "model.int8.onnx"):
        (model_dir / name).unlink()
    with pytest.raises(ModelRefused, match=r"every model file was refused: .*int8.*missing.*model\.onnx.*missing"):
        load_model(model_dir, prefer=("onnxruntime",))


def test_missing_backend_falls_back_or_refuses_clearly(tiny_model: TinyModel) -> None:
    model = load_model(tiny_model.directory, "model.tflite", prefer=("tflite_runtime", "litert"))
    assert model.backend_name == "litert"
    with pytest.raises(ModelRefused, match=r"model\.tflite: no backend could run .*tflite_runtime: cannot import"):
        load_model(tiny_model.directory, "model.tflite", prefer=("tflite_runtime",))
    with pytest.raises(ModelRefused, match=r"no file of precision \['int8'\] in a format of backends"):
        load_model(tiny_model.directory, prefer=("tflite_runtime",), prefer_precision=("int8",))


def test_unknown_file_and_missing_manifest_are_refused(tiny_model: TinyModel, tmp_path: Path) -> None:
    with pytest.raises(ModelRefused, match=r"lists no file 'model\.pt'"):
        load_model(tiny_model.directory, "model.pt")
    with pytest.raises(ModelRefused, match="no manifest"):
        load_model(tmp_path)
