"""The shipped localization model: PyTorch (the committed checkpoint) vs onnxruntime vs LiteRT on its parity set.

``models/localization`` carries the checkpoint the files were exported from (``model.pt``) and the parity
windows with PyTorch's logits (``parity_windows.npz``). These tests re-run all three on those windows: the
stored logits are the checkpoint's, every fp32 file reproduces them, and every int8 file keeps the target top-1
agreement (>= 99 %) with PyTorch and with the fp32 file of its own backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edge.inference.manifest import load_manifest, verify_file_checksum
from export.localization.cli import CHECKPOINT, load_checkpoint
from export.localization.export_models import FP32_EXPORT_TOLERANCE
from export.localization.parity import PARITY_WINDOWS, load_parity_windows, open_runner

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "localization"
INT8_TARGET = 0.99

pytestmark = pytest.mark.skipif(
    not (SHIPPED / CHECKPOINT).exists() or not (SHIPPED / PARITY_WINDOWS).exists(),
    reason="no shipped localization checkpoint and parity windows",
)


def top1(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a.argmax(1) == b.argmax(1)))


@pytest.fixture(scope="module")
def parity_set() -> tuple[np.ndarray, np.ndarray]:
    return load_parity_windows(SHIPPED)


@pytest.fixture(scope="module")
def outputs(parity_set: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    windows, _ = parity_set
    manifest = load_manifest(SHIPPED)
    return {f.path: open_runner(verify_file_checksum(SHIPPED, f), f.format).run(windows) for f in manifest.files}


def test_stored_logits_are_the_checkpoints(parity_set: tuple[np.ndarray, np.ndarray]) -> None:
    windows, stored = parity_set
    fitted, meta = load_checkpoint(SHIPPED / CHECKPOINT)
    assert meta["name"] == load_manifest(SHIPPED).name
    with torch.no_grad():
        logits = fitted.module(torch.from_numpy(windows)).numpy()
    assert float(np.abs(logits - stored).max()) < 1e-5


def test_fp32_files_reproduce_pytorch_on_both_backends(
    parity_set: tuple[np.ndarray, np.ndarray], outputs: dict[str, np.ndarray]
) -> None:
    _, torch_logits = parity_set
    fp32 = {path: out for path, out in outputs.items() if load_manifest(SHIPPED).file(path).precision == "fp32"}
    assert {Path(p).suffix for p in fp32} == {".onnx", ".tflite"}
    for path, out in fp32.items():
        assert float(np.abs(out - torch_logits).max()) < FP32_EXPORT_TOLERANCE, path
        assert top1(out, torch_logits) == 1.0, path


def test_int8_files_keep_the_target_agreement(
    parity_set: tuple[np.ndarray, np.ndarray], outputs: dict[str, np.ndarray]
) -> None:
    _, torch_logits = parity_set
    manifest = load_manifest(SHIPPED)
    int8 = [f for f in manifest.files if f.precision == "int8"]
    assert {f.format for f in int8} == {"onnx", "tflite"}, "an int8 file per backend"
    for entry in int8:
        fp32 = next(f for f in manifest.files if f.format == entry.format and f.precision == "fp32")
        assert top1(outputs[entry.path], torch_logits) >= INT8_TARGET, entry.path
        assert top1(outputs[entry.path], outputs[fp32.path]) >= INT8_TARGET, entry.path
        assert float(np.abs(outputs[entry.path] - torch_logits).max()) > 0, f"{entry.path} is not quantized"
