"""ONNX files on onnxruntime's CPU provider: one intra-op thread by default, sequential execution, dynamic batch."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge.inference.backends._interface import (
    BackendError,
    Float32Array,
    TensorInfo,
    check_threads,
    empty_output,
    run_in_chunks,
    warm_up,
)

NAME = "onnxruntime"

_log = logging.getLogger(__name__)

# onnxruntime reports element types as "tensor(float)"; the manifest uses numpy names.
_ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
}


def _info(arg: ort.NodeArg) -> TensorInfo:
    # Symbolic dimensions ("batch") and unknown ones (None) both mean "any size".
    shape = tuple(dim if isinstance(dim, int) else None for dim in arg.shape)
    return TensorInfo(name=arg.name, shape=shape, dtype=_ORT_DTYPES.get(arg.type, arg.type))


class OnnxRuntimeBackend:
    name = NAME
    names_preserved = True

    def __init__(self, path: Path, *, threads: int = 1) -> None:
        check_threads(threads)
        options = ort.SessionOptions()
        # One gateway core for inference: no intra-op pool beyond `threads`, no parallel branches, no spinning
        # threads burning the CPU that polling and the alarm path need.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # The memory-pattern planner pre-allocates every intermediate of the largest run seen: for the 640-px helmet
        # detector that was +450 MiB RSS, +221 MiB without it at the same latency (camera benchmark, this machine).
        # A Pi has 1-8 GiB for everything; the small models do not notice either way.
        options.enable_mem_pattern = False
        try:
            self._session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types from C++
            raise BackendError(f"{path}: onnxruntime cannot load it: {exc}") from exc
        self.path = path
        self.inputs = tuple(_info(arg) for arg in self._session.get_inputs())
        self.outputs = tuple(_info(arg) for arg in self._session.get_outputs())
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            raise BackendError(
                f"{path}: has {len(self.inputs)} inputs and {len(self.outputs)} outputs; the runtime feeds one "
                "float32 window batch and reads one score tensor: export the model with exactly one of each"
            )
        batch_dim = self.inputs[0].shape[0] if self.inputs[0].shape else None
        self.fixed_batch = batch_dim
        self._input_name = self.inputs[0].name
        warm_up(self)

    def _run_once(self, batch: Float32Array) -> Float32Array:
        (out,) = self._session.run(None, {self._input_name: batch})
        return np.asarray(out, dtype=np.float32)

    def run(self, batch: Float32Array) -> Float32Array:
        if batch.shape[0] == 0:
            return empty_output(self.outputs[0])
        if self.fixed_batch is not None:
            return run_in_chunks(self._run_once, batch, self.fixed_batch)
        return self._run_once(batch)


def load(path: Path, *, threads: int = 1) -> OnnxRuntimeBackend:
    backend = OnnxRuntimeBackend(path, threads=threads)
    _log.debug("%s: onnxruntime %s, %d thread(s)", path, ort.__version__, threads)
    return backend
