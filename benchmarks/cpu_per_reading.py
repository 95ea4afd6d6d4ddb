"""Gateway CPU seconds per 1,000 readings: 10 Modbus TCP devices x 40 values polled at 1 s (400 readings/s).

The simulator (``python -m edge sim``, scenario ``normal_shift``: every value moves with noise) and the gateway
(``python -m edge run``: health checks, statutory rules on one methane head per device, the SQLite alarm journal
task, the PUB stream and the control socket all on) run as two separate processes, so only the gateway's own
CPU is counted. A subscriber in this process drains the PUB stream as a display would.

After a warm-up, the gateway's CPU time (user + system of all its threads, from /proc/<pid>/stat) and its reading
counter (``readings_seen`` over the control socket) are sampled at the start and end of the measured window:
CPU s per 1,000 readings = delta CPU / delta readings x 1000. RSS (current and peak) is read at the end.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import zmq

from benchmarks._common import (
    NOISE_NOTE,
    gateway_status,
    markdown_table,
    proc_cpu_s,
    proc_memory,
    running,
    start_gateway,
    start_simulator,
    wait_for_port,
    write_bench_config,
    write_result,
)
from edge.config.resolve import load_config

NAME = "cpu_per_reading"
TARGET_CPU_S_PER_1000 = 0.035


def _drain(sub: zmq.Socket[bytes], until_mono: float) -> int:
    """Receive PUB messages until ``until_mono``; returns how many arrived."""
    received = 0
    poller = zmq.Poller()
    poller.register(sub, zmq.POLLIN)
    while (left := until_mono - time.monotonic()) > 0:
        if poller.poll(timeout=max(1, int(left * 1000))):
            while True:
                try:
                    sub.recv_multipart(flags=zmq.NOBLOCK)
                except zmq.Again:
                    break
                received += 1
    return received


def measure(duration_s: float, warmup_s: float, devices: int, poll_s: float, work: Path) -> dict[str, Any]:
    config = write_bench_config(work, devices=devices, poll=f"{poll_s:g}s", relays=True)
    spec = load_config(config).spec
    bus_port = spec.buses[0].tcp_port
    sim = start_simulator(config, work / "sim.log")
    gateway = None
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    try:
        with running(sim):
            wait_for_port(bus_port, sim)
            gateway = start_gateway(config, work / "gateway.log")
            with running(gateway):
                assert spec.publish_endpoint is not None
                sub.connect(spec.publish_endpoint)
                gateway_status(spec.control_endpoint, gateway)
                _drain(sub, time.monotonic() + warmup_s)
                status0 = gateway_status(spec.control_endpoint, gateway)
                cpu0, sim_cpu0, t0 = proc_cpu_s(gateway.pid), proc_cpu_s(sim.pid), time.monotonic()
                published = _drain(sub, t0 + duration_s)
                status1 = gateway_status(spec.control_endpoint, gateway)
                cpu1, sim_cpu1, t1 = proc_cpu_s(gateway.pid), proc_cpu_s(sim.pid), time.monotonic()
                memory = proc_memory(gateway.pid)
                skipped = sum(int(c.get("skipped_polls", 0)) for c in status1["devices"].values())
                bad = sum(1 for p in status1["points"].values() if p["quality"] != "good")
                if gateway.poll() is not None:
                    raise RuntimeError(f"the gateway exited during the run (code {gateway.returncode})")
    finally:
        sub.close(linger=0)
        context.term()
    readings = int(status1["readings_seen"]) - int(status0["readings_seen"])
    elapsed = t1 - t0
    cpu = cpu1 - cpu0
    return {
        "devices": devices,
        "values_per_device": 40,
        "poll_interval_s": poll_s,
        "offered_readings_per_s": devices * 40 / poll_s,
        "window_s": elapsed,
        "warmup_s": warmup_s,
        "readings": readings,
        "readings_per_s": readings / elapsed,
        "pub_messages_received": published,
        "gateway_cpu_s": cpu,
        "gateway_cpu_fraction_of_one_core": cpu / elapsed,
        "cpu_s_per_1000_readings": cpu / readings * 1000.0 if readings else float("nan"),
        "target_cpu_s_per_1000_readings": TARGET_CPU_S_PER_1000,
        "simulator_cpu_s": sim_cpu1 - sim_cpu0,
        "gateway_rss_bytes": memory["rss"],
        "gateway_peak_rss_bytes": memory["peak_rss"],
        "skipped_polls": skipped,
        "points_not_good_at_end": bad,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="measured window, seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of polling before the window")
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--poll", type=float, default=1.0, help="poll interval, seconds")
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="minegate-bench-") as tmp:
        result = measure(args.duration, args.warmup, args.devices, args.poll, Path(tmp))
    path = write_result(NAME, result, results_dir=args.results_dir)
    mib = 1024 * 1024
    print(
        f"gateway CPU per reading: {result['devices']} Modbus TCP devices x 40 values every "
        f"{result['poll_interval_s']:g} s, health + rules + alarm journal + PUB on, {result['window_s']:.0f} s window"
    )
    print(
        markdown_table(
            ["figure", "value"],
            [
                [
                    "readings/s achieved (offered)",
                    f"{result['readings_per_s']:.1f} ({result['offered_readings_per_s']:g})",
                ],
                ["gateway CPU s per 1,000 readings", f"{result['cpu_s_per_1000_readings']:.4f}"],
                ["target CPU s per 1,000 readings", f"{TARGET_CPU_S_PER_1000}"],
                ["gateway CPU, fraction of one core", f"{result['gateway_cpu_fraction_of_one_core']:.3f}"],
                [
                    "gateway RSS at end / peak, MiB",
                    f"{result['gateway_rss_bytes'] / mib:.1f} / {result['gateway_peak_rss_bytes'] / mib:.1f}",
                ],
                ["PUB messages received", result["pub_messages_received"]],
                [
                    "skipped polls / points not good at end",
                    f"{result['skipped_polls']} / {result['points_not_good_at_end']}",
                ],
                ["simulator CPU s (not counted)", f"{result['simulator_cpu_s']:.2f}"],
            ],
        )
    )
    print(NOISE_NOTE)
    print(f"result: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
