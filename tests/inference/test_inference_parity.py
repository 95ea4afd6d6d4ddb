"""Parity of the runtimes on the same trained model and inputs: torch vs onnxruntime vs LiteRT, and int8 vs fp32.

The figures are printed (``pytest -s``) so a run shows how close each path is, not only that it passed.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from benchmarks.tiny_localization_model import TinyModel, synthetic_windows
from edge.inference.model import load_model

ROWS = 2000
_log = logging.getLogger(__name__)  # figures: pytest -o log_cli=true -o log_cli_level=INFO


@pytest.fixture(scope="module")
def windows(tiny_model: TinyModel) -> tuple[np.ndarray, np.ndarray]:
    """Held-out raw windows (a seed the model was not trained on) and their true classes."""
    return synthetic_windows(
        ROWS, seed=999, window=tiny_model.window, features=tiny_model.features, classes=tiny_model.classes
    )


def _torch_logits(tiny_model: TinyModel, raw: np.ndarray) -> np.ndarray:
    model = load_model(tiny_model.directory, "model.onnx")  # only for its normalisation
    with torch.no_grad():
        logits: np.ndarray = tiny_model.module(torch.from_numpy(model.normalise(raw))).numpy()
    return logits


@pytest.mark.parametrize("file", ["model.onnx", "model.tflite", "model.b4.tflite"])
def test_fp32_runtimes_match_torch(tiny_model: TinyModel, windows: tuple[np.ndarray, np.ndarray], file: str) -> None:
    raw, _ = windows
    model = load_model(tiny_model.directory, file)
    reference = _torch_logits(tiny_model, raw)
    got = model.predict(raw)
    diff = float(np.abs(got - reference).max())
    agreement = float((got.argmax(1) == reference.argmax(1)).mean())
    _log.info("%s on %s: max |Δ| vs torch %.2e, top-1 agreement %.4f", file, model.backend_name, diff, agreement)
    assert diff < 1e-4, f"{file}: max |Δ| vs torch {diff:.2e}"
    assert agreement == 1.0, f"{file}: top-1 agreement with torch {agreement:.4f}"


def test_int8_agrees_with_fp32(tiny_model: TinyModel, windows: tuple[np.ndarray, np.ndarray]) -> None:
    raw, truth = windows
    fp32 = load_model(tiny_model.directory, "model.onnx").predict(raw)
    int8 = load_model(tiny_model.directory, "model.int8.onnx").predict(raw)
    agreement = float((int8.argmax(1) == fp32.argmax(1)).mean())
    acc_fp32 = float((fp32.argmax(1) == truth).mean())
    acc_int8 = float((int8.argmax(1) == truth).mean())
    _log.info(
        "onnxruntime int8 vs fp32 on %d held-out windows: top-1 agreement %.4f, max |Δ logits| %.3f; "
        "accuracy fp32 %.3f, int8 %.3f",
        ROWS,
        agreement,
        float(np.abs(int8 - fp32).max()),
        acc_fp32,
        acc_int8,
    )
    # The model learned its task, so the agreement figure is about decisions, not noise between near-ties.
    assert acc_fp32 > 0.7, f"the tiny model did not learn its task: accuracy {acc_fp32:.3f}"
    assert agreement >= 0.97, f"int8 vs fp32 top-1 agreement {agreement:.4f}"
    assert abs(acc_int8 - acc_fp32) < 0.02, f"accuracy fp32 {acc_fp32:.3f} vs int8 {acc_int8:.3f}"
