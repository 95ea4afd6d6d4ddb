"""One decision's three modalities, packed for the model, and the same input with one modality or one sensor
channel masked for the evidence pass.

Masking is exactly what missing data looks like to the model, so "how much does the probability drop without X"
asks the model the question it was trained to answer: a sensor channel's samples NaN (a dead transmitter), the
camera without a valid frame, no log entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from edge.hazard.camera_rows import masked_camera
from edge.hazard.contract import CHANNEL_INDEX
from edge.hazard.features import CameraTokens
from edge.hazard.model_input import TEXT_EMBEDDING_DIM, pack, sensor_block

F32 = NDArray[np.float32]

MODALITIES: tuple[str, ...] = ("sensors", "camera", "text")


@dataclass(frozen=True)
class DecisionInput:
    sensors: F32  # (SENSOR_WINDOW_S, channels), NaN where missing
    camera: CameraTokens
    text_vectors: F32  # (entries, TEXT_EMBEDDING_DIM), newest first
    text_age_s: F32  # (entries,)

    def packed(self) -> F32:
        return pack(sensor_block(self.sensors), self.camera, self.text_vectors, self.text_age_s)

    def masked(self, group: str) -> F32:
        """The packed input without ``group``: a modality name or ``"sensors:<channel>"``."""
        if group == "sensors":
            return replace(self, sensors=np.full_like(self.sensors, np.nan)).packed()
        if group == "camera":
            return replace(self, camera=masked_camera()).packed()
        if group == "text":
            empty = np.zeros((0, TEXT_EMBEDDING_DIM), np.float32)
            return replace(self, text_vectors=empty, text_age_s=np.zeros(0, np.float32)).packed()
        modality, _, channel = group.partition(":")
        if modality != "sensors" or channel not in CHANNEL_INDEX:
            raise ValueError(f"unknown evidence group {group!r}: a modality {MODALITIES} or 'sensors:<channel>'")
        sensors = self.sensors.copy()
        sensors[:, CHANNEL_INDEX[channel]] = np.nan
        return replace(self, sensors=sensors).packed()

    def measured_channels(self) -> list[str]:
        """Channels with at least one sample in the window (masking the others changes nothing)."""
        seen: NDArray[np.bool_] = np.asarray(np.isfinite(self.sensors).any(axis=0))
        return [name for name, i in CHANNEL_INDEX.items() if seen[i]]

    def evidence_batch(self) -> tuple[list[str], F32]:
        """Group names and a batch whose row 0 is the full input and row ``g + 1`` the input without group ``g``."""
        groups = [*MODALITIES, *(f"sensors:{c}" for c in self.measured_channels())]
        rows = [self.packed(), *(self.masked(g) for g in groups)]
        return groups, np.stack(rows).astype(np.float32)


def rank_evidence(
    groups: Sequence[str], scores: Sequence[float], *, top_channels: int = 3
) -> tuple[tuple[str, float], ...]:
    """Evidence from an evidence batch's scores of one hazard (its logit; row 0 full, then one per group): the
    modalities by how much the score drops without them, then the ``top_channels`` sensor channels."""
    if len(scores) != len(groups) + 1:
        raise ValueError(f"{len(groups)} groups need {len(groups) + 1} scores, got {len(scores)}")
    full = float(scores[0])
    drops = [(g, full - float(p)) for g, p in zip(groups, scores[1:], strict=True)]
    modalities = sorted((d for d in drops if ":" not in d[0]), key=lambda d: -d[1])
    channels = sorted((d for d in drops if ":" in d[0]), key=lambda d: -d[1])[:top_channels]
    return tuple((name, round(v, 4)) for name, v in modalities + channels)
