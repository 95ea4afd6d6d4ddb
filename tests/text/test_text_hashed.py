"""The hashed n-gram encoder: fixed size, unit rows, the same vector in every process, similar texts closer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.text import Encoder, HashedNgramEncoder

REPO = Path(__file__).resolve().parents[2]
TEXTS = ["bearing noisy on belt drive 2", "auxiliary fan AF-3 stopped, electrician called", "CH4 0.8 % at f3", ""]

_CHILD = """
import json, sys
from edge.text import HashedNgramEncoder
texts = json.loads(sys.argv[1])
print(json.dumps(HashedNgramEncoder(256).encode(texts).tolist()))
"""


def _encode_in_child(hash_seed: str) -> np.ndarray:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(TEXTS)], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    return np.asarray(json.loads(done.stdout), dtype=np.float32)


def test_same_vectors_in_other_processes_whatever_their_hash_seed() -> None:
    here = HashedNgramEncoder(256).encode(TEXTS)
    for seed in ("1", "12345"):
        np.testing.assert_array_equal(_encode_in_child(seed), here)


def test_shape_dtype_and_unit_rows() -> None:
    encoder = HashedNgramEncoder(512)
    assert isinstance(encoder, Encoder)
    out = encoder.encode(TEXTS)
    assert out.shape == (4, 512)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out[:3], axis=1), 1.0, rtol=1e-5)
    assert not out[3].any(), "an empty text has no features: the zero vector"
    assert encoder.encode([]).shape == (0, 512)


def test_name_carries_the_parameters() -> None:
    assert HashedNgramEncoder(256).name != HashedNgramEncoder(512).name
    assert HashedNgramEncoder(256).name != HashedNgramEncoder(256, char_ngrams=(3, 4)).name
    assert "d256" in HashedNgramEncoder(256).name


def test_similar_entries_closer_than_unrelated_and_typos_tolerated() -> None:
    v = HashedNgramEncoder(512).encode(
        ["bearing noisy on belt drive 2", "bearnig noisy on belt drive 4", "changed cutter bits on continuous miner"]
    )
    assert v[0] @ v[1] > 0.5
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3


def test_case_and_punctuation_do_not_matter_numbers_do() -> None:
    v = HashedNgramEncoder(256).encode(
        ["Belt Drive 2: bearing NOISY!", "belt drive 2 bearing noisy", "CH4 0.8 %", "CH4 1.8 %"]
    )
    assert v[0] @ v[1] == pytest.approx(1.0, abs=1e-6)
    assert v[2] @ v[3] < 0.99


def test_bad_input_is_refused_with_a_clear_message() -> None:
    encoder = HashedNgramEncoder(64)
    with pytest.raises(TypeError, match="wrap it in a list"):
        encoder.encode("bearing noisy")
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        encoder.encode(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="dim must be >= 16"):
        HashedNgramEncoder(8)
    with pytest.raises(ValueError, match="char_ngrams"):
        HashedNgramEncoder(64, char_ngrams=(5, 3))
