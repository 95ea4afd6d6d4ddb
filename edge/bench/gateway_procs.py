"""Gateways and simulated mines as real processes for the benchmarks: generated configurations, start, readiness,
status over the control socket, and stop.

Children are started as ``python -m edge ...`` with this interpreter, so they work from a source checkout and
from an installed gateway alike (the package's own source root is put first on ``PYTHONPATH``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from edge.control import ControlError, request

SOURCE_ROOT = Path(__file__).resolve().parents[2]

BENCH_PROFILE = "bench_ai40"
POINTS_PER_DEVICE = 40
RELAY_DEVICE = "relays"
METHANE_POINT = "ch4_dev1"
SIM_METHANE_NORMAL = 0.5  # %, well under the 1.0 % alert of methane_working_place
SIM_METHANE_ALARM = 2.0  # %, over the 1.5 % alarm that drops power_trip


def free_tcp_port() -> int:
    """A port the kernel just handed out on loopback (bound to 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def bench_profile() -> dict[str, Any]:
    """A 40-channel analog input module: input registers 30001-30040, uint16, 0.01 units per count."""
    points = {
        f"ch{i:02d}": {
            "register": f"{30000 + i}",
            "type": "uint16",
            "scale": 0.01,
            "unit": "m/s",
            "label": f"Channel {i}",
            "range": [0, 600],
        }
        for i in range(1, POINTS_PER_DEVICE + 1)
    }
    return {
        "name": BENCH_PROFILE,
        "title": "Benchmark 40-channel analog input module",
        "manual": "benchmark layout: input registers 30001-30040, value = raw * 0.01",
        "defaults": {"poll": "1s", "max_gap": 8},
        "poll_all_points": True,
        "points": points,
    }


def write_bench_config(
    directory: Path,
    *,
    devices: int,
    poll: str = "1s",
    tcp_port: int | None = None,
    relays: bool = True,
    publish: bool = True,
) -> Path:
    """A gateway on one Modbus TCP bus: ``devices`` x 40-channel modules (+ a relay module), free ports.

    Each module's first channel is a methane head under ``methane_working_place`` (alert 1.0 %, alarm 1.5 %
    -> power_trip), so rules and the alarm journal have work on every device; the other 39 channels are plain
    measurements with health checks (range, stale, stuck). The journal lives in ``directory/data``.
    """
    profiles = directory / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    (profiles / f"{BENCH_PROFILE}.yaml").write_text(yaml.safe_dump(bench_profile(), sort_keys=False), encoding="utf-8")
    port = tcp_port or free_tcp_port()
    device_list: list[dict[str, Any]] = [
        {
            "id": f"dev{n}",
            "bus": "lan",
            "unit": n,
            "profile": BENCH_PROFILE,
            "location": f"panel {n}",
            "poll": poll,
            "points": {
                "ch01": {
                    "id": f"ch4_dev{n}",
                    "label": "Methane",
                    "unit": "%",
                    "range": [0, 5],
                    "rule": "methane_working_place",
                }
            },
        }
        for n in range(1, devices + 1)
    ]
    config: dict[str, Any] = {
        "gateway": {
            "id": "gw-bench",
            "site": "benchmark",
            "jurisdiction": "us_msha_coal",
            "data_dir": str(directory / "data"),
            "publish": f"tcp://127.0.0.1:{free_tcp_port()}" if publish else None,
            "control": f"tcp://127.0.0.1:{free_tcp_port()}",
            "profiles_dir": str(profiles),
        },
        "buses": [{"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": port, "timeout": "500ms"}],
        "devices": device_list,
    }
    if relays:
        device_list.append(
            {"id": RELAY_DEVICE, "bus": "lan", "unit": 100, "profile": "generic_relay8", "location": "power centre"}
        )
        config["outputs"] = {
            "siren": {"device": RELAY_DEVICE, "coil": 0},
            "beacon": {"device": RELAY_DEVICE, "coil": 1},
            "power_trip": {"device": RELAY_DEVICE, "coil": 2, "fail_safe": True},
            "heartbeat": {"device": RELAY_DEVICE, "coil": 7, "fail_safe": True},
        }
    path = directory / "gateway.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


# ---- processes ----------------------------------------------------------------------------------------


def python_env() -> dict[str, str]:
    """Environment for child processes: this package's source root importable, no buffering surprises."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SOURCE_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def spawn(args: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``python args...`` with stdout and stderr in ``log_path``."""
    log = log_path.open("wb")
    try:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, *args], stdout=log, stderr=subprocess.STDOUT, env=python_env(), cwd=SOURCE_ROOT
        )
    finally:
        log.close()  # the child holds its own copy


def start_simulator(config: Path, log_path: Path, *, scenario: str = "normal_shift") -> subprocess.Popen[bytes]:
    """``minegate sim`` for ``config``, playing ``scenario`` until stopped."""
    return spawn(
        ["-m", "edge", "sim", str(config), "--scenario", scenario, "--duration", "inf", "--log-level", "warning"],
        log_path,
    )


def start_gateway(config: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """``minegate run`` for ``config`` (warnings and errors logged)."""
    return spawn(["-m", "edge", "run", str(config), "--log-level", "warning"], log_path)


def wait_for_port(port: int, proc: subprocess.Popen[bytes], *, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before opening port {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:g} s")


def wait_for_path(path: Path, proc: subprocess.Popen[bytes], *, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before creating {path}")
        if path.exists():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{path} did not appear within {timeout_s:g} s")


def control(endpoint: str, payload: Mapping[str, Any], *, timeout_s: float = 3.0) -> dict[str, Any]:
    reply = request(endpoint, dict(payload), timeout_s=timeout_s)
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error")))
    return reply


def gateway_status(endpoint: str, proc: subprocess.Popen[bytes], *, timeout_s: float = 20.0) -> dict[str, Any]:
    """The gateway's ``status`` reply, waiting for its control socket to answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with code {proc.returncode}")
        try:
            return control(endpoint, {"cmd": "status"}, timeout_s=1.0)
        except ControlError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stop_process(proc: subprocess.Popen[bytes], *, timeout_s: float = 10.0) -> None:
    """SIGTERM (the gateway leaves its outputs safe), then SIGKILL if it does not exit."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)


@contextlib.contextmanager
def running(*procs: subprocess.Popen[bytes]) -> Iterator[None]:
    """Stop the given processes (last started first) however the block ends."""
    try:
        yield
    finally:
        for proc in reversed(procs):
            stop_process(proc)
