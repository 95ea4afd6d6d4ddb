"""Real tiny models, trained and exported once per test session (the TFLite conversion is the slow part)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.tiny_localization_model import TinyModel, build_tiny_model_dir


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    """ONNX fp32 + int8 (dynamic batch), TFLite fp32 with fixed batch 1 and 4. Read-only: copy before changing."""
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny") / "model", tflite_batches=(1, 4))


@pytest.fixture(scope="session")
def other_model(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    """A different valid model (other seed) with the same signature: for swapped-file tests."""
    return build_tiny_model_dir(tmp_path_factory.mktemp("other") / "model", seed=1, int8=False, tflite_batches=())


@pytest.fixture
def model_dir(tiny_model: TinyModel, tmp_path: Path) -> Path:
    """A private copy of the tiny model's directory, free to tamper with."""
    return Path(shutil.copytree(tiny_model.directory, tmp_path / "model"))
