"""ModbusBus on RTU framing over a real pseudo-terminal pair, with a pymodbus serial server at the far end."""

from __future__ import annotations

import asyncio
import os
import tty
from collections.abc import AsyncIterator

import pytest
from modbus_sim_server import sim_device
from pymodbus.server import ModbusSerialServer

from edge.clock import SystemClock
from edge.config.resolved import BusKind, BusSpec, DeviceSpec, PointSpec
from edge.modbus.codec import DataType
from edge.modbus.planner import Table
from edge.readings import Quality, QualityReason, Reading
from edge.sensors.modbus_bus import ModbusBus


async def _pump(source: int, destination: int) -> None:
    # A null-modem cable between two pty masters: what one side's slave writes, the other's slave reads.
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    loop.add_reader(source, ready.set)
    try:
        while True:
            await ready.wait()
            ready.clear()
            try:
                data = os.read(source, 4096)
            except BlockingIOError:
                continue
            os.write(destination, data)
    finally:
        loop.remove_reader(source)


@pytest.fixture
async def rtu_line() -> AsyncIterator[tuple[str, str]]:
    """Two tty paths joined like a null-modem cable."""
    master_a, slave_a = os.openpty()
    master_b, slave_b = os.openpty()
    for fd in (slave_a, slave_b):
        tty.setraw(fd)
    for fd in (master_a, master_b):
        os.set_blocking(fd, False)
    pumps = [
        asyncio.create_task(_pump(master_a, master_b), name="pty-pump-a-b"),
        asyncio.create_task(_pump(master_b, master_a), name="pty-pump-b-a"),
    ]
    yield os.ttyname(slave_a), os.ttyname(slave_b)
    for pump in pumps:
        pump.cancel()
    await asyncio.gather(*pumps, return_exceptions=True)
    for fd in (master_a, slave_a, master_b, slave_b):
        os.close(fd)


def _device(device_id: str, unit_id: int) -> DeviceSpec:
    return DeviceSpec(
        device_id=device_id,
        bus_id="rs485",
        unit_id=unit_id,
        profile="test",
        location="panel 3",
        poll_interval_s=0.3,
        points=(
            PointSpec(
                point_id=f"{device_id}.o2",
                device_id=device_id,
                name="o2",
                label="Oxygen",
                location="panel 3",
                table=Table.INPUT,
                address=10,
                data_type=DataType.UINT16,
                scale=0.1,
                unit="%vol",
            ),
        ),
    )


async def test_rtu_polls_over_a_pty_and_survives_a_silent_unit(rtu_line: tuple[str, str]) -> None:
    client_path, server_path = rtu_line
    server = ModbusSerialServer([sim_device(7), sim_device(9, silent=True)], port=server_path, baudrate=19200)
    await server.serve_forever(background=True)
    await server.context.async_setValues(7, 4, 10, [209])
    spec = BusSpec(
        bus_id="rs485",
        kind=BusKind.RTU,
        timeout_s=0.25,
        retries=0,
        backoff_s=1.0,
        backoff_max_s=2.0,
        port=client_path,
        parity="N",  # ptys cannot hold parity
    )
    readings: list[Reading] = []
    bus = ModbusBus(spec, [_device("o2a", 7), _device("o2b", 9)], clock=SystemClock(), sink=readings.append)
    task = asyncio.create_task(bus.run(), name="modbus-bus-rs485")
    try:
        await asyncio.sleep(1.6)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await server.shutdown()  # type: ignore[no-untyped-call]  # pymodbus leaves it unannotated
    good = [r for r in readings if r.point_id == "o2a.o2"]
    silent = [r for r in readings if r.point_id == "o2b.o2"]
    assert len(good) >= 4
    assert all(r.quality is Quality.GOOD and r.value == pytest.approx(20.9) for r in good)
    assert len(silent) >= 4
    assert all(r.reason is QualityReason.COMM_LOSS for r in silent)
    assert bus.counters["o2b"].timeouts >= 1
