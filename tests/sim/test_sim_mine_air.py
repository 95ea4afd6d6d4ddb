"""The real mine-air recording replayed onto the configured points (skipped where the data is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_fixtures import section_spec

from edge.sim.mine_air import MineAirReplay, default_data_path, load_mine_air
from edge.sim.point_roles import Quantity
from edge.sim.scenarios import make_scenario

SPEC = section_spec(tcp_port=15021)
DATA = default_data_path()
needs_data = pytest.mark.skipif(
    not DATA.is_file(), reason=f"real mine-air data not present at {DATA} (shared data folder absent)"
)


@needs_data
def test_replay_shows_the_recorded_rows_in_order() -> None:
    rows = load_mine_air(DATA)
    assert len(rows) > 2000
    scenario = make_scenario("mine_air_replay", SPEC, time_scale=1.0)
    assert isinstance(scenario, MineAirReplay)
    assert scenario.duration_s == pytest.approx(len(rows) * 1.0)
    for index in (0, 1, 500):
        values = scenario.values(index + 0.5)
        recorded = rows[index].values
        assert values["face.methane"] == recorded[Quantity.METHANE]
        assert values["o2_belt.gas"] == recorded[Quantity.OXYGEN]
        assert values["belt.co"] == recorded[Quantity.CARBON_MONOXIDE]
        assert values["face.temperature"] == recorded[Quantity.TEMPERATURE]
    # Not in the recording: airflow keeps its ambient baseline.
    assert 1.5 < scenario.values(10.0)["face.airflow"] < 2.5


@needs_data
def test_negative_co_readings_are_replayed_not_cleaned() -> None:
    rows = load_mine_air(DATA)
    negative = [i for i, row in enumerate(rows) if row.values[Quantity.CARBON_MONOXIDE] < 0]
    assert negative, "the recording's 13 faulted CO readings should be there"
    scenario = make_scenario("mine_air_replay", SPEC, time_scale=4.0)
    t = (negative[0] + 0.5) / 4.0
    assert scenario.values(t)["belt.co"] < 0


def test_absent_data_names_the_path_and_the_remedy(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(FileNotFoundError, match=r"nowhere\.csv.*shared data folder"):
        make_scenario("mine_air_replay", SPEC, data_path=missing)


def test_replay_of_a_small_file_holds_the_last_row(tmp_path: Path) -> None:
    csv = tmp_path / "air.csv"
    csv.write_text(
        "timestamp,methane,oxygen,carbon_monoxide,hydrogen_sulfide,temperature\n"
        "2021-08-04T10:00:00,0.1,20.9,4,0,18\n"
        "2021-08-04T10:03:00,0.6,20.5,-12,1,19\n",
        encoding="utf-8",
    )
    scenario = MineAirReplay(SPEC, data_path=csv, replay_step_s=2.0)
    assert scenario.duration_s == pytest.approx(4.0)
    assert scenario.values(1.0)["face.methane"] == pytest.approx(0.1)
    assert scenario.values(2.5)["belt.co"] == pytest.approx(-12.0)
    assert scenario.values(100.0)["face.methane"] == pytest.approx(0.6)
