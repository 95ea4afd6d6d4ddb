"""``benchmarks/dtn_transfer.py`` runs end to end on tiny sizes and writes complete, finite figures."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_dtn_transfer_benchmark_smoke(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    args = ["--bundles", "200", "--sizes", "200", "--credits", "8", "--hol-bulk", "300", "--hol-alarms", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.dtn_transfer", *args, "--results-dir", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "|---" in done.stdout
    result = json.loads((tmp_path / "dtn_transfer.json").read_text(encoding="utf-8"))
    assert result["benchmark"] == "dtn_transfer"
    (case,) = result["throughput"]
    assert case["bundles"] == 200
    assert case["receiver_stored"] == 200
    assert case["receiver_credit_violations"] == 0
    assert case["max_in_flight"] <= 8
    for key in ("bundles_per_s", "mb_per_s", "elapsed_s"):
        assert math.isfinite(case[key])
        assert case[key] > 0
    (hol,) = result["head_of_line"]
    assert len(hol["per_alarm"]) == 2
    assert hol["max_frames"] <= 1
    assert math.isfinite(hol["ms_to_durable_ack_max"])
    assert hol["ms_to_durable_ack_max"] > 0
