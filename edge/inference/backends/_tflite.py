"""What the LiteRT and tflite-runtime backends share: both expose TensorFlow Lite's ``Interpreter`` API.

Batch handling is honest about the file: litert-torch 0.10 exports a FIXED batch (it cannot export a dynamic
batch dimension for the CNN-LSTM, nor even for a single Linear layer), so such files are run in chunks of their
batch size. Only a file whose ``shape_signature`` marks the batch as dynamic (-1) is resized to the request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge.inference.backends._interface import (
    BackendError,
    Float32Array,
    TensorInfo,
    check_threads,
    empty_output,
    run_in_chunks,
    warm_up,
)


class Interpreter(Protocol):
    """The part of ``tf.lite.Interpreter`` used here (ai_edge_litert and tflite_runtime ship it untyped)."""

    def allocate_tensors(self) -> None: ...
    def get_input_details(self) -> list[dict[str, Any]]: ...
    def get_output_details(self) -> list[dict[str, Any]]: ...
    def resize_tensor_input(self, input_index: int, tensor_size: Sequence[int], strict: bool = False) -> None: ...
    def set_tensor(self, tensor_index: int, value: Any) -> None: ...
    def invoke(self) -> None: ...
    def get_tensor(self, tensor_index: int) -> Any: ...
    def get_signature_list(self) -> dict[str, dict[str, list[str]]]: ...


InterpreterFactory = Callable[[str, int], Interpreter]


def _info(detail: Mapping[str, Any], name: str | None) -> TensorInfo:
    signature = detail.get("shape_signature", detail["shape"])
    shape = tuple(None if int(dim) < 0 else int(dim) for dim in signature)
    return TensorInfo(name=name or str(detail["name"]), shape=shape, dtype=np.dtype(detail["dtype"]).name)


def _signature_names(interpreter: Interpreter) -> tuple[str, str] | None:
    """The (input, output) names of the file's only signature: the names given at export (litert-torch takes
    them from the forward's keyword argument and returned dict key). Tensor names are converter internals."""
    signatures = interpreter.get_signature_list()
    if len(signatures) != 1:
        return None
    (signature,) = signatures.values()
    if len(signature.get("inputs", [])) != 1 or len(signature.get("outputs", [])) != 1:
        return None
    return signature["inputs"][0], signature["outputs"][0]


class TFLiteBackend:
    def __init__(self, name: str, make_interpreter: InterpreterFactory, path: Path, *, threads: int = 1) -> None:
        check_threads(threads)
        self.name = name
        self.path = path
        try:
            self._interpreter = make_interpreter(str(path), threads)
            self._interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"{path}: {name} cannot load it: {exc}") from exc
        in_details = self._interpreter.get_input_details()
        out_details = self._interpreter.get_output_details()
        names = _signature_names(self._interpreter)
        self.names_preserved = names is not None
        self.inputs = tuple(_info(d, names[0] if names else None) for d in in_details)
        self.outputs = tuple(_info(d, names[1] if names else None) for d in out_details)
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            raise BackendError(
                f"{path}: has {len(self.inputs)} inputs and {len(self.outputs)} outputs; the runtime feeds one "
                "float32 window batch and reads one score tensor: export the model with exactly one of each"
            )
        for tensor in (*self.inputs, *self.outputs):
            # A fully-quantized int8 interface would need the file's scale/zero-point applied here; the
            # exports we make keep float32 at the boundary (quantize/dequantize inside the graph).
            if tensor.dtype != "float32":
                raise BackendError(
                    f"{path}: tensor {tensor.name!r} is {tensor.dtype}; the runtime exchanges float32 with the "
                    "model: export with float inputs and outputs (quantized weights and activations inside are fine)"
                )
        self._input_index = int(in_details[0]["index"])
        self._output_index = int(out_details[0]["index"])
        batch_dim = self.inputs[0].shape[0] if self.inputs[0].shape else None
        self.fixed_batch: int | None = batch_dim
        self._allocated_rows = int(in_details[0]["shape"][0])
        warm_up(self)

    def _invoke(self, batch: Float32Array) -> Float32Array:
        self._interpreter.set_tensor(self._input_index, batch)
        self._interpreter.invoke()
        # get_tensor copies, so the next invoke cannot overwrite a result already handed out.
        return np.asarray(self._interpreter.get_tensor(self._output_index), dtype=np.float32)

    def _run_resized(self, batch: Float32Array) -> Float32Array:
        rows = batch.shape[0]
        if rows != self._allocated_rows:
            try:
                self._interpreter.resize_tensor_input(self._input_index, [rows, *batch.shape[1:]], strict=True)
                self._interpreter.allocate_tensors()
            except (RuntimeError, ValueError) as exc:
                raise BackendError(f"{self.path}: {self.name} cannot resize the batch to {rows}: {exc}") from exc
            self._allocated_rows = rows
        return self._invoke(batch)

    def run(self, batch: Float32Array) -> Float32Array:
        if batch.shape[0] == 0:
            return empty_output(self.outputs[0])
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self.fixed_batch is not None:
            return run_in_chunks(self._invoke, batch, self.fixed_batch)
        return self._run_resized(batch)
