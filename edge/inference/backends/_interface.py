"""The backend interface: what every runtime file in this package provides, and the batching both TFLite ones share.

Like Frigate's detector API it is deliberately small: a backend is built by its module's ``load(path, *,
threads)`` (which also warms it up) and then only ``run``s float32 batches. The tensor descriptions it exposes
are what the file itself declares, so ``edge.inference.model`` can hold them against the manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

Float32Array = npt.NDArray[np.float32]


class BackendError(RuntimeError):
    """A backend could not load or run a model file; the message says which file and what to do."""


class BackendUnavailable(BackendError):
    """No backend able to run this file format can be imported or load the file on this machine."""


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One input or output as the model file declares it (None: a dimension the file accepts at any size)."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str  # numpy name: "float32", "int8", ...


class Backend(Protocol):
    """A loaded, warmed-up model file.

    ``run`` takes float32 (B, L, F) and returns float32 (B, C) for any B >= 0, whatever batch the file was
    exported with (``fixed_batch`` says when rows are fed in chunks of that size rather than all at once).
    """

    name: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    # Whether ``inputs``/``outputs`` names are those given at export (ONNX names; a TFLite file's signature
    # names), so they can be compared with the manifest. A TFLite file without one signature has only converter
    # tensor names (``serving_default_args_0``), which say nothing.
    names_preserved: bool
    fixed_batch: int | None

    def run(self, batch: Float32Array) -> Float32Array: ...


class BackendLoader(Protocol):
    def __call__(self, path: Path, *, threads: int = 1) -> Backend: ...


def run_in_chunks(run_fixed: Callable[[Float32Array], Float32Array], batch: Float32Array, size: int) -> Float32Array:
    """Run a file whose batch dimension is fixed at ``size``: feed full chunks, zero-pad the last one, drop the pad.

    Rows of these models are independent (no batch-norm in training mode, no cross-row attention), so padding
    changes nothing in the real rows' outputs; the parity tests check it on a batch-4 file.
    """
    rows = batch.shape[0]
    if rows == 0:
        raise ValueError("run_in_chunks needs at least one row")
    parts: list[Float32Array] = []
    for start in range(0, rows, size):
        chunk = batch[start : start + size]
        real = chunk.shape[0]
        if real < size:
            pad = np.zeros((size - real, *chunk.shape[1:]), dtype=np.float32)
            chunk = np.concatenate([chunk, pad])
        parts.append(run_fixed(chunk)[:real])
    return np.concatenate(parts)


def empty_output(output: TensorInfo) -> Float32Array:
    """The (0, C) answer to an empty batch: runtimes reject zero-sized inputs, and callers may well have no rows."""
    return np.zeros((0, *(dim or 0 for dim in output.shape[1:])), dtype=np.float32)


def check_threads(threads: int) -> None:
    if threads < 1:
        raise BackendError(f"threads must be >= 1 (got {threads}); a gateway runs inference on one thread")


def warm_up(backend: Backend) -> None:
    """One inference on zeros at load: the first real request must not pay for lazy allocation and kernel setup."""
    first = backend.inputs[0]
    shape = tuple(1 if dim is None else dim for dim in first.shape)
    if backend.fixed_batch is not None:
        shape = (backend.fixed_batch, *shape[1:])
    backend.run(np.zeros(shape, dtype=np.float32))
