"""Drive the site's relays (sirens, beacons, power trip, gateway heartbeat) through Modbus coils.

Level-triggered: the app states which outputs should be active, the driver makes the coils match and keeps
re-asserting them, so a relay module that rebooted into its defaults is corrected within ``refresh_s``.
Fail-safe relays are energized in the normal state: a dead gateway, a cut cable and a trip all de-energize.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from edge.aio import within
from edge.clock import Clock
from edge.config.resolved import OutputSpec
from edge.sensors.modbus_bus import BusCommandError, ModbusBus

logger = logging.getLogger(__name__)

HEARTBEAT_OUTPUT = "heartbeat"
POWER_TRIP_OUTPUT = "power_trip"  # written before any other output when several change at once

FaultCallback = Callable[[str, str | None], None]


@dataclass
class _OutputState:
    spec: OutputSpec
    bus: ModbusBus
    unit_id: int
    written: bool | None = None  # last coil state confirmed on the module (None: unknown)
    fault: str | None = None
    last_ok_wall: float | None = None


class RelayDriver:
    """Owns the coil state of every configured output. Start ``run()`` as a named task."""

    def __init__(
        self,
        outputs: Sequence[OutputSpec],
        *,
        bus_for_device: Mapping[str, tuple[ModbusBus, int]],
        clock: Clock,
        on_fault: FaultCallback,
        refresh_s: float = 1.0,
    ) -> None:
        self._outputs: dict[str, _OutputState] = {}
        for spec in outputs:
            if spec.name in self._outputs:
                raise ValueError(f"output {spec.name!r} is configured twice")
            if spec.device_id not in bus_for_device:
                raise ValueError(f"output {spec.name!r} uses device {spec.device_id!r}, which is on no configured bus")
            bus, unit_id = bus_for_device[spec.device_id]
            self._outputs[spec.name] = _OutputState(spec, bus, unit_id)
        # power_trip first, then configuration order: the trip must not wait behind a beacon.
        self._order = sorted(self._outputs, key=lambda name: name != POWER_TRIP_OUTPUT)
        self._clock = clock
        self._on_fault = on_fault
        self._refresh_s = refresh_s
        self._active: frozenset[str] = frozenset()
        self._healthy = False
        self._safe = False
        self._changed = asyncio.Event()
        # When the driver loop last went round: the app's watchdog check-in (edge/watchdog.py) reads it.
        self.last_round_mono = clock.monotonic()

    def command_timeout_s(self) -> float:
        """The longest one coil write may take (the slowest bus an output is on)."""
        return max((state.bus.command_timeout_s for state in self._outputs.values()), default=0.0)

    # -- what the app tells us --------------------------------------------------------------------------

    def set_desired(self, active: frozenset[str]) -> None:
        """Names of outputs that should signal now. Level-triggered: only the latest set matters."""
        unknown = active - self._outputs.keys()
        if unknown:
            logger.warning("ignoring unknown output(s) %s", ", ".join(sorted(unknown)))
        self._active = active & self._outputs.keys()
        self._changed.set()

    @property
    def healthy(self) -> bool:
        return self._healthy

    @healthy.setter
    def healthy(self, value: bool) -> None:
        if value != self._healthy:
            self._healthy = value
            self._changed.set()

    def coil_for(self, name: str) -> bool:
        """The coil state the output should have now."""
        state = self._outputs[name]
        if self._safe:
            return False
        if name == HEARTBEAT_OUTPUT:
            return self._healthy  # energized only while the app says we are alive
        active = name in self._active
        return not active if state.spec.fail_safe else active

    # -- the driver task --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Write changes at once and re-assert every coil each ``refresh_s``. Cancel to stop."""
        next_refresh = self._clock.monotonic()
        while True:
            self.last_round_mono = self._clock.monotonic()
            self._changed.clear()
            await self._write(name for name in self._order if self._outputs[name].written != self.coil_for(name))
            now = self._clock.monotonic()
            if now >= next_refresh:
                # Also the heartbeat's keep-alive: a relay module's comm watchdog drops it when we stop.
                await self._write(self._order)
                next_refresh = self._clock.monotonic() + self._refresh_s
            delay_s = max(0.0, next_refresh - self._clock.monotonic())
            with contextlib.suppress(TimeoutError):
                await within(self._changed.wait(), timeout_s=delay_s)

    async def _write(self, names: Iterable[str]) -> None:
        for name in list(names):
            await self._write_one(name)

    async def _write_one(self, name: str) -> bool:
        state = self._outputs[name]
        value = self.coil_for(name)
        try:
            await state.bus.write_coil(state.unit_id, state.spec.coil, value, verify=state.spec.verify)
        except BusCommandError as exc:
            state.written = None  # unknown: retry on the next pass
            if state.fault != exc.detail:
                logger.error("output %s: %s", name, exc.detail)
                state.fault = exc.detail
                self._on_fault(name, exc.detail)
            return False
        if state.written != value:
            logger.info("output %s coil %d set %s", name, state.spec.coil, "on" if value else "off")
        state.written = value
        state.last_ok_wall = self._clock.wall()
        if state.fault is not None:
            logger.info("output %s: writes succeed again", name)
            state.fault = None
            self._on_fault(name, None)
        return True

    async def safe_state(self) -> None:
        """De-energize every coil (the state power loss gives). Best effort; failures are reported, not raised."""
        self._safe = True
        self._changed.set()
        for name in self._order:
            await self._write_one(name)

    def state(self) -> dict[str, dict[str, object]]:
        return {
            name: {
                "device_id": state.spec.device_id,
                "coil": state.spec.coil,
                "fail_safe": state.spec.fail_safe,
                "active": name in self._active,
                "desired_coil": self.coil_for(name),
                "written_coil": state.written,
                "fault": state.fault,
                "last_ok_wall": state.last_ok_wall,
            }
            for name, state in self._outputs.items()
        }
