"""benchmarks/logbook.py still runs (tiny sizes, hashed encoder only; the figures come from the script)."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.logbook import _case, _texts
from edge.text import HashedNgramEncoder


def test_the_logbook_benchmark_runs_on_a_tiny_logbook(tmp_path: Path) -> None:
    args = argparse.Namespace(entries=20, adds=5, queries=3)
    result = _case("hashed", HashedNgramEncoder(), _texts(25), args, tmp_path)
    assert result["entries"] == 25
    assert result["similar_k5"]["p50_ms"] > 0
    assert result["reencode_entries_per_s"] > 0
