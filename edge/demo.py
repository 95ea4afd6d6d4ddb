"""``make demo``: the simulated mine and the gateway as two real processes, watched live in the terminal.

The simulator serves Modbus TCP on loopback and Modbus RTU on a pseudo-terminal; the gateway polls them
exactly as it would poll field devices, raises alarms and writes the relay coils, and this view shows
the gateway's PUB stream plus every coil write the simulated relay module receives.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from edge.config.issues import ConfigError
from edge.config.resolve import LoadedConfig, load_config
from edge.config.resolved import BusKind
from edge.control import ControlError, request
from edge.sim.scenario_base import ScenarioError
from edge.sim.scenarios import make_scenario
from edge.watch import watch

STARTUP_TIMEOUT_S = 20.0


class CoilTail:
    """Follows the simulator's JSON-lines coil log and prints relay changes."""

    def __init__(self, path: Path, loaded: LoadedConfig) -> None:
        self.path = path
        self.offset = 0
        self.names = {(o.device_id, o.coil): o for o in loaded.spec.outputs}
        self.last: dict[tuple[str, int], bool] = {}
        self.trips = 0

    def poll(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("r", encoding="utf-8") as handle:
            handle.seek(self.offset)
            for line in handle:
                if not line.endswith("\n"):
                    break
                self.offset += len(line.encode())
                self._show(json.loads(line))

    def _show(self, record: dict[str, Any]) -> None:
        key = (str(record["device_id"]), int(record["coil"]))
        value = bool(record["value"])
        if self.last.get(key) == value:
            return
        self.last[key] = value
        output = self.names.get(key)
        name = output.name if output else f"coil {key[1]}"
        if output is not None and output.fail_safe:
            meaning = "energized (normal)" if value else "DE-ENERGIZED"
            if output.name == "power_trip" and not value:
                meaning += ": section power TRIPPED"
                self.trips += 1
        else:
            meaning = "ON" if value else "off"
        stamp = time.strftime("%H:%M:%S", time.gmtime(float(record.get("t_wall", time.time()))))
        print(f"{stamp}Z RELAY       {name:<12} device {key[0]} coil {key[1]} -> {meaning}", flush=True)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _endpoints_in_use(loaded: LoadedConfig) -> list[str]:
    """Loopback TCP ports the demo will bind that something else already holds."""
    wanted: list[tuple[str, int]] = [(b.host, b.tcp_port) for b in loaded.spec.buses if b.kind is BusKind.TCP]
    for endpoint in (loaded.spec.publish_endpoint, loaded.spec.control_endpoint):
        if endpoint and endpoint.startswith("tcp://"):
            host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
            wanted.append((host, int(port)))
    return [f"{host}:{port}" for host, port in wanted if _port_open(host, port)]


def _wait_for_simulator(loaded: LoadedConfig, sim: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if sim.poll() is not None:
            raise RuntimeError(f"the simulator exited with code {sim.returncode}; see var/demo/sim.log")
        ready = all(
            Path(b.port).exists() if b.kind is BusKind.RTU else _port_open(b.host, b.tcp_port)
            for b in loaded.spec.buses
        )
        if ready:
            return
        time.sleep(0.2)
    raise RuntimeError("the simulator did not open its buses within 20 s; see var/demo/sim.log")


def _operator_steps(loaded: LoadedConfig, tail: CoilTail) -> None:
    """Show what the section foreman does next: acknowledge, then reset the latched trip once gas is clear."""
    for action in ("ack", "reset"):
        print(f"\n$ minegate alarms {action} {loaded.spec.source_file}   # as the section foreman", flush=True)
        try:
            reply = request(loaded.spec.control_endpoint, {"cmd": action, "alarm_id": None, "user": "demo-foreman"})
        except ControlError as exc:
            print(f"  {exc}", flush=True)
            return
        if not reply.get("ok"):
            print(f"  refused: {reply.get('error')}", flush=True)
        for event in reply.get("events", []):
            print(f"  {event['alarm_id']}: {event['transition']} -> {event['state']}", flush=True)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            tail.poll()
            time.sleep(0.1)


def _show_muster(loaded: LoadedConfig) -> None:
    """The rescue list as the surface would see it after a roof fall: the top of `minegate muster`."""
    print(f"\n$ minegate muster {loaded.spec.source_file}   # where is every miner", flush=True)
    try:
        reply = request(loaded.spec.control_endpoint, {"cmd": "muster"})
    except ControlError as exc:
        print(f"  {exc}", flush=True)
        return
    if not reply.get("ok"):
        print(f"  {reply.get('error')}", flush=True)
        return
    for m in reply["miners"][:8]:
        conf = "-" if m["confidence"] is None else f"{m['confidence']:.2f}"
        print(
            f"  {m['miner_id']:<6} {m['role']:<11} unheard {m['since_seen_s']:>4.0f} s  last {m['last_pillar']:>5}  "
            f"predicted {m['predicted_pillar'] or '-':>5} ({conf})",
            flush=True,
        )
    if len(reply["miners"]) > 8:
        print(f"  ... {len(reply['miners']) - 8} more", flush=True)


def _stop(process: subprocess.Popen[bytes], name: str) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop on SIGTERM; killing it", file=sys.stderr)
            process.kill()
            process.wait()


def run_demo(config: Path, *, scenario: str, time_scale: float) -> int:
    try:
        loaded = load_config(config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        duration_s = make_scenario(scenario, loaded.spec, time_scale=time_scale).duration_s
    except (ScenarioError, FileNotFoundError) as exc:
        print(f"demo cannot start: {exc}", file=sys.stderr)
        return 2
    busy = _endpoints_in_use(loaded)
    if busy:
        print(
            f"demo cannot start: {', '.join(busy)} already in use (another `minegate demo`, `sim` or `run` with "
            "this config?); stop it and try again",
            file=sys.stderr,
        )
        return 1
    data_dir = Path(loaded.spec.data_dir)
    # A demo starts from a clean journal so that it shows this run's alarms only.
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    coil_log = data_dir / "coils.jsonl"
    python = sys.executable
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    print(
        f"minegate demo: scenario {scenario!r} for {duration_s:.0f} s on {config} (logs in {data_dir}); Ctrl-C ends it",
        flush=True,
    )
    with (data_dir / "sim.log").open("wb") as sim_log, (data_dir / "gateway.log").open("wb") as gw_log:
        sim = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                python,
                "-m",
                "edge",
                "sim",
                str(config),
                "--scenario",
                scenario,
                "--time-scale",
                str(time_scale),
                "--coil-log",
                str(coil_log),
                *(["--crew", "12"] if loaded.spec.localization is not None else []),
                # The simulator outlives the gateway, so the gateway's shutdown can still reach the relays.
                "--duration",
                "inf",
            ],
            stdout=sim_log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        gateway: subprocess.Popen[bytes] | None = None
        try:
            _wait_for_simulator(loaded, sim)
            gateway = subprocess.Popen(  # noqa: S603
                [python, "-m", "edge", "run", str(config), "--log-level", "info"],
                stdout=gw_log,
                stderr=subprocess.STDOUT,
                env=env,
            )
            tail = CoilTail(coil_log, loaded)
            alarms: list[dict[str, Any]] = []
            diagnostic_ids = {p.point_id for d in loaded.spec.devices for p in d.points if p.diagnostic}

            def should_stop() -> bool:
                tail.poll()
                return sim.poll() is not None or (gateway is not None and gateway.poll() is not None)

            if loaded.spec.publish_endpoint is None:
                raise RuntimeError("the demo config must set gateway.publish")
            watch(
                loaded.spec.publish_endpoint,
                diagnostic=diagnostic_ids.__contains__,
                on_alarm=alarms.append,
                should_stop=should_stop,
                duration_s=duration_s,
                table_every_s=5.0,
            )
            tail.poll()
            if gateway.poll() is None and alarms:
                _operator_steps(loaded, tail)
            if gateway.poll() is None and loaded.spec.localization is not None:
                _show_muster(loaded)
        except RuntimeError as exc:
            print(f"demo failed: {exc}", file=sys.stderr)
            return 1
        finally:
            if gateway is not None:
                _stop(gateway, "gateway")
            _stop(sim, "simulator")
    raised = {(a["signal"], a["source"]) for a in alarms if a["transition"] == "activated"}
    print(
        f"\ndemo finished: {len(alarms)} alarm transitions, {len(raised)} conditions raised, "
        f"{tail.trips} power trip(s). Journal: {data_dir / 'alarms.sqlite'}"
    )
    if gateway is not None and gateway.returncode not in (0, -signal.SIGTERM):
        print(
            f"the gateway exited with code {gateway.returncode}; see {data_dir / 'gateway.log'}",
            file=sys.stderr,
        )
        return 1
    return 0
