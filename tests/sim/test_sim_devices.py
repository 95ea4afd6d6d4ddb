"""Simulated devices served by a real pymodbus TCP server, read back with a real client."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException
from sim_fixtures import analog_module, itrans_co, midas_o2, relay_module, serving, xnx_methane

from edge.clock import FakeClock
from edge.config.resolved import DeviceSpec
from edge.modbus.codec import apply_scaling, decode_registers
from edge.readings import QualityReason
from edge.sim.coil_log import CoilLog
from edge.sim.devices import DeviceStateError, SimulatedDevice, silent_catch_all
from edge.sim.states import DeviceState
from edge.sim.status_registers import REASON_FOR_STATE

XNX = xnx_methane("xnx", bus_id="face", unit_id=1, point_id="face.methane")
ANALOG = analog_module("ai", bus_id="face", unit_id=5)
ITRANS = itrans_co("itrans", bus_id="face", unit_id=2)
MIDAS = midas_o2("midas", bus_id="face", unit_id=3)


def _decode(spec: DeviceSpec, name: str, registers: Sequence[int]) -> float:
    point = spec.point(name)
    raw = decode_registers(
        registers, point.data_type, word_order=point.word_order, byte_order=point.byte_order, bit=point.bit
    )
    return apply_scaling(raw, scale=point.scale, offset=point.offset)


async def _read_point(client: AsyncModbusTcpClient, spec: DeviceSpec, name: str) -> float:
    point = spec.point(name)
    reader = {
        "holding": client.read_holding_registers,
        "input": client.read_input_registers,
    }[point.table.value]
    response = await reader(point.address, count=point.count, device_id=spec.unit_id)
    assert not response.isError(), response
    return _decode(spec, name, response.registers)


async def test_values_decode_back_for_float_scaled_int_and_4_20ma() -> None:
    clock = FakeClock()
    devices = [SimulatedDevice(s, clock=clock) for s in (XNX, ANALOG, ITRANS)]
    devices[0].apply_values({"face.methane": 1.37})
    devices[1].apply_values({"face.airflow": 2.5, "face.temperature": 21.0})
    devices[2].apply_values({"belt.co": 17.3})
    async with serving([d.sim_device() for d in devices]) as client:
        assert await _read_point(client, XNX, "gas") == pytest.approx(1.37, abs=1e-6)  # float32
        assert await _read_point(client, ANALOG, "ch1") == pytest.approx(2.5, abs=1e-3)  # uA, 4-20 mA scaling
        assert await _read_point(client, ANALOG, "ch2") == pytest.approx(21.0, abs=1e-2)
        assert await _read_point(client, ITRANS, "gas") == pytest.approx(17.3, abs=0.05)  # int16 tenths
        # A write from the scenario changes what the next read returns: the image is served live.
        devices[2].apply_values({"belt.co": 250.0})
        assert await _read_point(client, ITRANS, "gas") == pytest.approx(250.0, abs=0.05)


async def test_integer_register_saturates_instead_of_wrapping() -> None:
    device = SimulatedDevice(ITRANS, clock=FakeClock())
    device.apply_values({"belt.co": -3647.0})  # a real faulted CO reading, beyond int16 tenths
    point = ITRANS.point("gas")
    assert _decode(ITRANS, "gas", device.registers(point.table, point.address, 1)) == pytest.approx(-3276.8)


@pytest.mark.parametrize("state", [DeviceState.FAULT, DeviceState.INHIBIT, DeviceState.WARM_UP])
@pytest.mark.parametrize("spec", [XNX, MIDAS], ids=["xnx", "midas"])
async def test_condition_states_make_the_configured_condition_match(spec: DeviceSpec, state: DeviceState) -> None:
    device = SimulatedDevice(spec, clock=FakeClock())
    gas_id = spec.point("gas").point_id
    device.apply_values({gas_id: 1.2})
    async with serving([device.sim_device()]) as client:
        device.set_state(state)
        matched: set[QualityReason] = set()
        for condition in spec.quality_conditions:
            raw = await _read_point(client, spec, condition.point)
            if condition.matches(raw):
                matched.add(condition.reason)
        assert matched == {REASON_FOR_STATE[state]}
        # Forced to 0 like an XNX in inhibit: only the status tells the gateway the reading is bad.
        assert await _read_point(client, spec, "gas") == 0.0
        device.set_state(DeviceState.ONLINE)
        assert await _read_point(client, spec, "gas") == pytest.approx(1.2, abs=1e-6)
        for condition in spec.quality_conditions:
            assert not condition.matches(await _read_point(client, spec, condition.point))


async def test_loop_fault_drops_the_current_to_zero() -> None:
    device = SimulatedDevice(ANALOG, clock=FakeClock())
    device.apply_values({"face.airflow": 2.0})
    device.set_state(DeviceState.FAULT)
    point = ANALOG.point("ch1")
    raw = device.registers(point.table, point.address, 1)[0]
    assert point.raw_fault_below is not None
    assert raw < point.raw_fault_below


def test_state_the_device_cannot_show_is_refused() -> None:
    device = SimulatedDevice(ANALOG, clock=FakeClock())  # no status registers at all
    with pytest.raises(DeviceStateError, match="cannot signal inhibit"):
        device.set_state(DeviceState.INHIBIT)


async def test_offline_unit_times_out_while_its_neighbour_answers() -> None:
    clock = FakeClock()
    offline = SimulatedDevice(XNX, clock=clock)
    neighbour = SimulatedDevice(ITRANS, clock=clock)
    neighbour.apply_values({"belt.co": 5.0})
    async with serving([offline.sim_device(), neighbour.sim_device(), silent_catch_all()]) as client:
        assert await _read_point(client, XNX, "gas") == 0.0
        offline.set_state(DeviceState.OFFLINE)
        started = time.monotonic()
        with pytest.raises(ModbusIOException):
            await client.read_holding_registers(2, count=2, device_id=XNX.unit_id)
        assert time.monotonic() - started >= 0.25  # it waited for its timeout: no exception reply came back
        assert await _read_point(client, ITRANS, "gas") == pytest.approx(5.0, abs=0.05)
        with pytest.raises(ModbusIOException):  # a unit id nobody has is as silent as on RS-485
            await client.read_holding_registers(0, count=1, device_id=77)
        offline.set_state(DeviceState.ONLINE)
        assert await _read_point(client, XNX, "gas") == 0.0


def test_heartbeat_counts_each_period_and_stops_when_frozen() -> None:
    clock = FakeClock()
    device = SimulatedDevice(XNX, clock=clock, heartbeat_period_s=1.0)
    point = XNX.point("heartbeat")

    def beat() -> int:
        return device.registers(point.table, point.address, 1)[0]

    for _ in range(3):
        clock.advance(1.0)
        device.tick()
    assert beat() == 3
    clock.advance(0.5)
    device.tick()
    assert beat() == 3  # not yet a full period
    device.apply_values({"face.methane": 0.4})
    device.set_state(DeviceState.FROZEN)
    gas = XNX.point("gas")
    frozen_gas = device.registers(gas.table, gas.address, 2)
    for _ in range(3):
        clock.advance(1.0)
        device.tick()
        device.apply_values({"face.methane": 0.9})
    assert beat() == 3
    assert device.registers(gas.table, gas.address, 2) == frozen_gas
    device.set_state(DeviceState.ONLINE)
    clock.advance(1.0)
    device.tick()
    assert beat() == 4


def test_heartbeat_bit_toggles_inside_a_status_word() -> None:
    clock = FakeClock()
    device = SimulatedDevice(MIDAS, clock=clock)
    status = MIDAS.point("status")
    words = []
    for _ in range(2):
        clock.advance(1.0)
        device.tick()
        words.append(device.registers(status.table, status.address, 1)[0])
    assert {word >> 11 & 1 for word in words} == {0, 1}
    assert {word & 0x000F for word in words} == {1}  # the state field stays "monitoring"


async def test_coil_writes_are_logged_and_served_back() -> None:
    clock = FakeClock()
    log = CoilLog(clock)
    relays = relay_module("relays", bus_id="face", unit_id=10)
    device = SimulatedDevice(relays, clock=clock, coil_log=log)
    async with serving([device.sim_device()]) as client:
        assert not (await client.write_coil(2, True, device_id=10)).isError()
        assert not (await client.write_coils(5, [True, False], device_id=10)).isError()
        response = await client.read_coils(0, count=8, device_id=10)
        assert response.bits[:8] == [False, False, True, False, False, True, False, False]
    assert [(w.device_id, w.coil, w.value) for w in log.entries()] == [
        ("relays", 2, True),
        ("relays", 5, True),
        ("relays", 6, False),
    ]
    assert all(w.t_wall == clock.wall() for w in log.entries())
