"""ModbusBus against real pymodbus TCP servers: polling, dead devices, reconnect, counters, coil commands."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from modbus_sim_server import SimServer, free_port, sim_device

from edge.clock import SystemClock
from edge.config.resolved import BusKind, BusSpec, DeviceSpec, PointSpec
from edge.modbus.codec import DataType, encode_value
from edge.modbus.planner import Table
from edge.readings import Quality, QualityReason, Reading
from edge.sensors.modbus_bus import BusCommandError, ModbusBus, OutputWriteError


@pytest.fixture
async def sim_server() -> AsyncIterator[SimServer]:
    # Units 1 and 2 answer; unit 3 is silent (a dead transmitter on the same bus).
    server = SimServer([sim_device(1), sim_device(2), sim_device(3, silent=True)], free_port())
    await server.start()
    yield server
    await server.stop()


def _device(device_id: str, unit_id: int, poll_interval_s: float = 0.3) -> DeviceSpec:
    def point(name: str, address: int, data_type: DataType, **kwargs: object) -> PointSpec:
        return PointSpec(
            point_id=f"{device_id}.{name}",
            device_id=device_id,
            name=name,
            label=name,
            location="belt road",
            table=Table.HOLDING,
            address=address,
            data_type=data_type,
            **kwargs,  # type: ignore[arg-type]
        )

    return DeviceSpec(
        device_id=device_id,
        bus_id="bus1",
        unit_id=unit_id,
        profile="test",
        location="belt road",
        poll_interval_s=poll_interval_s,
        points=(
            point("ch4", 0, DataType.INT16, scale=0.01, unit="%vol"),
            point("co", 2, DataType.FLOAT32, unit="ppm"),
            point("status", 4, DataType.UINT16, diagnostic=True),
        ),
    )


def _bus_spec(port: int, **kwargs: object) -> BusSpec:
    defaults: dict[str, object] = {
        "bus_id": "bus1",
        "kind": BusKind.TCP,
        "timeout_s": 0.2,
        "retries": 1,
        "backoff_s": 0.5,
        "backoff_max_s": 2.0,
        "host": "127.0.0.1",
        "tcp_port": port,
    }
    defaults.update(kwargs)
    return BusSpec(**defaults)  # type: ignore[arg-type]


class Collector:
    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.arrived = asyncio.Event()

    def __call__(self, reading: Reading) -> None:
        self.readings.append(reading)
        self.arrived.set()

    def of(self, point_id: str) -> list[Reading]:
        return [reading for reading in self.readings if reading.point_id == point_id]

    async def wait_for(self, predicate: Callable[[Reading], bool], timeout_s: float = 3.0) -> Reading:
        async with asyncio.timeout(timeout_s):
            while True:
                for reading in self.readings:
                    if predicate(reading):
                        return reading
                self.arrived.clear()
                await self.arrived.wait()


@asynccontextmanager
async def running(bus: ModbusBus) -> AsyncIterator[ModbusBus]:
    task = asyncio.create_task(bus.run(), name=f"modbus-bus-{bus.spec.bus_id}")
    try:
        yield bus
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_polls_and_decodes_registers_written_into_the_server(sim_server: SimServer) -> None:
    await sim_server.set_registers(1, 0, [125, 0, *encode_value(37.5, DataType.FLOAT32), 7])
    sink = Collector()
    bus = ModbusBus(_bus_spec(sim_server.port), [_device("d1", 1)], clock=SystemClock(), sink=sink)
    async with running(bus):
        first = await sink.wait_for(lambda r: r.point_id == "d1.co")
        assert bus.connected
        await sim_server.set_registers(1, 0, [250])
        changed = await sink.wait_for(lambda r: r.point_id == "d1.ch4" and r.value == pytest.approx(2.5))
    assert first.value == pytest.approx(37.5)
    assert first.unit == "ppm"
    assert first.quality is Quality.GOOD
    assert sink.of("d1.ch4")[0].value == pytest.approx(1.25)
    assert sink.of("d1.status")[0].value == 7.0
    assert changed.quality is Quality.GOOD
    counters = bus.counters["d1"]
    assert counters.requests == counters.responses >= 2  # one planned request per cycle
    assert counters.timeouts == 0
    assert counters.last_latency_s is not None
    assert counters.to_dict()["latency_p99_s"] is not None


async def test_dead_device_reports_comm_loss_and_does_not_stall_its_neighbour(sim_server: SimServer) -> None:
    interval = 0.4
    sink = Collector()
    devices = [_device("alive", 1, interval), _device("dead", 3, interval)]
    bus = ModbusBus(_bus_spec(sim_server.port), devices, clock=SystemClock(), sink=sink)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with running(bus):
        loss = await sink.wait_for(lambda r: r.point_id == "dead.ch4", timeout_s=2 * interval + 0.2)
        await asyncio.sleep(3.0)
    assert loss.quality is Quality.BAD
    assert loss.reason is QualityReason.COMM_LOSS
    assert loss.value is None
    assert "no answer within 0.2 s (2 attempt(s))" in loss.detail
    assert loop.time() - started >= 3.0
    # The dead device keeps reporting at its poll interval (in back-off without touching the bus).
    dead = sink.of("dead.ch4")
    assert len(dead) >= 7
    assert all(r.reason is QualityReason.COMM_LOSS for r in dead)
    # The live neighbour is polled on time throughout: at most one slot lost to the dead device's timeouts.
    alive = [r.t_mono for r in sink.of("alive.ch4")]
    assert all(r.quality is Quality.GOOD for r in sink.of("alive.ch4"))
    gaps = [later - earlier for earlier, later in itertools.pairwise(alive)]
    assert len(alive) >= 7
    assert max(gaps) <= 2 * interval + 0.1
    counters = bus.counters["dead"]
    assert counters.timeouts >= 2
    assert counters.consecutive_failures >= 2
    assert counters.responses == 0


async def test_exception_response_is_device_exception(sim_server: SimServer) -> None:
    device = _device("d1", 1)
    far = PointSpec(
        point_id="d1.far",
        device_id="d1",
        name="far",
        label="far",
        location="x",
        table=Table.HOLDING,
        address=500,
        data_type=DataType.UINT16,
    )
    device = DeviceSpec(**{**{f: getattr(device, f) for f in device.__dataclass_fields__}, "points": (far,)})
    sink = Collector()
    bus = ModbusBus(_bus_spec(sim_server.port), [device], clock=SystemClock(), sink=sink)
    async with running(bus):
        reading = await sink.wait_for(lambda r: r.point_id == "d1.far")
    assert reading.reason is QualityReason.DEVICE_EXCEPTION
    assert "Modbus exception 2 (illegal_address)" in reading.detail
    assert bus.counters["d1"].exception_codes[2] == 1
    assert bus.counters["d1"].requests == 1  # exception answers are not retried


async def test_start_on_dead_bus_then_connect_and_reconnect_after_server_restart(
    sim_server: SimServer,
) -> None:
    await sim_server.stop()
    sink = Collector()
    bus = ModbusBus(
        _bus_spec(sim_server.port, backoff_s=0.2, backoff_max_s=0.4),
        [_device("d1", 1, 0.2)],
        clock=SystemClock(),
        sink=sink,
    )
    async with running(bus):
        down = await sink.wait_for(lambda r: r.point_id == "d1.ch4")
        assert down.reason is QualityReason.COMM_LOSS
        assert "bus bus1" in down.detail
        assert not bus.connected
        await sim_server.start()
        await sim_server.set_registers(1, 0, [100])
        up = await sink.wait_for(lambda r: r.point_id == "d1.ch4" and r.quality is Quality.GOOD)
        assert up.value == pytest.approx(1.0)
        await sim_server.stop()
        cut = await sink.wait_for(
            lambda r: r.t_mono > up.t_mono and r.point_id == "d1.ch4" and r.quality is Quality.BAD
        )
        assert cut.reason is QualityReason.COMM_LOSS
        await sim_server.start()
        await sim_server.set_registers(1, 0, [300])
        back = await sink.wait_for(lambda r: r.point_id == "d1.ch4" and r.value == pytest.approx(3.0))
        assert back.quality is Quality.GOOD
        assert bus.connected


async def test_write_coil_verifies_and_jumps_the_poll_queue(sim_server: SimServer) -> None:
    sink = Collector()
    bus = ModbusBus(_bus_spec(sim_server.port), [_device("d1", 1, 0.05)], clock=SystemClock(), sink=sink)
    async with running(bus):
        await sink.wait_for(lambda r: r.point_id == "d1.ch4")
        await bus.write_coil(1, 5, True)
        assert (await sim_server.get_coils(1, 5, 1)) == [True]
        assert await bus.read_bits(1, Table.COIL, 4, 3) == [False, True, False]
        await bus.write_coil(1, 5, False, verify=False)
        assert (await sim_server.get_coils(1, 5, 1)) == [False]
        await sim_server.set_bits(1, 2, [True], discrete=True)
        assert await bus.read_bits(1, Table.DISCRETE_INPUT, 2, 1) == [True]
        with pytest.raises(OutputWriteError, match="no answer"):
            await bus.write_coil(3, 0, True)  # the silent unit
        with pytest.raises(OutputWriteError, match="exception 2"):
            await bus.write_coil(1, 900, True)  # outside the module's coils
        with pytest.raises(BusCommandError):
            await bus.read_bits(3, Table.COIL, 0, 1)
    assert "unit:3" in bus.counters


async def test_commands_fail_fast_when_the_bus_is_down() -> None:
    sink = Collector()
    bus = ModbusBus(_bus_spec(free_port()), [_device("d1", 1)], clock=SystemClock(), sink=sink)
    with pytest.raises(OutputWriteError, match="not running"):
        await bus.write_coil(1, 0, True)
    async with running(bus):
        await sink.wait_for(lambda r: r.point_id == "d1.ch4")
        with pytest.raises(OutputWriteError, match="not connected"):
            await bus.write_coil(1, 0, True)


async def test_coil_write_is_served_between_retries_of_a_dead_device(sim_server: SimServer) -> None:
    # The silent unit's cycle costs 4 x 0.25 s; a trip must not wait for all of it.
    sink = Collector()
    spec = _bus_spec(sim_server.port, timeout_s=0.25, retries=3, backoff_s=5.0, backoff_max_s=5.0)
    bus = ModbusBus(spec, [_device("dead", 3, 5.0)], clock=SystemClock(), sink=sink)
    loop = asyncio.get_running_loop()
    async with running(bus):
        async with asyncio.timeout(2.0):
            while True:  # polled: wait until the dead cycle is on the wire
                if bus.counters["dead"].requests:
                    break
                await asyncio.sleep(0.01)
        started = loop.time()
        await bus.write_coil(1, 7, True)
        elapsed = loop.time() - started
        assert not sink.of("dead.ch4")  # the dead device's cycle was still running
        assert (await sim_server.get_coils(1, 7, 1)) == [True]
    assert elapsed < 0.55  # at most one in-flight attempt (0.25 s + guard) plus write and read-back
