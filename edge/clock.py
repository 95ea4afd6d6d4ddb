"""Injected time: the runtime, the simulator and the tests read time only through a ``Clock``."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (intervals, timeouts, ordering)."""
        ...

    def wall(self) -> float:
        """UTC epoch seconds (records and messages)."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class FakeClock:
    """A manually advanced clock for deterministic tests and simulations."""

    def __init__(self, start_mono: float = 1000.0, start_wall: float = 1_767_225_600.0) -> None:
        self._mono = start_mono
        self._wall = start_wall

    def monotonic(self) -> float:
        return self._mono

    def wall(self) -> float:
        return self._wall

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock never goes backwards")
        self._mono += seconds
        self._wall += seconds
