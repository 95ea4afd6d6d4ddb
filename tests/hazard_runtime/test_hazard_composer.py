"""The warning's words from hand-made model outputs: hazard, place, time to the statutory level, evidence, action."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from edge.hazard.channels import ChannelMap
from edge.hazard.composer import WarningComposer, forecast_crossing, time_to_threshold
from edge.hazard.contract import HAZARD_TYPES, HazardType
from edge.hazard.decision_input import rank_evidence
from edge.hazard.hazard_model import HazardOutputs
from edge.hazard.warning_policy import RECOMMENDED_ACTIONS

GAS = HazardType.GAS_ACCUMULATION


@dataclass(frozen=True)
class Point:
    point_id: str
    unit: str
    location: str
    stale_after_s: float = 5.0


def composer() -> WarningComposer:
    points = [
        Point("ch4_face3", "%", "face 3"),
        Point("air_face3", "m/s", "face 3"),
        Point("vib_fan2", "mm/s", "fan skid"),
        Point("co_belt2", "ppm", "belt 2 entry"),
    ]
    roles = {"ch4_face": "ch4_face3", "airflow_face": "air_face3", "vib_fan": "vib_fan2", "co_belt": "co_belt2"}
    return WarningComposer(ChannelMap.build(roles, points, locations={"fan": "auxiliary fan 2"}), alarm_level=1.5)


def outputs(forecast: tuple[float, float, float], risk: tuple[float, float, float] = (0.1, 0.2, 0.3)) -> HazardOutputs:
    return HazardOutputs({h: 0.9 if h is GAS else 0.01 for h in HAZARD_TYPES}, risk, forecast)


def test_forecast_crossing_is_interpolated_from_the_current_value() -> None:
    assert forecast_crossing((1.2, 1.6, 2.0), current=0.9, level=1.5) == pytest.approx(300 + 0.75 * 300)
    assert forecast_crossing((1.8, 2.0, 2.2), current=0.9, level=1.5) == pytest.approx(0.6 / 0.9 * 300)
    assert forecast_crossing((1.8, 2.0, 2.2), current=None, level=1.5) == 300.0
    assert forecast_crossing((1.0, 1.1, 1.2), current=0.9, level=1.5) is None
    assert forecast_crossing((1.0, 1.1, 1.2), current=1.6, level=1.5) == 0.0


def test_time_to_threshold_falls_back_from_forecast_to_risk_to_nothing() -> None:
    assert time_to_threshold(outputs((1.2, 1.6, 2.0)), GAS, current_ch4=0.9, alarm_level=1.5) == (525.0, "forecast")
    flat = outputs((1.0, 1.1, 1.2), risk=(0.2, 0.7, 0.9))
    assert time_to_threshold(flat, GAS, current_ch4=0.9, alarm_level=1.5) == (600.0, "risk")
    assert time_to_threshold(flat, HazardType.FIRE, current_ch4=0.9, alarm_level=1.5) == (600.0, "risk")
    assert time_to_threshold(flat, HazardType.STRATA, current_ch4=0.9, alarm_level=1.5) == (None, "")
    assert time_to_threshold(outputs((1.0, 1.1, 1.2)), GAS, current_ch4=0.9, alarm_level=1.5) == (None, "")


def test_gas_warning_reads_like_the_paper() -> None:
    evidence = rank_evidence(
        ["sensors", "camera", "text", "sensors:ch4_face", "sensors:airflow_face", "sensors:vib_fan"],
        [0.92, 0.10, 0.92, 0.90, 0.35, 0.70, 0.93],
    )
    assert evidence[:3] == (("sensors", 0.82), ("text", 0.02), ("camera", 0.0))
    assert [name for name, _ in evidence[3:]] == ["sensors:ch4_face", "sensors:airflow_face", "sensors:vib_fan"]
    text = composer().message(GAS, time_to_threshold_s=480.0, basis="forecast", evidence=evidence)
    assert text.startswith(
        "Methane concentration rising with inadequate ventilation at face 3: predicted 1.5 % in ~8 min; "
    )
    assert RECOMMENDED_ACTIONS[GAS] in text
    assert text.endswith("(evidence: sensors (ch4_face3, air_face3), text)")


def test_other_hazards_name_their_place_and_omit_an_unknown_time() -> None:
    c = composer()
    fan = (("sensors", 0.5), ("sensors:vib_fan", 0.4))
    text = c.message(HazardType.EQUIPMENT_FAULT, time_to_threshold_s=None, basis="", evidence=fan)
    assert text.startswith("Machine condition deteriorating at auxiliary fan 2; plan a stop")
    fire = c.message(HazardType.FIRE, time_to_threshold_s=600.0, basis="risk", evidence=(("sensors:co_belt", 0.3),))
    assert fire.startswith("Carbon monoxide rising: possible fire at belt 2 entry: statutory alarm level likely within")
    assert "~10 min" in fire
    now = c.message(GAS, time_to_threshold_s=0.0, basis="forecast", evidence=())
    assert "methane at the statutory 1.5 % now" in now
    assert "evidence" not in now
