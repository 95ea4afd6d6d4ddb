"""Loading a model with checks, and predicting with it.

A model file is used only after four checks, in this order, each refusing with ``ModelRefused`` naming the file
and the figure that failed: the manifest is valid; the file's sha256 matches it; the tensors the runtime
actually sees agree with the manifest's inputs/outputs; and the manifest's reference input reproduces that
file's reference output within tolerance. The last one matters most: a model can load and still compute
garbage (a swapped file, a runtime that mis-executes a quantized op).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from edge.inference.backends import (
    DEFAULT_PREFERENCE,
    Backend,
    BackendError,
    Float32Array,
    TensorInfo,
    available_backends,
    backend_formats,
    open_backend,
)
from edge.inference.manifest import Manifest, ManifestError, ModelFile, TensorSpec, load_manifest, verify_file_checksum

__all__ = ["LoadedModel", "ModelRefused", "load_first", "load_model", "softmax"]

_log = logging.getLogger(__name__)

_Entry = TypeVar("_Entry")
_Loaded = TypeVar("_Loaded")

DEFAULT_PRECISIONS: tuple[str, ...] = ("int8", "fp32")


class ModelRefused(RuntimeError):
    """A model file that must not be used; ``reason`` says which check failed, with its figure."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def softmax(logits: Float32Array) -> Float32Array:
    shifted = logits - logits.max(axis=-1, keepdims=True)  # no overflow for large logits
    exp = np.exp(shifted)
    probs: Float32Array = (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)
    return probs


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A checked model file on its backend. Safe to call from one thread at a time (the inference worker)."""

    manifest: Manifest
    file: ModelFile
    path: Path
    backend: Backend
    load_time_s: float

    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def labels(self) -> list[str]:
        return self.manifest.labels

    def normalise(self, features: np.ndarray) -> Float32Array:
        """Check ``features`` (B, L, F) against the manifest's input and standardise it over the last axis."""
        x = np.asarray(features, dtype=np.float32)
        spec = self.manifest.inputs[0]
        if x.ndim != len(spec.shape) or any(
            want is not None and got != want for got, want in zip(x.shape, spec.shape, strict=True)
        ):
            raise ValueError(
                f"model {self.manifest.name!r} takes {spec.name} of shape {_shape(spec.shape)}, got {x.shape}"
            )
        norm = self.manifest.normalisation
        return ((x - np.asarray(norm.mean, dtype=np.float32)) / np.asarray(norm.std, dtype=np.float32)).astype(
            np.float32
        )

    def predict(self, features: np.ndarray) -> Float32Array:
        """Raw model output (B, C) for raw features (B, L, F): normalisation is applied here."""
        return self.backend.run(self.normalise(features))

    def predict_proba(self, features: np.ndarray) -> Float32Array:
        out = self.predict(features)
        return out if self.manifest.output_kind == "probabilities" else softmax(out)

    def top_k(self, probs: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """The ``k`` most likely labels of each row of ``probs``, most likely first, with their probabilities."""
        k = min(k, probs.shape[-1])
        order = np.argsort(-probs, axis=-1, kind="stable")[:, :k]
        return [[(self.labels[int(i)], float(row[i])) for i in idx] for row, idx in zip(probs, order, strict=True)]


def _shape(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("any" if dim is None else str(dim) for dim in shape) + ")"


def check_contract(backend: Backend, manifest: Manifest, entry: ModelFile) -> str | None:
    """Why the file's tensors disagree with the manifest, or None when they agree.

    A file may declare its own ``input_shape`` (a TFLite file fixed at batch 1), which then must match exactly.
    A fixed batch where the manifest says "any" is accepted because the backend feeds such files in chunks.
    """
    inputs = list(manifest.inputs)
    if entry.input_shape is not None:
        # The file's own shape may fix the batch, never another dimension the manifest (and predict) use.
        for axis, (own, common) in enumerate(zip(entry.input_shape, inputs[0].shape, strict=True)):
            if axis > 0 and own != common:
                return (
                    f"its input_shape {_shape(entry.input_shape)} disagrees with the manifest's input "
                    f"{_shape(inputs[0].shape)} (dimension {axis}: {own} != {common})"
                )
        inputs[0] = inputs[0].model_copy(update={"shape": entry.input_shape})
    chunked = backend.fixed_batch is not None
    for role, specs, actual in (("input", inputs, backend.inputs), ("output", manifest.outputs, backend.outputs)):
        if len(specs) != len(actual):
            return f"the file has {len(actual)} {role}(s), the manifest lists {len(specs)}"
        for spec, info in zip(specs, actual, strict=True):
            problem = _tensor_problem(role, spec, info, names=backend.names_preserved, chunked=chunked)
            if problem:
                return problem
    features = len(manifest.normalisation.features)
    last = manifest.inputs[0].shape[-1] if manifest.inputs[0].shape else None
    if last is not None and last != features:
        return f"input has {last} features but the normalisation lists {features}"
    return None


def _tensor_problem(role: str, spec: TensorSpec, info: TensorInfo, *, names: bool, chunked: bool) -> str | None:
    if names and spec.name != info.name:
        return f"{role} is named {info.name!r} in the file, {spec.name!r} in the manifest"
    if spec.dtype != info.dtype:
        return f"{role} {spec.name!r} is {info.dtype} in the file, {spec.dtype} in the manifest"
    if len(spec.shape) != len(info.shape):
        return f"{role} {spec.name!r} has shape {_shape(info.shape)} in the file, {_shape(spec.shape)} in the manifest"
    for axis, (want, got) in enumerate(zip(spec.shape, info.shape, strict=True)):
        if want is None and got is not None and not (axis == 0 and chunked):
            # The manifest promises any size here (e.g. any window length) and the file cannot deliver it.
            return f"{role} {spec.name!r} dimension {axis} is fixed at {got} in the file, 'any' in the manifest"
        if want is not None and got is not None and want != got:
            return (
                f"{role} {spec.name!r} has shape {_shape(info.shape)} in the file, {_shape(spec.shape)} in the "
                f"manifest (dimension {axis}: {got} != {want})"
            )
    return None


def check_reference(backend: Backend, manifest: Manifest, entry: ModelFile) -> str | None:
    """Why the file does not reproduce its reference output, or None when it does."""
    if not manifest.reference_input:
        return "the manifest has no reference input, so the file cannot be checked: re-export with reference rows"
    x = np.asarray(manifest.reference_input, dtype=np.float32)
    want = np.asarray(entry.reference_output, dtype=np.float32)
    try:
        got = backend.run(x)
    except (BackendError, ValueError, RuntimeError) as exc:
        return f"the reference input does not run: {exc}"
    if got.shape != want.shape:
        return f"the reference input gives output of shape {got.shape}, the manifest expects {want.shape}"
    if not np.isfinite(got).all():
        return "the reference input gives NaN or infinite outputs: the file or the runtime is broken"
    diff = np.abs(got - want)
    worst_row = int(diff.max(axis=1).argmax())
    worst = float(diff.max())
    if worst > entry.atol:
        return (
            f"max |Δ| {worst:.3g} > atol {entry.atol:g} on reference row {worst_row}: the model computes something "
            "else than it was exported with (wrong file, or a runtime that mis-executes it)"
        )
    agreement = float((got.argmax(axis=1) == want.argmax(axis=1)).mean())
    if agreement < entry.min_top1_agreement:
        return (
            f"top-1 agreement with the reference output {agreement:.1%} < {entry.min_top1_agreement:.1%}: the "
            "model ranks classes differently than it was exported with"
        )
    return None


def load_file(
    model_dir: Path, manifest: Manifest, entry: ModelFile, *, prefer: Sequence[str], threads: int
) -> LoadedModel:
    """One file of a manifest through every check; ``ModelRefused`` on the first that fails."""
    started = time.perf_counter()
    path = model_dir / entry.path
    try:
        verify_file_checksum(model_dir, entry)
        backend = open_backend(path, prefer=prefer, threads=threads)
    except (ManifestError, BackendError) as exc:
        raise ModelRefused(path, str(exc).removeprefix(f"{path}: ")) from exc
    problem = check_contract(backend, manifest, entry)
    if problem:
        raise ModelRefused(path, f"{problem}: the file does not match its manifest; re-export the model")
    problem = check_reference(backend, manifest, entry)
    if problem:
        raise ModelRefused(path, problem)
    load_time_s = time.perf_counter() - started
    _log.info(
        "model %s: %s (%s %s) on %s in %.3f s, batch %s",
        manifest.name,
        entry.path,
        entry.format,
        entry.precision,
        backend.name,
        load_time_s,
        backend.fixed_batch or "dynamic",
    )
    return LoadedModel(manifest=manifest, file=entry, path=path, backend=backend, load_time_s=load_time_s)


def _candidates(manifest: Manifest, precisions: Sequence[str], prefer: Sequence[str]) -> list[ModelFile]:
    """Files in the order to try: by precision preference, then by the preferred backend's format."""
    formats: list[str] = []
    for name in prefer:
        formats += [fmt for fmt in backend_formats(name) if fmt not in formats]
    ranked = [f for f in manifest.files if f.precision in precisions and f.format in formats]
    return sorted(ranked, key=lambda f: (list(precisions).index(f.precision), formats.index(f.format)))


def load_model(
    model_dir: Path,
    file: str | None = None,
    *,
    prefer_precision: Sequence[str] = DEFAULT_PRECISIONS,
    prefer: Sequence[str] = DEFAULT_PREFERENCE,
    threads: int = 1,
) -> LoadedModel:
    """Load the model in ``model_dir``: ``file`` if given, else the first file that passes every check.

    Without ``file``, files are tried by ``prefer_precision`` then by backend preference; a refused file is
    logged as an error and the next one tried (a gateway running the fp32 file beats one running nothing).
    ``ModelRefused`` lists every refusal when no file passes.
    """
    try:
        manifest = load_manifest(model_dir)
    except ManifestError as exc:
        raise ModelRefused(model_dir, str(exc)) from exc
    if file is not None:
        try:
            entry = manifest.file(file)
        except ManifestError as exc:
            raise ModelRefused(model_dir / file, str(exc)) from exc
        return load_file(model_dir, manifest, entry, prefer=prefer, threads=threads)
    candidates = _candidates(manifest, prefer_precision, prefer)
    if not candidates:
        raise ModelRefused(
            model_dir,
            f"no file of precision {list(prefer_precision)} in a format of backends {list(prefer)}; the manifest "
            f"lists {[(f.path, f.precision) for f in manifest.files]} (backends here: {available_backends()})",
        )
    return load_first(
        model_dir, candidates, lambda entry: load_file(model_dir, manifest, entry, prefer=prefer, threads=threads)
    )


def load_first(
    model_dir: Path, candidates: Sequence[_Entry], load: Callable[[_Entry], _Loaded], *, what: str = "model"
) -> _Loaded:
    """The first candidate file that ``load`` accepts; each refusal is logged, all of them are in the error."""
    refusals: list[str] = []
    for entry in candidates:
        try:
            return load(entry)
        except ModelRefused as exc:
            _log.error("%s file refused: %s", what, exc)
            refusals.append(str(exc))
    raise ModelRefused(model_dir, f"every {what} file was refused: " + "; ".join(refusals))
