"""Per-task check-ins behind systemd's watchdog: WATCHDOG=1 only while every critical task is going round.

An event loop that still runs is not enough: a bus owner awaiting a future that never completes, or a relay
driver stuck on a lost wake-up, leaves the tick (and so a loop-only watchdog) happy while readings go stale and
the heartbeat relay is no longer refreshed. Each critical task therefore exposes the monotonic time its loop last
went round, and each has an allowed silence computed from its own configuration (poll intervals, back-off,
worst-case request time), generous enough that a slow-but-working bus is never restarted. A task the supervisor
is restarting after a crash is not overdue: the supervisor is already dealing with it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from edge.config.resolved import BusSpec, DeviceSpec

# Slack on top of every computed bound: a gateway is restarted for a hang, never for a slow SD card or a busy CPU.
MARGIN_S = 30.0
# ModbusBus's own guard on top of the configured timeout (edge/sensors/modbus_bus.py _GUARD_MARGIN_S).
_GUARD_S = 0.5


@dataclass(frozen=True, slots=True)
class CriticalTask:
    """A task whose silence means the gateway is hung. ``last_round`` is the monotonic time of its last loop."""

    name: str
    last_round: Callable[[], float]
    allowed_silence_s: float


@dataclass(frozen=True, slots=True)
class Overdue:
    name: str
    silent_s: float
    allowed_silence_s: float

    def describe(self) -> str:
        return f"{self.name} silent for {self.silent_s:.0f} s (allowed {self.allowed_silence_s:.0f} s)"


def bus_allowed_silence_s(bus: BusSpec, devices: Sequence[DeviceSpec], commands: int) -> float:
    """How long a bus owner's loop may take to come round: its longest sleep plus one worst-case step.

    The longest sleep is the slowest poll interval or the longest reconnect back-off. One step polls one device
    (at most one request per point, each retried) and serves the pending relay/ack commands (a write and its
    read-back each); every request may run to its timeout.
    """
    attempts = bus.retries + 1
    per_request_s = bus.timeout_s + _GUARD_S + bus.turnaround_s
    longest_poll = max((d.poll_interval_s for d in devices), default=0.0)
    most_requests = max((len(d.points) for d in devices), default=0)
    sleep_s = max(longest_poll, bus.backoff_max_s)
    step_s = (most_requests + 2 * commands + 2) * attempts * per_request_s
    return sleep_s + step_s + MARGIN_S


def relay_allowed_silence_s(refresh_s: float, outputs: int, command_timeout_s: float) -> float:
    """The relay driver re-asserts every coil each ``refresh_s``; each write may wait ``command_timeout_s``."""
    return refresh_s + outputs * command_timeout_s + MARGIN_S


def overdue(tasks: Sequence[CriticalTask], now_mono: float, restarting: Collection[str] = ()) -> list[Overdue]:
    """The critical tasks whose loop has been silent longer than allowed (tasks being restarted excluded)."""
    late: list[Overdue] = []
    for task in tasks:
        if task.name in restarting:
            continue
        silent_s = now_mono - task.last_round()
        if silent_s > task.allowed_silence_s:
            late.append(Overdue(task.name, silent_s, task.allowed_silence_s))
    return late
