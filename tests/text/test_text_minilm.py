"""The committed MiniLM int8 export loads only through its manifest's checks and encodes sensibly.

Skipped when ``models/text/minilm`` has no int8 file (``python -m export.text.export_minilm`` writes it).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tokenizers", reason="the MiniLM encoder needs the tokenizers package (the `text` extra)")

from edge.inference.manifest import MANIFEST_NAME, sha256_of
from edge.inference.model import ModelRefused
from edge.text import Encoder, open_encoder
from edge.text.minilm import MiniLmEncoder

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "text" / "minilm"
INT8 = "minilm_l6_int8.onnx"

pytestmark = pytest.mark.skipif(
    not (MODEL_DIR / INT8).is_file(),
    reason=f"no {INT8} in {MODEL_DIR}: run python -m export.text.export_minilm --out models/text/minilm",
)


@pytest.fixture(scope="module")
def encoder() -> MiniLmEncoder:
    return MiniLmEncoder.load(MODEL_DIR)


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "minilm"
    shutil.copytree(MODEL_DIR, target)
    return target


def _edit_manifest(model_dir: Path, edit: dict[str, object] | None = None, **parameters: object) -> None:
    path = model_dir / MANIFEST_NAME
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(edit or {})
    data["parameters"].update(parameters)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_loads_the_int8_file_through_the_manifest(encoder: MiniLmEncoder) -> None:
    assert isinstance(encoder, Encoder)
    assert encoder.model.file.precision == "int8"
    assert encoder.dim == 384
    assert encoder.name.startswith("minilm-l6-int8-")
    assert encoder.model.manifest.parameters["weights_licence"] == "apache-2.0"


def test_unit_rows_and_blank_text_is_zero(encoder: MiniLmEncoder) -> None:
    out = encoder.encode(["bearing noisy on belt drive 2", "greased bearings", "   "])
    assert out.shape == (3, 384)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out[:2], axis=1), 1.0, rtol=1e-5)
    assert not out[2].any()
    assert encoder.encode([]).shape == (0, 384)


def test_similar_entries_closer_than_unrelated(encoder: MiniLmEncoder) -> None:
    v = encoder.encode(
        [
            "belt drive 2 bearing running hot",
            "drive bearing on belt 4 hot to touch",
            "changed cutter bits on continuous miner",
            "auxiliary fan stopped, no air at the face",
            "fan AF-3 off, electrician called",
        ]
    )
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    assert v[3] @ v[4] > v[3] @ v[2] + 0.2


def test_truncates_at_max_length_and_still_encodes(encoder: MiniLmEncoder) -> None:
    long_text = " ".join(["bearing"] * 400)
    (ids,) = encoder.tokens.ids([long_text])
    assert len(ids) == encoder.max_length == 128
    assert encoder.tokens.ids(["bearing noisy"])[0][0] == 101  # [CLS] leads, nothing padded
    out = encoder.encode([long_text, "bearing noisy"])
    assert np.isfinite(out).all()


def test_a_text_gets_the_same_vector_alone_or_in_a_batch(encoder: MiniLmEncoder) -> None:
    # Dynamic int8 scales activations per tensor: batched with others, a text's vector would depend on them.
    alone = encoder.encode(["smell of burning rubber near crosscut 4"])[0]
    batched = encoder.encode([" ".join(["roof"] * 60), "smell of burning rubber near crosscut 4"])[1]
    np.testing.assert_array_equal(alone, batched)


def test_refuses_a_tampered_model_file(tmp_path: Path) -> None:
    model_dir = _copy(tmp_path)
    data = bytearray((model_dir / INT8).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (model_dir / INT8).write_bytes(bytes(data))
    with pytest.raises(ModelRefused, match="sha256"):
        MiniLmEncoder.load(model_dir, INT8)


def test_refuses_a_wrong_reference_output(tmp_path: Path) -> None:
    model_dir = _copy(tmp_path)
    manifest = json.loads((model_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    files = manifest["files"]
    files[0]["reference_output"][0][0] += 0.1
    _edit_manifest(model_dir, {"files": files})
    with pytest.raises(ModelRefused, match=r"max \|Δ\|"):
        MiniLmEncoder.load(model_dir, INT8)


def test_refuses_a_changed_tokenizer(tmp_path: Path) -> None:
    model_dir = _copy(tmp_path)
    tokenizer = model_dir / "tokenizer.json"
    tokenizer.write_text(tokenizer.read_text(encoding="utf-8").replace('"lowercase":true', '"lowercase":false'))
    with pytest.raises(ModelRefused, match="sha256"):
        MiniLmEncoder.load(model_dir, INT8)
    # Even with its checksum updated, the tokenizer must reproduce the reference token rows.
    _edit_manifest(model_dir, tokenizer_sha256=sha256_of(tokenizer))
    with pytest.raises(ModelRefused, match="other token rows"):
        MiniLmEncoder.load(model_dir, INT8)


def test_refuses_a_manifest_of_another_task(tmp_path: Path) -> None:
    model_dir = _copy(tmp_path)
    _edit_manifest(model_dir, {"task": "localization"})
    with pytest.raises(ModelRefused, match="text_embedding"):
        MiniLmEncoder.load(model_dir, INT8)


def test_open_encoder_loads_a_model_directory() -> None:
    assert open_encoder(str(MODEL_DIR)).dim == 384
