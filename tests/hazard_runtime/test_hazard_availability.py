"""Which inputs a decision is without, and the thresholds chosen for that (edge.hazard.availability): the mask from a
packed input, the manifest keys, the lowest-threshold rule, and the running hazard task using them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hazard_runtime_fixtures import DEFAULT_PARAMETERS, build_tiny_hazard_model
from test_hazard_task import build, config, run_until_warning

from edge.clock import FakeClock
from edge.config.resolve import load_config
from edge.hazard.availability import (
    MISSING_INPUTS,
    StateThresholdError,
    dead_channels,
    decision_thresholds,
    evidenced_hazards,
    fitted_mask,
    missing_in_packed,
    threshold_table,
    thresholds_without,
)
from edge.hazard.contract import CAMERA_WINDOW_TOKENS, CHANNEL_INDEX, CHANNEL_NAMES, HAZARD_TYPES, HazardType
from edge.hazard.features import CameraTokens
from edge.hazard.model_input import SENSOR_TOKENS, TEXT_EMBEDDING_DIM, pack
from edge.hazard.task import HazardTask
from edge.rules.signals import ConditionChange

C = len(CHANNEL_NAMES)
GAS, FIRE = HAZARD_TYPES.index(HazardType.GAS_ACCUMULATION), HAZARD_TYPES.index(HazardType.FIRE)


def packed(*, dead: tuple[str, ...] = (), silent_last: tuple[str, ...] = (), camera: bool = True, text: bool = True):  # type: ignore[no-untyped-def]
    sensors = np.ones((SENSOR_TOKENS, 3 * C), dtype=np.float32)
    for name in dead:  # no reading anywhere in the window
        sensors[:, 2 * C + CHANNEL_INDEX[name]] = 0.0
    for name in silent_last:  # silent for the last 29.5 min, one reading before that
        sensors[1:, 2 * C + CHANNEL_INDEX[name]] = 0.0
    values = np.zeros((CAMERA_WINDOW_TOKENS, 6), dtype=np.float32)
    values[:, -1] = 1.0 if camera else 0.0
    n = 2 if text else 0
    return pack(
        sensors,
        CameraTokens(values, np.full(CAMERA_WINDOW_TOKENS, camera)),
        np.ones((n, TEXT_EMBEDDING_DIM), dtype=np.float32),
        np.zeros(n, dtype=np.float32),
    )


def test_a_channel_is_missing_only_when_its_whole_window_has_no_reading() -> None:
    batch = np.stack(
        [
            packed(),
            packed(dead=("ch4_face",)),
            packed(silent_last=("ch4_face",)),
            packed(camera=False, text=False),  # the camera and the logbook are not states of their own
            packed(dead=("co_belt", "o2_face")),
        ]
    )
    mask = missing_in_packed(batch)
    assert mask.shape == (5, len(MISSING_INPUTS))
    assert [dead_channels(m) for m in mask] == [[], ["ch4_face"], [], [], ["o2_face", "co_belt"]]
    fitted = fitted_mask(["ch4_face", "co_belt"])
    assert dead_channels(mask[4], fitted) == ["co_belt"]  # o2_face is not fitted at this site
    with pytest.raises(ValueError, match="unknown sensor channel"):
        fitted_mask(["ch4_fase"])


def test_thresholds_without_a_channel_come_from_the_manifest() -> None:
    without = thresholds_without(
        {
            "threshold:gas_accumulation": 0.5,
            "threshold:gas_accumulation@sensors:ch4_face": 0.1,
            "threshold:gas_accumulation@sensors:o2_face": 0.7,
            "threshold:fire@sensors:co_belt": 0.2,
            "decision_period_s": 30,
        }
    )
    assert without == {
        "sensors:ch4_face": {HazardType.GAS_ACCUMULATION: 0.1},
        "sensors:o2_face": {HazardType.GAS_ACCUMULATION: 0.7},
        "sensors:co_belt": {HazardType.FIRE: 0.2},
    }


def test_one_dead_fitted_channel_lowers_a_threshold_and_nothing_else_changes_one() -> None:
    intact = dict.fromkeys(HAZARD_TYPES, 0.5)
    without = {
        "sensors:ch4_face": {HazardType.GAS_ACCUMULATION: 0.1},
        "sensors:o2_face": {HazardType.GAS_ACCUMULATION: 0.7},  # higher than intact: never applied
        "sensors:co_belt": {HazardType.FIRE: 0.2},
    }
    table = threshold_table(intact, without)

    def rows(*dead: tuple[str, ...]) -> np.ndarray:
        out = np.zeros((len(dead), C), dtype=bool)
        for i, names in enumerate(dead):
            out[i, [CHANNEL_INDEX[n] for n in names]] = True
        return out

    missing = rows((), ("ch4_face",), ("o2_face",), ("co_belt",), ("ch4_face", "co_belt"), ("roof_convergence",))
    got = decision_thresholds(missing, intact, table)
    assert got[:, GAS].tolist() == [0.5, 0.1, 0.5, 0.5, 0.5, 0.5]  # two dead at once: uncalibrated, intact
    assert got[:, FIRE].tolist() == [0.5, 0.5, 0.5, 0.2, 0.5, 0.5]
    # at a site with no CO transmitter, a dead face head next to the absent CO channel is one dead channel
    site = fitted_mask([n for n in CHANNEL_NAMES if n != "co_belt"])
    assert decision_thresholds(missing, intact, table, site)[:, GAS].tolist() == [0.5, 0.1, 0.5, 0.5, 0.1, 0.5]
    assert decision_thresholds(missing, intact, table, site)[3, FIRE] == 0.5  # not fitted: not a failure


def test_a_hazard_without_any_source_of_evidence_at_the_site_is_not_decided() -> None:
    everything = evidenced_hazards(fitted_mask(None), camera=True, logbook=True)
    assert everything.all()
    gas_record = evidenced_hazards(fitted_mask(["ch4_face", "o2_face", "co_belt"]), camera=False, logbook=False)
    assert [h for h, on in zip(HAZARD_TYPES, gas_record, strict=True) if on] == [
        HazardType.GAS_ACCUMULATION,
        HazardType.FIRE,
    ]
    with_logbook = evidenced_hazards(fitted_mask(["ch4_face"]), camera=False, logbook=True)
    assert with_logbook[HAZARD_TYPES.index(HazardType.EQUIPMENT_FAULT)]  # "bearing noisy on belt drive 2"
    camera_only = evidenced_hazards(np.zeros(C, dtype=bool), camera=True, logbook=False)
    assert [h for h, on in zip(HAZARD_TYPES, camera_only, strict=True) if on] == [HazardType.PEOPLE]


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("threshold:gas_accumulation@sensors:ch4_fase", 0.1, "input one of"),
        ("threshold:gas@sensors:ch4_face", 0.1, "hazard one of"),
        ("threshold:fire@camera", 0.1, "input one of"),  # no longer a state of its own
        ("threshold:fire@sensors:co_belt", -0.1, "number >= 0"),
        ("threshold:fire@sensors:co_belt", True, "number >= 0"),
    ],
)
def test_a_bad_threshold_key_or_value_is_refused(key: str, value: float | bool, match: str) -> None:
    with pytest.raises(StateThresholdError, match=match):
        thresholds_without({key: value})


def mapping_only(path: Path, roles: tuple[str, ...]) -> None:
    """Keep only ``roles`` in the example's hazard channel mapping (the site has no transmitter for the rest)."""
    lines = path.read_text().splitlines(keepends=True)
    start = lines.index("  channels:                         # the model's channel roles -> this section's points\n")
    end = start + 1
    while lines[end].startswith("    "):
        end += 1
    kept = [line for line in lines[start + 1 : end] if line.strip().split(":")[0] in roles]
    assert len(kept) == len(roles)
    path.write_text("".join([*lines[: start + 1], *kept, *lines[end:]]))


