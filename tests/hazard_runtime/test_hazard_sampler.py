"""The 1 s sampler and the 30-min ring: sample and hold, NaN for bad, missing and stale readings, story time."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from edge.hazard.channels import ChannelMap
from edge.hazard.contract import CHANNEL_INDEX
from edge.hazard.sampler import ChannelSampler, SensorRing
from edge.readings import Quality, QualityReason, Reading


@dataclass(frozen=True)
class Point:
    point_id: str
    unit: str
    location: str = "face 3"
    stale_after_s: float = 5.0


def reading(point: str, t: float, value: float | None, quality: Quality = Quality.GOOD) -> Reading:
    reason = QualityReason.NONE if quality is Quality.GOOD else QualityReason.COMM_LOSS
    return Reading(point, t, t, value, "", quality, reason)


def make_map() -> ChannelMap:
    points = [Point("ch4_f3", "%LEL"), Point("air_f3", "m/s"), Point("baro", "kPa", "section")]
    return ChannelMap.build({"ch4_face": "ch4_f3", "airflow_face": "air_f3", "barometric_pressure": "baro"}, points)


def test_ring_is_oldest_first_and_nan_padded_then_wraps() -> None:
    ring = SensorRing(length=4, channels=2)
    assert np.isnan(ring.window()).all()
    for i in range(3):
        ring.push(np.array([i, 10 * i], dtype=np.float32))
    w = ring.window()
    assert np.isnan(w[0]).all()
    assert w[1:, 0].tolist() == [0, 1, 2]
    for i in range(3, 7):
        ring.push(np.array([i, 10 * i], dtype=np.float32))
    assert ring.window()[:, 0].tolist() == [3, 4, 5, 6]
    assert ring.count == 7
    with pytest.raises(ValueError, match="2 values"):
        ring.push(np.zeros(3, dtype=np.float32))


def test_sampler_holds_converts_and_drops_bad_and_stale_readings() -> None:
    sampler = ChannelSampler(make_map(), start_mono=100.0)
    sampler.observe(reading("ch4_f3", 100.0, 22.0))  # 22 %LEL on the IEC basis = 0.968 %vol
    sampler.observe(reading("air_f3", 100.0, 2.5))
    sampler.observe(reading("baro", 100.0, 101.3))
    sampler.observe(reading("other_point", 100.0, 7.0))  # not mapped: ignored
    assert sampler.advance(102.0) == 3  # story seconds 0, 1, 2
    w = sampler.ring.window()[-3:]
    assert w[:, CHANNEL_INDEX["ch4_face"]] == pytest.approx([0.968] * 3, abs=1e-5)
    assert w[:, CHANNEL_INDEX["barometric_pressure"]] == pytest.approx([1013.0] * 3)
    assert np.isnan(w[:, CHANNEL_INDEX["co_belt"]]).all()  # unmapped channel: missing
    sampler.observe(reading("air_f3", 103.0, None, Quality.BAD))  # comm loss
    sampler.advance(104.0)
    w = sampler.ring.window()[-2:]
    assert np.isnan(w[:, CHANNEL_INDEX["airflow_face"]]).all()
    assert w[:, CHANNEL_INDEX["ch4_face"]] == pytest.approx([0.968] * 2, abs=1e-5)  # still fresh (4 s < 5 s)
    sampler.advance(106.0)  # the methane reading is now 6 s old: stale
    assert np.isnan(sampler.ring.window()[-1, CHANNEL_INDEX["ch4_face"]])
    uncertain = reading("ch4_f3", 106.5, 11.0, Quality.UNCERTAIN)  # stuck / out of range: still a measurement
    sampler.observe(uncertain)
    sampler.advance(107.0)
    assert sampler.ring.window()[-1, CHANNEL_INDEX["ch4_face"]] == pytest.approx(0.484, abs=1e-5)


def test_time_scale_samples_story_seconds_and_never_uses_a_reading_before_it_arrived() -> None:
    sampler = ChannelSampler(make_map(), start_mono=0.0, time_scale=30.0)
    sampler.observe(reading("air_f3", 0.0, 1.0))
    sampler.advance(0.1)  # 3 story seconds
    sampler.observe(reading("air_f3", 0.5, 2.0))
    sampler.advance(1.0)  # story seconds up to 30
    column = sampler.ring.window()[-31:, CHANNEL_INDEX["airflow_face"]]
    assert sampler.samples == 31
    assert sampler.last_story_s == 30.0
    # the new value fills story seconds from 15 (wall 0.5 s) on, within one sampler wake-up of tolerance
    first_new = int(np.argmax(column == 2.0))
    assert 7 <= first_new <= 15
    assert (column[:first_new] == 1.0).all()
    assert (column[first_new:] == 2.0).all()
    assert sampler.story_time(2.0) == 60.0
    assert math.isclose(sampler.wall_of_story(60.0), 2.0)
