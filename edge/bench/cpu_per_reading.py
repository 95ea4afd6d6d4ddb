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

import time
from pathlib import Path
from typing import Any

import zmq

from edge.bench.gateway_procs import (
    gateway_status,
    running,
    start_gateway,
    start_simulator,
    wait_for_port,
    write_bench_config,
)
from edge.bench.procfs import proc_cpu_s, proc_memory
from edge.config.resolve import load_config

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
    """The gateway's CPU over a ``duration_s`` window after ``warmup_s``, ``devices`` x 40 values every ``poll_s``."""
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
                if spec.publish_endpoint is None:
                    raise RuntimeError(f"{config}: the benchmark gateway needs a publish endpoint")
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
