"""Radio and the roof fall: after the fall no contact passes through the rubble; before it, and beside it, nothing
changes."""

from __future__ import annotations

import numpy as np
import pytest

from edge.dtn.simulation.cli import tiny_config
from edge.dtn.simulation.contacts import Contact, Fall, Positions, fixed_contacts, fixed_network, mobile_contacts
from edge.dtn.simulation.scenario import build_world
from edge.sim.mine_layout import LayoutParams, MineLayout

STEP_S = 50.0
T_FALL = 100.0


def _layout() -> MineLayout:
    # 3 entries (haulage = entry 0 at x = 0), crosscuts every 30 m; gateways on the haulage entry at crosscuts 0, 2
    # and 4: g1 (0, 0), g2 (0, 60), g3 (0, 120).
    return MineLayout(LayoutParams(entries=3, crosscuts=5, refuge_crosscuts_outby=2, gateway_every_crosscuts=2))


def _fall(layout: MineLayout) -> Fall:
    # The haulage entry between crosscuts 2 and 3 (y 60..90): rubble from y 63 to 87, x -3..3.
    return Fall.in_layout(layout, frozenset({"e0c2~e0c3"}), T_FALL)


def _still(points: dict[str, tuple[float, float]]) -> Positions:
    """Nodes standing still at ``points`` for t = 0, 50, 100, 150, 200 (the fall at 100)."""
    times = np.arange(0.0, 201.0, STEP_S)
    x = np.tile([p[0] for p in points.values()], (len(times), 1))
    y = np.tile([p[1] for p in points.values()], (len(times), 1))
    return Positions(times, list(points), x, y)


def _spans(contacts: list[Contact]) -> dict[tuple[str, str], list[tuple[float, float]]]:
    out: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for c in contacts:
        out.setdefault((c.a, c.b), []).append((c.start, c.end))
    return out


def test_a_gateway_across_the_fall_is_heard_before_it_and_not_after() -> None:
    layout = _layout()
    network = fixed_network(layout)
    assert [(g.id, g.x, g.y) for g in network.gateways] == [("g1", 0, 0), ("g2", 0, 60), ("g3", 0, 120)]
    positions = _still(
        {
            "inby": (0.0, 100.0),  # 40 m inby of g2 in its entry, the rubble between them; 20 m from g3
            "outby": (0.0, 30.0),  # between g1 and g2: the fall is not between it and either
            "crosscut": (10.0, 60.0),  # in g2's crosscut, through the intersection, which stays open
        }
    )
    without = _spans(fixed_contacts(layout, network, positions, STEP_S))
    with_fall = _spans(fixed_contacts(layout, network, positions, STEP_S, fall=_fall(layout)))
    assert without[("inby", "g2")] == [(0.0, 200.0)]
    assert with_fall[("inby", "g2")] == [(0.0, 75.0)]  # the last sample before the fall, plus half a step
    for pair in [("inby", "g3"), ("outby", "g1"), ("outby", "g2"), ("crosscut", "g2")]:
        assert with_fall[pair] == without[pair] == [(0.0, 200.0)], pair
    assert set(with_fall) == set(without)


def test_moving_nodes_either_side_of_the_fall_lose_contact_after_it() -> None:
    layout = _layout()
    positions = _still(
        {
            "a": (0.0, 55.0),  # outby of the fall
            "b": (0.0, 95.0),  # inby of it, 40 m from a: in range of the 50 m body-worn radio
            "c": (0.0, 110.0),  # inby too: same side as b
        }
    )
    without = _spans(mobile_contacts(layout, positions, STEP_S, range_m=50.0))
    with_fall = _spans(mobile_contacts(layout, positions, STEP_S, range_m=50.0, fall=_fall(layout)))
    assert without == {("a", "b"): [(0.0, 200.0)], ("b", "c"): [(0.0, 200.0)]}
    assert with_fall == {("a", "b"): [(0.0, 75.0)], ("b", "c"): [(0.0, 200.0)]}
    # the same through the windowed pass of a shift change
    split = _spans(mobile_contacts(layout, positions, STEP_S, range_m=50.0, fall=_fall(layout), split_at=[150.0]))
    assert split == with_fall


@pytest.mark.parametrize(
    ("segment", "crosses"),
    [
        ((0.0, 50.0, 0.0, 100.0), True),  # along the entry, end to end through it
        ((0.0, 70.0, 0.0, 70.0), True),  # a point in the rubble (someone in the drift when it fell)
        ((-10.0, 75.0, 10.0, 75.0), True),  # across it
        ((-3.0, 50.0, -3.0, 100.0), False),  # grazing its side
        ((-10.0, 60.0, 10.0, 60.0), False),  # along crosscut 2, through the open intersection
        ((0.0, 50.0, 0.0, 62.0), False),  # stops short of it
        ((-5.0, 60.0, 5.0, 66.0), True),  # a diagonal clipping its corner
        ((-8.0, 60.0, -4.0, 66.0), False),  # a diagonal passing beside the corner
        ((5.0, 5.0, 5.0, 5.0), False),  # a point outside
    ],
)
def test_a_straight_line_crosses_the_rubble(segment: tuple[float, float, float, float], crosses: bool) -> None:
    fall = _fall(_layout())
    x0, y0, x1, y1 = (np.array([v]) for v in segment)
    assert fall.blocks(x0, y0, x1, y1).tolist() == [crosses]


def test_the_rubble_is_the_drift_between_its_intersections() -> None:
    layout = _layout()
    fall = Fall.in_layout(layout, frozenset({"e0c2~e0c3", "portal~e0c0"}), T_FALL)
    assert fall.edges == ("e0c2~e0c3", "portal~e0c0")
    # the portal end is no intersection: the portal drift's rubble runs to the portal and stops at crosscut 0
    assert np.allclose(fall.cy, [75.0, -31.5])
    assert np.allclose(fall.half_length, [12.0, 28.5])
    assert np.allclose(fall.half_width, [3.0, 3.0])
    with pytest.raises(ValueError, match="e9c9~e9c10"):
        Fall.in_layout(layout, frozenset({"e9c9~e9c10"}), T_FALL)


def test_the_incident_world_has_the_fall_and_no_contact_passes_through_it() -> None:
    config = tiny_config(policy="epidemic", scenario="incident", mobile_nodes=6, seed=3)
    world = build_world(config)
    fall = world.fall
    assert fall is not None
    assert world.t_cut is not None
    assert fall.t == world.t_cut
    assert set(fall.edges) == world.blocked
    assert build_world(tiny_config(policy="epidemic", scenario="normal", mobile_nodes=6, seed=3)).fall is None
    step = config.links.step_s
    positions = world.positions
    where = {p.id: (p.x, p.y) for p in world.network.points}
    column = {node: n for n, node in enumerate(positions.ids)}
    for contact in fixed_contacts(world.layout, world.network, positions, step, fall=fall):
        rows = np.flatnonzero((positions.times >= max(contact.start, world.t_cut)) & (positions.times <= contact.end))
        if len(rows) == 0:
            continue
        n = column[contact.a]
        gx, gy = where[contact.b]
        through = fall.blocks(
            positions.x[rows, n], positions.y[rows, n], np.full(len(rows), gx), np.full(len(rows), gy)
        )
        assert not through.any(), contact
