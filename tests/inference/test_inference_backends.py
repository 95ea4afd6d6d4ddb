"""The backend registry and the three runtimes, on real exported files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from benchmarks.tiny_localization_model import TinyModel
from edge.inference.backends import (
    BackendUnavailable,
    available_backends,
    open_backend,
)


def _normalised(tiny: TinyModel, rows: int, seed: int) -> np.ndarray:
    from edge.inference.manifest import load_manifest

    norm = load_manifest(tiny.directory).normalisation
    x = tiny.raw_windows(rows, seed=seed)
    normalised: np.ndarray = ((x - np.asarray(norm.mean)) / np.asarray(norm.std)).astype(np.float32)
    return normalised


def test_available_backends_reports_each_runtime() -> None:
    found = available_backends()
    assert found["onnxruntime"] == "ok"
    assert found["litert"] == "ok"
    # Not installed here (it needs numpy < 2): reported with the reason, never raised.
    assert found["tflite_runtime"].startswith("cannot import")
    assert "tflite_runtime" in found["tflite_runtime"]


def test_onnx_file_opens_on_onnxruntime_with_its_exported_signature(tiny_model: TinyModel) -> None:
    backend = open_backend(tiny_model.directory / "model.onnx")
    assert backend.name == "onnxruntime"
    assert backend.fixed_batch is None
    assert [(t.name, t.shape, t.dtype) for t in backend.inputs] == [("features", (None, 10, 4), "float32")]
    assert [(t.name, t.shape, t.dtype) for t in backend.outputs] == [("logits", (None, 5), "float32")]
    out = backend.run(_normalised(tiny_model, 33, seed=1))
    assert out.shape == (33, 5)
    assert out.dtype == np.float32


def test_tflite_file_reports_its_fixed_batch_and_runs_any_batch(tiny_model: TinyModel) -> None:
    x = _normalised(tiny_model, 11, seed=2)
    onnx_out = open_backend(tiny_model.directory / "model.onnx").run(x)
    for name, batch in (("model.tflite", 1), ("model.b4.tflite", 4)):
        backend = open_backend(tiny_model.directory / name)
        assert backend.name == "litert"
        assert backend.fixed_batch == batch
        assert backend.inputs[0].shape == (batch, 10, 4)
        # 11 rows: chunks of 4 with a zero-padded last chunk must give the same rows as unchunked ONNX.
        out = backend.run(x)
        assert out.shape == (11, 5)
        np.testing.assert_allclose(out, onnx_out, atol=1e-4)


def test_empty_batch_gives_empty_output(tiny_model: TinyModel) -> None:
    for name in ("model.onnx", "model.b4.tflite"):
        out = open_backend(tiny_model.directory / name).run(np.zeros((0, 10, 4), dtype=np.float32))
        assert out.shape == (0, 5)


def test_missing_backend_falls_back_to_the_next_one(tiny_model: TinyModel) -> None:
    backend = open_backend(tiny_model.directory / "model.tflite", prefer=("tflite_runtime", "litert"))
    assert backend.name == "litert"


def test_no_usable_backend_refuses_with_each_reason(tiny_model: TinyModel) -> None:
    with pytest.raises(BackendUnavailable, match=r"tflite_runtime: cannot import.*install one of"):
        open_backend(tiny_model.directory / "model.tflite", prefer=("tflite_runtime",))
    with pytest.raises(BackendUnavailable, match=r"none of the backends .* runs tflite files"):
        open_backend(tiny_model.directory / "model.tflite", prefer=("onnxruntime",))
    with pytest.raises(BackendUnavailable, match="unknown inference backend"):
        open_backend(tiny_model.directory / "model.onnx", prefer=("tensorrt",))


def test_unknown_format_and_corrupt_file_are_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(BackendUnavailable, match=r"unknown model format '\.pt'"):
        open_backend(tmp_path / "model.pt")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model at all" * 10)
    with caplog.at_level(logging.WARNING), pytest.raises(BackendUnavailable, match="onnxruntime cannot load it"):
        open_backend(garbage)
    garbage_tflite = tmp_path / "garbage.tflite"
    garbage_tflite.write_bytes(b"not a model at all" * 10)
    with pytest.raises(BackendUnavailable, match="litert cannot load it"):
        open_backend(garbage_tflite)


def test_threads_must_be_positive(tiny_model: TinyModel) -> None:
    with pytest.raises(BackendUnavailable, match="threads must be >= 1"):
        open_backend(tiny_model.directory / "model.onnx", threads=0)


def test_more_threads_give_the_same_answer(tiny_model: TinyModel) -> None:
    x = _normalised(tiny_model, 16, seed=3)
    one = open_backend(tiny_model.directory / "model.onnx", threads=1).run(x)
    two = open_backend(tiny_model.directory / "model.onnx", threads=2).run(x)
    np.testing.assert_allclose(one, two, atol=1e-5)
