"""The reading stream resampled onto the contract's 1 s grid, and the last 30 min of it in a ring buffer.

Readings arrive whenever a bus owner decodes a device (every poll, per point); the model wants one value per
channel per ``SENSOR_PERIOD_S``, NaN where nothing usable was measured. ``ChannelSampler.observe`` keeps the newest
two readings of every mapped point (O(1), called on the reading path); ``advance`` writes one row per story second
that has passed: each channel's newest reading at that instant (sample and hold), NaN when the reading is ``BAD``
(comm loss, fault, inhibit, stale), has no value, or is older than the point's ``stale_after_s``. ``UNCERTAIN``
readings (stuck, out of range) keep their value: they are measurements, and the model was trained on noisy ones.

Story time: with ``time_scale`` k (simulation only) story second ``s`` is wall instant ``start + s / k``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from edge.hazard.channels import ChannelMap
from edge.hazard.contract import CHANNEL_NAMES, SENSOR_PERIOD_S, SENSOR_WINDOW_S
from edge.readings import Quality, Reading

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]


class SensorRing:
    """The newest ``length`` rows of ``channels`` values, oldest first on read, NaN before the first row."""

    def __init__(self, length: int = SENSOR_WINDOW_S, channels: int = len(CHANNEL_NAMES)) -> None:
        if length < 1 or channels < 1:
            raise ValueError(f"a ring needs length and channels >= 1, got {length}, {channels}")
        self._data = np.full((length, channels), np.nan, dtype=np.float32)
        self.count = 0  # rows pushed since the start

    @property
    def length(self) -> int:
        return int(self._data.shape[0])

    def push(self, row: F32) -> None:
        if row.shape != (self._data.shape[1],):
            raise ValueError(f"a row has {self._data.shape[1]} values, got shape {row.shape}")
        self._data[self.count % self.length] = row
        self.count += 1

    def window(self) -> F32:
        """``(length, channels)``, oldest first; a copy (safe to hand to another thread)."""
        n = self.length
        if self.count < n:
            out = np.full_like(self._data, np.nan)
            out[n - self.count :] = self._data[: self.count]
            return out
        split = self.count % n
        return np.concatenate([self._data[split:], self._data[:split]])


class ChannelSampler:
    """Readings of the mapped points -> one row per story second into a ``SensorRing``."""

    def __init__(
        self,
        channel_map: ChannelMap,
        *,
        start_mono: float,
        time_scale: float = 1.0,
        ring: SensorRing | None = None,
    ) -> None:
        if not (math.isfinite(time_scale) and time_scale > 0):
            raise ValueError(f"time_scale must be a positive number, got {time_scale}")
        self.map = channel_map
        self.start_mono = start_mono
        self.time_scale = time_scale
        self.ring = ring or SensorRing()
        c = len(CHANNEL_NAMES)
        self._value = np.full((2, c), np.nan)  # [newest, previous] value in the channel's canonical unit
        self._t = np.full((2, c), -np.inf)  # their reading times (monotonic)
        self._stale = np.full(c, np.inf)
        for m in channel_map.channels:
            self._stale[m.index] = m.stale_after_s
        # How far a reading may be newer than the instant it fills: readings are only seen on the loop, up to one
        # sampler wake-up late.
        self._tolerance_s = max(SENSOR_PERIOD_S / time_scale, 0.25)
        self.readings_seen = 0

    def observe(self, reading: Reading) -> None:
        mapped = self.map.for_point(reading.point_id)
        if mapped is None:
            return
        value = math.nan
        if reading.quality is not Quality.BAD and reading.value is not None and math.isfinite(reading.value):
            value = mapped.to_canonical(reading.value)
        i = mapped.index
        self._value[1, i], self._t[1, i] = self._value[0, i], self._t[0, i]
        self._value[0, i], self._t[0, i] = value, reading.t_mono
        self.readings_seen += 1

    def story_time(self, t_mono: float) -> float:
        return (t_mono - self.start_mono) * self.time_scale

    def wall_of_story(self, story_s: float) -> float:
        """Monotonic instant of story second ``story_s``."""
        return self.start_mono + story_s / self.time_scale

    @property
    def samples(self) -> int:
        return self.ring.count

    @property
    def last_story_s(self) -> float:
        """Story second of the newest row (-1 before the first)."""
        return float(self.ring.count - 1) * SENSOR_PERIOD_S

    def row_at(self, t_mono: float) -> F32:
        """Every channel's value at monotonic instant ``t_mono``: the newest reading by then, if fresh."""
        usable = self._t <= t_mono + self._tolerance_s
        pick = np.where(usable[0], 0, 1)
        cols = np.arange(self._value.shape[1])
        value, t = self._value[pick, cols], self._t[pick, cols]
        fresh = usable[pick, cols] & (t_mono - t <= self._stale)
        return np.where(fresh, value, np.nan).astype(np.float32)

    def advance(self, now_mono: float) -> int:
        """Write a row for every story second up to ``now_mono``; returns how many were written."""
        due = math.floor(self.story_time(now_mono) / SENSOR_PERIOD_S + 1e-9) + 1  # rows that should exist
        written = 0
        while self.ring.count < due:
            self.ring.push(self.row_at(self.wall_of_story(self.ring.count * SENSOR_PERIOD_S)))
            written += 1
        return written
