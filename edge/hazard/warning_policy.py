"""What an early warning is and the one policy that turns per-decision outputs into warnings, shared by the offline
evaluation (``export.hazard.warnings.merge_tracks``) and the gateway (``edge.hazard.warning_gate``).

The policy follows the alarm-management guidance in ../shared/regulations.md section 4 (see
``export.hazard.warnings`` for the reasoning behind each number): an on-delay in decisions, one warning per hazard
while its condition persists with a re-arm hold-off, and a gateway-wide flood limit on *new* warnings. Warnings
enter the alarm manager at ``WARNING_PRIORITY`` (LOW, below every statutory alarm) and are never on the statutory
path: the flood limit only ever drops warnings.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.hazard.contract import HazardType
from edge.rules.signals import Priority

Evidence = tuple[tuple[str, float], ...]  # ("modality:channel", weight), most important first

WARNING_PRIORITY = Priority.LOW

RECOMMENDED_ACTIONS: dict[HazardType, str] = {
    HazardType.GAS_ACCUMULATION: (
        "check the auxiliary fan, line curtain and ventilation doors at the face; test with a hand-held detector; "
        "prepare to de-energize and withdraw at the statutory level"
    ),
    HazardType.FIRE: "inspect the belt entry and drive for a hot idler, rubbing belt or bearing; ready extinguishers",
    HazardType.EQUIPMENT_FAULT: "plan a stop of the machine; check bearing temperature and vibration by hand",
    HazardType.STRATA: "examine the roof at the named location; keep people out from under it until supported",
    HazardType.PEOPLE: "stop work at the face and correct the violation (hard hats, hazard zone)",
}


@dataclass(frozen=True, slots=True)
class HazardWarning:
    """One operator-facing warning: raised at ``t_s``, condition cleared at ``end_s`` (seconds, episode clock)."""

    t_s: float
    end_s: float
    hazard: HazardType
    channel: str  # the channel or modality whose track raised it ("ch4_face", "camera", "model")
    time_to_threshold_s: float | None  # predicted time to the statutory threshold at raising, None if unknown
    score: float  # the predictor's score at raising (probability, or 1 for a rule)
    evidence: Evidence
    action: str
    priority: Priority = WARNING_PRIORITY

    def __post_init__(self) -> None:
        if self.end_s < self.t_s:
            raise ValueError(f"warning end_s {self.end_s} is before its t_s {self.t_s}")


@dataclass(frozen=True)
class WarningPolicy:
    on_count: int = 1
    hold_off_s: float = 900.0
    flood_count: int = 3
    flood_window_s: float = 600.0

    def __post_init__(self) -> None:
        if self.on_count < 1:
            raise ValueError(f"WarningPolicy.on_count must be >= 1, got {self.on_count}")
        if self.hold_off_s < 0:
            raise ValueError(f"WarningPolicy.hold_off_s must be >= 0, got {self.hold_off_s}")
        if self.flood_count < 1 or self.flood_window_s <= 0:
            raise ValueError(
                f"WarningPolicy.flood_count must be >= 1 and flood_window_s > 0, got {self.flood_count}, "
                f"{self.flood_window_s}"
            )
