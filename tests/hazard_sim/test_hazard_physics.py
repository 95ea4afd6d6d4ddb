"""Each hazard's physics shows the precursor it is known by before its deadline."""

from __future__ import annotations

import numpy as np
import pytest
from hazard_fixtures import generator, hazard

from edge.hazard.contract import BELT_DRIVE_ZONES, CAMERA_FIELDS, HazardType
from edge.sim.hazard.ground_truth import within_horizon


def _first_index_with_deadline(hazard_type: HazardType, kind: str) -> int:
    for index in range(12):
        event = hazard(hazard_type, kind, index).events[-1]
        if event.deadline_s is not None and event.deadline_s - event.onset_s > 300:
            return index
    raise AssertionError(f"no {hazard_type.value}/{kind} episode reached its deadline in 12 draws")


def test_smouldering_fire_raises_co_smoke_and_temperature_before_the_alarm() -> None:
    index = _first_index_with_deadline(HazardType.FIRE, "belt_smoulder")
    episode = hazard(HazardType.FIRE, "belt_smoulder", index)
    event = episode.events[-1]
    co = episode.channel("co_belt", clean=True)
    onset, deadline = int(event.onset_s), int(event.deadline_s or 0)
    ambient = generator().site.co_ambient_ppm
    assert co[deadline] >= ambient + 10.0  # the US belt CO alarm
    assert co[(onset + deadline) // 2] < co[deadline]
    smoke = episode.channel("smoke_belt", clean=True)
    temperature = episode.channel("temp_belt", clean=True)
    assert smoke[deadline] > smoke[onset]
    assert temperature[deadline] > temperature[onset]


def test_bearing_degradation_walks_through_the_iso_zones() -> None:
    index = _first_index_with_deadline(HazardType.EQUIPMENT_FAULT, "belt_drive")
    episode = hazard(HazardType.EQUIPMENT_FAULT, "belt_drive", index)
    event = episode.events[-1]
    zone_c = event.crossings["vib_belt_drive"]["zone_c"]
    assert zone_c is not None
    assert event.deadline_s is not None
    assert zone_c <= event.deadline_s
    vibration = episode.channel("vib_belt_drive", clean=True)
    assert vibration[int(event.deadline_s or 0)] >= BELT_DRIVE_ZONES.c_d
    bearing = episode.channel("bearing_temp_belt_drive", clean=True)
    assert bearing[int(event.deadline_s or 0)] > bearing[int(event.onset_s)]
    assert any("belt drive" in entry.text for entry in episode.logs)


def test_convergence_accelerates_before_a_roof_fall() -> None:
    index = _first_index_with_deadline(HazardType.STRATA, "fall")
    episode = hazard(HazardType.STRATA, "fall", index)
    event = episode.events[-1]
    fall = int(event.deadline_s or 0)
    convergence = episode.channel("roof_convergence", clean=True).astype(np.float64)
    lead = fall - int(event.onset_s)
    marks = [int(event.onset_s) + int(f * lead) for f in (0.2, 0.5, 0.8, 0.95)]
    rates = [(convergence[m + 60] - convergence[m - 60]) / 120 for m in marks]
    assert rates == sorted(rates)  # inverse velocity falls toward the fall
    assert convergence[fall + 5] - convergence[fall - 5] >= 20.0  # the fall itself


def test_violations_show_in_the_camera_truth_and_features() -> None:
    episode = hazard(HazardType.PEOPLE, "violation")
    event = episode.events[-1]
    truth_violation = (episode.camera_truth[:, 1] > 0) | (episode.camera_truth[:, 2] > 0)
    assert truth_violation.any()
    assert float(episode.camera_t[np.argmax(truth_violation)]) >= event.onset_s
    bare = CAMERA_FIELDS.index(next(f for f in CAMERA_FIELDS if f.value == "bare_heads"))
    seen = episode.camera[:, bare]
    valid = episode.camera_valid
    assert np.nanmean(seen[valid & truth_violation]) > np.nanmean(seen[valid & ~truth_violation])


@pytest.mark.parametrize("kind", ["fan_stop", "outburst"])
def test_gas_events_show_in_face_methane(kind: str) -> None:
    index = _first_index_with_deadline(HazardType.GAS_ACCUMULATION, kind) if kind == "fan_stop" else 0
    episode = hazard(HazardType.GAS_ACCUMULATION, kind, index)
    event = episode.events[-1]
    methane = episode.channel("ch4_face", clean=True)
    assert methane[int(event.end_s) - 1] > methane[int(event.onset_s)] or event.deadline_s is not None
    if kind == "fan_stop":
        air = episode.channel("airflow_face", clean=True)
        assert air[int(event.onset_s) + 60] < 0.5 * air[int(event.onset_s) - 60]


def test_risk_labels_look_ahead_by_each_horizon() -> None:
    labels = within_horizon([100.0, 1000.0], 1200, (300, 600))
    assert labels[0].tolist() == [True, True]  # the crossing at 100 s is 100 s ahead
    assert labels[100].tolist() == [False, False]  # at the crossing itself, the next one is 900 s ahead
    assert labels[399].tolist() == [False, False]
    assert labels[400].tolist() == [False, True]
    assert labels[700].tolist() == [True, True]
    assert labels[1000].tolist() == [False, False]
