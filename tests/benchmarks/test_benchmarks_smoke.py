"""Each benchmark runs for a few seconds and leaves a JSON result with finite positive figures.

Not a performance test (the figures are not compared with any target): it catches a benchmark that no longer
starts, crashes on the way, or writes an incomplete result. Each runs as its own process, as ``make bench`` does.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(module: str, args: Sequence[str], results: Path, *, timeout_s: float) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args, "--results-dir", str(results)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert done.returncode == 0, f"{module} failed:\n{done.stdout}\n{done.stderr}"
    assert "|---" in done.stdout, f"{module} printed no Markdown table:\n{done.stdout}"
    result: dict[str, Any] = json.loads((results / f"{module}.json").read_text(encoding="utf-8"))
    assert result["benchmark"] == module
    return result


def _positive(result: dict[str, Any], *paths: str) -> None:
    for path in paths:
        value: Any = result
        for key in path.split("."):
            value = value[key]
        assert isinstance(value, int | float), f"{path} = {value!r} is not a number"
        assert math.isfinite(value), f"{path} = {value!r} is not finite"
        assert value > 0, f"{path} = {value!r} is not positive"


def test_alarm_latency_smoke(tmp_path: Path) -> None:
    result = _run("alarm_latency", ["--trials", "2", "--poll", "0.5", "--devices", "2"], tmp_path, timeout_s=60)
    assert result["trials"] == 2
    assert len(result["latencies_s"]) == 2
    _positive(
        result,
        "latency.p50_s",
        "latency.p99_s",
        "latency.max_s",
        "change_to_alarm.p99_s",
        "alarm_to_coil.p99_s",
        "target_p99_s",
    )


def test_bus_time_smoke(tmp_path: Path) -> None:
    result = _run("bus_time", ["--cycles", "2"], tmp_path, timeout_s=60)
    _positive(
        result,
        "requests.planned",
        "requests.naive",
        "model.planned_cycle_s",
        "model.naive_cycle_s",
        "model.ratio",
        "measured.planned.median_s",
        "measured.naive.median_s",
        "measured.ratio",
    )
    assert result["requests"]["planned"] < result["requests"]["naive"]


def test_cpu_per_reading_smoke(tmp_path: Path) -> None:
    result = _run("cpu_per_reading", ["--duration", "4", "--warmup", "1"], tmp_path, timeout_s=60)
    _positive(
        result,
        "readings",
        "readings_per_s",
        "gateway_cpu_s",
        "cpu_s_per_1000_readings",
        "gateway_rss_bytes",
        "gateway_peak_rss_bytes",
        "pub_messages_received",
    )


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads memory figures from /proc")
def test_idle_rss_smoke(tmp_path: Path) -> None:
    result = _run("idle_rss", ["--duration", "2"], tmp_path, timeout_s=60)
    _positive(
        result,
        "bare_interpreter.rss_bytes",
        "import_only.rss_bytes",
        "idle_against_simulator.peak_rss_bytes",
        "idle_against_simulator.steady_rss_bytes",
        "idle_buses_at_nothing.peak_rss_bytes",
        "idle_buses_at_nothing.steady_rss_bytes",
    )
