"""Which transmitter a hazard decision is made without, and the warning thresholds that go with it.

A model trained with channel dropout still *ranks* well when one transmitter is dead, but its probabilities shift.
Without the face-methane head the gas probability of a real accumulation seldom reaches the threshold chosen with
every input present (session 5, selection split: 11 of 42 gas events, against 26 of 42 with a threshold chosen for
that state). So the export chooses, on the same validation normal days and within the same false-warning budget, a
set of thresholds for each sensor channel dead on its own, stored in the manifest as
``threshold:<hazard>@sensors:<channel>``.

The rule is deliberately narrow, because a first version that applied such thresholds to every missing input made
things worse (session 5, reverted in 19df2cd): the real gas record rose from 0.35 to 2.28 warnings a day, and
thresholds for a missing logbook cost 20 points of detection.

* Only a *fitted* channel counts: one the site maps to a transmitter. A channel a site has no transmitter for is its
  normal state, not a failure.
* A channel is dead when no sample of it is valid anywhere in the decision's sensor window (30 min): the state the
  thresholds were calibrated on. In the first half hour after a transmitter dies the model sees part of its history
  and the intact thresholds stay.
* Only when exactly one fitted channel is dead. Two or more dead at once (a data gap, a dead field bus) is a state
  nobody calibrated; most of the evidence is gone, and a lowered threshold would warn on noise.
* A threshold is only ever lowered: per hazard, the lower of the intact and the dead channel's threshold. A warning
  is advisory, rate-limited and never suppresses a statutory alarm, while a dead transmitter is exactly when the
  statutory rule on it is blind; raising a threshold there would silence the model when it matters most.
* The camera and the logbook are not states of their own: without log entries the probabilities on normal days
  rise, and thresholds chosen for that state cost detection (session 5).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

import numpy as np
from numpy.typing import NDArray

from edge.hazard.contract import CHANNEL_INDEX, CHANNEL_NAMES, HAZARD_TYPES, HazardType
from edge.hazard.model_input import SENSOR_ROWS

F32 = NDArray[np.float32]

MISSING_INPUTS: tuple[str, ...] = tuple(f"sensors:{c}" for c in CHANNEL_NAMES)
_C = len(CHANNEL_NAMES)


def fitted_mask(channels: Collection[str] | None) -> NDArray[np.bool_]:
    """``(len(CHANNEL_NAMES),)``: which channels a site has a transmitter for; ``None`` means all of them."""
    if channels is None:
        return np.ones(_C, dtype=bool)
    unknown = sorted(set(channels) - set(CHANNEL_NAMES))
    if unknown:
        raise ValueError(f"unknown sensor channel(s) {unknown}; allowed: {', '.join(CHANNEL_NAMES)}")
    mask = np.zeros(_C, dtype=bool)
    mask[[CHANNEL_INDEX[c] for c in channels]] = True
    return mask


def missing_mask(sensor_valid: F32) -> NDArray[np.bool_]:
    """``(N, len(MISSING_INPUTS))``: which channels have no valid sample in the whole window of each of N decisions.

    ``sensor_valid``: ``(N, SENSOR_TOKENS, channels)`` valid shares, unstandardised."""
    out: NDArray[np.bool_] = np.asarray(~(np.nan_to_num(sensor_valid) > 0).any(axis=1))
    return out


def missing_in_packed(packed: F32) -> NDArray[np.bool_]:
    """``missing_mask`` of unstandardised packed inputs ``(N, ROWS, COLUMNS)`` (``edge.hazard.model_input.pack``)."""
    return missing_mask(packed[:, SENSOR_ROWS, 2 * _C : 3 * _C])


def threshold_key(hazard: HazardType, missing: str | None = None) -> str:
    """The manifest parameter of ``hazard``'s threshold, with every input (``None``) or without ``missing``."""
    return f"threshold:{hazard.value}" if missing is None else f"threshold:{hazard.value}@{missing}"


class StateThresholdError(ValueError):
    pass


def thresholds_without(parameters: Mapping[str, float | int | str | bool]) -> dict[str, dict[HazardType, float]]:
    """The per-dead-channel thresholds of a manifest's parameters (none for a model exported before them).

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
    """``(len(MISSING_INPUTS), len(HAZARD_TYPES))``: each dead channel's thresholds, never above the intact ones
    (see the module docstring); the intact ones where none was chosen."""
    return np.array(
        [[min(intact[h], without.get(name, {}).get(h, intact[h])) for h in HAZARD_TYPES] for name in MISSING_INPUTS],
        dtype=np.float64,
    )


def decision_thresholds(
    missing: NDArray[np.bool_],
    intact: Mapping[HazardType, float],
    table: NDArray[np.float64],
    fitted: NDArray[np.bool_] | None = None,
) -> NDArray[np.float64]:
    """``(N, len(HAZARD_TYPES))`` thresholds of decisions with ``missing`` channels (``missing_mask``) at a site
    with ``fitted`` channels (``fitted_mask``; all by default): the dead channel's row of ``table`` when exactly one
    fitted channel is dead, the intact thresholds otherwise (see the module docstring)."""
    dead = missing & (np.ones(_C, dtype=bool) if fitted is None else fitted)[None, :]
    base = np.array([intact[h] for h in HAZARD_TYPES], dtype=np.float64)
    one = dead.sum(axis=1) == 1
    out = np.repeat(base[None, :], len(missing), axis=0)
    out[one] = table[np.argmax(dead[one], axis=1)]
    return out


def dead_channels(missing: NDArray[np.bool_], fitted: NDArray[np.bool_] | None = None) -> list[str]:
    """The fitted channels one decision's ``missing`` row (``missing_mask``) shows dead, by name."""
    keep = missing if fitted is None else missing & fitted
    return [name for name, gone in zip(CHANNEL_NAMES, keep, strict=True) if gone]


# What can evidence each hazard at a site. A site with none of a hazard's sources gives the model nothing to
# decide it on, and whatever it outputs for that hazard is an artefact of the absent inputs: on the real gas
# record (methane, oxygen and belt CO; no camera, no logbook) a model trained on full sections warned of
# equipment faults a dozen times without a single vibration or bearing transmitter. "camera" and "logbook" name
# the other two modalities.
HAZARD_EVIDENCE: Mapping[HazardType, tuple[str, ...]] = {
    HazardType.GAS_ACCUMULATION: ("ch4_face", "ch4_return", "airflow_face", "o2_face"),
    HazardType.FIRE: ("co_belt", "smoke_belt", "temp_belt", "bearing_temp_fan", "bearing_temp_belt_drive"),
    HazardType.EQUIPMENT_FAULT: ("vib_fan", "bearing_temp_fan", "vib_belt_drive", "bearing_temp_belt_drive", "logbook"),
    HazardType.STRATA: ("roof_convergence", "rock_pressure"),
    HazardType.PEOPLE: ("camera",),
}


def evidenced_hazards(fitted: NDArray[np.bool_], *, camera: bool, logbook: bool) -> NDArray[np.bool_]:
    """``(len(HAZARD_TYPES),)``: which hazards a site with ``fitted`` channels (``fitted_mask``), a camera or not and
    a logbook or not has any source of evidence for (``HAZARD_EVIDENCE``); the others never warn there."""
    present = {name for name, on in zip(CHANNEL_NAMES, fitted, strict=True) if on}
    if camera:
        present.add("camera")
    if logbook:
        present.add("logbook")
    return np.array([bool(present & set(HAZARD_EVIDENCE[h])) for h in HAZARD_TYPES], dtype=bool)
