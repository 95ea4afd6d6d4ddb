"""HealthMonitor: measuring range, stuck-at, stale safety net."""

from __future__ import annotations

import pytest

from edge.config.resolved import LinePointSpec, PointSpec
from edge.modbus.codec import DataType
from edge.modbus.planner import Table
from edge.readings import Quality, QualityReason, Reading
from edge.sensors.health import HealthMonitor

WALL0 = 1_767_225_600.0


def _gas(**kwargs: object) -> PointSpec:
    return PointSpec(
        point_id="mm12.ch4",
        device_id="mm12",
        name="gas",
        label="Methane",
        location="tailgate",
        table=Table.HOLDING,
        address=0,
        data_type=DataType.FLOAT32,
        unit="%vol",
        **kwargs,  # type: ignore[arg-type]
    )


def _reading(
    value: float | None, t_mono: float, quality: Quality = Quality.GOOD, point_id: str = "mm12.ch4"
) -> Reading:
    reason = QualityReason.NONE if quality is Quality.GOOD else QualityReason.COMM_LOSS
    return Reading(point_id, t_mono, WALL0 + t_mono, value, "%vol", quality, reason)


def test_out_of_measuring_range_is_bad_with_detail() -> None:
    monitor = HealthMonitor([_gas(measuring_range=(0.0, 5.0))])
    assert monitor.check(_reading(4.9, 1.0)).quality is Quality.GOOD
    checked = monitor.check(_reading(5.2, 2.0))
    assert checked.quality is Quality.BAD
    assert checked.reason is QualityReason.OUT_OF_RANGE
    assert checked.detail == "value 5.2 %vol outside measuring range 0..5 %vol"
    assert monitor.check(_reading(-0.1, 3.0)).reason is QualityReason.OUT_OF_RANGE


def test_bit_identical_value_becomes_uncertain_stuck() -> None:
    monitor = HealthMonitor([_gas(stuck_after_s=60.0)])
    assert monitor.check(_reading(0.42, 0.0)).quality is Quality.GOOD
    assert monitor.check(_reading(0.42, 59.0)).quality is Quality.GOOD
    stuck = monitor.check(_reading(0.42, 60.0))
    assert stuck.quality is Quality.UNCERTAIN
    assert stuck.reason is QualityReason.STUCK
    assert stuck.value == 0.42
    # The smallest change restarts the clock.
    assert monitor.check(_reading(0.42 + 1e-12, 61.0)).quality is Quality.GOOD
    assert monitor.check(_reading(0.42 + 1e-12, 120.0)).quality is Quality.GOOD
    assert monitor.check(_reading(0.42 + 1e-12, 121.0)).reason is QualityReason.STUCK


def test_bad_readings_pass_unchanged_and_break_the_stuck_chain() -> None:
    monitor = HealthMonitor([_gas(stuck_after_s=10.0, measuring_range=(0.0, 5.0))])
    monitor.check(_reading(1.0, 0.0))
    bad = _reading(None, 5.0, Quality.BAD)
    assert monitor.check(bad) is bad
    assert monitor.check(_reading(1.0, 12.0)).quality is Quality.GOOD
    assert monitor.check(_reading(1.0, 22.0)).reason is QualityReason.STUCK


def test_stale_once_per_episode_and_rearmed_by_a_reading() -> None:
    line_point = LinePointSpec(
        point_id="dust1.pm10", group="pm10", label="Dust", location="belt", unit="mg/m3", stale_after_s=5.0
    )
    monitor = HealthMonitor([_gas(stale_after_s=3.0), line_point])
    assert monitor.stale(100.0, WALL0) == []
    monitor.check(_reading(1.0, 101.0))
    stale = monitor.stale(104.5, WALL0 + 4.5)
    assert [(r.point_id, r.quality, r.reason) for r in stale] == [("mm12.ch4", Quality.BAD, QualityReason.STALE)]
    assert stale[0].value is None
    assert monitor.stale(105.0, WALL0 + 5.0) == []  # same episode: not repeated
    later = monitor.stale(105.5, WALL0 + 5.5)
    assert [r.point_id for r in later] == ["dust1.pm10"]  # never reported since monitoring began
    assert later[0].unit == "mg/m3"
    monitor.check(_reading(1.0, 106.0))
    assert monitor.stale(107.0, WALL0) == []
    assert [r.point_id for r in monitor.stale(109.5, WALL0)] == ["mm12.ch4"]


def test_duplicate_point_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="configured twice"):
        HealthMonitor([_gas(), _gas()])


def test_unknown_point_passes_through() -> None:
    reading = _reading(1.0, 0.0, point_id="other")
    assert HealthMonitor([_gas()]).check(reading) is reading
