"""Decision rows for the fusion model, in a compact form that expands to the packed model input on demand.

A decision at sample index ``e`` sees the window ending at ``e`` inclusive. Decisions sit on the sensor-token grid
(``e + 1`` a multiple of ``SENSOR_TOKEN_S``), so the sensor tokens of every decision of an episode are slices of
one per-episode array of token statistics, computed once; ``sensor_block`` of the decision's window gives exactly
the same numbers (tested). Camera tokens and the text window are cut per decision by ``edge.hazard.features``.
Texts are stored as indices into a table of distinct texts, encoded once by the gateway's text encoder.

Labels per decision:

* hazard (multi-label, ``HAZARD_TYPES``): positive from an event's onset to its deadline (the whole event for
  people: its deadline is the first violation, seconds after onset); unlabelled (weight 0) after the deadline while
  the event lasts -- the statutory alarm has spoken -- and during events that never reach a deadline (a fan
  restarted in time is neither "due" nor normal); negative elsewhere;
* risk: a statutory alarm-level activation within each of ``RISK_HORIZONS_S`` (``ground_truth.risk_labels``);
* forecast: the clean face methane at each of ``FORECAST_HORIZONS_S`` (NaN past the episode's end).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge.hazard.contract import (
    CHANNEL_INDEX,
    FORECAST_CHANNEL,
    HAZARD_TYPES,
    SENSOR_WINDOW_S,
    TEXT_MAX_ENTRIES,
    TEXT_WINDOW_S,
    HazardType,
)
from edge.hazard.features import camera_tokens, text_window
from edge.hazard.model_input import (
    CAMERA_COLUMNS,
    CAMERA_ROWS,
    COLUMNS,
    ROWS,
    SENSOR_COLUMNS,
    SENSOR_ROWS,
    SENSOR_TOKEN_S,
    SENSOR_TOKENS,
    TEXT_COLUMNS,
    TEXT_EMBEDDING_DIM,
    TEXT_ROWS,
    sensor_block,
)
from edge.sim.hazard.episode import Episode
from edge.sim.hazard.ground_truth import forecast_targets, risk_labels
from edge.text.encoder import Encoder

F32 = NDArray[np.float32]
I64 = NDArray[np.int64]
NO_TEXT = -1


def token_stats(sensors: F32) -> F32:
    """Per aligned ``SENSOR_TOKEN_S`` block of the whole episode: ``(n // SENSOR_TOKEN_S, 3 * channels)`` as
    ``sensor_block`` computes them (block ``k`` covers samples ``[k * 30, k * 30 + 30)``)."""
    blocks = sensors.shape[0] // SENSOR_TOKEN_S
    usable = sensors[: blocks * SENSOR_TOKEN_S]
    # sensor_block works on a whole window's worth of blocks; feed it SENSOR_TOKENS blocks at a time
    out = np.empty((blocks, 3 * sensors.shape[1]), dtype=np.float32)
    for start in range(0, blocks, SENSOR_TOKENS):
        chunk = usable[start * SENSOR_TOKEN_S : (start + SENSOR_TOKENS) * SENSOR_TOKEN_S]
        real = chunk.shape[0] // SENSOR_TOKEN_S
        if real < SENSOR_TOKENS:
            pad = np.full((SENSOR_WINDOW_S - chunk.shape[0], sensors.shape[1]), np.nan, dtype=np.float32)
            chunk = np.concatenate([chunk, pad])
        out[start : start + real] = sensor_block(chunk)[:real]
    return out


def decision_ends(episode: Episode, stride_s: int) -> I64:
    """Sample indices of the decisions: on the token grid, every ``stride_s`` (a multiple of the token), from the
    first full window on."""
    if stride_s % SENSOR_TOKEN_S:
        raise ValueError(f"stride_s must be a multiple of {SENSOR_TOKEN_S} s (the sensor token), got {stride_s}")
    return np.arange(SENSOR_WINDOW_S - 1, episode.sensors.shape[0], stride_s, dtype=np.int64)


STATUTORY_HAZARDS = (HazardType.GAS_ACCUMULATION, HazardType.FIRE)


def hazard_targets(episode: Episode, ends: I64, due_window_s: float | None = None) -> tuple[F32, F32]:
    """Multi-label targets and weights ``(len(ends), len(HAZARD_TYPES))`` (see the module docstring).

    With ``due_window_s``, gas and fire (the hazards with a statutory deadline) are positive only in the last
    ``due_window_s`` before the deadline and unlabelled between onset and then: the label then asks "is the
    statutory alarm due within this window", which the sensors can answer, instead of "has the event begun", which
    for a slow methane make increase they cannot for most of an hour."""
    t = episode.sensor_t[ends]
    y = np.zeros((t.shape[0], len(HAZARD_TYPES)), dtype=np.float32)
    w = np.ones_like(y)
    for event in episode.events:
        k = HAZARD_TYPES.index(event.hazard)
        during = (t >= event.onset_s) & (t <= max(event.end_s, event.deadline_s or -np.inf))
        if event.hazard is HazardType.PEOPLE:
            y[during, k] = 1.0
        elif event.deadline_s is None:
            w[during, k] = 0.0
        else:
            start = event.onset_s
            if due_window_s is not None and event.hazard in STATUTORY_HAZARDS:
                start = max(event.onset_s, event.deadline_s - due_window_s)
                w[(t >= event.onset_s) & (t < start), k] = 0.0
            due = (t >= start) & (t <= event.deadline_s)
            y[due, k] = 1.0
            w[during & (t > event.deadline_s), k] = 0.0
    return y, w


@dataclass
class DecisionRows:
    """Compact decision rows of a set of episodes (see ``expand`` for the model input)."""

    sensor: F32  # (N, SENSOR_TOKENS, 3C) raw token statistics
    camera: F32  # (N, CAMERA_WINDOW_TOKENS, fields + 1)
    text_index: NDArray[np.int32]  # (N, TEXT_MAX_ENTRIES) into the text table, NO_TEXT for an empty slot
    text_age_s: F32  # (N, TEXT_MAX_ENTRIES)
    hazard: F32  # (N, H) targets
    hazard_weight: F32  # (N, H)
    risk: F32  # (N, len(RISK_HORIZONS_S))
    forecast: F32  # (N, len(FORECAST_HORIZONS_S)) clean face methane, NaN where unknown
    episode: NDArray[np.int32]  # (N,) index of the row's episode in the list given to build_rows
    end: I64  # (N,) sample index of the decision in its episode

    def __len__(self) -> int:
        return int(self.sensor.shape[0])

    def take(self, index: I64) -> DecisionRows:
        return DecisionRows(**{name: getattr(self, name)[index] for name in self.__dataclass_fields__})


class TextTable:
    """Distinct log texts and their encoder vectors (row 0..n-1); grows as new texts appear."""

    def __init__(self, encoder: Encoder) -> None:
        if encoder.dim != TEXT_EMBEDDING_DIM:
            raise ValueError(
                f"text encoder {encoder.name!r} gives {encoder.dim}-d vectors; the fusion model reads "
                f"{TEXT_EMBEDDING_DIM}-d (the MiniLM sentence encoder, models/text/minilm)"
            )
        self.encoder = encoder
        self.index: dict[str, int] = {}
        self._pending: list[str] = []
        self._vectors = np.zeros((0, TEXT_EMBEDDING_DIM), dtype=np.float32)

    def id_of(self, text: str) -> int:
        found = self.index.get(text)
        if found is None:
            found = self.index[text] = len(self.index)
            self._pending.append(text)
        return found

    @property
    def vectors(self) -> F32:
        if self._pending:
            self._vectors = np.concatenate([self._vectors, self.encoder.encode(self._pending)])
            self._pending = []
        return self._vectors


def episode_rows(
    episode: Episode,
    ends: I64,
    table: TextTable,
    episode_index: int = 0,
    *,
    due_window_s: float | None = None,
) -> DecisionRows:
    stats = token_stats(episode.sensors)
    first_block = (ends + 1) // SENSOR_TOKEN_S - SENSOR_TOKENS
    sensor = stats[first_block[:, None] + np.arange(SENSOR_TOKENS)[None, :]]
    t_end = episode.sensor_t[ends]
    camera = (
        np.stack(
            [camera_tokens(episode.camera_t, episode.camera, episode.camera_valid, float(t)).values for t in t_end]
        )
        if ends.shape[0]
        else np.zeros((0, 30, 6), dtype=np.float32)
    )
    text_index = np.full((ends.shape[0], TEXT_MAX_ENTRIES), NO_TEXT, dtype=np.int32)
    text_age = np.zeros((ends.shape[0], TEXT_MAX_ENTRIES), dtype=np.float32)
    logs = sorted(episode.logs, key=lambda e: e.t_s)
    for i, t in enumerate(t_end):
        for slot, (age, entry) in enumerate(text_window(logs, float(t))):
            text_index[i, slot] = table.id_of(entry.text)
            text_age[i, slot] = age
    hazard, weight = hazard_targets(episode, ends, due_window_s)
    risk = risk_labels(episode.crossings, episode.sensors.shape[0])[ends].astype(np.float32)
    clean = episode.sensors_clean[:, CHANNEL_INDEX[FORECAST_CHANNEL]].astype(np.float64)
    forecast = forecast_targets(clean)[ends].astype(np.float32)
    return DecisionRows(
        sensor=sensor.astype(np.float32),
        camera=camera.astype(np.float32),
        text_index=text_index,
        text_age_s=text_age,
        hazard=hazard,
        hazard_weight=weight,
        risk=risk,
        forecast=forecast,
        episode=np.full(ends.shape[0], episode_index, dtype=np.int32),
        end=ends,
    )


def build_rows(
    episodes: Sequence[Episode],
    table: TextTable,
    *,
    stride_s: int,
    normal_stride_s: int | None = None,
    due_window_s: float | None = None,
) -> DecisionRows:
    """Rows of every episode; normal days may be sampled more sparsely (their neighbouring rows are near copies)."""
    parts = []
    for i, episode in enumerate(episodes):
        stride = normal_stride_s if (episode.is_normal and normal_stride_s) else stride_s
        parts.append(episode_rows(episode, decision_ends(episode, stride), table, i, due_window_s=due_window_s))
    return DecisionRows(
        **{name: np.concatenate([getattr(p, name) for p in parts]) for name in DecisionRows.__dataclass_fields__}
    )


def expand_text(rows: DecisionRows, text_vectors: F32) -> F32:
    """The text block ``(N, TEXT_MAX_ENTRIES, TEXT_EMBEDDING_DIM + 2)``: vector, age share, presence."""
    present = rows.text_index != NO_TEXT
    out = np.zeros((len(rows), TEXT_MAX_ENTRIES, TEXT_EMBEDDING_DIM + 2), dtype=np.float32)
    if present.any():  # a table with no entry yet has no row 0 to gather for the absent slots
        gathered = text_vectors[np.maximum(rows.text_index, 0)]
        out[..., :TEXT_EMBEDDING_DIM] = np.where(present[..., None], gathered, 0.0)
    out[..., TEXT_EMBEDDING_DIM] = np.where(present, rows.text_age_s / TEXT_WINDOW_S, 0.0)
    out[..., TEXT_EMBEDDING_DIM + 1] = present
    return out


def expand(rows: DecisionRows, text_vectors: F32) -> F32:
    """The packed, unstandardised model input ``(N, ROWS, COLUMNS)`` of ``edge.hazard.model_input.pack``."""
    n = len(rows)
    out = np.zeros((n, ROWS, COLUMNS), dtype=np.float32)
    out[:, SENSOR_ROWS, SENSOR_COLUMNS] = rows.sensor
    out[:, CAMERA_ROWS, CAMERA_COLUMNS] = rows.camera
    out[:, TEXT_ROWS, TEXT_COLUMNS] = expand_text(rows, text_vectors)
    return out
