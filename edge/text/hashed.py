"""A hashed n-gram text encoder: no weights, no training, no dependency beyond numpy.

Features: word unigrams and bigrams, and character n-grams (3-5 by default) of each word padded with ``<`` and ``>``
(fastText's subwords: a typo such as "bearnig" still shares most of its n-grams with "bearing"). Each feature is
hashed into ``dim`` buckets with a sign (signed feature hashing, so collisions cancel on average instead of piling
up), counts are dampened to ``1 + ln(count)`` (sublinear tf), and the word block and the character block are each
L2-normalised before they are mixed, so that a long word's many character n-grams do not drown the words.

The hash is BLAKE2b of the feature's UTF-8 bytes: the same text gives the same vector in every process, on every
machine and Python version (Python's own ``hash()`` of a str is salted per process).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from edge.text.encoder import Float32Array, check_texts, l2_normalise

__all__ = ["HashedNgramEncoder"]

# Decimal numbers stay whole ("0.8", "1.5"): a reading is one token, not two.
_WORD = re.compile(r"[0-9]+(?:\.[0-9]+)?|[^\W\d_]+", re.UNICODE)
# Bumped whenever the features or the hash change: it is part of ``name``, so stored vectors are not mixed.
_VERSION = 1


@functools.lru_cache(maxsize=1 << 17)
def _bucket(feature: str, dim: int) -> tuple[int, float]:
    digest = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
    return digest % dim, (1.0 if (digest >> 63) & 1 else -1.0)


def words_of(text: str) -> list[str]:
    """Lower-cased words and numbers of ``text`` (punctuation and units such as "%" dropped)."""
    return _WORD.findall(text.lower())


class HashedNgramEncoder:
    """Encodes texts to ``dim`` float32 dimensions; see the module docstring for the features."""

    def __init__(
        self,
        dim: int = 512,
        *,
        char_ngrams: tuple[int, int] = (3, 5),
        word_bigrams: bool = True,
        char_weight: float = 0.5,
    ) -> None:
        if dim < 16:
            raise ValueError(f"dim must be >= 16, got {dim}: fewer buckets make every text collide")
        low, high = char_ngrams
        if not 1 <= low <= high <= 10:
            raise ValueError(f"char_ngrams must be (low, high) with 1 <= low <= high <= 10, got {char_ngrams}")
        if not 0.0 <= char_weight <= 1.0:
            raise ValueError(f"char_weight must be in [0, 1], got {char_weight}")
        self._dim = dim
        self._char_ngrams = (low, high)
        self._word_bigrams = word_bigrams
        self._char_weight = char_weight

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def name(self) -> str:
        low, high = self._char_ngrams
        bigrams = "w12" if self._word_bigrams else "w1"
        return f"hashed-ngram-v{_VERSION}-d{self._dim}-{bigrams}-c{low}{high}-cw{self._char_weight:g}"

    def features(self, text: str) -> tuple[Counter[str], Counter[str]]:
        """The word features and the character features of ``text`` with their counts (for inspection)."""
        words = words_of(text)
        word_features = Counter(f"w:{w}" for w in words)
        if self._word_bigrams:
            word_features.update(f"b:{a} {b}" for a, b in itertools.pairwise(words))
        low, high = self._char_ngrams
        char_features: Counter[str] = Counter()
        for word in words:
            padded = f"<{word}>"
            for n in range(low, high + 1):
                char_features.update(f"c:{padded[i : i + n]}" for i in range(len(padded) - n + 1))
        return word_features, char_features

    def _block(self, counts: Counter[str]) -> np.ndarray:
        vector = np.zeros(self._dim, dtype=np.float64)
        for feature, count in counts.items():
            index, sign = _bucket(feature, self._dim)
            vector[index] += sign * (1.0 + math.log(count))
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector

    def encode(self, texts: Sequence[str]) -> Float32Array:
        rows = check_texts(texts)
        out = np.zeros((len(rows), self._dim), dtype=np.float32)
        for i, text in enumerate(rows):
            word_features, char_features = self.features(text)
            mixed = (1.0 - self._char_weight) * self._block(word_features) + self._char_weight * self._block(
                char_features
            )
            out[i] = mixed
        return l2_normalise(out)
