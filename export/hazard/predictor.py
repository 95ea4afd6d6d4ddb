"""The interface every hazard early-warning predictor implements, so the baselines and the neural model are scored
by the same code on the same episodes.

A predictor is fitted on training episodes (``fit``; ``validation`` episodes are for choosing thresholds and must
come from training seeds, never from the test set) and then, per episode, returns decision tracks
(``tracks``). ``warnings`` merges them under the shared ``WarningPolicy``; a predictor does not override it.
``forecast`` optionally returns the face-methane forecast at the contract's horizons.

Predictors only see what a gateway would see: the observed sensors, the camera stream and the logs. The ground
truth fields of an episode (``sensors_clean``, ``events``, ``crossings``, ``hazard_active``, ``camera_truth``) are
for training labels and scoring only.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge.hazard.contract import FORECAST_HORIZONS_S
from edge.sim.hazard.episode import Episode
from export.hazard.warnings import DecisionTrack, MergedWarnings, WarningPolicy, merge_tracks


@dataclass(frozen=True)
class Forecast:
    """Face methane (``FORECAST_CHANNEL``) forecast at ``FORECAST_HORIZONS_S`` for decision sample indices ``at``."""

    at: NDArray[np.int64]
    values: NDArray[np.float64]  # (len(at), len(FORECAST_HORIZONS_S))

    def __post_init__(self) -> None:
        if self.values.shape != (self.at.shape[0], len(FORECAST_HORIZONS_S)):
            raise ValueError(
                f"forecast values must be ({self.at.shape[0]}, {len(FORECAST_HORIZONS_S)}), got {self.values.shape}"
            )


class Predictor(abc.ABC):
    """Base class of hazard early-warning predictors."""

    name: str = "predictor"
    modalities: tuple[str, ...] = ("sensors", "camera", "text")

    def fit(self, train: Sequence[Episode], validation: Sequence[Episode]) -> None:  # noqa: B027
        """Learn from ``train``; choose thresholds on ``validation``. Rules need neither."""

    @abc.abstractmethod
    def tracks(self, episode: Episode) -> list[DecisionTrack]:
        """Per-decision outputs on ``episode`` (only what a gateway observes may be read)."""

    def forecast(self, episode: Episode) -> Forecast | None:
        return None

    def warnings(self, episode: Episode, policy: WarningPolicy) -> MergedWarnings:
        return merge_tracks(self.tracks(episode), policy)

    def describe(self) -> dict[str, object]:
        """Parameters worth recording in the results (thresholds, windows, training size)."""
        return {"name": self.name, "modalities": list(self.modalities)}
