"""Log entries of the text window as the encoder vectors the hazard model reads, each text encoded once.

The same entry stays in the 8-hour window for hundreds of decisions; encoding it again each time would cost a
MiniLM run per entry per decision on a small gateway, so vectors are cached by text (bounded, oldest dropped).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from edge.hazard.contract import LogEntry
from edge.hazard.model_input import TEXT_EMBEDDING_DIM
from edge.text.encoder import Encoder

F32 = NDArray[np.float32]


class TextVectors:
    def __init__(self, encoder: Encoder, *, cache_size: int = 512) -> None:
        if encoder.dim != TEXT_EMBEDDING_DIM:
            raise ValueError(
                f"text encoder {encoder.name!r} gives {encoder.dim}-d vectors; the hazard model reads "
                f"{TEXT_EMBEDDING_DIM}-d (the MiniLM sentence encoder, models/text/minilm)"
            )
        self.encoder = encoder
        self._cache: OrderedDict[str, F32] = OrderedDict()
        self._cache_size = cache_size
        self.encoded = 0  # texts actually run through the encoder

    def vectors(self, window: Sequence[tuple[float, LogEntry]]) -> tuple[F32, F32]:
        """``(len(window), 384)`` vectors and the ages, in the window's order (newest first)."""
        missing = list(dict.fromkeys(e.text for _, e in window if e.text not in self._cache))
        if missing:
            for text, row in zip(missing, self.encoder.encode(missing), strict=True):
                self._cache[text] = np.asarray(row, dtype=np.float32)
            self.encoded += len(missing)
        rows = np.zeros((len(window), TEXT_EMBEDDING_DIM), dtype=np.float32)
        for i, (_, entry) in enumerate(window):
            rows[i] = self._cache[entry.text]
            self._cache.move_to_end(entry.text)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return rows, np.asarray([age for age, _ in window], dtype=np.float32)
