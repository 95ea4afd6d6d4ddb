"""Shared pieces of the benchmarks: results and tables; configurations and process control from ``edge.bench``.

Every benchmark runs real parts: pymodbus servers of the simulated mine on 127.0.0.1 (free ports), real ptys,
real SQLite in a temporary directory, and the gateway as its own process where its CPU or memory is measured.
Nothing here asserts a target: the figures are printed and written to ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from edge.bench.gateway_procs import (
    BENCH_PROFILE,
    METHANE_POINT,
    POINTS_PER_DEVICE,
    RELAY_DEVICE,
    SIM_METHANE_ALARM,
    SIM_METHANE_NORMAL,
    bench_profile,
    control,
    free_tcp_port,
    gateway_status,
    python_env,
    running,
    spawn,
    start_gateway,
    start_simulator,
    stop_process,
    wait_for_path,
    wait_for_port,
    write_bench_config,
)
from edge.bench.procfs import proc_cpu_s, proc_memory
from edge.bench.stats import percentile
from edge.bench.tables import markdown_table

__all__ = [
    "BENCH_PROFILE",
    "EXAMPLE_CONFIG",
    "METHANE_POINT",
    "NOISE_NOTE",
    "POINTS_PER_DEVICE",
    "RELAY_DEVICE",
    "REPO",
    "RESULTS_DIR",
    "SIM_METHANE_ALARM",
    "SIM_METHANE_NORMAL",
    "bench_profile",
    "control",
    "example_config_copy",
    "free_tcp_port",
    "gateway_status",
    "machine",
    "markdown_table",
    "percentile",
    "proc_cpu_s",
    "proc_memory",
    "python_env",
    "running",
    "spawn",
    "start_gateway",
    "start_simulator",
    "stop_process",
    "wait_for_path",
    "wait_for_port",
    "write_bench_config",
    "write_result",
]

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "benchmarks" / "results"
EXAMPLE_CONFIG = REPO / "deploy" / "examples" / "demo-mine.yaml"


def example_config_copy(directory: Path) -> Path:
    """The example config with free ports, its journal and RS-485 pty link inside ``directory``."""
    config = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    # These benchmarks measure the gateway spine (issue 2's targets); the location model is measured by
    # benchmarks/inference_latency.py, and its RSS with onnxruntime loaded is reported there.
    config.pop("localization", None)
    # The status page's map needs the location model's layout; the page is not part of the spine either.
    config.pop("status_page", None)
    config["gateway"]["data_dir"] = str(directory / "data")
    config["gateway"]["publish"] = f"tcp://127.0.0.1:{free_tcp_port()}"
    config["gateway"]["control"] = f"tcp://127.0.0.1:{free_tcp_port()}"
    for bus in config["buses"]:
        if bus["type"] == "tcp":
            bus["port"] = free_tcp_port()
        else:
            bus["port"] = str(directory / f"tty-{bus['id']}")
    path = directory / "demo-mine.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


# ---- figures ------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }


def write_result(name: str, result: Mapping[str, Any], *, results_dir: Path | None = None) -> Path:
    """``benchmarks/results/<name>.json`` (or ``results_dir``), with the machine it ran on."""
    directory = results_dir or RESULTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    body = {"benchmark": name, "machine": machine(), "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    body.update(result)
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return path


NOISE_NOTE = "One run on a shared machine: figures are noisy; compare runs on the target hardware, not across hosts."
