from __future__ import annotations

import enum
from dataclasses import dataclass


class SignalClass(enum.StrEnum):
    MALFUNCTION = "malfunction"
    ALERT = "alert"
    ALARM = "alarm"
    WARNING = "warning"  # WARNING = ML early warning


class Priority(enum.IntEnum):
    CRITICAL = 1
    HIGH = 2
    MEDIUM = 3
    LOW = 4


class Direction(enum.StrEnum):
    HIGH = "high"
    LOW = "low"


@dataclass(frozen=True, slots=True)
class ConditionChange:
    condition_id: str
    point_id: str
    signal: SignalClass
    priority: Priority
    active: bool
    statutory: bool
    latch: bool
    value: float | None
    limit: float | None
    unit: str
    message: str
    action: str
    source: str
    outputs: tuple[str, ...]
    t_mono: float
    t_wall: float
