"""The hazard model's text input from a text window, and choosing an encoder by spec."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.hazard.contract import TEXT_MAX_ENTRIES, LogEntry, LogKind
from edge.hazard.features import text_window
from edge.text import HashedNgramEncoder, open_encoder, text_tokens


def _entry(t: float, text: str) -> LogEntry:
    return LogEntry(t, text, "", "f3", LogKind.MAINTENANCE)


def test_window_becomes_a_fixed_block_newest_first_with_mask() -> None:
    encoder = HashedNgramEncoder(256)
    logs = [_entry(100.0, "bearing noisy on belt drive 2"), _entry(200.0, "belt drive 2 tripped on high vibration")]
    tokens = text_tokens(encoder, text_window(logs, 300.0))
    assert tokens.values.shape == (TEXT_MAX_ENTRIES, 256)
    assert tokens.valid.tolist() == [True, True] + [False] * (TEXT_MAX_ENTRIES - 2)
    assert tokens.age_s[:2].tolist() == [100.0, 200.0]
    np.testing.assert_array_equal(tokens.values[0], encoder.encode(["belt drive 2 tripped on high vibration"])[0])
    assert not tokens.values[2:].any()


def test_empty_window_is_all_masked() -> None:
    tokens = text_tokens(HashedNgramEncoder(64), [])
    assert not tokens.valid.any()
    assert tokens.values.shape == (TEXT_MAX_ENTRIES, 64)


def test_open_encoder_specs() -> None:
    assert open_encoder("hashed").dim == 512
    assert open_encoder("hashed:256").dim == 256
    with pytest.raises(ValueError, match="hashed:DIM"):
        open_encoder("hashed:big")
    with pytest.raises(ValueError, match="neither 'hashed"):
        open_encoder(str(Path("/nonexistent/model")))
