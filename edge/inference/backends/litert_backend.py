"""TFLite files on Google's LiteRT runtime (``ai-edge-litert``), the maintained successor of tflite-runtime."""

from __future__ import annotations

import logging
from pathlib import Path

from ai_edge_litert.interpreter import Interpreter

from edge.inference.backends._tflite import TFLiteBackend

NAME = "litert"

_log = logging.getLogger(__name__)


def _interpreter(path: str, threads: int) -> Interpreter:
    return Interpreter(model_path=path, num_threads=threads)


def load(path: Path, *, threads: int = 1) -> TFLiteBackend:
    backend = TFLiteBackend(NAME, _interpreter, path, threads=threads)
    _log.debug("%s: LiteRT, %d thread(s), batch %s", path, threads, backend.fixed_batch or "dynamic")
    return backend
