"""The operator's acknowledge push-button, read through a Modbus discrete input or coil."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from edge.clock import Clock, SystemClock
from edge.config.resolved import AckInputSpec
from edge.sensors.modbus_bus import BusCommandError, ModbusBus

logger = logging.getLogger(__name__)

DEBOUNCE_S = 0.5  # contact bounce and an impatient double press count as one acknowledgement


class AckButton:
    """Calls ``on_press`` once per press (rising edge). Start ``run()`` as a named task."""

    def __init__(
        self,
        spec: AckInputSpec,
        *,
        bus: ModbusBus,
        unit_id: int,
        on_press: Callable[[], None],
        poll_s: float = 0.2,
        clock: Clock | None = None,
    ) -> None:
        if not spec.table.is_bit_table:
            raise ValueError(f"ack input on {spec.device_id!r} must be a coil or discrete input, not {spec.table}")
        self.spec = spec
        self._bus = bus
        self._unit_id = unit_id
        self._on_press = on_press
        self._poll_s = poll_s
        self._clock = clock or SystemClock()
        self._last_press_mono: float | None = None
        self.presses = 0

    async def run(self) -> None:
        # None = unknown (start-up, after a read error): a button already held then is not a new press.
        previous: bool | None = None
        failing = False
        while True:
            try:
                (pressed,) = await self._bus.read_bits(self._unit_id, self.spec.table, self.spec.address, 1)
            except BusCommandError as exc:
                if not failing:
                    logger.warning("ack button on %s unreadable: %s", self.spec.device_id, exc.detail)
                failing = True
                previous = None
            else:
                if failing:
                    logger.info("ack button on %s readable again", self.spec.device_id)
                failing = False
                if previous is False and pressed:
                    self._rising_edge()
                previous = pressed
            await asyncio.sleep(self._poll_s)

    def _rising_edge(self) -> None:
        now = self._clock.monotonic()
        if self._last_press_mono is not None and now - self._last_press_mono < DEBOUNCE_S:
            logger.debug("ack button edge %.2f s after the last press ignored (debounce)", now - self._last_press_mono)
            return
        self._last_press_mono = now
        self.presses += 1
        logger.info("ack button pressed on %s", self.spec.device_id)
        self._on_press()
