"""A tiny trained CNN-LSTM localization model, exported every way the gateway runs, with a real manifest.

Used by the inference tests and by ``benchmarks/inference_latency.py`` when no exported model directory is
given. It follows the issue-3 pipeline in miniature: the paper's layer sequence (Conv1D + batch norm + ReLU +
max-pool -> LSTM -> dense), trained for a few hundred steps on a synthetic window task so its outputs are
decisive (an untrained net's near-uniform logits would make int8 agreement figures meaningless), exported to
ONNX fp32 (torch dynamo exporter, dynamic batch), ONNX int8 (onnxruntime dynamic quantization, Conv left in
float) and TFLite fp32 (litert-torch, which fixes the batch size). Needs the ``train`` extra (torch, onnx,
litert-torch); never imported by the gateway.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import torch
from onnxruntime.quantization import quantize_dynamic
from torch import nn

from edge.inference.manifest import Manifest, ModelFile, Normalisation, TensorSpec, sha256_of, write_manifest

ONNX_FP32 = "model.onnx"
ONNX_INT8 = "model.int8.onnx"
FP32_ATOL = 1e-4
INT8_ATOL_FLOOR = 0.05


class TinyCnnLstm(nn.Module):
    def __init__(self, features: int, classes: int, *, channels: int = 16, hidden: int = 32) -> None:
        super().__init__()
        self.conv = nn.Conv1d(features, channels, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm1d(channels)
        self.pool = nn.MaxPool1d(2)
        self.lstm = nn.LSTM(channels, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(torch.relu(self.norm(self.conv(x.transpose(1, 2))))).transpose(1, 2)
        out, _ = self.lstm(h)
        logits: torch.Tensor = self.head(out[:, -1])
        return logits


@dataclass(frozen=True)
class TinyModel:
    directory: Path
    module: TinyCnnLstm  # in eval mode
    window: int
    features: int
    classes: int
    seed: int

    def raw_windows(self, rows: int, *, seed: int) -> npt.NDArray[np.float32]:
        """Raw (un-normalised) feature windows from the training distribution."""
        return synthetic_windows(rows, seed=seed, window=self.window, features=self.features, classes=self.classes)[0]


def synthetic_windows(
    rows: int, *, seed: int, window: int, features: int, classes: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Windows whose class is a function of the trend of feature 0 and the last value of feature 1.

    Raw features have non-zero means and unequal spreads, so the manifest's normalisation matters.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, window, features)).astype(np.float32)
    trend = np.linspace(-1.0, 1.0, window, dtype=np.float32)
    score = (x[:, :, 0] * trend).mean(axis=1) * 3.0 + 0.5 * x[:, -1, 1 % features]
    edges = np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])
    y = np.digitize(score, edges).astype(np.int64)
    scale = np.linspace(0.5, 3.0, features, dtype=np.float32)
    offset = np.linspace(-2.0, 5.0, features, dtype=np.float32)
    return (x * scale + offset).astype(np.float32), y


def _train(module: TinyCnnLstm, x: npt.NDArray[np.float32], y: npt.NDArray[np.int64], *, steps: int) -> None:
    optimiser = torch.optim.Adam(module.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(0)
    module.train()
    # Tiny tensors: intra-op threads only contend (measured 3x slower with the default pool on 2 busy cores).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(steps):
            idx = torch.randint(0, len(xt), (64,), generator=generator)
            optimiser.zero_grad()
            loss = loss_fn(module(xt[idx]), yt[idx])
            loss.backward()
            optimiser.step()
    finally:
        torch.set_num_threads(threads)
    module.eval()


def _export_onnx(module: TinyCnnLstm, sample: torch.Tensor, path: Path) -> None:
    batch = torch.export.Dim("batch", min=1, max=4096)
    torch.onnx.export(
        module,
        (sample,),
        str(path),
        dynamo=True,
        external_data=False,
        input_names=["features"],
        output_names=["logits"],
        dynamic_shapes={"x": {0: batch}},
        verbose=False,
    )


def _quantize_onnx(source: Path, target: Path) -> None:
    # The dynamo exporter writes value_info that onnxruntime's shape inference rejects when it re-infers the
    # graph ("Inferred shape and existing shape differ"); without it, inference derives every shape itself.
    graph = onnx.load(str(source))
    del graph.graph.value_info[:]
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare.onnx"
        onnx.save(graph, str(bare))
        # Conv stays float: quantizing it emits ConvInteger, which onnxruntime cannot run (TOOLCHAIN.md).
        quantize_dynamic(str(bare), str(target), op_types_to_quantize=["MatMul", "Gemm", "LSTM", "Attention"])


class _NamedIO(nn.Module):
    """Names the TFLite signature like the ONNX file: litert-torch takes the input name from the keyword
    argument and the output name from the returned dict's key (as ``export/localization`` does)."""

    def __init__(self, module: TinyCnnLstm) -> None:
        super().__init__()
        self.module = module

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.module(features)}


