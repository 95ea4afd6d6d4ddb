"""Movers on the mine graph: speeds, network, pauses, shift schedule, emergencies, determinism."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pytest

from edge.sim.mine_layout import MineLayout, default_layout
from edge.sim.mobility import (
    Activity,
    MobilityParams,
    Scenario,
    Trajectory,
    build_population,
    default_scenario,
    simulate_days,
    simulate_shift,
)

LAYOUT = default_layout()
PARAMS = MobilityParams(nodes=25)
EVENT_S = 4 * 3600.0


def _shift(scenario: Scenario | None, seed: int = 7) -> list[Trajectory]:
    rng = np.random.default_rng(seed)
    population = build_population(LAYOUT, PARAMS, rng=rng)
    return simulate_shift(LAYOUT, population, PARAMS, rng=rng, day_index=0, scenario=scenario)


@pytest.fixture(scope="module")
def normal() -> list[Trajectory]:
    return _shift(None)


def _day_bounds(day_index: int) -> tuple[float, float]:
    midnight = dt.datetime.combine(PARAMS.start_date + dt.timedelta(days=day_index), dt.time(), tzinfo=dt.UTC)
    return midnight.timestamp() + PARAMS.shift_start_s, midnight.timestamp() + PARAMS.shift_end_s


def _node_at(layout: MineLayout, x: float, y: float) -> str:
    for node in layout.nodes.values():
        if abs(node.x - x) < 1e-6 and abs(node.y - y) < 1e-6:
            return node.id
    raise AssertionError(f"breakpoint ({x}, {y}) is not at a node")


def test_role_counts_follow_the_shares() -> None:
    for nodes in (25, 50, 100):
        counts = MobilityParams(nodes=nodes).role_counts()
        assert sum(counts.values()) == nodes
        assert all(counts[role] >= 1 for role in ("worker", "supervisor", "trolley", "equipment"))
        assert counts["worker"] > nodes / 2


def test_moves_stay_within_role_and_drift_speed_limits(normal: list[Trajectory]) -> None:
    for tr in normal:
        lo, hi = PARAMS.speed_range(tr.role)
        speed = tr.segment_speed()
        for k in np.flatnonzero(tr.activity == Activity.MOVING):
            a = _node_at(LAYOUT, tr.x[k], tr.y[k])
            b = _node_at(LAYOUT, tr.x[k + 1], tr.y[k + 1])
            edge = LAYOUT.edge_between(a, b)  # a move goes along one drift segment, node to node
            # Speeds are recomputed from epoch-second breakpoints (~1e9 s): allow float rounding of 1e-6.
            assert speed[k] <= min(hi, edge.speed_limit_mps) * (1 + 1e-6)
            assert speed[k] >= min(0.75 * lo, edge.speed_limit_mps) * (1 - 1e-6)


def test_positions_are_always_on_the_network(normal: list[Trajectory]) -> None:
    for tr in normal:
        times = np.arange(tr.t[0], tr.t[-1], 7.0)
        x, y, *_ = tr.sample(times)
        assert LAYOUT.distance_to_network(x, y).max() < 1e-6


def test_pauses_do_not_move(normal: list[Trajectory]) -> None:
    for tr in normal:
        paused = tr.activity != Activity.MOVING
        assert np.all(tr.segment_speed()[paused] == 0.0)
        assert np.all(np.diff(tr.t) > 0)
    activities = {int(a) for tr in normal for a in tr.activity}
    assert {Activity.TASK, Activity.INSPECTION, Activity.LOADING, Activity.UNLOADING} <= activities


def test_shift_schedule_enter_from_the_portal_work_and_leave(normal: list[Trajectory]) -> None:
    start, end = _day_bounds(0)
    for tr in normal:
        assert start <= tr.t[0] <= start + PARAMS.arrival_spread_s
        assert tr.t[-1] <= end
        first = _node_at(LAYOUT, tr.x[0], tr.y[0])
        if tr.role == "equipment":  # machines stay in the section: parked at the power centre
            assert first == tr.final_node
            assert tr.t[-1] == end
        else:
            assert first == LAYOUT.portal
            assert tr.final_node == LAYOUT.portal
            assert tr.t[-1] >= end - 3600  # worked the shift, not a walk in and out
    workers = [tr for tr in normal if tr.role == "worker"]
    assert any(Activity.BREAK in tr.activity for tr in workers)


def test_workers_have_personal_overlapping_sets_of_places() -> None:
    population = build_population(LAYOUT, PARAMS, rng=np.random.default_rng(3))
    sets = [set(m.places) for m in population.movers if m.role == "worker"]
    assert len({frozenset(s) for s in sets}) > 1
    assert any(a & b for a, b in itertools.combinations(sets, 2))


def test_same_seed_same_mine_day_different_seed_different_day() -> None:
    a = simulate_days(LAYOUT, MobilityParams(nodes=10), seed=5, days=2)
    b = simulate_days(LAYOUT, MobilityParams(nodes=10), seed=5, days=2)
    c = simulate_days(LAYOUT, MobilityParams(nodes=10), seed=6, days=2)
    assert [tr.miner_id for tr in a] == [tr.miner_id for tr in b]
    for ta, tb in zip(a, b, strict=True):
        np.testing.assert_array_equal(ta.t, tb.t)
        np.testing.assert_array_equal(ta.x, tb.x)
    assert any(len(ta.t) != len(tc.t) or not np.array_equal(ta.t, tc.t) for ta, tc in zip(a, c, strict=False))
    # Days differ for the same person.
    first_day = {tr.miner_id: tr for tr in a if tr.day_index == 0}
    second_day = [tr for tr in a if tr.day_index == 1 and tr.miner_id in first_day]
    assert any(not np.array_equal(first_day[tr.miner_id].x, tr.x) for tr in second_day)


def test_blocked_drift_is_never_crossed_after_the_fall() -> None:
    scenario = default_scenario(LAYOUT, "blocked_drift", t_event_s=EVENT_S)
    start, _ = _day_bounds(0)
    trajectories = _shift(scenario)
    crossed_before = 0
    for tr in trajectories:
        for k in np.flatnonzero(tr.activity == Activity.MOVING):
            edge = LAYOUT.edge_between(_node_at(LAYOUT, tr.x[k], tr.y[k]), _node_at(LAYOUT, tr.x[k + 1], tr.y[k + 1]))
            if edge.id in scenario.blocked_edges:
                assert tr.t[k] < start + EVENT_S, f"{tr.miner_id} entered blocked {edge.id}"
                crossed_before += 1
    assert crossed_before > 0, "the blocked drifts are busy ones: the test must see traffic on them before"
    assert all(tr.final_node == LAYOUT.portal for tr in trajectories if tr.role in ("worker", "supervisor"))


def test_evacuation_ends_at_the_portal_or_the_refuge() -> None:
    scenario = default_scenario(LAYOUT, "evacuation", t_event_s=EVENT_S)
    start, end = _day_bounds(0)
    trajectories = _shift(scenario)
    finals = {tr.final_node for tr in trajectories if tr.role in ("worker", "supervisor", "trolley")}
    assert finals <= {LAYOUT.portal, LAYOUT.refuge}
    assert LAYOUT.refuge in finals
    for tr in trajectories:
        if tr.final_node == LAYOUT.refuge:
            assert tr.activity[-1] == Activity.WAITING_AT_REFUGE
            assert tr.t[-1] == end
        if tr.final_node == LAYOUT.portal:
            assert tr.t[-1] < start + EVENT_S + 1800  # out within half an hour of the alarm
        if tr.role == "equipment":
            assert tr.activity[-1] == Activity.PARKED


def test_trapped_miners_stay_put_or_within_a_small_area() -> None:
    scenario = default_scenario(LAYOUT, "trapped", t_event_s=EVENT_S)
    fall_y = max(LAYOUT.nodes[LAYOUT.edges[e].a].y for e in scenario.blocked_edges)
    start, _ = _day_bounds(0)
    t_event = start + EVENT_S
    trajectories = _shift(scenario)
    confined = stationary = 0
    for tr in trajectories:
        if tr.t[-1] <= t_event:
            continue
        x0, y0, *_ = tr.sample(np.array([t_event]))
        if y0[0] <= fall_y:
            continue  # outby of the fall
        after = tr.t >= t_event
        assert np.all(tr.y[after] >= fall_y), f"{tr.miner_id} passed the fall"
        assert tr.final_node != LAYOUT.portal
        if tr.final_node == LAYOUT.refuge or tr.role != "worker":
            continue
        # One drift segment may be finished before stopping; then no further than the confinement radius.
        reach = np.hypot(tr.x[after] - x0[0], tr.y[after] - y0[0]).max()
        assert reach <= scenario.confine_radius_m + LAYOUT.params.pitch_along_m + 1e-6
        if np.ptp(tr.x[after][1:]) == 0 and np.ptp(tr.y[after][1:]) == 0:
            stationary += 1
        else:
            confined += 1
    assert stationary + confined > 0


def test_simulating_100_nodes_for_a_day_is_quick() -> None:
    import time

    started = time.perf_counter()
    trajectories = simulate_days(LAYOUT, MobilityParams(nodes=100), seed=1, days=1)
    assert time.perf_counter() - started < 10.0
    assert len(trajectories) >= 90
