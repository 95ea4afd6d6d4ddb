"""The model manifest: the contract between ``export/`` (which writes it) and the gateway (which checks it).

A model directory ``models/<name>/`` holds one or more model files (ONNX, TFLite; fp32, int8) and one
``manifest.json``. The gateway refuses a model file whose sha256 differs from the manifest, whose input or
output signature differs from the manifest, or that does not reproduce the manifest's reference output
from the reference input within tolerance (a model can load and still compute garbage).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION: Literal[1] = 1


class ManifestError(ValueError):
    """A manifest that cannot be read or does not match the files beside it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Strict):
    name: str
    # None for a dimension the model accepts at any size (the batch); fixed sizes are checked at load.
    shape: list[int | None]
    dtype: Literal["float32", "int64", "int32", "uint8", "int8"]


class Normalisation(_Strict):
    """Per-feature standardisation applied before the model: ``(x - mean) / std``."""

    features: list[str]
    mean: list[float]
    std: list[float]

    @model_validator(mode="after")
    def verify_lengths(self) -> Normalisation:
        if not len(self.features) == len(self.mean) == len(self.std):
            raise ValueError("normalisation: features, mean and std must have the same length")
        if any(s <= 0 for s in self.std):
            raise ValueError("normalisation: every std must be > 0")
        return self


class ModelFile(_Strict):
    path: str = Field(description="file name relative to the manifest")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=1)
    format: Literal["onnx", "tflite"]
    precision: Literal["fp32", "int8", "fp16"]
    # Reference output of this file for the manifest's reference input (int8 files differ from fp32): the file's
    # raw output tensor (logits unless the manifest's output_kind says "probabilities"), one row per input row.
    reference_output: list[list[float]]
    atol: float = Field(gt=0, description="max abs difference allowed against reference_output")
    min_top1_agreement: float = Field(1.0, ge=0, le=1, description="share of rows whose argmax must match")
    # TFLite files have a fixed batch (1): such a file states its own input shape, and the reference input is
    # run through it in chunks of that batch. None: the file accepts the manifest's ``inputs[0].shape``.
    input_shape: list[int | None] | None = Field(None, description="this file's input shape if not the manifest's")


class Manifest(_Strict):
    schema_version: Literal[1] = SCHEMA_VERSION
    name: str
    task: str
    description: str = ""
    created_utc: str
    inputs: list[TensorSpec] = Field(min_length=1)
    outputs: list[TensorSpec] = Field(min_length=1)
    normalisation: Normalisation
    labels: list[str] = Field(min_length=1, description="class names in output order")
    output_kind: Literal["logits", "probabilities"] = Field(
        "logits", description="what the output tensor holds: the runtime applies softmax to logits only"
    )
    metrics: dict[str, float | str | dict[str, float]] = {}
    training_data_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    parameters: dict[str, float | int | str | bool] = {}
    reference_input: list[list[list[float]]] = Field(
        description="a small batch (B, L, F) for the load-time check, as fed to the model file: already normalised"
    )
    files: list[ModelFile] = Field(min_length=1)

    @model_validator(mode="after")
    def verify_contract(self) -> Manifest:
        out = self.outputs[0]
        if out.shape and out.shape[-1] is not None and out.shape[-1] != len(self.labels):
            raise ValueError(f"output {out.name!r} has {out.shape[-1]} classes but {len(self.labels)} labels")
        rows = len(self.reference_input)
        for f in self.files:
            if f.input_shape is not None and len(f.input_shape) != len(self.inputs[0].shape):
                raise ValueError(f"{f.path}: input_shape {f.input_shape} has a different rank from inputs[0]")
            if len(f.reference_output) != rows:
                raise ValueError(f"{f.path}: reference_output has {len(f.reference_output)} rows, input has {rows}")
        return self

    def file(self, path: str) -> ModelFile:
        for f in self.files:
            if f.path == path:
                return f
        raise ManifestError(f"manifest {self.name!r} lists no file {path!r}; it lists {[f.path for f in self.files]}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(model_dir: Path) -> Manifest:
    """Read and validate ``model_dir/manifest.json``; raises ``ManifestError`` naming what is wrong."""
    path = model_dir / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: no manifest; a model directory needs {MANIFEST_NAME}") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        raise ManifestError(f"{path}: invalid manifest: {problems}") from None


def verify_file_checksum(model_dir: Path, entry: ModelFile) -> Path:
    """The file's path when its size and sha256 match the manifest; ``ManifestError`` otherwise."""
    path = model_dir / entry.path
    if not path.is_file():
        raise ManifestError(f"{path}: listed in the manifest but missing")
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise ManifestError(
            f"{path}: sha256 {actual} does not match the manifest's {entry.sha256}: the file was changed or "
            "corrupted; re-export the model or restore the file"
        )
    return path


def write_manifest(model_dir: Path, manifest: Manifest) -> Path:
    """Write the manifest atomically (a half-written manifest would make the gateway refuse the model)."""
    path = model_dir / MANIFEST_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest.model_dump(mode="json"), indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
