"""benchmarks.camera_throughput starts, runs every case briefly and writes a complete result (not a speed test)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnx")

REPO = Path(__file__).resolve().parents[2]


def test_camera_throughput_benchmark_smoke(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.camera_throughput", "--quick", "--results-dir", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "|---" in done.stdout
    result = json.loads((tmp_path / "camera_throughput.json").read_text(encoding="utf-8"))
    assert result["benchmark"] == "camera_throughput"
    assert len(result["cases"]) == 4
    for case in result["cases"]:
        assert case["analysed_fps_min"] > 0
        assert 0 < case["detected_share"] <= 1
    assert all(math.isfinite(v) and v > 0 for v in result["per_frame_ms"].values())
