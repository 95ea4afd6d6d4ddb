"""Signal vocabulary shared by the statutory rule layer and the alarm manager.

Kept deliberately small: the alarm manager, the outputs and the journal all key on these types, so a change
here is a change to every consumer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class SignalClass(enum.StrEnum):
    """The three AMS signal classes of 30 CFR 75.351, plus the ML early warning."""

    MALFUNCTION = "malfunction"
    ALERT = "alert"
    ALARM = "alarm"
    WARNING = "warning"  # ML early warning: never produced by the statutory rule layer


class Priority(enum.IntEnum):
    """Lower number = more urgent, so ``sorted()`` puts the most urgent first."""

    CRITICAL = 1
    HIGH = 2
    MEDIUM = 3
    LOW = 4


class Direction(enum.StrEnum):
    HIGH = "high"
    LOW = "low"


@dataclass(frozen=True, slots=True)
class ConditionChange:
    """One condition of one point becoming active or clearing.

    ``condition_id`` is ``f"{point_id}:{name}"`` (``ch4_tg_mm12:alarm``, ``ch4_tg_mm12:malfunction``,
    ``ch4_tg_mm12:rate_of_rise``). ``latch`` tells the alarm manager to keep the alarm (and its outputs)
    until an operator resets it, even after ``active=False`` arrives.
    """

    condition_id: str
    point_id: str
    signal: SignalClass
    priority: Priority
    active: bool
    statutory: bool  # True for everything the rule layer emits: cannot be shelved or suppressed downstream
    latch: bool
    value: float | None
    limit: float | None
    unit: str
    message: str  # human text: what, where, value, limit, action
    action: str
    source: str  # e.g. "30 CFR 75.323(b)(2) [S]"
    outputs: tuple[str, ...]  # output relays this condition drives, e.g. ("siren", "beacon", "power_trip")
    t_mono: float
    t_wall: float
