"""The simulation benchmark runs on the tiny mine as its own process and leaves a complete JSON result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_benchmark_smoke(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    out = tmp_path / "table.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.dtn_simulation",
            "--tiny",
            "--nodes",
            "3",
            "--results-dir",
            str(tmp_path),
            "--out",
            str(out),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "|---" in done.stdout
    result = json.loads((tmp_path / "dtn_simulation.json").read_text(encoding="utf-8"))
    assert result["benchmark"] == "dtn_simulation"
    assert len(result["runs"]) == 6  # 1 size x 3 policies x 2 scenarios
    for run in result["runs"]:
        assert run["sink_redelivered"] == 0
        assert 0 <= run["overall"]["delivery_probability"] <= 1
    assert "alarm delivery probability" in out.read_text(encoding="utf-8")
