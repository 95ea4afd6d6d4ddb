"""Scenarios find their targets by role and tell the stories their names promise."""

from __future__ import annotations

import dataclasses

import pytest
from sim_fixtures import section_spec

from edge.config.resolved import GatewaySpec
from edge.sim.point_roles import Quantity, quantity_of, to_point_unit
from edge.sim.scenarios import MethaneBuildup, ScenarioError, make_scenario, scenarios
from edge.sim.states import DeviceState

SPEC = section_spec(tcp_port=15020)
METHANE_ALERT, METHANE_ALARM = 1.0, 1.5
STEP_S = 0.1


def _first_crossings(name: str, point_id: str, limits: tuple[float, ...], *, time_scale: float = 1.0) -> list[float]:
    scenario = make_scenario(name, SPEC, seed=7, time_scale=time_scale)
    crossed: dict[float, float] = {}
    t = 0.0
    while t <= scenario.duration_s:
        value = scenario.values(t)[point_id]
        for limit in limits:
            if value >= limit and limit not in crossed:
                crossed[limit] = t
        t += STEP_S
    assert set(crossed) == set(limits), f"{name}: crossed only {crossed}"
    return [crossed[limit] for limit in limits]


def test_registry_lists_the_required_scenarios() -> None:
    assert set(scenarios()) == {
        "normal_shift",
        "methane_buildup",
        "co_belt_fire",
        "transmitter_fault",
        "device_dropout",
        "mine_air_replay",
        "hazard_fan_stop",
    }


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(ScenarioError, match="did you mean 'methane_buildup'"):
        make_scenario("methane_bildup", SPEC)


def test_points_are_classified_by_rule_label_and_unit() -> None:
    roles = {p.point_id: quantity_of(p) for d in SPEC.devices for p in d.points if not p.diagnostic}
    assert roles == {
        "face.methane": Quantity.METHANE,
        "face.airflow": Quantity.AIRFLOW,
        "face.temperature": Quantity.TEMPERATURE,
        "belt.co": Quantity.CARBON_MONOXIDE,
        "o2_belt.gas": Quantity.OXYGEN,
    }


def test_methane_in_lel_is_converted_on_the_iec_basis() -> None:
    point = dataclasses.replace(SPEC.device("xnx_face").point("gas"), unit="%LEL")
    assert to_point_unit(2.2, Quantity.METHANE, point) == pytest.approx(50.0)


def test_methane_buildup_crosses_alert_then_alarm_within_a_minute_then_clears() -> None:
    alert_s, alarm_s = _first_crossings("methane_buildup", "face.methane", (METHANE_ALERT, METHANE_ALARM))
    assert alert_s < alarm_s
    assert 40.0 <= alarm_s <= 60.0  # quick enough for `make demo`
    scenario = make_scenario("methane_buildup", SPEC, seed=7)
    assert scenario.values(scenario.duration_s)["face.methane"] < METHANE_ALERT  # the fan restart clears it


def test_methane_buildup_drops_airflow_at_the_same_face() -> None:
    scenario = make_scenario("methane_buildup", SPEC, seed=7)
    assert isinstance(scenario, MethaneBuildup)
    assert scenario.airflow_point is not None
    assert scenario.airflow_point.location == scenario.methane_point.location
    before = scenario.values(5.0)["face.airflow"]
    during = scenario.values(50.0)["face.airflow"]
    assert during < 0.3 * before


def test_time_scale_compresses_the_story() -> None:
    alarm_fast = _first_crossings("methane_buildup", "face.methane", (METHANE_ALARM,), time_scale=10.0)[0]
    assert 4.0 <= alarm_fast <= 6.0
    assert make_scenario("methane_buildup", SPEC, time_scale=10.0).duration_s == pytest.approx(15.0)


def test_same_seed_same_values_other_seed_other_noise() -> None:
    first = make_scenario("normal_shift", SPEC, seed=3)
    again = make_scenario("normal_shift", SPEC, seed=3)
    other = make_scenario("normal_shift", SPEC, seed=4)
    assert first.values(42.0) == again.values(42.0)
    assert first.values(42.0) != other.values(42.0)


