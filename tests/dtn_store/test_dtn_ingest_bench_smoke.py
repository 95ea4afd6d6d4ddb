"""The DTN ingest benchmark runs end to end with tiny sizes and writes finite positive figures (not a target)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def test_dtn_ingest_benchmark_smoke(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    args = ["--bundles", "60", "--single", "10", "--producers", "4", "--recovery-counts", "20,50"]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.dtn_ingest", *args, "--results-dir", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"dtn_ingest failed:\n{done.stdout}\n{done.stderr}"
    assert "|---" in done.stdout
    result: dict[str, Any] = json.loads((tmp_path / "dtn_ingest.json").read_text(encoding="utf-8"))
    assert result["benchmark"] == "dtn_ingest"
    assert len(result["ingest"]) == 4
    for case in result["ingest"]:
        assert case["stored"] == case["bundles"]
        for key in ("bundles_per_s", "mb_per_s", "put_p50_ms", "rss_mib"):
            assert math.isfinite(case[key]), (case["mode"], key, case[key])
            assert case[key] > 0, (case["mode"], key, case[key])
    assert [r["reopened_count"] for r in result["recovery"]] == [20, 50]
    assert all(r["recovery_s"] > 0 for r in result["recovery"])
