"""End-to-end alarm latency: a methane value changes in a device's registers -> the power-trip coil is written.

Set-up: 5 simulated Modbus TCP modules x 40 channels (200 points) polled at 1 s, plus a relay module, on one
TCP bus. Channel 1 of every module is a methane head under ``methane_working_place`` (alarm at 1.5 %, latched,
drops the fail-safe ``power_trip`` relay).

How it is measured: the simulated mine (real pymodbus servers on 127.0.0.1) runs in this process, the gateway
runs as its own process (``python -m edge run``), as in production. A trial waits a random fraction of the poll
interval (so the change lands at a random phase of the poll cycle), writes 2.0 % into dev1's methane register
and notes ``time.time()``; the simulated relay module stamps each coil write it receives with ``time.time()``
(its coil log) in the same process, so latency = stamp of the first ``power_trip`` -> de-energized write minus
the change time. No clock crosses a process boundary for the headline figure. The gateway's own alarm
event (PUB stream) gives a split: change -> reading decoded with the alarm raised, and alarm -> coil written.
Between trials methane goes back to 0.5 % and the latched alarm is acknowledged and reset over the control
socket, as a foreman would; the next trial starts once the relay module has been re-energized.

The expected latency is dominated by waiting for the next poll: uniform over 0..poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from pathlib import Path
from typing import Any

import msgpack
import zmq
import zmq.asyncio

from edge.bench.gateway_procs import (
    METHANE_POINT,
    RELAY_DEVICE,
    SIM_METHANE_ALARM,
    SIM_METHANE_NORMAL,
    control,
    gateway_status,
    start_gateway,
    stop_process,
    write_bench_config,
)
from edge.bench.stats import spread
from edge.clock import SystemClock
from edge.config.resolve import load_config
from edge.config.resolved import GatewaySpec
from edge.control import ControlError
from edge.sim.coil_log import CoilLog, CoilWrite
from edge.sim.runner import SimulatedMine
from edge.sim.states import DeviceState

ALARM_ID = f"{METHANE_POINT}:alarm"
_WAIT_STEP_S = 0.002
_TRIAL_TIMEOUT_S = 10.0


class SteadySection:
    """A scenario that holds every channel at a quiet value; the benchmark moves the methane head itself."""

    name = "bench_steady"
    duration_s = float("inf")

    def __init__(self, spec: GatewaySpec) -> None:
        self.values_now: dict[str, float] = {}
        for device in spec.devices:
            for point in device.points:
                if not point.diagnostic:
                    self.values_now[point.point_id] = SIM_METHANE_NORMAL if point.rule else 2.0
        self._device_ids = [d.device_id for d in spec.devices]

    def values(self, t_s: float) -> dict[str, float]:
        del t_s
        return dict(self.values_now)

    def device_states(self, t_s: float) -> dict[str, DeviceState]:
        del t_s
        return dict.fromkeys(self._device_ids, DeviceState.ONLINE)


async def _first_coil_write(
    log: CoilLog, coil: int, value: bool, *, after_wall: float, timeout_s: float = _TRIAL_TIMEOUT_S
) -> CoilWrite:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for write in log.entries(RELAY_DEVICE):
            if write.coil == coil and write.value is value and write.t_wall >= after_wall:
                return write
        await asyncio.sleep(_WAIT_STEP_S)
    raise TimeoutError(f"no write of coil {coil} = {value} at the relay module within {timeout_s:g} s")


class AlarmEvents:
    """Activation events of the benchmark's alarm from the gateway's PUB stream."""

    def __init__(self, context: zmq.asyncio.Context, endpoint: str) -> None:
        self._socket = context.socket(zmq.SUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.SUBSCRIBE, f"alarm.{ALARM_ID}".encode())
        self._socket.connect(endpoint)
        self.activations_wall: list[float] = []

    async def run(self) -> None:
        while True:
            _topic, body = await self._socket.recv_multipart()
            event: dict[str, Any] = msgpack.unpackb(body, raw=False)
            if event.get("transition") == "activated":
                self.activations_wall.append(float(event["t_wall"]))

    def first_after(self, t_wall: float) -> float | None:
        return next((t for t in self.activations_wall if t >= t_wall), None)

    def close(self) -> None:
        self._socket.close(linger=0)


async def _reset_latch(endpoint: str, trip_coil: int, log: CoilLog) -> None:
    """Ack and reset over the control socket until the relay module sees power_trip energized again."""
    deadline = time.monotonic() + _TRIAL_TIMEOUT_S
    while time.monotonic() < deadline:
        asked = time.time()
        for cmd in ("ack", "reset"):
            # Nothing to acknowledge, or the condition has not cleared yet: try again.
            with contextlib.suppress(ControlError):
                await asyncio.to_thread(control, endpoint, {"cmd": cmd, "alarm_id": None, "user": "bench"})
        try:
            await _first_coil_write(log, trip_coil, True, after_wall=asked, timeout_s=0.6)
        except TimeoutError:
            continue
        return
    raise TimeoutError("the latched methane alarm could not be reset")


async def measure(trials: int, poll_s: float, devices: int, work: Path, seed: int) -> dict[str, Any]:
    """``trials`` alarms on ``devices`` x 40 points polled every ``poll_s``; figures in seconds (see the module)."""
    config = write_bench_config(work, devices=devices, poll=f"{poll_s:g}s")
    loaded = load_config(config)
    spec = loaded.spec
    endpoint = spec.control_endpoint
    trip_coil = next(o.coil for o in spec.outputs if o.name == "power_trip")
    publish = spec.publish_endpoint
    if publish is None:
        raise RuntimeError(f"{config}: the benchmark gateway needs a publish endpoint for its alarm events")
    scenario = SteadySection(spec)
    mine = SimulatedMine(spec, scenario, clock=SystemClock())
    rng = random.Random(seed)  # noqa: S311 - the phase of a change in the poll cycle, not a secret
    await mine.start()
    gateway = start_gateway(config, work / "gateway.log")
    zctx = zmq.asyncio.Context()
    events = AlarmEvents(zctx, publish)
    listener = asyncio.create_task(events.run())
    latencies: list[float] = []
    detect: list[float] = []
    actuate: list[float] = []
    try:
        await asyncio.to_thread(gateway_status, endpoint, gateway)
        # The gateway is up once it has energized the fail-safe power-trip relay.
        await _first_coil_write(mine.coil_log, trip_coil, True, after_wall=0.0, timeout_s=20.0)
        await asyncio.sleep(2 * poll_s)  # a few normal cycles first
        methane = mine.device("dev1")
        for _ in range(trials):
            await asyncio.sleep(rng.uniform(0.0, poll_s))
            scenario.values_now[METHANE_POINT] = SIM_METHANE_ALARM
            methane.apply_values({METHANE_POINT: SIM_METHANE_ALARM})
            changed = time.time()
            trip = await _first_coil_write(mine.coil_log, trip_coil, False, after_wall=changed)
            latencies.append(trip.t_wall - changed)
            await asyncio.sleep(0.05)  # the PUB event was sent before the coil write; let it arrive
            raised = events.first_after(changed)
            if raised is not None:
                detect.append(raised - changed)
                actuate.append(trip.t_wall - raised)
            scenario.values_now[METHANE_POINT] = SIM_METHANE_NORMAL
            methane.apply_values({METHANE_POINT: SIM_METHANE_NORMAL})
            await _reset_latch(endpoint, trip_coil, mine.coil_log)
        if gateway.poll() is not None:
            raise RuntimeError(f"the gateway exited during the run (code {gateway.returncode})")
    finally:
        listener.cancel()
        events.close()
        zctx.term()
        await asyncio.to_thread(stop_process, gateway)
        await mine.stop()

    return {
        "trials": len(latencies),
        "points": devices * 40,
        "devices": devices,
        "poll_interval_s": poll_s,
        "target_p99_s": poll_s + 0.1,
        "latency": spread(latencies),
        "change_to_alarm": spread(detect),
        "alarm_to_coil": spread(actuate),
        "latencies_s": latencies,
    }