def test_normal_shift_varies_but_never_crosses_a_statutory_limit() -> None:
    scenario = make_scenario("normal_shift", SPEC, seed=11)
    samples = [scenario.values(float(t)) for t in range(int(scenario.duration_s) + 1)]
    methane = [s["face.methane"] for s in samples]
    assert max(methane) < METHANE_ALERT
    assert max(methane) - min(methane) > 0.1  # shift-related variation, not a flat line
    assert min(s["o2_belt.gas"] for s in samples) > 19.5
    assert max(s["belt.co"] for s in samples) < 3.0 + 5.0  # below the belt alert of ambient + 5 ppm
    assert all(s == {DeviceState.ONLINE} for s in (set(scenario.device_states(t).values()) for t in (0, 300)))


def test_co_belt_fire_rises_over_minutes_with_temperature() -> None:
    alert_s, alarm_s = _first_crossings("co_belt_fire", "belt.co", (3.0 + 5.0, 3.0 + 10.0))
    assert 30.0 < alert_s < alarm_s < 150.0
    scenario = make_scenario("co_belt_fire", SPEC, seed=7)
    assert scenario.values(scenario.duration_s)["belt.co"] > 50.0
    assert scenario.values(scenario.duration_s)["face.temperature"] > scenario.values(0.0)["face.temperature"] + 3.0


@pytest.mark.parametrize(
    ("name", "device_id", "state"),
    [
        ("transmitter_fault", "xnx_face", DeviceState.FAULT),
        ("device_dropout", "xnx_face", DeviceState.OFFLINE),
    ],
)
def test_state_scenarios_switch_one_device_from_20_to_60_s(name: str, device_id: str, state: DeviceState) -> None:
    scenario = make_scenario(name, SPEC)
    assert scenario.device_states(19.0)[device_id] is DeviceState.ONLINE
    assert scenario.device_states(20.5)[device_id] is state
    assert scenario.device_states(59.5)[device_id] is state
    assert scenario.device_states(60.5)[device_id] is DeviceState.ONLINE
    assert {s for d, s in scenario.device_states(30.0).items() if d != device_id} == {DeviceState.ONLINE}


def test_scenario_without_its_target_says_what_it_needs() -> None:
    no_methane: GatewaySpec = dataclasses.replace(
        SPEC, devices=tuple(d for d in SPEC.devices if d.device_id != "xnx_face")
    )
    with pytest.raises(ScenarioError, match="needs a methane point"):
        make_scenario("methane_buildup", no_methane)


def test_time_scale_must_be_positive() -> None:
    with pytest.raises(ScenarioError, match="time_scale"):
        make_scenario("normal_shift", SPEC, time_scale=0.0)


def test_unknown_gases_with_a_rule_sit_low_and_co2_is_recognised() -> None:
    analog = SPEC.device("ai_face")
    co2 = dataclasses.replace(
        analog.point("ch2"),
        point_id="face.co2",
        name="ch3",
        address=2,
        label="Carbon dioxide",
        unit="%",
        measuring_range=(0.0, 2.0),
        rule="carbon_dioxide",
    )
    no2 = dataclasses.replace(co2, point_id="face.no2", name="ch4", address=3, label="NO2", unit="ppm", rule="no2")
    spec = dataclasses.replace(
        SPEC,
        devices=tuple(
            dataclasses.replace(d, points=(*d.points, co2, no2)) if d.device_id == "ai_face" else d
            for d in SPEC.devices
        ),
    )
    assert quantity_of(co2) is Quantity.CARBON_DIOXIDE
    scenario = make_scenario("normal_shift", spec, seed=2)
    samples = [scenario.values(float(t)) for t in range(0, 600, 5)]
    assert max(s["face.co2"] for s in samples) < 0.3  # the statutory CO2 limit is 0.5 %
    assert max(s["face.no2"] for s in samples) < 0.1 * 2.0
