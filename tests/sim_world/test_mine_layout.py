"""The room-and-pillar world model: size, numbering, connectivity, pillar lookup, routing, radio, persistence."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.sim.mine_layout import LayoutParams, MineLayout, NoRouteError, default_layout

LAYOUT = default_layout()


def test_default_mine_has_150_pillars_numbered_from_the_outby_west_corner() -> None:
    assert len(LAYOUT.pillars) == 150
    assert LAYOUT.pillar_ids == [f"p{k}" for k in range(1, 151)]
    p1, p6, p150 = LAYOUT.pillar("p1"), LAYOUT.pillar("p6"), LAYOUT.pillar("p150")
    assert (p1.entry, p1.crosscut) == (0, 0)
    assert (p6.entry, p6.crosscut) == (0, 1)  # the next row starts again in the west
    assert (p150.entry, p150.crosscut) == (4, 29)
    assert p150.y > p1.y  # inby is north


def test_graph_is_connected_and_has_the_mine_features() -> None:
    assert LAYOUT.reachable(LAYOUT.portal) == set(LAYOUT.nodes)
    assert len(LAYOUT.faces) == LAYOUT.params.entries
    face_y = {LAYOUT.nodes[f].y for f in LAYOUT.faces}
    assert face_y == {max(n.y for n in LAYOUT.nodes.values())}  # the faces are the inby end
    assert LAYOUT.nodes[LAYOUT.portal].y == min(n.y for n in LAYOUT.nodes.values())  # the portal the outby end
    belt = [e for e in LAYOUT.edges.values() if e.belt]
    primary = [e for e in LAYOUT.edges.values() if e.primary_escapeway]
    assert len(belt) == LAYOUT.params.crosscuts - 1
    assert LAYOUT.reachable(LAYOUT.portal, blocked_edges=frozenset(LAYOUT.edges) - {e.id for e in primary}) >= {
        LAYOUT.refuge
    }, "the primary escapeway alone must lead from the refuge out to the portal"
    # Within 1,000 ft (305 m) of the working faces.
    assert max(LAYOUT.nodes[f].y for f in LAYOUT.faces) - LAYOUT.nodes[LAYOUT.refuge].y <= 305


def test_every_pillar_is_surrounded_by_two_entries_and_two_crosscuts() -> None:
    for pl in LAYOUT.pillars:
        sw = LAYOUT.intersection_id(pl.entry, pl.crosscut)
        se = LAYOUT.intersection_id(pl.entry + 1, pl.crosscut)
        nw = LAYOUT.intersection_id(pl.entry, pl.crosscut + 1)
        ne = LAYOUT.intersection_id(pl.entry + 1, pl.crosscut + 1)
        assert LAYOUT.edge_between(sw, nw).kind == "entry"
        assert LAYOUT.edge_between(se, ne).kind == "entry"
        assert LAYOUT.edge_between(sw, se).kind == "crosscut"
        assert LAYOUT.edge_between(nw, ne).kind == "crosscut"
        corners = [LAYOUT.nodes[n] for n in (sw, ne)]
        assert corners[0].x < pl.x - pl.half_across_m < pl.x + pl.half_across_m < corners[1].x


def test_pillar_at_a_centre_is_that_pillar() -> None:
    for pl in LAYOUT.pillars:
        assert LAYOUT.pillar_at(pl.x, pl.y) == pl.id


@settings(max_examples=300, deadline=None)
@given(st.floats(-10, 130), st.floats(-70, 930))
def test_pillar_at_is_the_nearest_pillar_centre(x: float, y: float) -> None:
    centres = LAYOUT.pillar_centres()
    distances = np.hypot(centres[:, 0] - x, centres[:, 1] - y)
    chosen = LAYOUT.pillar(LAYOUT.pillar_at(x, y))
    assert math.hypot(chosen.x - x, chosen.y - y) <= distances.min() + 1e-9


def test_a_point_on_an_entry_centre_line_belongs_to_the_pillar_east_of_it() -> None:
    p = LAYOUT.params
    assert LAYOUT.pillar_at(1 * p.pitch_across_m, 15.0) == "p2"  # entry 1, between crosscuts 0 and 1
    assert LAYOUT.pillar_at(5 * p.pitch_across_m, 15.0) == "p5"  # the last entry has no pillar east: clamped


def test_shortest_path_on_the_grid_is_the_manhattan_distance() -> None:
    path = LAYOUT.shortest_path("e0c0", "e5c30")
    assert LAYOUT.path_length(path) == pytest.approx(5 * 24.0 + 30 * 30.0)
    for u, v in itertools.pairwise(path):
        assert v in LAYOUT.neighbours(u)


@settings(max_examples=60, deadline=None)
@given(st.sets(st.sampled_from(sorted(LAYOUT.edges)), max_size=40), st.data())
def test_shortest_path_never_uses_a_blocked_drift(blocked: set[str], data: st.DataObject) -> None:
    start = data.draw(st.sampled_from(sorted(LAYOUT.nodes)))
    goal = data.draw(st.sampled_from(sorted(LAYOUT.nodes)))
    frozen = frozenset(blocked)
    try:
        path = LAYOUT.shortest_path(start, goal, blocked_edges=frozen)
    except NoRouteError:
        assert goal not in LAYOUT.reachable(start, blocked_edges=frozen)
        return
    used = {LAYOUT.edge_between(u, v).id for u, v in itertools.pairwise(path)}
    assert not used & frozen
    assert path[0] == start
    assert path[-1] == goal
    assert LAYOUT.path_length(path) >= LAYOUT.path_length(LAYOUT.shortest_path(start, goal)) - 1e-9


def test_json_round_trip_and_tampered_geometry_is_refused(tmp_path: Path) -> None:
    custom = MineLayout(LayoutParams(entries=4, crosscuts=12, gateway_entries=(0, 3), gateway_every_crosscuts=3))
    again = MineLayout.from_json(custom.to_json())
    assert again.to_json() == custom.to_json()
    assert again.params == custom.params
    custom.save(tmp_path / "layout.json")
    assert MineLayout.load(tmp_path / "layout.json").pillar_ids == custom.pillar_ids
    document = json.loads(custom.to_json())
    document["pillars"][0]["x"] += 1.0
    with pytest.raises(ValueError, match="pillars"):
        MineLayout.from_json(json.dumps(document))


def test_gateways_are_sparse_and_hear_along_their_drift_and_just_round_corners() -> None:
    assert 0 < len(LAYOUT.gateways) <= len(LAYOUT.pillars) / 5
    gateway = next(g for g in LAYOUT.gateways if g.crosscut == 5 and g.entry == LAYOUT.roles.primary_escapeway)
    range_m = LAYOUT.params.radio_range_m
    assert gateway.id in LAYOUT.gateways_in_range(gateway.x, gateway.y + range_m - 1)  # line of sight
    assert gateway.id not in LAYOUT.gateways_in_range(gateway.x, gateway.y + range_m + 1)
    assert gateway.id in LAYOUT.gateways_in_range(gateway.x + 3 * 24.0, gateway.y)  # along its crosscut
    # In the next entry, 15 m inby of the crosscut: a pillar is in the way.
    assert gateway.id not in LAYOUT.gateways_in_range(gateway.x + 24.0, gateway.y + 15.0)
    assert gateway.id in LAYOUT.gateways_in_range(gateway.x + 10.0, gateway.y + 6.0)  # round the corner


def test_layout_params_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="entries"):
        LayoutParams(entries=2)
    with pytest.raises(ValueError, match="entry_width_m"):
        LayoutParams(entry_width_m=0)
    with pytest.raises(ValueError, match="gateway_entries"):
        LayoutParams(gateway_entries=(9,))


def test_render_png_writes_a_pillar_map(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    small = MineLayout(LayoutParams(entries=4, crosscuts=6, refuge_crosscuts_outby=2))
    out = tmp_path / "map.png"
    small.render_png(out, values_by_pillar={"p1": 3.0, "p2": 10.0}, title="error by pillar")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_in_panel_separates_the_pillared_panel_and_faces_from_the_portal_drift() -> None:
    layout = default_layout()
    portal = layout.nodes["portal"]
    face = layout.nodes["f0"]
    first = layout.nodes[layout.intersection_id(0, 0)]
    xs = np.array([portal.x, face.x, first.x, first.x], dtype=np.float64)
    ys = np.array([portal.y, face.y, first.y, first.y - layout.params.entry_width_m], dtype=np.float64)
    assert layout.in_panel(xs, ys).tolist() == [False, True, True, False]
