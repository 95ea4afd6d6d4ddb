"""The mine's clock: hour of day and shift days on local time (daylight saving included), zoneless
timestamps in a mine's CSV read on it, and the same clock at training and on the gateway."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from loctrain_fixtures import PERIOD_S, synth_records

from edge.localization.features import FeatureSet, check_timezone, local_clock, step_features
from export.localization.dataset import load_records

SYDNEY = "Australia/Sydney"  # UTC+11 in January (daylight saving), UTC+10 in July


def _epoch(year: int, month: int, day: int, hour: int, zone: str) -> float:
    return dt.datetime(year, month, day, hour, tzinfo=check_timezone(zone)).timestamp()


def test_local_clock_follows_the_offset_and_daylight_saving() -> None:
    t = np.array([_epoch(2026, 1, 5, 7, SYDNEY), _epoch(2026, 7, 6, 7, SYDNEY)])
    local = local_clock(t, SYDNEY)
    assert list(np.mod(local, 86_400) / 3600) == [7.0, 7.0]  # 07:00 on the mine's clock, summer and winter
    assert list(t - local) == [-11 * 3600.0, -10 * 3600.0]
    assert local_clock(t, "UTC") is t
    assert local_clock(np.zeros(0), SYDNEY).size == 0


def test_unknown_time_zone_says_what_is_allowed() -> None:
    with pytest.raises(ValueError, match=r"unknown time zone 'Mars/Olympus'.*IANA name"):
        check_timezone("Mars/Olympus")


def test_a_shift_across_utc_midnight_is_one_shift_with_local_hours() -> None:
    """Records 10:00-12:00 in Sydney in January are 23:00-01:00 UTC: on UTC the track is cut in two at
    midnight and the hours read 23 then 0; on the mine's clock it is one shift at 10-12."""
    rec = synth_records(miners=1, shifts=1, steps=int(7200 / PERIOD_S), gap_miner=None)  # 2 h without a gap
    rec = replace(rec, t=rec.t + (_epoch(2026, 1, 5, 10, SYDNEY) - rec.t.min()))
    local = step_features(rec, features=FeatureSet.PAPER, timezone=SYDNEY)
    on_utc = step_features(rec, features=FeatureSet.PAPER)
    hour = local.names.index("hour_of_day")
    assert 10.0 <= local.values[:, hour].min() < local.values[:, hour].max() < 12.0
    assert on_utc.values[:, hour].min() < 1.0
    assert on_utc.values[:, hour].max() >= 23.0
    assert np.unique(local.seg).size == 1
    assert np.unique(on_utc.seg).size == 2


def test_zoneless_timestamps_in_a_csv_are_read_on_the_mine_clock(tmp_path: Path) -> None:
    path = tmp_path / "records.csv"
    path.write_text(
        "Miner ID,Speed,Direction,Timestamp,Location (Pillar ID)\n"
        "m1,1.0,90,2026-01-05 07:00:00,p1\n"
        "m1,1.0,90,2026-01-05T07:00:05Z,p1\n"
        "m1,1.0,90,2026-01-05T07:00:10+11:00,p2\n",
        encoding="utf-8",
    )
    on_sydney = load_records(path, timezone=SYDNEY)
    on_utc = load_records(path)
    assert sorted(on_sydney.t) == [
        _epoch(2026, 1, 5, 7, SYDNEY),
        _epoch(2026, 1, 5, 7, SYDNEY) + 10,
        _epoch(2026, 1, 5, 7, "UTC") + 5,  # an explicit zone wins over the mine's clock
    ]
    assert sorted(on_utc.t) == sorted([_epoch(2026, 1, 5, 7, "UTC"), *sorted(on_sydney.t)[1:]])
    with pytest.raises(ValueError, match="unknown time zone"):
        load_records(path, timezone="Nowhere/Land")
