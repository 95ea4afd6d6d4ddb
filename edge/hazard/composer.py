"""The operator's words for a warning: what, where, when, why, and what to do.

In the style of the paper's example ("Methane concentration rising with inadequate ventilation at face 3:
predicted 1.5 % in ~8 min; check auxiliary fan 2, prepare to withdraw"):

* **what** -- the hazard, sharpened by the evidence (methane *with inadequate ventilation* when the face airflow is
  among the channels the probability depends on);
* **where** -- the site's name for the hazard's place (``ChannelMap.place``: the ``hazard: locations`` entry or
  the mapped point's location);
* **when** -- the predicted time to the statutory threshold: for gas, the first forecast horizon whose face methane
  reaches the statutory *alarm* level that applies to the face point, interpolated from the current value; else,
  for gas and fire (the hazards with statutory channels), the first risk horizon above ``RISK_DECISION``; else
  nothing is said rather than a guess;
* **why** -- the evidence: the modalities and sensor points whose masking lowers the probability most;
* **what to do** -- ``RECOMMENDED_ACTIONS``.
"""

from __future__ import annotations

import math

from edge.hazard.channels import ChannelMap
from edge.hazard.contract import FORECAST_HORIZONS_S, RISK_HORIZONS_S, SENSOR_CHANNELS, HazardType
from edge.hazard.hazard_model import HazardOutputs
from edge.hazard.warning_policy import RECOMMENDED_ACTIONS, Evidence
from edge.rules.units import format_limit

RISK_DECISION = 0.5
EVIDENCE_MIN_DROP = 0.01  # a modality whose masking moves the probability less than this is not named
_LOCATION_ROLE = {c.name: c.location_role for c in SENSOR_CHANNELS}
_HEADLINE: dict[HazardType, str] = {
    HazardType.GAS_ACCUMULATION: "Methane concentration rising",
    HazardType.FIRE: "Signs of a developing fire",
    HazardType.EQUIPMENT_FAULT: "Machine condition deteriorating",
    HazardType.STRATA: "Roof convergence accelerating",
    HazardType.PEOPLE: "Persons at risk (hard hats, hazard zone)",
}
_PLACE: dict[HazardType, str] = {
    HazardType.GAS_ACCUMULATION: "face",
    HazardType.FIRE: "belt",
    HazardType.EQUIPMENT_FAULT: "fan",
    HazardType.STRATA: "roof",
    HazardType.PEOPLE: "face",
}


def time_to_threshold(
    outputs: HazardOutputs, hazard: HazardType, *, current_ch4: float | None, alarm_level: float
) -> tuple[float | None, str]:
    """Seconds until the statutory threshold and the head it came from (``"forecast"``, ``"risk"`` or ``""``).

    ``current_ch4`` is the newest face methane sample (%vol) and ``alarm_level`` the face point's statutory
    alarm limit in %vol.
    """
    if hazard is HazardType.GAS_ACCUMULATION:
        crossing = forecast_crossing(outputs.forecast, current=current_ch4, level=alarm_level)
        if crossing is not None:
            return crossing, "forecast"
    if hazard in (HazardType.GAS_ACCUMULATION, HazardType.FIRE):
        for horizon, p in zip(RISK_HORIZONS_S, outputs.risk, strict=True):
            if p > RISK_DECISION:
                return float(horizon), "risk"
    return None, ""


def forecast_crossing(forecast: tuple[float, ...], *, current: float | None, level: float) -> float | None:
    """When the piecewise-linear path (0, current), (h, forecast[h])... first reaches ``level``; None if never."""
    points: list[tuple[float, float]] = []
    if current is not None and math.isfinite(current):
        if current >= level:
            return 0.0
        points.append((0.0, current))
    for horizon, value in zip(FORECAST_HORIZONS_S, forecast, strict=True):
        if not math.isfinite(value):
            continue
        if value >= level:
            if not points:
                return float(horizon)
            t0, v0 = points[-1]
            return t0 + (level - v0) / (value - v0) * (horizon - t0)
        points.append((float(horizon), value))
    return None


def minutes(seconds: float) -> str:
    return f"~{max(1, round(seconds / 60.0))} min"


class WarningComposer:
    def __init__(self, channel_map: ChannelMap, *, alarm_level: float) -> None:
        self.map = channel_map
        self.alarm_level = alarm_level  # face methane statutory alarm, %vol

    def place(self, hazard: HazardType, evidence: Evidence) -> str:
        role = _PLACE[hazard]
        if hazard is HazardType.EQUIPMENT_FAULT:
            machine = next(
                (
                    _LOCATION_ROLE[name.partition(":")[2]]
                    for name, drop in evidence
                    if name.startswith("sensors:")
                    and drop > 0
                    and name.partition(":")[2] in _LOCATION_ROLE
                    and _LOCATION_ROLE[name.partition(":")[2]] in ("fan", "belt_drive")
                ),
                role,
            )
            role = machine
        return self.map.place(role)

    def headline(self, hazard: HazardType, evidence: Evidence) -> str:
        text = _HEADLINE[hazard]
        channels = {name.partition(":")[2] for name, drop in evidence if name.startswith("sensors:") and drop > 0}
        if hazard is HazardType.GAS_ACCUMULATION and "airflow_face" in channels:
            text += " with inadequate ventilation"
        if hazard is HazardType.FIRE and "co_belt" in channels:
            text = "Carbon monoxide rising" + (" with smoke" if "smoke_belt" in channels else "") + ": possible fire"
        return text

    def when(self, time_to_threshold_s: float | None, basis: str) -> str:
        if time_to_threshold_s is None:
            return ""
        if basis == "forecast":
            if time_to_threshold_s <= 0:
                return f"methane at the statutory {format_limit(self.alarm_level, '%')} % now"
            return f"predicted {format_limit(self.alarm_level, '%')} % in {minutes(time_to_threshold_s)}"
        return f"statutory alarm level likely within {minutes(time_to_threshold_s)}"

    def why(self, evidence: Evidence) -> str:
        parts: list[str] = []
        channels = [
            (name.partition(":")[2], drop) for name, drop in evidence if name.startswith("sensors:") and drop > 0
        ]
        for name, drop in evidence:
            if ":" in name or drop < EVIDENCE_MIN_DROP:
                continue
            if name == "sensors" and channels:
                points = ", ".join(self._point(role) for role, _ in channels)
                parts.append(f"sensors ({points})")
            else:
                parts.append(name)
        return "evidence: " + ", ".join(parts) if parts else ""

    def _point(self, role: str) -> str:
        mapped = self.map.for_role(role)
        return mapped.point_id if mapped is not None else role

    def message(self, hazard: HazardType, *, time_to_threshold_s: float | None, basis: str, evidence: Evidence) -> str:
        head = f"{self.headline(hazard, evidence)} at {self.place(hazard, evidence)}"
        when = self.when(time_to_threshold_s, basis)
        text = f"{head}: {when}" if when else head
        text += f"; {RECOMMENDED_ACTIONS[hazard]}"
        why = self.why(evidence)
        return f"{text} ({why})" if why else text
