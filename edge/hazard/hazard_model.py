"""The loaded hazard model: its contract checked against ``edge.hazard.model_input``, its decision parameters read
from the manifest, its raw outputs decoded.

A model whose input layout, feature names or output labels differ from the packing code, or whose manifest lacks a
decision parameter, is refused (``HazardModelRefused``) with the figure that disagrees: it would otherwise run and
compute something meaningless.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from edge.hazard.availability import StateThresholdError, thresholds_without
from edge.hazard.contract import FORECAST_HORIZONS_S, HAZARD_TYPES, RISK_HORIZONS_S, HazardType
from edge.hazard.model_input import (
    COLUMNS,
    FEATURE_NAMES,
    FORECAST_OUTPUTS,
    HAZARD_OUTPUTS,
    OUTPUT_LABELS,
    RISK_OUTPUTS,
    ROWS,
    finite,
)
from edge.inference.model import LoadedModel

F32 = NDArray[np.float32]


class HazardModelRefused(ValueError):
    """The model directory does not hold a hazard model this gateway can run."""


@dataclass(frozen=True, slots=True)
class DecisionParameters:
    thresholds: Mapping[HazardType, float]  # probability at or above which a hazard's condition holds; > 1: never
    decision_period_s: int  # story seconds between decisions
    min_history_s: float  # story seconds of sensor history before the first decision
    text_encoder: str  # the encoder name the model was trained with
    # per dead channel (edge.hazard.availability.MISSING_INPUTS), the thresholds chosen for decisions without it
    thresholds_without: Mapping[str, Mapping[HazardType, float]] = field(default_factory=dict)

    @classmethod
    def from_manifest(cls, name: str, parameters: Mapping[str, float | int | str | bool]) -> DecisionParameters:
        def need(key: str, what: str) -> float | int | str | bool:
            if key not in parameters:
                raise HazardModelRefused(
                    f"hazard model {name!r}: the manifest's parameters have no {key!r} ({what}); re-export the "
                    f"model with it (present: {', '.join(sorted(parameters)) or 'none'})"
                )
            return parameters[key]

        thresholds: dict[HazardType, float] = {}
        for hazard in HAZARD_TYPES:
            value = need(f"threshold:{hazard.value}", "decision threshold, a probability; > 1 never warns")
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise HazardModelRefused(
                    f"hazard model {name!r}: threshold:{hazard.value} must be a number >= 0, got {value!r}"
                )
            thresholds[hazard] = float(value)
        period = need("decision_period_s", "seconds between decisions")
        if isinstance(period, bool) or not isinstance(period, int | float) or period < 1 or period != int(period):
            raise HazardModelRefused(
                f"hazard model {name!r}: decision_period_s must be an integer >= 1, got {period!r}"
            )
        history = need("min_history_s", "seconds of sensor history before the first decision")
        if isinstance(history, bool) or not isinstance(history, int | float) or history < 0:
            raise HazardModelRefused(f"hazard model {name!r}: min_history_s must be a number >= 0, got {history!r}")
        encoder = need("text_encoder", "the text encoder name the model was trained with")
        try:
            without = thresholds_without(parameters)
        except StateThresholdError as exc:
            raise HazardModelRefused(f"hazard model {name!r}: {exc}") from None
        return cls(thresholds, int(period), float(history), str(encoder), without)


@dataclass(frozen=True, slots=True)
class HazardOutputs:
    """One decision's model outputs as probabilities and %vol."""

    probability: Mapping[HazardType, float]
    risk: tuple[float, ...]  # P(statutory threshold crossed within RISK_HORIZONS_S[i])
    forecast: tuple[float, ...]  # face methane %vol at FORECAST_HORIZONS_S[i]

    @classmethod
    def from_row(cls, row: F32) -> HazardOutputs:
        if row.shape != (len(OUTPUT_LABELS),):
            raise ValueError(f"a hazard output row has {len(OUTPUT_LABELS)} values, got shape {row.shape}")
        p = _sigmoid(row[HAZARD_OUTPUTS])
        return cls(
            probability={h: float(v) for h, v in zip(HAZARD_TYPES, p, strict=True)},
            risk=tuple(float(v) for v in _sigmoid(row[RISK_OUTPUTS])),
            forecast=tuple(float(v) for v in row[FORECAST_OUTPUTS]),
        )


def _sigmoid(logits: F32) -> NDArray[np.float64]:
    x = np.clip(logits.astype(np.float64), -60.0, 60.0)
    out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-x))
    return out


class HazardModel:
    """A checked ``LoadedModel`` of the hazard task; ``run`` is what the inference worker calls (one thread)."""

    def __init__(self, loaded: LoadedModel) -> None:
        manifest = loaded.manifest
        name = manifest.name
        spec = manifest.inputs[0]
        if len(manifest.inputs) != 1 or list(spec.shape[1:]) != [ROWS, COLUMNS]:
            raise HazardModelRefused(
                f"hazard model {name!r} takes {[list(i.shape) for i in manifest.inputs]}; the packed input is one "
                f"(batch, {ROWS}, {COLUMNS}) tensor (edge.hazard.model_input)"
            )
        if list(manifest.normalisation.features) != list(FEATURE_NAMES):
            first = next(
                (
                    i
                    for i, (a, b) in enumerate(zip(manifest.normalisation.features, FEATURE_NAMES, strict=False))
                    if a != b
                ),
                min(len(manifest.normalisation.features), len(FEATURE_NAMES)),
            )
            raise HazardModelRefused(
                f"hazard model {name!r}: its feature names differ from edge.hazard.model_input.FEATURE_NAMES from "
                f"column {first}: the model was packed differently from this gateway"
            )
        if list(manifest.labels) != list(OUTPUT_LABELS):
            raise HazardModelRefused(
                f"hazard model {name!r}: output labels {manifest.labels} differ from {list(OUTPUT_LABELS)}"
            )
        if len(RISK_HORIZONS_S) != len(FORECAST_HORIZONS_S) or not RISK_HORIZONS_S:
            raise HazardModelRefused("the hazard contract's horizons are inconsistent")  # guards a contract edit
        self.loaded = loaded
        self.parameters = DecisionParameters.from_manifest(name, manifest.parameters)

    @property
    def name(self) -> str:
        return self.loaded.manifest.name

    def run(self, packed: F32) -> F32:
        """Raw outputs ``(B, 11)`` for packed, unstandardised inputs ``(B, ROWS, COLUMNS)`` (NaN = not measured)."""
        return self.loaded.backend.run(finite(self.loaded.normalise(packed)))
