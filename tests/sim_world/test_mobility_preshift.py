"""The pre-shift examination and a later shift of the same day (additions used by the DTN simulation)."""

from __future__ import annotations

import itertools

import numpy as np

from edge.sim.mine_layout import default_layout
from edge.sim.mobility import (
    Activity,
    MobilityParams,
    build_population,
    default_scenario,
    simulate_preshift_examination,
    simulate_shift,
)

LAYOUT = default_layout()
PARAMS = MobilityParams(nodes=10)


def _nodes_at_breakpoints(x: np.ndarray, y: np.ndarray) -> list[str]:
    where = {(round(n.x, 6), round(n.y, 6)): n.id for n in LAYOUT.nodes.values()}
    return [where[(round(float(a), 6), round(float(b), 6))] for a, b in zip(x, y, strict=True)]


def test_the_examiner_goes_round_the_section_and_back_out() -> None:
    exam = simulate_preshift_examination(
        LAYOUT, PARAMS, rng=np.random.default_rng(1), examiner_id="m011", enter_at=1000.0
    )
    assert exam.miner_id == "m011"
    assert exam.t[0] == 1000.0
    assert np.all(np.diff(exam.t) >= 0)
    nodes = _nodes_at_breakpoints(exam.x, exam.y)
    assert nodes[0] == nodes[-1] == LAYOUT.portal == exam.final_node
    inspected = {nodes[k] for k, a in enumerate(exam.activity) if a == Activity.INSPECTION}
    assert set(LAYOUT.faces) | {LAYOUT.refuge} <= inspected
    assert 1800 < exam.t[-1] - exam.t[0] < 3 * 3600  # an examination fits the 3 hours before a shift


def test_the_examiner_keeps_off_a_fall() -> None:
    fall = default_scenario(LAYOUT, "blocked_drift", t_event_s=0.0)
    exam = simulate_preshift_examination(
        LAYOUT, PARAMS, rng=np.random.default_rng(2), examiner_id="x", enter_at=0.0, blocked_edges=fall.blocked_edges
    )
    nodes = _nodes_at_breakpoints(exam.x, exam.y)
    crossed = {LAYOUT.edge_between(a, b).id for a, b in itertools.pairwise(nodes) if a != b}
    assert not crossed & fall.blocked_edges
    assert set(LAYOUT.faces) <= set(nodes)


def test_a_later_shift_is_the_same_shift_moved_in_time() -> None:
    def shift(offset: float) -> list[np.ndarray]:
        rng = np.random.default_rng(5)
        population = build_population(LAYOUT, PARAMS, rng=rng)
        return [t.t for t in simulate_shift(LAYOUT, population, PARAMS, rng=rng, day_index=0, start_offset_s=offset)]

    same, later = shift(0.0), shift(10 * 3600.0)
    assert len(same) == len(later)
    for a, b in zip(same, later, strict=True):
        np.testing.assert_allclose(b - a, 10 * 3600.0)  # 09:00-17:00 becomes 19:00-03:00, routines unchanged
