"""TFLite files on the legacy ``tflite-runtime`` wheel: a fallback for platforms where ai-edge-litert has no wheel.

tflite-runtime 2.14 needs numpy < 2 and cannot load dynamic-int8 files (FULLY_CONNECTED version 12); it has
also been seen to load and run some quantizer outputs while returning wrong answers, which is why
``edge.inference.model`` checks every file against its reference output before use.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tflite_runtime.interpreter import Interpreter

from edge.inference.backends._tflite import TFLiteBackend

NAME = "tflite_runtime"

_log = logging.getLogger(__name__)


def _interpreter(path: str, threads: int) -> Interpreter:
    return Interpreter(model_path=path, num_threads=threads)


def load(path: Path, *, threads: int = 1) -> TFLiteBackend:
    backend = TFLiteBackend(NAME, _interpreter, path, threads=threads)
    _log.debug("%s: tflite-runtime, %d thread(s), batch %s", path, threads, backend.fixed_batch or "dynamic")
    return backend
