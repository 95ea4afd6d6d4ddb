"""benchmarks.text_encoder runs end to end in a few seconds and writes finite figures (not a performance test)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_text_encoder_benchmark_smoke(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    args = ["--cases", "hashed:256", "minilm:int8", "--calls-1", "5", "--calls-32", "2"]
    args += ["--model-dir", str(REPO / "models" / "text" / "minilm"), "--results-dir", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.text_encoder", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "|---" in done.stdout
    result = json.loads((tmp_path / "text_encoder.json").read_text(encoding="utf-8"))
    for case in result["cases"]:
        if "skipped" in case:  # no committed MiniLM file in this checkout
            continue
        for batch in ("1", "32"):
            value = case["batches"][batch]["median_us_per_entry"]
            assert math.isfinite(value)
            assert value > 0
