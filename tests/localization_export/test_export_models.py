"""Export a small random-initialised CNN-LSTM to all four formats once, then check the files and manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from ai_edge_litert.interpreter import Interpreter
from pydantic import ValidationError
from torch import nn

from edge.inference.manifest import Manifest, ManifestError, load_manifest, sha256_of, verify_file_checksum
from export.localization.export_models import (
    ALL_FORMATS,
    FP32_ATOL,
    INT8_ATOL_FLOOR,
    ExportError,
    ExportRequest,
    ExportResult,
    export_all,
)
from export.localization.parity import PARITY_JSON, PARITY_MD, OnnxRunner, TfliteRunner, open_runner

L, F, C = 20, 6, 30


class CnnLstm(nn.Module):
    """The paper's shape: Conv1d + BatchNorm + ReLU + MaxPool -> LSTM -> Dropout -> Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(F, 32, kernel_size=3, padding=1)
        self.bn = nn.BatchNorm1d(32)
        self.pool = nn.MaxPool1d(2)
        self.lstm = nn.LSTM(32, 64, batch_first=True)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(64, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(torch.relu(self.bn(self.conv(x.transpose(1, 2))))).transpose(1, 2)
        out, _ = self.lstm(h)
        return self.head(self.dropout(out[:, -1]))  # type: ignore[no-any-return]


def make_model() -> CnnLstm:
    torch.manual_seed(0)
    model = CnnLstm()
    # Non-trivial batch-norm statistics, so folding them into the conv is exercised.
    with torch.no_grad():
        assert model.bn.running_mean is not None
        assert model.bn.running_var is not None
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


def make_request(model: nn.Module, calibration: np.ndarray, **changes: object) -> ExportRequest:
    fields: dict[str, object] = {
        "model": model,
        "name": "localization",
        "task": "localization",
        "window": L,
        "n_features": F,
        "feature_names": [f"f{i}" for i in range(F)],
        "mean": [0.0] * F,
        "std": [1.0] * F,
        "labels": [f"p{i + 1}" for i in range(C)],
        "calibration": calibration,
        "training_data_sha256": "0" * 64,
        "metrics": {"accuracy": 0.5},
        "parameters": {"hidden": 64},
        "description": "random-initialised test model",
    }
    fields.update(changes)
    return ExportRequest(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def model() -> CnnLstm:
    return make_model()


@pytest.fixture(scope="module")
def exported(model: CnnLstm, tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    calibration = np.random.default_rng(1).standard_normal((400, L, F)).astype(np.float32)
    return export_all(make_request(model, calibration), tmp_path_factory.mktemp("export"), latency_repeats=100)


@pytest.fixture(scope="module")
def fresh_windows() -> np.ndarray:
    """Random-normal windows the export never saw (not the calibration set)."""
    return np.random.default_rng(2).standard_normal((1000, L, F)).astype(np.float32)


def torch_logits(model: nn.Module, windows: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(windows)).numpy()  # type: ignore[no-any-return]


def test_manifest_validates_and_lists_every_format(exported: ExportResult) -> None:
    manifest = load_manifest(exported.out_dir)
    assert [f.path for f in manifest.files] == [
        "localization_fp32.onnx",
        "localization_int8.onnx",
        "localization_fp32.tflite",
        "localization_int8.tflite",
    ]
    assert [f.format for f in exported.files] == list(ALL_FORMATS)
    assert manifest.inputs[0].name == "window"
    assert manifest.inputs[0].shape == [None, L, F]
    assert manifest.outputs[0].name == "logits"
    assert manifest.outputs[0].shape == [None, C]
    assert manifest.labels == [f"p{i + 1}" for i in range(C)]
    assert np.asarray(manifest.reference_input).shape == (8, L, F)
    for entry in manifest.files:
        assert np.asarray(entry.reference_output).shape == (8, C)
        assert entry.input_shape == ([1, L, F] if entry.format == "tflite" else None)
        if entry.precision == "fp32":
            assert entry.atol == FP32_ATOL
            assert entry.min_top1_agreement == 1.0
        else:
            assert entry.atol >= INT8_ATOL_FLOOR
            assert 0.5 <= entry.min_top1_agreement <= 1.0


def test_every_sha256_and_size_matches(exported: ExportResult) -> None:
    manifest = load_manifest(exported.out_dir)
    for entry in manifest.files:
        path = verify_file_checksum(exported.out_dir, entry)
        assert path.stat().st_size == entry.bytes
    assert {f.sha256 for f in exported.files} == {e.sha256 for e in manifest.files}


def test_tampered_file_changes_sha_and_is_refused(exported: ExportResult, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(exported.out_dir, copy)
    manifest = load_manifest(copy)
    entry = manifest.file("localization_int8.onnx")
    target = copy / entry.path
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    assert sha256_of(target) != entry.sha256
    with pytest.raises(ManifestError, match="does not match"):
        verify_file_checksum(copy, entry)


def test_onnx_fp32_matches_torch_at_any_batch(
    exported: ExportResult, model: CnnLstm, fresh_windows: np.ndarray
) -> None:
    runner = OnnxRunner(exported.file("onnx_fp32").path)
    assert runner.input_name == "window"
    assert runner.output_name == "logits"
    expected = torch_logits(model, fresh_windows)
    assert np.abs(runner.run(fresh_windows) - expected).max() < 1e-4
    assert np.abs(runner.run(fresh_windows[:1]) - expected[:1]).max() < 1e-4  # traced at batch 2, run at 1
    assert onnx.load(str(exported.file("onnx_fp32").path)).opset_import[0].version >= 18


def test_onnx_int8_agrees_with_fp32_and_keeps_conv_float(
    exported: ExportResult, model: CnnLstm, fresh_windows: np.ndarray
) -> None:
    path = exported.file("onnx_int8").path
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "Conv" in ops
    assert "ConvInteger" not in ops
    assert "DynamicQuantizeLSTM" in ops  # the LSTM itself is int8, not only the head
    expected = torch_logits(model, fresh_windows).argmax(1)
    agreement = float(np.mean(OnnxRunner(path).run(fresh_windows).argmax(1) == expected))
    assert agreement >= 0.9, f"onnx int8 top-1 agreement with torch fp32: {agreement:.3f}"
    assert exported.file("onnx_int8").bytes < exported.file("onnx_fp32").bytes / 2


def test_tflite_fp32_matches_torch(exported: ExportResult, model: CnnLstm, fresh_windows: np.ndarray) -> None:
    runner = TfliteRunner(exported.file("tflite_fp32").path)
    assert (runner.input_name, runner.output_name, runner.input_shape) == ("window", "logits", [1, L, F])
    windows = fresh_windows[:200]
    assert np.abs(runner.run(windows) - torch_logits(model, windows)).max() < 1e-4


def test_tflite_int8_is_float_io_and_agrees(exported: ExportResult, model: CnnLstm, fresh_windows: np.ndarray) -> None:
    runner = TfliteRunner(exported.file("tflite_int8").path)
    assert runner.input_dtype is np.float32
    assert runner.output_dtype is np.float32
    agreement = float(np.mean(runner.run(fresh_windows).argmax(1) == torch_logits(model, fresh_windows).argmax(1)))
    assert agreement >= 0.9, f"tflite int8 top-1 agreement with torch fp32: {agreement:.3f}"
    # PT2E has no LSTM annotator: conv and dense weights are int8, the LSTM stays float, so the file is
    # barely smaller than fp32. It must still contain int8 tensors (not silently an fp32 graph).
    details = Interpreter(model_path=str(exported.file("tflite_int8").path)).get_tensor_details()
    assert any(d["dtype"] is np.int8 for d in details)
    assert exported.file("tflite_int8").bytes < exported.file("tflite_fp32").bytes


def test_reference_outputs_reproduce_when_rerun(exported: ExportResult) -> None:
    manifest = load_manifest(exported.out_dir)
    reference_input = np.asarray(manifest.reference_input, dtype=np.float32)
    for entry in manifest.files:
        out = open_runner(exported.out_dir / entry.path, entry.format).run(reference_input)
        expected = np.asarray(entry.reference_output, dtype=np.float32)
        assert np.abs(out - expected).max() <= entry.atol, entry.path
        assert np.mean(out.argmax(1) == expected.argmax(1)) >= entry.min_top1_agreement, entry.path
    # The check has teeth: another model's logits are far outside every file's tolerance.
    other = make_model()
    with torch.no_grad():
        nn.init.normal_(other.head.weight)
    garbage = torch_logits(other, reference_input)
    for entry in manifest.files:
        assert np.abs(garbage - np.asarray(entry.reference_output)).max() > entry.atol, entry.path


def test_parity_report_written_with_every_file(exported: ExportResult) -> None:
    report = json.loads((exported.out_dir / PARITY_JSON).read_text())
    assert report == json.loads(json.dumps(exported.parity))
    assert report["windows"] == 400
    by_path = {f["path"]: f for f in report["files"]}
    assert by_path["localization_fp32.onnx"]["vs_torch_fp32"]["top1_agreement"] == 1.0
    assert by_path["localization_fp32.tflite"]["vs_torch_fp32"]["max_abs_diff"] < 1e-4
    assert by_path["localization_int8.onnx"]["fp32_counterpart"] == "localization_fp32.onnx"
    assert by_path["localization_int8.tflite"]["fp32_counterpart"] == "localization_fp32.tflite"
    for f in report["files"]:
        assert 0 < f["latency_us_median"] <= f["latency_us_p99"]
        if f["precision"] == "int8":
            assert f["vs_fp32_same_backend"]["top1_agreement"] >= 0.9
            assert f["vs_torch_fp32"]["max_abs_diff"] > 0  # int8 is not silently fp32
    markdown = (exported.out_dir / PARITY_MD).read_text()
    assert all(f["path"] in markdown for f in report["files"])


def test_refuses_inconsistent_requests(model: CnnLstm, tmp_path: Path) -> None:
    calibration = np.zeros((4, L, F), dtype=np.float32)
    with pytest.raises(ExportError, match="expected logits"):
        export_all(make_request(model, calibration, labels=["a", "b"]), tmp_path)
    with pytest.raises(ExportError, match="calibration has shape"):
        export_all(make_request(model, np.zeros((4, L + 1, F), dtype=np.float32)), tmp_path)
    with pytest.raises(ExportError, match="float32"):
        export_all(make_request(model, calibration.astype(np.float64)), tmp_path)
    with pytest.raises(ExportError, match="unknown formats"):
        export_all(make_request(model, calibration), tmp_path, formats=("onnx_fp16",))  # type: ignore[arg-type]
    training = make_model().train()
    with pytest.raises(ExportError, match="training mode"):
        export_all(make_request(training, calibration), tmp_path)
    assert not list(tmp_path.iterdir())  # nothing written for a refused request


def test_manifest_refuses_a_file_input_shape_of_another_rank(exported: ExportResult) -> None:
    data = json.loads(exported.manifest_path.read_text())
    data["files"][2]["input_shape"] = [1, L * F]
    with pytest.raises(ValidationError, match="different rank"):
        Manifest.model_validate(data)
