"""Modbus requests and bus time per poll cycle on the example config's RS-485 bus: planned vs one read per point.

(a) Model: ``plan_report.bus_load`` (the wire-time model ``minegate check`` prints: characters at the configured
    framing, two 3.5-character silent intervals and the configured device turnaround per transaction).
(b) Measured: the simulated RS-485 devices of the example config served by pymodbus over a real pty pair whose
    bridge holds every chunk for its wire time at 19200 baud (half duplex), polled by a pymodbus RTU client:
    one full cycle = every device's requests one after another, each followed by the bus's configured
    turnaround pause exactly as the gateway's bus owner does. Timed with ``time.perf_counter`` over N cycles
    of each plan, alternating planned and naive cycles so drift hits both alike.

The emulation holds characters for their wire time but has no silent-interval or device-turnaround model
beyond the gateway's own pause; the rest of (b) is real pty, pymodbus framing and event-loop overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pymodbus.client import AsyncModbusSerialClient

from benchmarks._common import NOISE_NOTE, example_config_copy, markdown_table, percentile, write_result
from edge.clock import SystemClock
from edge.config.resolve import load_config
from edge.config.resolved import BusKind, BusSpec, DeviceSpec
from edge.modbus.planner import ReadRequest, Table, plan_one_per_span
from edge.modbus.wire_time import SerialFraming
from edge.plan_report import bus_load, device_plan, device_spans
from edge.sim.runner import SimulatedMine
from edge.sim.scenarios import make_scenario

NAME = "bus_time"
WIRE_BAUD = 19200


async def _read(client: AsyncModbusSerialClient, unit: int, req: ReadRequest) -> None:
    if req.table is Table.COIL:
        response = await client.read_coils(req.address, count=req.count, device_id=unit)
    elif req.table is Table.DISCRETE_INPUT:
        response = await client.read_discrete_inputs(req.address, count=req.count, device_id=unit)
    elif req.table is Table.HOLDING:
        response = await client.read_holding_registers(req.address, count=req.count, device_id=unit)
    else:
        response = await client.read_input_registers(req.address, count=req.count, device_id=unit)
    if response.isError():
        raise RuntimeError(f"unit {unit}: {req.table.value} {req.address}+{req.count} answered {response}")


async def _cycle(
    client: AsyncModbusSerialClient, plans: Sequence[tuple[DeviceSpec, list[ReadRequest]]], turnaround_s: float
) -> float:
    started = time.perf_counter()
    for device, requests in plans:
        for req in requests:
            await _read(client, device.unit_id, req)
            if turnaround_s > 0:
                await asyncio.sleep(turnaround_s)  # as ModbusBus._turnaround does on RTU buses
    return time.perf_counter() - started


async def measure(cycles: int, work: Path) -> dict[str, Any]:
    config = example_config_copy(work)
    loaded = load_config(config)
    spec = loaded.spec
    bus: BusSpec = next(b for b in spec.buses if b.kind is BusKind.RTU)
    devices = spec.devices_on(bus.bus_id)
    model = bus_load(bus, devices)
    planned = [(d, device_plan(d)) for d in devices]
    naive = [(d, plan_one_per_span(device_spans(d))) for d in devices]

    framing = SerialFraming(WIRE_BAUD, data_bits=bus.data_bits, parity=bus.parity, stop_bits=bus.stop_bits)
    scenario = make_scenario("normal_shift", spec)
    mine = SimulatedMine(spec, scenario, clock=SystemClock(), wire_framing={bus.bus_id: framing})
    await mine.start()
    client = AsyncModbusSerialClient(
        mine.rtu_port(bus.bus_id),
        baudrate=WIRE_BAUD,
        bytesize=bus.data_bits,
        parity=bus.parity,
        stopbits=bus.stop_bits,
        timeout=2.0,
        retries=0,
    )
    times: dict[str, list[float]] = {"planned": [], "naive": []}
    try:
        if not await client.connect():
            raise RuntimeError(f"cannot open {mine.rtu_port(bus.bus_id)}")
        for _ in range(2):  # warm-up: first frames, lazy imports inside pymodbus
            await _cycle(client, planned, bus.turnaround_s)
            await _cycle(client, naive, bus.turnaround_s)
        for _ in range(cycles):
            times["planned"].append(await _cycle(client, planned, bus.turnaround_s))
            times["naive"].append(await _cycle(client, naive, bus.turnaround_s))
    finally:
        client.close()
        await mine.stop()

    def summary(values: list[float]) -> dict[str, float]:
        return {"median_s": percentile(values, 50), "p90_s": percentile(values, 90), "min_s": min(values)}

    measured_planned = summary(times["planned"])
    measured_naive = summary(times["naive"])
    return {
        "bus": bus.bus_id,
        "baudrate": WIRE_BAUD,
        "framing": f"{bus.data_bits}{bus.parity}{bus.stop_bits}",
        "turnaround_s": bus.turnaround_s,
        "devices": [d.device_id for d in devices],
        "points": sum(len(d.points) for d in devices),
        "cycles": cycles,
        "requests": {"planned": model.planned_requests, "naive": model.naive_requests},
        "model": {
            "planned_cycle_s": model.planned_cycle_s,
            "naive_cycle_s": model.naive_cycle_s,
            "ratio": model.planned_cycle_s / model.naive_cycle_s,
        },
        "measured": {
            "planned": measured_planned,
            "naive": measured_naive,
            "ratio": measured_planned["median_s"] / measured_naive["median_s"],
        },
        "request_ratio": model.planned_requests / model.naive_requests,
        "target_ratio": 1 / 3,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=30, help="timed cycles of each plan")
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="minegate-bench-") as tmp:
        result = asyncio.run(measure(args.cycles, Path(tmp)))
    path = write_result(NAME, result, results_dir=args.results_dir)
    ms = 1000.0
    model, measured, requests = result["model"], result["measured"], result["requests"]
    print(
        f"bus time per poll cycle, bus {result['bus']} ({len(result['devices'])} devices, {result['points']} points), "
        f"{result['baudrate']} baud {result['framing']}, turnaround {result['turnaround_s'] * ms:g} ms"
    )
    print(
        markdown_table(
            ["", "requests", "model ms", "measured median ms", "measured p90 ms"],
            [
                [
                    "planned",
                    requests["planned"],
                    model["planned_cycle_s"] * ms,
                    measured["planned"]["median_s"] * ms,
                    measured["planned"]["p90_s"] * ms,
                ],
                [
                    "one read per point",
                    requests["naive"],
                    model["naive_cycle_s"] * ms,
                    measured["naive"]["median_s"] * ms,
                    measured["naive"]["p90_s"] * ms,
                ],
                [
                    "ratio planned/naive",
                    f"{result['request_ratio']:.3f}",
                    f"{model['ratio']:.3f}",
                    f"{measured['ratio']:.3f}",
                    "",
                ],
            ],
        )
    )
    print(f"\ntarget: planned bus time <= 1/3 ({1 / 3:.3f}) of one read per point; {result['cycles']} cycles each")
    print(NOISE_NOTE)
    print(f"result: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
