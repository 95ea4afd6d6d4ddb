"""Which inputs a decision is without, and the thresholds chosen for that (edge.hazard.availability): the mask from a
packed input, the manifest keys, the lowest-threshold rule, and the running hazard task using them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hazard_runtime_fixtures import DEFAULT_PARAMETERS, build_tiny_hazard_model
from test_hazard_task import build, config, feed

from edge.clock import FakeClock
from edge.hazard.availability import (
    MISSING_INPUTS,
    RECENT_TOKENS,
    StateThresholdError,
    decision_thresholds,
    missing_in_packed,
    threshold_table,
    thresholds_without,
)
from edge.hazard.contract import CAMERA_WINDOW_TOKENS, CHANNEL_INDEX, CHANNEL_NAMES, HAZARD_TYPES, HazardType
from edge.hazard.features import CameraTokens
from edge.hazard.model_input import SENSOR_TOKENS, TEXT_EMBEDDING_DIM, pack
from edge.rules.signals import ConditionChange

C = len(CHANNEL_NAMES)


def packed(*, dead: tuple[str, ...] = (), dead_early: tuple[str, ...] = (), camera: bool = True, text: bool = True):  # type: ignore[no-untyped-def]
    sensors = np.ones((SENSOR_TOKENS, 3 * C), dtype=np.float32)
    for name in dead:
        sensors[-RECENT_TOKENS:, 2 * C + CHANNEL_INDEX[name]] = 0.0
    for name in dead_early:  # silent once, 20 min ago, reporting again since
        sensors[: SENSOR_TOKENS - RECENT_TOKENS, 2 * C + CHANNEL_INDEX[name]] = 0.0
    values = np.zeros((CAMERA_WINDOW_TOKENS, 6), dtype=np.float32)
    values[:, -1] = 1.0 if camera else 0.0
    n = 2 if text else 0
    return pack(
        sensors,
        CameraTokens(values, np.full(CAMERA_WINDOW_TOKENS, camera)),
        np.ones((n, TEXT_EMBEDDING_DIM), dtype=np.float32),
        np.zeros(n, dtype=np.float32),
    )


def names(mask: np.ndarray) -> list[str]:
    return [n for n, gone in zip(MISSING_INPUTS, mask, strict=True) if gone]


def test_the_missing_inputs_of_a_packed_decision() -> None:
    batch = np.stack(
        [
            packed(),
            packed(dead=("ch4_face",)),
            packed(dead_early=("ch4_face",)),
            packed(camera=False),
            packed(text=False),
            packed(camera=False, text=False, dead=("co_belt", "o2_face")),
        ]
    )
    mask = missing_in_packed(batch)
    assert [names(m) for m in mask] == [
        [],
        ["sensors:ch4_face"],
        [],  # reporting for the last 5 min again: the intact thresholds
        ["camera"],
        ["text"],
        ["sensors:o2_face", "sensors:co_belt", "camera+text"],  # no camera and no log is a state of its own
    ]


def test_thresholds_without_an_input_come_from_the_manifest_and_the_lowest_wins() -> None:
    intact = dict.fromkeys(HAZARD_TYPES, 0.5)
    without = thresholds_without(
        {
            "threshold:gas_accumulation": 0.5,
            "threshold:gas_accumulation@sensors:ch4_face": 0.1,
            "threshold:gas_accumulation@camera": 0.7,
            "threshold:fire@sensors:co_belt": 0.2,
            "decision_period_s": 30,
        }
    )
    assert without == {
        "sensors:ch4_face": {HazardType.GAS_ACCUMULATION: 0.1},
        "camera": {HazardType.GAS_ACCUMULATION: 0.7},
        "sensors:co_belt": {HazardType.FIRE: 0.2},
    }
    table = threshold_table(intact, without)
    rows = np.zeros((4, len(MISSING_INPUTS)), dtype=bool)
    rows[1, MISSING_INPUTS.index("camera")] = True
    rows[2, MISSING_INPUTS.index("camera")] = True
    rows[2, MISSING_INPUTS.index("sensors:ch4_face")] = True
    rows[3, MISSING_INPUTS.index("sensors:roof_convergence")] = True  # none chosen for it: the intact ones
    got = decision_thresholds(rows, intact, table)
    gas, fire = HAZARD_TYPES.index(HazardType.GAS_ACCUMULATION), HAZARD_TYPES.index(HazardType.FIRE)
    assert got[:, gas].tolist() == [0.5, 0.7, 0.1, 0.5]
    assert got[:, fire].tolist() == [0.5, 0.5, 0.5, 0.5]


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("threshold:gas_accumulation@sensors:ch4_fase", 0.1, "input one of"),
        ("threshold:gas@camera", 0.1, "hazard one of"),
        ("threshold:fire@text", -0.1, "number >= 0"),
        ("threshold:fire@text", True, "number >= 0"),
    ],
)
def test_a_bad_threshold_key_or_value_is_refused(key: str, value: float | bool, match: str) -> None:
    with pytest.raises(StateThresholdError, match=match):
        thresholds_without({key: value})


async def decide_until_warning(tmp_path: Path, *, unmap: str | None = None) -> tuple[list[float], object]:
    parameters = {**DEFAULT_PARAMETERS, "threshold:gas_accumulation@sensors:o2_face": 0.01}
    model_dir = build_tiny_hazard_model(tmp_path / "model", parameters=parameters)
    loaded = config(tmp_path, model_dir)
    if unmap is not None:
        text = (tmp_path / "hazard.yaml").read_text()
        assert unmap in text
        (tmp_path / "hazard.yaml").write_text(text.replace(unmap, ""))
        from edge.config.resolve import load_config

        loaded = load_config(tmp_path / "hazard.yaml")
    clock = FakeClock()
    changes: list[ConditionChange] = []
    task = build(loaded, clock, changes)
    task.restart_clock()
    decided: list[float] = []
    try:
        for second in range(700):
            feed(task, clock, second)  # methane and airflow only: o2_face3 never reports
            task.sampler.advance(clock.monotonic())
            due = task.due_decision()
            if due is not None:
                decided.append(due)
                await task.decide(due)
            if changes:
                break
            clock.advance(1.0)
    finally:
        await task.worker.close()
    return decided, task


async def test_a_dead_mapped_transmitter_selects_its_thresholds_and_an_unmapped_one_does_not(tmp_path: Path) -> None:
    decided, task = await decide_until_warning(tmp_path / "mapped")
    assert "sensors:o2_face" in task.last_missing  # type: ignore[attr-defined]
    assert task.last_limits[HazardType.GAS_ACCUMULATION] == pytest.approx(0.01)  # type: ignore[attr-defined]
    assert task.status()["deciding_without"] == task.last_missing  # type: ignore[attr-defined]
    early = decided[-1]
    decided, task = await decide_until_warning(tmp_path / "unmapped", unmap="    o2_face: o2_face3\n")
    assert "sensors:o2_face" not in task.last_missing  # type: ignore[attr-defined]
    assert task.last_limits[HazardType.GAS_ACCUMULATION] == pytest.approx(0.5)  # type: ignore[attr-defined]
    assert early < decided[-1], "the lower threshold without o2_face warns at an earlier decision"
