"""Inference backends, one module per runtime, chosen by file format; a runtime that cannot import is skipped.

Adding a runtime means adding one module with ``NAME``, ``FORMATS`` and ``load(path, *, threads) -> Backend``
and one line in ``_REGISTRY``. Modules are imported on first use, so a gateway without a runtime (or a
runtime that fails to import on this platform) loses only the formats that runtime serves.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from edge.inference.backends._interface import (
    Backend,
    BackendError,
    BackendLoader,
    BackendUnavailable,
    Float32Array,
    TensorInfo,
)

__all__ = [
    "DEFAULT_PREFERENCE",
    "Backend",
    "BackendError",
    "BackendUnavailable",
    "Float32Array",
    "TensorInfo",
    "available_backends",
    "backend_formats",
    "file_format",
    "open_backend",
]

_log = logging.getLogger(__name__)

DEFAULT_PREFERENCE: tuple[str, ...] = ("onnxruntime", "litert", "tflite_runtime")


@dataclass(frozen=True, slots=True)
class _Entry:
    module: str
    formats: tuple[str, ...]


# Formats are listed here, not read from the module, so a runtime that cannot import still says what it serves.
_REGISTRY: dict[str, _Entry] = {
    "onnxruntime": _Entry("edge.inference.backends.onnxruntime_backend", ("onnx",)),
    "litert": _Entry("edge.inference.backends.litert_backend", ("tflite",)),
    "tflite_runtime": _Entry("edge.inference.backends.tflite_runtime_backend", ("tflite",)),
}

_SUFFIXES = {".onnx": "onnx", ".tflite": "tflite"}


@functools.cache
def _import(name: str) -> BackendLoader | str:
    """The backend's ``load`` function, or why it cannot be used; logged once per process, never raised."""
    entry = _REGISTRY[name]
    try:
        module = importlib.import_module(entry.module)
    except Exception as exc:  # ImportError, but also OSError/RuntimeError from a native library that will not load
        reason = f"cannot import: {type(exc).__name__}: {exc}"
        _log.info("inference backend %s unavailable (%s); files it would run fall to the next backend", name, reason)
        return reason
    return cast(BackendLoader, module.load)


def available_backends() -> dict[str, str]:
    """Every known backend: ``"ok"`` when it imports here, otherwise why not."""
    return {name: ("ok" if not isinstance(found := _import(name), str) else found) for name in _REGISTRY}


def backend_formats(name: str) -> tuple[str, ...]:
    """The file formats backend ``name`` runs (``KeyError`` for an unknown name)."""
    return _REGISTRY[name].formats


def file_format(path: Path) -> str:
    try:
        return _SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise BackendUnavailable(
            f"{path}: unknown model format {path.suffix!r}; the gateway runs {sorted(_SUFFIXES)} files"
        ) from None


def open_backend(path: Path, *, prefer: Sequence[str] = DEFAULT_PREFERENCE, threads: int = 1) -> Backend:
    """Load ``path`` on the first backend in ``prefer`` that serves its format, imports and loads it.

    A backend that is missing or fails on this file is skipped for the next one; ``BackendUnavailable`` lists
    every attempt when none succeeds.
    """
    unknown = [name for name in prefer if name not in _REGISTRY]
    if unknown:
        raise BackendUnavailable(f"unknown inference backend(s) {unknown}; known: {sorted(_REGISTRY)}")
    fmt = file_format(path)
    candidates = [name for name in prefer if fmt in _REGISTRY[name].formats]
    if not candidates:
        serving = sorted(name for name, entry in _REGISTRY.items() if fmt in entry.formats)
        raise BackendUnavailable(f"{path}: none of the backends {list(prefer)} runs {fmt} files; {serving} do")
    attempts: list[str] = []
    for name in candidates:
        loader = _import(name)
        if isinstance(loader, str):
            attempts.append(f"{name}: {loader}")
            continue
        try:
            return loader(path, threads=threads)
        except BackendError as exc:
            _log.warning("inference backend %s: %s", name, exc)
            attempts.append(f"{name}: {str(exc).removeprefix(f'{path}: ')}")
    raise BackendUnavailable(
        f"{path}: no backend could run this {fmt} file ({'; '.join(attempts)}); install one of "
        f"{candidates} (pip install onnxruntime / ai-edge-litert) or use another file of the model"
    )
