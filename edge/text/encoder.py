"""The text-encoder interface a case base or the hazard model's text input calls: texts in, unit vectors out.

Every encoder returns float32 ``(n, dim)`` rows of L2 norm 1 (an empty text gives the zero vector, the only
row that is not unit length), so cosine similarity is a plain dot product. ``name`` identifies the encoder
*and its parameters or weights*: vectors are comparable only between equal names, so a store of vectors keeps the
name beside them and re-encodes when it changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Float32Array = npt.NDArray[np.float32]


@runtime_checkable
class Encoder(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> Float32Array: ...


def l2_normalise(rows: np.ndarray) -> Float32Array:
    """Rows scaled to unit L2 norm; all-zero rows stay zero (no NaN from 0/0)."""
    x = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    out: Float32Array = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0).astype(np.float32)
    return out


def check_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list, refusing a bare string (it would be encoded character by character) and non-strings."""
    if isinstance(texts, str):
        raise TypeError("encode takes a sequence of texts, got one str: wrap it in a list, encode([text])")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__} ({text!r}); every text must be a str")
    return out
