"""The manifest of an object-detector model directory (``task: "detection"``).

Same place and checks as the sequence models' manifest (``edge.inference.manifest``): ``manifest.json`` beside
the files, sha256 per file, the file's tensors held against the manifest, and a reference output the file must
reproduce. What differs: the input is an image (layout, colour order, scale, letterbox padding), the output is a
YOLO head (layout, box units), and the reference input is not stored but generated (``reference_input``): a
[1, 3, 640, 640] image in JSON would be 30 MB.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.inference.manifest import MANIFEST_NAME, ManifestError

DETECTION_TASK: Literal["detection"] = "detection"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImageInput(_Strict):
    name: str
    shape: list[int] = Field(min_length=4, max_length=4, description="[1, 3, H, W] (nchw) or [1, H, W, 3] (nhwc)")
    layout: Literal["nchw", "nhwc"] = "nchw"
    color: Literal["rgb", "bgr"] = "rgb"
    scale: float = Field(1 / 255, gt=0, description="pixel values are multiplied by this (1/255: 0-1 inputs)")
    pad_value: int = Field(114, ge=0, le=255, description="grey level of the letterbox padding used in training")

    @model_validator(mode="after")
    def verify_shape(self) -> ImageInput:
        channels = self.shape[1] if self.layout == "nchw" else self.shape[3]
        if self.shape[0] != 1 or channels != 3 or min(self.shape) < 1:
            raise ValueError(f"input.shape {self.shape} is not a batch-1 3-channel image in layout {self.layout}")
        return self

    @property
    def width(self) -> int:
        return self.shape[3] if self.layout == "nchw" else self.shape[2]

    @property
    def height(self) -> int:
        return self.shape[2] if self.layout == "nchw" else self.shape[1]


class YoloOutput(_Strict):
    name: str
    shape: list[int] = Field(min_length=3, max_length=3)
    layout: Literal["auto", "yolov5", "yolov8"] = "auto"
    box_units: Literal["pixels", "normalized"] = "pixels"


class DetectorReference(_Strict):
    """What the file outputs for ``reference_input``: sampled values and the sum, each within tolerance."""

    sample_indices: list[int] = Field(min_length=1, description="flat indices into the output tensor")
    sample_values: list[float]
    output_sum: float
    atol: float = Field(gt=0, description="max abs difference allowed on the sampled values")
    sum_rtol: float = Field(1e-3, gt=0, description="relative tolerance on the output sum")

    @model_validator(mode="after")
    def verify_lengths(self) -> DetectorReference:
        if len(self.sample_indices) != len(self.sample_values):
            raise ValueError("reference: sample_indices and sample_values must have the same length")
        return self


class DetectorFile(_Strict):
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=1)
    format: Literal["onnx", "tflite"]
    precision: Literal["fp32", "fp16", "int8"]
    reference: DetectorReference


class DetectorManifest(_Strict):
    schema_version: Literal[1] = 1
    name: str
    task: Literal["detection"] = DETECTION_TASK
    description: str = ""
    licence: str = Field(description="the weights' licence (YOLO weights are often AGPL-3.0: say so)")
    created_utc: str
    labels: list[str] = Field(min_length=1, description="class names in output order")
    input: ImageInput
    output: YoloOutput
    metrics: dict[str, float | str | dict[str, float]] = {}
    files: list[DetectorFile] = Field(min_length=1)

    def file(self, path: str) -> DetectorFile:
        for f in self.files:
            if f.path == path:
                return f
        raise ManifestError(f"manifest {self.name!r} lists no file {path!r}; it lists {[f.path for f in self.files]}")


def reference_input(shape: list[int] | tuple[int, ...]) -> np.ndarray:
    """The generated reference image: a ramp over the flat tensor, values 0-1 (what a 1/255-scaled image spans)."""
    count = int(np.prod(shape))
    ramp = (np.arange(count, dtype=np.int64) * 7 % 256).astype(np.float32) / np.float32(255.0)
    return ramp.reshape(shape)


def make_reference(output: np.ndarray, *, samples: int = 32, atol: float = 1e-3) -> DetectorReference:
    """The reference entry for a file whose output on ``reference_input`` is ``output`` (used by the exporter)."""
    flat = np.asarray(output, dtype=np.float32).ravel()
    indices = np.linspace(0, flat.size - 1, num=min(samples, flat.size)).round().astype(np.int64)
    return DetectorReference(
        sample_indices=[int(i) for i in indices],
        sample_values=[float(flat[i]) for i in indices],
        output_sum=float(flat.astype(np.float64).sum()),
        atol=atol,
    )


def load_detector_manifest(model_dir: Path) -> DetectorManifest:
    """Read and validate ``model_dir/manifest.json`` as a detector manifest; ``ManifestError`` says what is wrong."""
    path = model_dir / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: no manifest; a detector model directory needs {MANIFEST_NAME}") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
    if isinstance(data, dict) and data.get("task") != "detection":
        raise ManifestError(f"{path}: task is {data.get('task')!r}, a detector needs task {DETECTION_TASK!r}")
    try:
        return DetectorManifest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        raise ManifestError(f"{path}: invalid detector manifest: {problems}") from None


def write_detector_manifest(model_dir: Path, manifest: DetectorManifest) -> Path:
    """Write atomically: a half-written manifest makes the gateway refuse the model."""
    path = model_dir / MANIFEST_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest.model_dump(mode="json"), indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