def _export_tflite(module: TinyCnnLstm, sample: torch.Tensor, path: Path) -> None:
    import litert_torch  # noqa: PLC0415  (slow import, pulls in JAX: only when a TFLite file is wanted)

    litert_torch.convert(_NamedIO(module).eval(), sample_kwargs={"features": sample}).export(str(path))


def _gateway_output(path: Path, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The file's output as the gateway computes it: dynamic int8 depends on the session's thread count
    (measured: 1 thread differs from the default pool by 0.056 in the logits), so use the gateway's settings."""
    from edge.inference.backends.onnxruntime_backend import OnnxRuntimeBackend  # noqa: PLC0415

    return OnnxRuntimeBackend(path, threads=1).run(x)


def build_tiny_model_dir(
    directory: Path,
    *,
    seed: int = 0,
    window: int = 10,
    features: int = 4,
    classes: int = 5,
    int8: bool = True,
    tflite_batches: Sequence[int] = (1,),
    reference_rows: int = 8,
    train_steps: int = 300,
) -> TinyModel:
    """Train, export and write ``directory/manifest.json``; TFLite files are ``model.tflite`` (batch 1) and
    ``model.b<N>.tflite`` for the other fixed batch sizes."""
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    x_raw, y = synthetic_windows(2048, seed=seed, window=window, features=features, classes=classes)
    mean = x_raw.reshape(-1, features).mean(axis=0)
    std = x_raw.reshape(-1, features).std(axis=0)
    x = ((x_raw - mean) / std).astype(np.float32)
    module = TinyCnnLstm(features, classes)
    _train(module, x, y, steps=train_steps)

    reference = x[:reference_rows]
    with torch.no_grad():
        torch_reference = module(torch.from_numpy(reference)).numpy()
    _export_onnx(module, torch.from_numpy(x[:2]), directory / ONNX_FP32)
    # file -> (format, precision, reference output, atol, the file's own input shape if its batch is fixed)
    outputs: dict[str, tuple[str, str, npt.NDArray[np.float32], float, list[int | None] | None]] = {
        ONNX_FP32: ("onnx", "fp32", torch_reference, FP32_ATOL, None)
    }
    if int8:
        _quantize_onnx(directory / ONNX_FP32, directory / ONNX_INT8)
        # As export/localization does: 3x the largest int8-vs-fp32 logit deviation on the training windows (a
        # re-run on another CPU rounds some activations differently; a wrong file is off by O(1)), at least 0.05.
        with torch.no_grad():
            train_logits = module(torch.from_numpy(x)).numpy()
        deviation = float(np.abs(_gateway_output(directory / ONNX_INT8, x) - train_logits).max())
        atol = max(INT8_ATOL_FLOOR, 3.0 * deviation)
        outputs[ONNX_INT8] = ("onnx", "int8", _gateway_output(directory / ONNX_INT8, reference), atol, None)
    for size in tflite_batches:
        name = "model.tflite" if size == 1 else f"model.b{size}.tflite"
        _export_tflite(module, torch.from_numpy(x[:size]), directory / name)
        outputs[name] = ("tflite", "fp32", torch_reference, FP32_ATOL, [size, window, features])

    files = [
        ModelFile(
            path=name,
            sha256=sha256_of(directory / name),
            bytes=(directory / name).stat().st_size,
            format=fmt,
            precision=precision,
            reference_output=out.tolist(),
            atol=atol,
            min_top1_agreement=1.0,
            input_shape=input_shape,
        )
        for name, (fmt, precision, out, atol, input_shape) in outputs.items()
    ]
    manifest = Manifest(
        name="tiny_localization",
        task="localization",
        description="tiny CNN-LSTM on synthetic windows, for tests and benchmarks",
        created_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        inputs=[TensorSpec(name="features", shape=[None, window, features], dtype="float32")],
        outputs=[TensorSpec(name="logits", shape=[None, classes], dtype="float32")],
        normalisation=Normalisation(features=[f"f{i}" for i in range(features)], mean=mean.tolist(), std=std.tolist()),
        labels=[f"p{i + 1}" for i in range(classes)],
        training_data_sha256=hashlib.sha256(x_raw.tobytes() + y.tobytes()).hexdigest(),
        parameters={"seed": seed, "window": window, "train_steps": train_steps},
        reference_input=reference.tolist(),
        files=files,
    )
    write_manifest(directory, manifest)
    return TinyModel(directory=directory, module=module, window=window, features=features, classes=classes, seed=seed)
