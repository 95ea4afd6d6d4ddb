"""RelayDriver and AckButton against a real pymodbus relay module on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from edge.clock import SystemClock
from edge.config.resolved import AckInputSpec, BusKind, BusSpec, OutputSpec
from edge.modbus.planner import Table
from edge.outputs.ack_button import AckButton
from edge.outputs.relays import RelayDriver
from edge.sensors.modbus_bus import ModbusBus

RELAY_UNIT = 4


def _relay_module(unit_id: int) -> SimDevice:
    bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
    registers = [SimData(0, count=16, values=0, datatype=DataType.REGISTERS)]
    return SimDevice(
        id=unit_id, simdata=(bits, [SimData(0, count=16, values=False, datatype=DataType.BITS)], registers, registers)
    )


class RelayModule:
    def __init__(self, port: int) -> None:
        self.port = port
        self.server = self._new_server()

    def _new_server(self) -> ModbusTcpServer:
        return ModbusTcpServer([_relay_module(RELAY_UNIT)], address=("127.0.0.1", self.port))

    async def start(self) -> None:
        # Bounded: a port taken by another process in the meantime must fail the test, not hang it.
        async with asyncio.timeout(5.0):
            await self.server.serve_forever(background=True)

    async def power_off(self) -> None:
        async with asyncio.timeout(5.0):
            await self.server.shutdown()  # type: ignore[no-untyped-call]  # pymodbus leaves it unannotated
        self.server = self._new_server()  # powering on again starts from the module's defaults

    async def coils(self, count: int = 8) -> list[bool]:
        bits = await self.server.context.async_getValues(RELAY_UNIT, 1, 0, count)
        assert isinstance(bits, list)
        return [bool(bit) for bit in bits]

    async def set_coil(self, address: int, value: bool) -> None:
        await self.server.context.async_setValues(RELAY_UNIT, 5, address, [value])

    async def set_input(self, address: int, value: bool) -> None:
        await self.server.context.async_setValues(RELAY_UNIT, 2, address, [value])


@pytest.fixture
async def relay_module() -> AsyncIterator[RelayModule]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    module = RelayModule(port)
    await module.start()
    yield module
    await module.power_off()


@asynccontextmanager
async def bus_running(port: int) -> AsyncIterator[ModbusBus]:
    spec = BusSpec(
        bus_id="relays",
        kind=BusKind.TCP,
        timeout_s=0.2,
        retries=1,
        backoff_s=0.2,
        backoff_max_s=0.5,
        host="127.0.0.1",
        tcp_port=port,
    )
    bus = ModbusBus(spec, [], clock=SystemClock(), sink=lambda _reading: None)
    task = asyncio.create_task(bus.run(), name="modbus-bus-relays")
    try:
        async with asyncio.timeout(2.0):
            while True:  # polled: the bus exposes state, not an event
                if bus.connected:
                    break
                await asyncio.sleep(0.02)
        yield bus
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@asynccontextmanager
async def driver_running(driver: RelayDriver) -> AsyncIterator[RelayDriver]:
    task = asyncio.create_task(driver.run(), name="relay-driver")
    try:
        yield driver
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


OUTPUTS = (
    OutputSpec("siren", "relay1", coil=0),
    OutputSpec("power_trip", "relay1", coil=1, fail_safe=True),
    OutputSpec("heartbeat", "relay1", coil=2, fail_safe=True),
    OutputSpec("beacon", "relay1", coil=3, verify=False),
)


async def _eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 2.0) -> None:
    async with asyncio.timeout(timeout_s):
        while True:  # polled: the relay module's coils change outside this process's events
            if await check():
                return
            await asyncio.sleep(0.02)


async def test_coils_follow_desired_outputs_with_fail_safe_inversion(relay_module: RelayModule) -> None:
    faults: list[tuple[str, str | None]] = []
    async with bus_running(relay_module.port) as bus:
        driver = RelayDriver(
            OUTPUTS,
            bus_for_device={"relay1": (bus, RELAY_UNIT)},
            clock=SystemClock(),
            on_fault=lambda name, detail: faults.append((name, detail)),
            refresh_s=0.2,
        )
        driver.healthy = True
        async with driver_running(driver):
            # Normal: siren off, trip relay energized (fail-safe), heartbeat energized while healthy.
            await _eventually(lambda: _coils_are(relay_module, [False, True, True, False]))
            driver.set_desired(frozenset({"siren", "power_trip", "beacon"}))
            await _eventually(lambda: _coils_are(relay_module, [True, False, True, True]))
            # A relay module that rebooted into its defaults is corrected by the refresh.
            await relay_module.set_coil(0, False)
            await _eventually(lambda: _coils_are(relay_module, [True, False, True, True]))
            # The app declares itself unhealthy: the heartbeat relay drops out.
            driver.healthy = False
            await _eventually(lambda: _coils_are(relay_module, [True, False, False, True]))
            state = driver.state()
            assert state["power_trip"]["desired_coil"] is False
            assert state["power_trip"]["active"] is True
            assert state["power_trip"]["fault"] is None
        await driver.safe_state()
        assert await relay_module.coils(4) == [False, False, False, False]
    assert faults == []


async def _coils_are(module: RelayModule, expected: list[bool]) -> bool:
    return await module.coils(len(expected)) == expected


async def test_write_failure_is_reported_and_recovery_clears_it(relay_module: RelayModule) -> None:
    faults: list[tuple[str, str | None]] = []
    outputs = (OutputSpec("siren", "relay1", coil=0), OutputSpec("broken", "relay1", coil=40))
    async with bus_running(relay_module.port) as bus:
        driver = RelayDriver(
            outputs,
            bus_for_device={"relay1": (bus, RELAY_UNIT)},
            clock=SystemClock(),
            on_fault=lambda name, detail: faults.append((name, detail)),
            refresh_s=0.2,
        )
        async with driver_running(driver):
            driver.set_desired(frozenset({"siren", "broken"}))
            await _eventually(lambda: _coils_are(relay_module, [True]))
            await asyncio.sleep(0.5)  # several refreshes: the fault is reported once, not per attempt
    assert len(faults) == 1
    assert faults[0][0] == "broken"
    assert faults[0][1] is not None
    assert "exception 2" in faults[0][1]
    assert driver.state()["broken"]["fault"] == faults[0][1]


async def test_fault_then_recovery_when_the_relay_module_is_power_cycled(relay_module: RelayModule) -> None:
    faults: list[tuple[str, str | None]] = []
    async with bus_running(relay_module.port) as bus:
        driver = RelayDriver(
            (OutputSpec("siren", "relay1", coil=0),),
            bus_for_device={"relay1": (bus, RELAY_UNIT)},
            clock=SystemClock(),
            on_fault=lambda name, detail: faults.append((name, detail)),
            refresh_s=0.1,
        )
        driver.set_desired(frozenset({"siren"}))
        async with driver_running(driver):
            await _eventually(lambda: _coils_are(relay_module, [True]))
            await relay_module.power_off()
            await _eventually(_async_true_when(lambda: len(faults) >= 1))
            await relay_module.start()  # comes back with every coil off
            await _eventually(_async_true_when(lambda: len(faults) >= 2), timeout_s=3.0)
            await _eventually(lambda: _coils_are(relay_module, [True]))
    assert faults[0][0] == "siren"
    assert faults[0][1] is not None
    assert faults[1] == ("siren", None)


def _async_true_when(predicate: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return predicate()

    return check


def test_output_on_unknown_device_is_rejected() -> None:
    with pytest.raises(ValueError, match="on no configured bus"):
        RelayDriver(OUTPUTS, bus_for_device={}, clock=SystemClock(), on_fault=lambda _n, _d: None)


async def test_ack_button_fires_once_per_debounced_rising_edge(relay_module: RelayModule) -> None:
    presses: list[float] = []
    loop = asyncio.get_running_loop()
    async with bus_running(relay_module.port) as bus:
        await relay_module.set_input(6, True)  # held at start-up: not a press
        button = AckButton(
            AckInputSpec("relay1", Table.DISCRETE_INPUT, 6),
            bus=bus,
            unit_id=RELAY_UNIT,
            on_press=lambda: presses.append(loop.time()),
            poll_s=0.05,
        )
        task = asyncio.create_task(button.run(), name="ack-button")
        try:
            await asyncio.sleep(0.2)
            assert presses == []
            await relay_module.set_input(6, False)
            await asyncio.sleep(0.15)
            await relay_module.set_input(6, True)  # press
            await _eventually(_async_true_when(lambda: len(presses) == 1))
            await asyncio.sleep(0.15)  # held: still one press
            await relay_module.set_input(6, False)
            await asyncio.sleep(0.1)
            await relay_module.set_input(6, True)  # bounce within 0.5 s: ignored
            await asyncio.sleep(0.15)
            assert len(presses) == 1
            await relay_module.set_input(6, False)
            await asyncio.sleep(0.6)
            await relay_module.set_input(6, True)  # a real second press
            await _eventually(_async_true_when(lambda: len(presses) == 2))
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    assert button.presses == 2
