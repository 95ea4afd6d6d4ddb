"""The models committed under models/ load on the gateway and agree with each other across backends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.inference.manifest import load_manifest
from edge.inference.model import load_model

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "localization"


@pytest.mark.skipif(not (SHIPPED / "manifest.json").exists(), reason="no shipped localization model")
def test_every_shipped_file_passes_the_load_checks_and_backends_agree() -> None:
    manifest = load_manifest(SHIPPED)
    reference = np.asarray(manifest.reference_input, dtype=np.float32)
    outputs: dict[str, np.ndarray] = {}
    for entry in manifest.files:
        model = load_model(SHIPPED, entry.path)  # sha256, contract and reference output, or ModelRefused
        # predict() normalises; the reference input is already normalised, so run the backend directly.
        outputs[entry.path] = model.backend.run(reference)
    fp32 = [p for p in outputs if "fp32" in p]
    assert len(fp32) >= 2, "expected fp32 files for two backends"
    for other in fp32[1:]:
        np.testing.assert_allclose(outputs[other], outputs[fp32[0]], atol=1e-4)
    for path in (p for p in outputs if "int8" in p):
        agreement = float(np.mean(outputs[path].argmax(1) == outputs[fp32[0]].argmax(1)))
        assert agreement >= 0.99, f"{path}: int8 top-1 agreement {agreement:.3f} with fp32"
    assert (SHIPPED / "layout.json").exists(), "the gateway needs the layout the model was trained on"
