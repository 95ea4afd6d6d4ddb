"""The whole simulated mine from one GatewaySpec: TCP and RTU buses, scenario updates, coil log, states."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException
from sim_fixtures import CLIENT_TIMEOUT_S, free_tcp_port, section_spec

from edge.clock import Clock, FakeClock, SystemClock
from edge.config.resolved import GatewaySpec, PointSpec
from edge.modbus.codec import apply_scaling, decode_registers
from edge.modbus.planner import Table
from edge.sim.coil_log import read_coil_log
from edge.sim.runner import SimulatedMine, SimulationError, describe
from edge.sim.scenarios import make_scenario
from edge.sim.states import DeviceState


@contextlib.asynccontextmanager
async def running_mine(
    clock: Clock,
    scenario_name: str = "methane_buildup",
    *,
    time_scale: float = 1.0,
    coil_log_path: Path | None = None,
    pty_links: dict[str, Path] | None = None,
) -> AsyncIterator[SimulatedMine]:
    spec = section_spec(tcp_port=free_tcp_port())
    scenario = make_scenario(scenario_name, spec, seed=5, time_scale=time_scale)
    mine = SimulatedMine(spec, scenario, clock=clock, coil_log_path=coil_log_path, pty_links=pty_links)
    await mine.start()
    try:
        yield mine
    finally:
        await mine.stop()


@contextlib.asynccontextmanager
async def tcp_client(spec: GatewaySpec) -> AsyncIterator[AsyncModbusTcpClient]:
    client = AsyncModbusTcpClient("127.0.0.1", port=spec.bus("face").tcp_port, timeout=CLIENT_TIMEOUT_S, retries=0)
    assert await client.connect()
    try:
        yield client
    finally:
        client.close()


@contextlib.asynccontextmanager
async def rtu_client(port: str) -> AsyncIterator[AsyncModbusSerialClient]:
    client = AsyncModbusSerialClient(
        port, framer=FramerType.RTU, baudrate=19200, parity="N", timeout=CLIENT_TIMEOUT_S, retries=0
    )
    assert await client.connect(), f"cannot open {port}"
    try:
        yield client
    finally:
        client.close()


async def _read(client: AsyncModbusTcpClient | AsyncModbusSerialClient, point: PointSpec, unit: int) -> float:
    if point.table is Table.INPUT:
        response = await client.read_input_registers(point.address, count=point.count, device_id=unit)
    else:
        response = await client.read_holding_registers(point.address, count=point.count, device_id=unit)
    assert not response.isError(), response
    raw = decode_registers(response.registers, point.data_type, word_order=point.word_order, bit=point.bit)
    return apply_scaling(raw, scale=point.scale, offset=point.offset)


async def test_every_bus_serves_the_scenario_values() -> None:
    clock = FakeClock()
    async with running_mine(clock) as mine:
        spec = mine.spec
        t = 55.0  # methane well into the build-up
        mine.update(t)
        expected = mine.scenario.values(t)
        assert expected["face.methane"] > 1.5
        async with tcp_client(spec) as client:
            methane = spec.device("xnx_face").point("gas")
            assert await _read(client, methane, 1) == pytest.approx(expected["face.methane"], abs=1e-5)
            airflow = spec.device("ai_face").point("ch1")
            assert await _read(client, airflow, 5) == pytest.approx(expected["face.airflow"], abs=1e-3)
        async with rtu_client(mine.rtu_port("belt")) as client:
            co = spec.device("co_belt").point("gas")
            assert await _read(client, co, 2) == pytest.approx(expected["belt.co"], abs=0.051)
            oxygen = spec.device("o2_belt").point("gas")
            assert await _read(client, oxygen, 3) == pytest.approx(expected["o2_belt.gas"], abs=1e-5)


async def test_run_follows_the_clock_and_stops_at_until() -> None:
    async with running_mine(SystemClock(), time_scale=50.0) as mine:  # 150 s story in 3 s
        started = time.monotonic()
        await asyncio.wait_for(mine.run(until_s=1.2), timeout=5.0)  # story time 60 s: past the alarm
        assert time.monotonic() - started < 2.5
        assert mine.elapsed_s() >= 1.2
        async with tcp_client(mine.spec) as client:
            methane = await _read(client, mine.spec.device("xnx_face").point("gas"), 1)
        assert methane > 1.5


async def test_scenario_state_and_test_override() -> None:
    clock = FakeClock()
    async with running_mine(clock, "device_dropout") as mine:
        mine.update(30.0)
        assert mine.device("xnx_face").state is DeviceState.OFFLINE
        async with tcp_client(mine.spec) as client:
            with pytest.raises(ModbusIOException):
                await client.read_holding_registers(2, count=2, device_id=1)
            assert not (await client.read_input_registers(0, count=1, device_id=5)).isError()
            mine.set_device_state("xnx_face", DeviceState.INHIBIT)  # the test's word beats the scenario's
            mine.update(31.0)
            state = mine.spec.device("xnx_face").point("state")
            raw = await _read(client, state, 1)
        assert raw in (3, 12, 13)
        mine.set_device_state("xnx_face", None)
        mine.update(70.0)
        assert mine.device("xnx_face").state is DeviceState.ONLINE


async def test_coil_writes_reach_the_log_file(tmp_path: Path) -> None:
    log_path = tmp_path / "coils.jsonl"
    async with running_mine(SystemClock(), "normal_shift", coil_log_path=log_path) as mine:
        async with tcp_client(mine.spec) as client:
            assert not (await client.write_coil(0, True, device_id=10)).isError()
            assert not (await client.write_coil(3, False, device_id=10)).isError()
        # Another process would read the file while the mine runs: every line is flushed already.
        written = read_coil_log(log_path)
        assert [(w.device_id, w.coil, w.value) for w in written] == [("relays", 0, True), ("relays", 3, False)]
        assert [(w.coil, w.value) for w in mine.coil_log.entries("relays")] == [(0, True), (3, False)]


async def test_pty_link_names_the_gateway_side(tmp_path: Path) -> None:
    link = tmp_path / "belt-port"
    async with running_mine(FakeClock(), pty_links={"belt": link}) as mine:
        assert os.readlink(link) == mine.rtu_port("belt")
        async with rtu_client(str(link)) as client:
            assert await _read(client, mine.spec.device("co_belt").point("gas"), 2) > 0
    assert not link.exists()


async def test_misuse_gives_clear_errors() -> None:
    spec = section_spec(tcp_port=free_tcp_port())
    scenario = make_scenario("normal_shift", spec)
    with pytest.raises(SimulationError, match="not RTU buses"):
        SimulatedMine(spec, scenario, clock=FakeClock(), pty_links={"face": Path("/tmp/x")})
    mine = SimulatedMine(spec, scenario, clock=FakeClock())
    with pytest.raises(SimulationError, match="not started"):
        await mine.run(until_s=1.0)
    with pytest.raises(KeyError, match="not a started RTU bus"):
        mine.rtu_port("belt")
    await mine.stop()  # stopping a mine that never started is harmless


async def test_busy_port_is_reported_with_the_bus(tmp_path: Path) -> None:
    clock = FakeClock()
    async with running_mine(clock) as first:
        second = SimulatedMine(first.spec, first.scenario, clock=clock)
        with pytest.raises(SimulationError, match=r"bus 'face': cannot listen"):
            await second.start()


def test_describe_lists_buses_and_units() -> None:
    text = describe(section_spec(tcp_port=5020))
    assert "bus face: Modbus TCP on 127.0.0.1:5020" in text
    assert "bus belt: Modbus RTU" in text
    assert "unit   1  xnx_face" in text
    assert "+status/heartbeat" in text
