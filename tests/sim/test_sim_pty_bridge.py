"""Modbus RTU through the pty bridge: a real pymodbus serial server on one side, a real client on the other."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import cast

import pytest
from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ModbusIOException
from pymodbus.server import ModbusSerialServer
from sim_fixtures import itrans_co

from edge.clock import FakeClock
from edge.modbus.codec import apply_scaling, decode_registers
from edge.modbus.wire_time import SerialFraming
from edge.sim.devices import SimulatedDevice, silent_catch_all
from edge.sim.pty_bridge import PtyBridge

ITRANS = itrans_co("itrans", bus_id="belt", unit_id=2)
SLOW_LINE = SerialFraming(1200)  # 8N1: 10 bits a character, 8.3 ms each


@contextlib.asynccontextmanager
async def rtu_link(bridge: PtyBridge, device: SimulatedDevice) -> AsyncIterator[AsyncModbusSerialClient]:
    await bridge.start()
    server = ModbusSerialServer(
        [device.sim_device(), silent_catch_all()],
        framer=FramerType.RTU,
        port=bridge.device_side,
        baudrate=19200,
        parity="N",
        ignore_missing_devices=True,
    )
    await server.serve_forever(background=True)
    client = AsyncModbusSerialClient(
        bridge.gateway_side, framer=FramerType.RTU, baudrate=19200, parity="N", timeout=0.5, retries=0
    )
    try:
        assert await client.connect(), f"cannot open {bridge.gateway_side}"
        yield client
    finally:
        client.close()
        await asyncio.wait_for(cast(Callable[[], Awaitable[None]], server.shutdown)(), timeout=2.0)
        await bridge.stop()


async def test_rtu_requests_and_responses_pass_both_ways() -> None:
    device = SimulatedDevice(ITRANS, clock=FakeClock())
    device.apply_values({"belt.co": 12.4})
    bridge = PtyBridge()
    async with rtu_link(bridge, device) as client:
        point = ITRANS.point("gas")
        response = await client.read_holding_registers(point.address, count=1, device_id=ITRANS.unit_id)
        assert not response.isError(), response
        raw = decode_registers(response.registers, point.data_type)
        assert apply_scaling(raw, scale=point.scale) == pytest.approx(12.4, abs=0.05)
        # A write travels gateway -> device and changes the device's registers.
        written = await client.write_register(105, 0x1234, device_id=ITRANS.unit_id)
        assert not written.isError(), written
        assert device.registers(point.table, 105, 1) == [0x1234]
        assert bridge.bytes_to_device > 0
        assert bridge.bytes_to_gateway > 0


async def test_unknown_unit_on_rtu_gets_no_answer() -> None:
    device = SimulatedDevice(ITRANS, clock=FakeClock())
    bridge = PtyBridge()
    async with rtu_link(bridge, device) as client:
        assert await asyncio.wait_for(_read_or_silence(client, unit=9), timeout=5.0) == "no response"
        assert await _read_or_silence(client, unit=ITRANS.unit_id) == "answered"  # the bus is still usable


async def _read_or_silence(client: AsyncModbusSerialClient, *, unit: int) -> str:
    try:
        await client.read_holding_registers(101, count=1, device_id=unit)
    except ModbusIOException:
        return "no response"
    return "answered"


async def _transaction_s(client: AsyncModbusSerialClient) -> float:
    started = time.perf_counter()
    response = await client.read_holding_registers(90, count=20, device_id=ITRANS.unit_id)
    assert not response.isError(), response
    return time.perf_counter() - started


async def test_wire_time_emulation_delays_a_transaction_by_its_characters() -> None:
    device = SimulatedDevice(ITRANS, clock=FakeClock())
    async with rtu_link(PtyBridge(), device) as client:
        direct = min([await _transaction_s(client) for _ in range(3)])
    async with rtu_link(PtyBridge(framing=SLOW_LINE), device) as client:
        emulated = min([await _transaction_s(client) for _ in range(3)])
    # Request 8 bytes + response 5 + 2 * 20 bytes = 53 characters on the wire at 1200 bit/s.
    wire_s = 53 * SLOW_LINE.char_time_s
    assert emulated - direct >= 0.8 * wire_s
    assert emulated < direct + wire_s + 0.3


async def test_link_points_at_the_gateway_side_and_is_removed_on_stop(tmp_path: Path) -> None:
    link = tmp_path / "ports" / "belt"
    bridge = PtyBridge(link_path=link)
    await bridge.start()
    try:
        assert link.is_symlink()
        assert os.readlink(link) == bridge.gateway_side
    finally:
        await bridge.stop()
    assert not link.exists()
    await bridge.stop()  # idempotent


async def test_link_never_replaces_a_regular_file(tmp_path: Path) -> None:
    occupied = tmp_path / "port"
    occupied.write_text("not a link", encoding="utf-8")
    bridge = PtyBridge(link_path=occupied)
    with pytest.raises(FileExistsError, match="not a symlink"):
        await bridge.start()
    assert occupied.read_text(encoding="utf-8") == "not a link"
    assert not bridge.running