async def decide_until_warning(tmp_path: Path, roles: tuple[str, ...]) -> tuple[list[float], HazardTask]:
    parameters = {**DEFAULT_PARAMETERS, "threshold:gas_accumulation@sensors:o2_face": 0.01}
    model_dir = build_tiny_hazard_model(tmp_path / "model", parameters=parameters)
    config(tmp_path, model_dir)
    mapping_only(tmp_path / "hazard.yaml", roles)
    loaded = load_config(tmp_path / "hazard.yaml")
    clock = FakeClock()
    changes: list[ConditionChange] = []
    task = build(loaded, clock, changes)
    return await run_until_warning(task, clock, changes), task  # methane and airflow only: o2_face3 never reports


async def test_a_dead_mapped_transmitter_selects_its_thresholds_and_an_unmapped_one_does_not(tmp_path: Path) -> None:
    decided, task = await decide_until_warning(tmp_path / "mapped", ("ch4_face", "airflow_face", "o2_face"))
    assert task.last_missing == ["o2_face"]
    assert task.last_limits[HazardType.GAS_ACCUMULATION] == pytest.approx(0.01)
    # no belt, fan, drive or roof transmitter, no camera, no logbook: those hazards have nothing to go on here
    assert task.last_limits[HazardType.FIRE] == float("inf")
    assert task.last_limits[HazardType.EQUIPMENT_FAULT] == float("inf")
    assert task.last_limits[HazardType.STRATA] == float("inf")
    assert task.status()["thresholds"]["fire"] is None  # JSON has no infinity
    assert task.status()["deciding_without"] == ["o2_face"]
    early = decided[-1]
    decided, task = await decide_until_warning(tmp_path / "unmapped", ("ch4_face", "airflow_face"))
    assert task.last_missing == []
    assert task.last_limits[HazardType.GAS_ACCUMULATION] == pytest.approx(0.5)
    assert early < decided[-1], "the lower threshold without o2_face warns at an earlier decision"
    decided, task = await decide_until_warning(tmp_path / "two", ("ch4_face", "airflow_face", "o2_face", "co_belt"))
    assert task.last_missing == ["o2_face", "co_belt"]
    assert task.last_limits[HazardType.GAS_ACCUMULATION] == pytest.approx(0.5), "two dead: the intact thresholds"
