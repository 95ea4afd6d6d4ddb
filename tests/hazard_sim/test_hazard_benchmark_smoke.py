"""The generator benchmark starts, finishes and writes a result (figures are not judged here)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from benchmarks.hazard_generate import main


def test_benchmark_runs_small(tmp_path: Path) -> None:
    assert (
        main(["--episodes-per-kind", "1", "--normal-days", "1", "--layouts", "1", "--results-dir", str(tmp_path)]) == 0
    )
    result = json.loads((tmp_path / "hazard_generate.json").read_text(encoding="utf-8"))
    assert math.isfinite(result["speed"]["normal_day_s_median"])
    assert result["speed"]["day_npz_mb"] > 0
    assert "gas_accumulation/fan_stop" in result["kinds"]
