"""A real hazard model with known weights, built with ``onnx.helper`` and written with a real manifest.

The model reads the newest sensor token of the packed input (row ``SENSOR_TOKENS - 1``) through one matrix:

* gas logit = ``GAS_K * (ch4_face mean - GAS_C) - AIR_K * (airflow_face mean - AIR_0)``;
* every other hazard logit = ``QUIET_LOGIT`` (probability ~ 0);
* risk logits = ``GAS_K * (ch4_face mean - RISK_C)`` at every horizon;
* forecast at +5/+10/+15 min = ``FORECAST_GAIN[i] * ch4_face mean``.

The manifest's normalisation is the identity except for the face airflow (mean ``AIR_0``): a missing airflow is
then the nominal one, as a trained model's "training mean" imputation makes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from edge.hazard.contract import HAZARD_TYPES
from edge.hazard.model_input import COLUMNS, FEATURE_NAMES, OUTPUT_LABELS, ROWS, SENSOR_TOKENS
from edge.inference.manifest import Manifest, ModelFile, Normalisation, TensorSpec, write_manifest

GAS_K = 20.0
GAS_C = 0.8  # %vol: p(gas) = 0.5 at 0.8 % face methane with nominal airflow
AIR_K = 1.0
AIR_0 = 2.0
RISK_C = 1.2
QUIET_LOGIT = -12.0
FORECAST_GAIN = (1.5, 2.0, 2.5)
CH4_MEAN = FEATURE_NAMES.index("sensor.mean.ch4_face")
AIR_MEAN = FEATURE_NAMES.index("sensor.mean.airflow_face")

DEFAULT_PARAMETERS: dict[str, float | int | str | bool] = {
    **{f"threshold:{h.value}": 0.5 for h in HAZARD_TYPES},
    "decision_period_s": 20,
    "min_history_s": 120,
    "text_encoder": "hashed-ngram-v1-d384-w12-c35-cw0.5",  # open_encoder("hashed:384").name
}


def weights() -> tuple[np.ndarray, np.ndarray]:
    w = np.zeros((COLUMNS, len(OUTPUT_LABELS)), dtype=np.float32)
    b = np.full(len(OUTPUT_LABELS), QUIET_LOGIT, dtype=np.float32)
    gas = OUTPUT_LABELS.index("hazard:gas_accumulation")
    w[CH4_MEAN, gas] = GAS_K
    w[AIR_MEAN, gas] = -AIR_K  # on the standardised airflow (airflow - AIR_0)
    b[gas] = -GAS_K * GAS_C
    for i, label in enumerate(OUTPUT_LABELS):
        if label.startswith("risk:"):
            w[CH4_MEAN, i] = GAS_K
            b[i] = -GAS_K * RISK_C
    forecast = [i for i, label in enumerate(OUTPUT_LABELS) if label.startswith("forecast:")]
    for i, gain in zip(forecast, FORECAST_GAIN, strict=True):
        w[CH4_MEAN, i] = gain
        b[i] = 0.0
    return w, b


def expected_outputs(packed: np.ndarray) -> np.ndarray:
    """What the model computes for packed inputs ``(B, ROWS, COLUMNS)`` (NaN -> 0, as the gateway feeds it)."""
    w, b = weights()
    last = np.nan_to_num(packed[:, SENSOR_TOKENS - 1, :] - normalisation_mean(), nan=0.0)
    out: np.ndarray = (last @ w + b).astype(np.float32)
    return out


def normalisation_mean() -> np.ndarray:
    mean = np.zeros(COLUMNS, dtype=np.float32)
    mean[AIR_MEAN] = AIR_0
    return mean


def build_onnx() -> bytes:
    w, b = weights()
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["packed", "row"], ["last"], axis=1),
            helper.make_node("MatMul", ["last", "W"], ["mm"]),
            helper.make_node("Add", ["mm", "b"], ["outputs"]),
        ],
        "tiny_hazard",
        [helper.make_tensor_value_info("packed", TensorProto.FLOAT, [None, ROWS, COLUMNS])],
        [helper.make_tensor_value_info("outputs", TensorProto.FLOAT, [None, len(OUTPUT_LABELS)])],
        initializer=[
            numpy_helper.from_array(np.array(SENSOR_TOKENS - 1, dtype=np.int64), "row"),
            numpy_helper.from_array(w, "W"),
            numpy_helper.from_array(b, "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="minegate-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


def build_tiny_hazard_model(
    directory: Path, *, parameters: Mapping[str, float | int | str | bool] | None = None
) -> Path:
    """``directory`` with ``tiny_hazard_fp32.onnx`` and its manifest (checksum, tensors, reference rows)."""
    directory.mkdir(parents=True, exist_ok=True)
    data = build_onnx()
    path = directory / "tiny_hazard_fp32.onnx"
    path.write_bytes(data)
    rng = np.random.default_rng(0)
    reference = rng.normal(0.0, 0.5, size=(2, ROWS, COLUMNS)).astype(np.float32)
    reference[:, SENSOR_TOKENS - 1, CH4_MEAN] = [0.3, 1.1]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, {"packed": reference})[0]
    manifest = Manifest(
        name="tiny_hazard",
        task="hazard_early_warning",
        description="test model with known weights (tests/hazard_runtime/hazard_runtime_fixtures.py)",
        created_utc=dt.datetime(2026, 1, 1, tzinfo=dt.UTC).isoformat(),
        inputs=[TensorSpec(name="packed", shape=[None, ROWS, COLUMNS], dtype="float32")],
        outputs=[TensorSpec(name="outputs", shape=[None, len(OUTPUT_LABELS)], dtype="float32")],
        normalisation=Normalisation(
            features=list(FEATURE_NAMES),
            mean=[float(v) for v in normalisation_mean()],
            std=[1.0] * len(FEATURE_NAMES),
        ),
        labels=list(OUTPUT_LABELS),
        training_data_sha256=hashlib.sha256(b"none").hexdigest(),
        parameters=dict(DEFAULT_PARAMETERS if parameters is None else parameters),
        reference_input=reference.tolist(),
        files=[
            ModelFile(
                path=path.name,
                sha256=hashlib.sha256(data).hexdigest(),
                bytes=len(data),
                format="onnx",
                precision="fp32",
                reference_output=out.tolist(),
                atol=1e-4,
            )
        ],
    )
    write_manifest(directory, manifest)
    return directory
