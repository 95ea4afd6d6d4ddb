"""Resident memory of an idle gateway: the example config polled against the simulator, and with buses at nothing.

Each case starts the gateway as its own process (``python -m edge run``) on a copy of
``deploy/examples/demo-mine.yaml`` with free ports and a temporary journal. "Idle" is normal polling of the
example's 7 devices with no alarm standing (scenario ``normal_shift`` in a separate simulator process), and
separately a gateway whose RS-485 pty and TCP port do not exist (reconnect back-off only). RSS (VmRSS in
/proc/<pid>/status) is sampled every 0.25 s for ``--duration`` seconds after the control socket first answers;
the figures are the peak (max of the samples and the kernel's VmHWM high-water mark) and the steady value
(median of the last third of the samples). For reference also: a bare interpreter, and a process that only
imports the runtime (``edge.app``, ``edge.cli``, ``edge.config.resolve`` and their dependencies: pymodbus,
pyzmq, pydantic, ...).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import (
    NOISE_NOTE,
    example_config_copy,
    gateway_status,
    markdown_table,
    percentile,
    proc_memory,
    python_env,
    running,
    start_gateway,
    start_simulator,
    wait_for_path,
    wait_for_port,
    write_result,
)
from edge.config.resolve import load_config
from edge.config.resolved import BusKind

NAME = "idle_rss"
TARGET_RSS_MIB = 80.0
MIB = 1024 * 1024
_SAMPLE_PERIOD_S = 0.25

_SELF_RSS = """
import json, sys
{imports}
fields = {{}}
with open("/proc/self/status", encoding="utf-8") as status:
    for line in status:
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
print(json.dumps(fields))
"""


def _child_rss(imports: str) -> dict[str, int]:
    """VmRSS / VmHWM of a fresh interpreter after running ``imports``."""
    out = subprocess.run(
        [sys.executable, "-c", _SELF_RSS.format(imports=imports)],
        check=True,
        capture_output=True,
        text=True,
        env=python_env(),
    )
    fields: dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
    return fields


def _sample_gateway(config: Path, log: Path, duration_s: float) -> dict[str, Any]:
    spec = load_config(config).spec
    gateway = start_gateway(config, log)
    with running(gateway):
        gateway_status(spec.control_endpoint, gateway)
        samples: list[int] = []
        deadline = time.monotonic() + duration_s
        while time.monotonic() < deadline:
            samples.append(proc_memory(gateway.pid)["rss"])
            time.sleep(_SAMPLE_PERIOD_S)
        status = gateway_status(spec.control_endpoint, gateway)
        hwm = proc_memory(gateway.pid)["peak_rss"]
        if gateway.poll() is not None:
            raise RuntimeError(f"the gateway exited during the run (code {gateway.returncode})")
    tail = samples[-max(1, len(samples) // 3) :]
    return {
        "peak_rss_bytes": max([*samples, hwm]),
        "steady_rss_bytes": int(percentile([float(s) for s in tail], 50)),
        "samples": len(samples),
        "readings_seen": int(status["readings_seen"]),
        "buses_connected": {bid: bool(b["connected"]) for bid, b in status["buses"].items()},
    }


def measure(duration_s: float, work: Path) -> dict[str, Any]:
    bare = _child_rss("")
    imported = _child_rss("import edge.app, edge.cli, edge.config.resolve, edge.logs")

    live_dir = work / "live"
    live_dir.mkdir()
    config = example_config_copy(live_dir)
    spec = load_config(config).spec
    sim = start_simulator(config, live_dir / "sim.log")
    with running(sim):
        for bus in spec.buses:
            if bus.kind is BusKind.TCP:
                wait_for_port(bus.tcp_port, sim)
            else:
                wait_for_path(Path(bus.port), sim)
        live = _sample_gateway(config, live_dir / "gateway.log", duration_s)

    dead_dir = work / "nothing"
    dead_dir.mkdir()
    dead = _sample_gateway(example_config_copy(dead_dir), dead_dir / "gateway.log", duration_s)
    return {
        "duration_s": duration_s,
        "target_rss_bytes": int(TARGET_RSS_MIB * MIB),
        "bare_interpreter": {"rss_bytes": bare.get("VmRSS", 0), "peak_rss_bytes": bare.get("VmHWM", 0)},
        "import_only": {"rss_bytes": imported.get("VmRSS", 0), "peak_rss_bytes": imported.get("VmHWM", 0)},
        "idle_against_simulator": live,
        "idle_buses_at_nothing": dead,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of sampling per case")
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="minegate-bench-") as tmp:
        result = measure(args.duration, Path(tmp))
    path = write_result(NAME, result, results_dir=args.results_dir)
    live, dead = result["idle_against_simulator"], result["idle_buses_at_nothing"]
    print(f"idle gateway RSS, example config, {result['duration_s']:g} s per case")
    print(
        markdown_table(
            ["case", "steady MiB", "peak MiB"],
            [
                ["bare interpreter", result["bare_interpreter"]["rss_bytes"] / MIB, "-"],
                [
                    "import runtime only",
                    result["import_only"]["rss_bytes"] / MIB,
                    result["import_only"]["peak_rss_bytes"] / MIB,
                ],
                [
                    f"gateway vs simulator ({live['readings_seen']} readings)",
                    live["steady_rss_bytes"] / MIB,
                    live["peak_rss_bytes"] / MIB,
                ],
                ["gateway, buses at nothing", dead["steady_rss_bytes"] / MIB, dead["peak_rss_bytes"] / MIB],
            ],
        )
    )
    print(f"\ntarget: idle gateway RSS <= {TARGET_RSS_MIB:g} MB")
    print(NOISE_NOTE)
    print(f"result: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
