"""Which inputs a hazard decision is made without, and the warning thresholds that go with it.

A model trained with modality dropout still *ranks* well when a transmitter, the camera or the logbook is missing,
but its probabilities shift. Without the face-methane head the gas probability of a real accumulation seldom
reaches the threshold chosen with every input present (session 5, selection split: 11 of 42 gas events, against
26 of 42 with a threshold chosen for that state); without log entries the probabilities on normal days rise (2.35
false warnings a day on validation at the intact thresholds). So the export chooses, on the same validation normal
days and within the same false-warning budget, one set of thresholds per missing input, stored in the manifest as
``threshold:<hazard>@<input>``, and every decision uses the set for what it is missing.

An input is missing when the decision's packed input shows it: a sensor channel with no valid sample in its last
``RECENT_TOKENS`` sensor tokens (5 min), the camera with no token holding a valid frame, the logbook with no entry
in the text window. A gateway with neither a camera nor log entries -- a common installation -- is its own input
state, ``camera+text``, with thresholds chosen for it. With several inputs missing at once (a dead transmitter on
such a gateway, two dead transmitters), each hazard takes the lowest of their thresholds: those combinations are not
calibrated, and the choice leans toward warning because a missing transmitter is exactly when the statutory rule on
it is blind, while a warning is advisory, rate-limited and never suppresses a statutory alarm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from edge.hazard.contract import CHANNEL_NAMES, HAZARD_TYPES, HazardType
from edge.hazard.model_input import CAMERA_COLUMNS, CAMERA_ROWS, SENSOR_ROWS, TEXT_COLUMNS, TEXT_ROWS

F32 = NDArray[np.float32]

RECENT_TOKENS = 10  # 5 min of 30 s sensor tokens
MISSING_INPUTS: tuple[str, ...] = (*(f"sensors:{c}" for c in CHANNEL_NAMES), "camera", "text", "camera+text")
_C = len(CHANNEL_NAMES)


def missing_mask(sensor_valid: F32, camera_valid: F32, text_present: F32) -> NDArray[np.bool_]:
    """``(N, len(MISSING_INPUTS))``: which inputs each of N decisions is without.

    ``sensor_valid`` ``(N, SENSOR_TOKENS, channels)`` valid shares, ``camera_valid`` ``(N, CAMERA_WINDOW_TOKENS)``,
    ``text_present`` ``(N, TEXT_MAX_ENTRIES)``, all unstandardised."""
    sensors = ~(np.nan_to_num(sensor_valid[:, -RECENT_TOKENS:, :]) > 0).any(axis=1)
    camera: NDArray[np.bool_] = np.asarray(~(np.nan_to_num(camera_valid) > 0).any(axis=1))
    text: NDArray[np.bool_] = np.asarray(~(np.nan_to_num(text_present) > 0).any(axis=1))
    both = camera & text
    out: NDArray[np.bool_] = np.concatenate(
        [sensors, (camera & ~both)[:, None], (text & ~both)[:, None], both[:, None]], axis=1
    )
    return out


def missing_in_packed(packed: F32) -> NDArray[np.bool_]:
    """``missing_mask`` of unstandardised packed inputs ``(N, ROWS, COLUMNS)`` (``edge.hazard.model_input.pack``)."""
    return missing_mask(
        packed[:, SENSOR_ROWS, 2 * _C : 3 * _C],
        packed[:, CAMERA_ROWS, CAMERA_COLUMNS.stop - 1],
        packed[:, TEXT_ROWS, TEXT_COLUMNS.stop - 1],
    )


def threshold_key(hazard: HazardType, missing: str | None = None) -> str:
    """The manifest parameter of ``hazard``'s threshold, with every input (``None``) or without ``missing``."""
    return f"threshold:{hazard.value}" if missing is None else f"threshold:{hazard.value}@{missing}"


class StateThresholdError(ValueError):
    pass


def thresholds_without(parameters: Mapping[str, float | int | str | bool]) -> dict[str, dict[HazardType, float]]:
    """The per-missing-input thresholds of a manifest's parameters (none for a model exported before them).

    A key naming an unknown input or hazard, or a value that is not a number >= 0, is refused: a typo would
    otherwise silently fall back to the intact thresholds."""
    out: dict[str, dict[HazardType, float]] = {}
    hazards = {h.value: h for h in HAZARD_TYPES}
    for key, value in parameters.items():
        if not key.startswith("threshold:") or "@" not in key:
            continue
        hazard_name, _, missing = key.removeprefix("threshold:").partition("@")
        if hazard_name not in hazards or missing not in MISSING_INPUTS:
            raise StateThresholdError(
                f"parameter {key!r}: expected threshold:<hazard>@<input> with hazard one of {', '.join(hazards)} and "
                f"input one of {', '.join(MISSING_INPUTS)}"
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise StateThresholdError(f"parameter {key!r} must be a number >= 0 (> 1 never warns), got {value!r}")
        out.setdefault(missing, {})[hazards[hazard_name]] = float(value)
    return out


def threshold_table(
    intact: Mapping[HazardType, float], without: Mapping[str, Mapping[HazardType, float]]
) -> NDArray[np.float64]:
    """``(len(MISSING_INPUTS), len(HAZARD_TYPES))``: each input's thresholds; the intact ones where none was chosen."""
    return np.array(
        [[without.get(name, {}).get(h, intact[h]) for h in HAZARD_TYPES] for name in MISSING_INPUTS], dtype=np.float64
    )


def decision_thresholds(
    missing: NDArray[np.bool_], intact: Mapping[HazardType, float], table: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``(N, len(HAZARD_TYPES))`` thresholds for decisions with ``missing`` (``missing_mask``): the intact ones, or
    per hazard the lowest over the missing inputs' thresholds (see the module docstring)."""
    base = np.array([intact[h] for h in HAZARD_TYPES], dtype=np.float64)
    masked = np.where(missing[:, :, None], table[None, :, :], np.inf).min(axis=1)
    any_missing: NDArray[np.bool_] = np.asarray(missing.any(axis=1))
    out: NDArray[np.float64] = np.where(any_missing[:, None], masked, base[None, :])
    return out
