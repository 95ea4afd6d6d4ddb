"""The text input of the hazard model, and choosing an encoder by name.

``text_tokens`` takes what ``edge.hazard.features.text_window`` cuts (the newest ``TEXT_MAX_ENTRIES`` entries of
the last shift as ``(age_s, entry)``, newest first) and returns a fixed-size block: one encoder row per slot,
the entry's age, and a validity mask (an empty slot is masked, its row zero), so a model sees
``(TEXT_MAX_ENTRIES, encoder.dim)`` whatever the number of entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.hazard.contract import TEXT_MAX_ENTRIES, LogEntry
from edge.text.encoder import Encoder, Float32Array
from edge.text.hashed import HashedNgramEncoder


@dataclass(frozen=True, slots=True)
class TextTokens:
    values: Float32Array  # (TEXT_MAX_ENTRIES, dim): the entries' encodings, newest first; zero where invalid
    age_s: Float32Array  # (TEXT_MAX_ENTRIES,): seconds since each entry; 0 where invalid
    valid: npt.NDArray[np.bool_]  # (TEXT_MAX_ENTRIES,)


def text_tokens(encoder: Encoder, window: Sequence[tuple[float, LogEntry]]) -> TextTokens:
    if len(window) > TEXT_MAX_ENTRIES:
        raise ValueError(f"a text window holds at most {TEXT_MAX_ENTRIES} entries, got {len(window)}")
    values = np.zeros((TEXT_MAX_ENTRIES, encoder.dim), dtype=np.float32)
    age = np.zeros(TEXT_MAX_ENTRIES, dtype=np.float32)
    valid = np.zeros(TEXT_MAX_ENTRIES, dtype=bool)
    if window:
        values[: len(window)] = encoder.encode([entry.text for _, entry in window])
        age[: len(window)] = [a for a, _ in window]
        valid[: len(window)] = True
    return TextTokens(values, age, valid)


def open_encoder(spec: str, *, threads: int = 1) -> Encoder:
    """``"hashed"`` / ``"hashed:DIM"`` for the hashed n-gram encoder (default 512 dims), or a MiniLM model
    directory (its int8 file, falling back to fp32, each through the manifest's checks)."""
    if spec == "hashed" or spec.startswith("hashed:"):
        _, _, dim = spec.partition(":")
        try:
            return HashedNgramEncoder(int(dim) if dim else 512)
        except ValueError as exc:
            raise ValueError(f"text encoder {spec!r}: {exc}; use 'hashed' or 'hashed:DIM' (e.g. hashed:512)") from exc
    directory = Path(spec)
    if not (directory / "manifest.json").is_file():
        raise ValueError(f"text encoder {spec!r} is neither 'hashed[:DIM]' nor a model directory with a manifest.json")
    from edge.text.minilm import MiniLmEncoder  # noqa: PLC0415  (needs the optional tokenizers package)

    return MiniLmEncoder.load(directory, threads=threads)
