"""The simulated mine: real Modbus servers, built from the gateway's own configuration, playing a scenario.

Each TCP bus becomes a pymodbus TCP server on 127.0.0.1 at the bus's port (whatever host the configuration
names: the simulator never listens beyond this machine), each RTU bus a pymodbus RTU server on a pty bridge
whose gateway side the gateway opens. Every configured device answers with its unit id; any other unit id
gets no answer, as on a real RS-485 line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import cast

from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import SimDevice

from edge.aio import within
from edge.clock import Clock
from edge.config.resolved import BusKind, BusSpec, GatewaySpec
from edge.modbus.planner import Table
from edge.modbus.wire_time import SerialFraming
from edge.sim.coil_log import CoilLog
from edge.sim.devices import SimulatedDevice, silent_catch_all
from edge.sim.point_roles import simulated_points
from edge.sim.pty_bridge import PtyBridge
from edge.sim.scenario_base import Scenario
from edge.sim.states import DeviceState

logger = logging.getLogger(__name__)

UPDATE_PERIOD_S = 0.1  # registers follow the scenario at 10 Hz, faster than any gateway polls
SIMULATOR_HOST = "127.0.0.1"
_SHUTDOWN_TIMEOUT_S = 2.0
# Ptys carry bytes, not parity: the device side is always opened 8N1 (see pty_bridge).
_PTY_PARITY = "N"


class SimulationError(RuntimeError):
    """The simulated mine cannot start or was used before starting."""


def framing_of(bus: BusSpec) -> SerialFraming:
    """The serial framing an RTU bus is configured with, for wire-time emulation."""
    return SerialFraming(bus.baudrate, data_bits=bus.data_bits, parity=bus.parity, stop_bits=bus.stop_bits)


async def _shutdown(server: ModbusTcpServer | ModbusSerialServer) -> None:
    # pymodbus leaves shutdown() unannotated; the cast states what it is.
    shutdown = cast(Callable[[], Awaitable[None]], server.shutdown)
    await shutdown()


def _minimum_table_sizes(spec: GatewaySpec) -> dict[str, dict[Table, int]]:
    """Per device, the tables the outputs and the acknowledge input need beyond its configured points."""
    sizes: dict[str, dict[Table, int]] = {d.device_id: {} for d in spec.devices}
    for output in spec.outputs:
        wanted = sizes.setdefault(output.device_id, {})
        wanted[Table.COIL] = max(wanted.get(Table.COIL, 0), output.coil + 1)
    if spec.ack_input is not None:
        wanted = sizes.setdefault(spec.ack_input.device_id, {})
        table = spec.ack_input.table
        wanted[table] = max(wanted.get(table, 0), spec.ack_input.address + 1)
    return sizes


class SimulatedMine:
    """All simulated buses and devices of one gateway configuration, driven by one scenario.

    ``wire_framing`` turns on RS-485 wire-time emulation on the RTU pty bridges: one framing for every RTU
    bus, or a mapping bus_id -> framing (buses left out run at pty speed). ``pty_links`` maps an RTU bus_id
    to a path where a symlink to that bus's gateway side is created (and removed on ``stop``).
    """

    def __init__(
        self,
        spec: GatewaySpec,
        scenario: Scenario,
        *,
        clock: Clock,
        wire_framing: SerialFraming | Mapping[str, SerialFraming] | None = None,
        coil_log_path: Path | None = None,
        pty_links: Mapping[str, Path] | None = None,
    ) -> None:
        self._spec = spec
        self._scenario = scenario
        self._clock = clock
        self._wire_framing = wire_framing
        self._pty_links = dict(pty_links or {})
        rtu_buses = {b.bus_id for b in spec.buses if b.kind is BusKind.RTU}
        unknown = sorted(set(self._pty_links) - rtu_buses)
        if unknown:
            raise SimulationError(
                f"pty links given for {unknown}, which are not RTU buses of gateway {spec.gateway_id!r} "
                f"(RTU buses: {sorted(rtu_buses) or 'none'})"
            )
        self._coil_log = CoilLog(clock, path=coil_log_path)
        sizes = _minimum_table_sizes(spec)
        self._devices = {
            d.device_id: SimulatedDevice(
                d, clock=clock, coil_log=self._coil_log, min_table_sizes=sizes.get(d.device_id)
            )
            for d in spec.devices
        }
        self._overrides: dict[str, DeviceState] = {}
        self._servers: list[ModbusTcpServer | ModbusSerialServer] = []
        self._bridges: dict[str, PtyBridge] = {}
        self._started_mono: float | None = None

    @property
    def spec(self) -> GatewaySpec:
        return self._spec

    @property
    def scenario(self) -> Scenario:
        return self._scenario

    @property
    def coil_log(self) -> CoilLog:
        return self._coil_log

    @property
    def started(self) -> bool:
        return self._started_mono is not None

    def device(self, device_id: str) -> SimulatedDevice:
        try:
            return self._devices[device_id]
        except KeyError:
            raise KeyError(f"no simulated device {device_id!r}; devices: {sorted(self._devices)}") from None

    def rtu_port(self, bus_id: str) -> str:
        """The pty path the gateway opens for RTU bus ``bus_id``."""
        bridge = self._bridges.get(bus_id)
        if bridge is None:
            rtu = sorted(self._bridges) or "none started"
            raise KeyError(f"{bus_id!r} is not a started RTU bus of the simulated mine (RTU buses: {rtu})")
        return bridge.gateway_side

    def set_device_state(self, device_id: str, state: DeviceState | None) -> None:
        """Hold a device in ``state`` whatever the scenario says; ``None`` hands it back to the scenario."""
        device = self.device(device_id)
        if state is None:
            self._overrides.pop(device_id, None)
            return
        device.set_state(state)  # raises now, not at the next update, if the device cannot show it
        self._overrides[device_id] = state

    def elapsed_s(self) -> float:
        """Seconds of scenario time since ``start()``."""
        if self._started_mono is None:
            raise SimulationError("the simulated mine is not started: await start() first")
        return self._clock.monotonic() - self._started_mono

    async def start(self) -> None:
        """Bring every bus up; each server is listening when this returns."""
        if self._started_mono is not None:
            return
        self._started_mono = self._clock.monotonic()
        self.update(0.0)
        try:
            for bus in self._spec.buses:
                records = self._records_for(bus.bus_id)
                if bus.kind is BusKind.TCP:
                    await self._start_tcp(bus, records)
                else:
                    await self._start_rtu(bus, records)
        except BaseException:
            await self.stop()
            self._started_mono = None
            raise
        logger.info("simulated mine up: %d buses, %d devices", len(self._spec.buses), len(self._devices))

    async def run(self, until_s: float | None = None) -> None:
        """Follow the scenario at 10 Hz until scenario time ``until_s`` (``None``: until cancelled).

        Pass ``scenario.duration_s`` to play the scenario once. Time comes from the injected clock, so with a
        ``FakeClock`` the loop only moves on when the clock is advanced.
        """
        if self._started_mono is None:
            raise SimulationError("the simulated mine is not started: await start() first")
        while True:
            elapsed = self.elapsed_s()
            self.update(elapsed)
            if until_s is not None and elapsed >= until_s:
                return
            await asyncio.sleep(UPDATE_PERIOD_S)

    def update(self, t_s: float) -> None:
        """Write every device's registers for scenario time ``t_s`` (``run`` calls this; tests may too)."""
        values = self._scenario.values(t_s)
        states = self._scenario.device_states(t_s)
        for device_id, device in self._devices.items():
            device.set_state(self._overrides.get(device_id, states.get(device_id, DeviceState.ONLINE)))
            device.apply_values(values)
            device.tick()

    async def stop(self) -> None:
        """Stop servers and bridges, close the coil log. Idempotent."""
        servers, self._servers = self._servers, []
        for server in servers:
            try:
                await within(_shutdown(server), timeout_s=_SHUTDOWN_TIMEOUT_S)
            except TimeoutError:
                logger.warning("simulated Modbus server did not shut down within %.1f s", _SHUTDOWN_TIMEOUT_S)
        bridges, self._bridges = self._bridges, {}
        for bridge in bridges.values():
            await bridge.stop()
        self._coil_log.close()

    def _records_for(self, bus_id: str) -> list[SimDevice]:
        devices = [d for d in self._devices.values() if d.spec.bus_id == bus_id]
        records = [d.sim_device() for d in devices]
        if all(d.unit_id != 0 for d in devices):
            records.append(silent_catch_all())
        return records

    async def _start_tcp(self, bus: BusSpec, records: list[SimDevice]) -> None:
        if bus.host not in ("", SIMULATOR_HOST, "localhost"):
            logger.info("bus %s names host %s; the simulator listens on %s", bus.bus_id, bus.host, SIMULATOR_HOST)
        server = ModbusTcpServer(records, address=(SIMULATOR_HOST, bus.tcp_port), ignore_missing_devices=True)
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:
            raise SimulationError(
                f"bus {bus.bus_id!r}: cannot listen on {SIMULATOR_HOST}:{bus.tcp_port} ({exc}); "
                "is another simulator or a real server using that port?"
            ) from exc
        self._servers.append(server)
        logger.info("bus %s: Modbus TCP on %s:%d", bus.bus_id, SIMULATOR_HOST, bus.tcp_port)

    async def _start_rtu(self, bus: BusSpec, records: list[SimDevice]) -> None:
        framing = self._wire_framing.get(bus.bus_id) if isinstance(self._wire_framing, Mapping) else self._wire_framing
        bridge = PtyBridge(framing=framing, link_path=self._pty_links.get(bus.bus_id))
        await bridge.start()
        self._bridges[bus.bus_id] = bridge
        server = ModbusSerialServer(
            records,
            framer=FramerType.RTU,
            port=bridge.device_side,
            baudrate=bus.baudrate,
            bytesize=bus.data_bits,
            parity=_PTY_PARITY,
            stopbits=bus.stop_bits,
            ignore_missing_devices=True,
        )
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:
            raise SimulationError(f"bus {bus.bus_id!r}: cannot open pty {bridge.device_side} ({exc})") from exc
        self._servers.append(server)
        logger.info("bus %s: Modbus RTU, gateway side %s", bus.bus_id, bridge.gateway_side)


def describe(spec: GatewaySpec) -> str:
    """A short text table of the buses and devices the simulator would serve for ``spec``."""
    lines = [f"simulated mine for gateway {spec.gateway_id} ({spec.site})"]
    for bus in spec.buses:
        if bus.kind is BusKind.TCP:
            where = f"Modbus TCP on {SIMULATOR_HOST}:{bus.tcp_port}"
        else:
            where = f"Modbus RTU on a pty bridge, {bus.baudrate} bit/s {bus.data_bits}{_PTY_PARITY}{bus.stop_bits}"
        lines.append(f"bus {bus.bus_id}: {where}")
        devices = spec.devices_on(bus.bus_id)
        if not devices:
            lines.append("  (no devices)")
        for device in devices:
            driven = len(simulated_points(device))
            extras = []
            if device.quality_conditions:
                extras.append("status")
            if device.heartbeat_point:
                extras.append("heartbeat")
            suffix = f" +{'/'.join(extras)}" if extras else ""
            lines.append(
                f"  unit {device.unit_id:>3}  {device.device_id:<20} {device.profile:<22} "
                f"{driven:>2} simulated / {len(device.points):>2} points{suffix}  [{device.location}]"
            )
    return "\n".join(lines)
