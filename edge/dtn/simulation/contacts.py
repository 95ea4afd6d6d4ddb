"""Who can talk to whom, and when: the fixed network of gateways and the contacts of moving nodes.

Fixed network (from ``MineLayout``):

- The surface sink sits at the portal (shaft bottom). Its access point follows the layout's gateway radio model.
- The backbone cable (fibre or leaky feeder) runs along the haulage entry, where it is hung in practice, from
  the portal through every gateway on that entry; a cable link between two consecutive points is the drift
  between them, and a roof fall on any of those drifts cuts it.
- Every other pair of fixed points joins by radio when the layout's radio model lets one hear the other (in the
  default mine: each escapeway gateway hears the haulage gateway 24 m away in its crosscut). A radio link is cut
  by a fall on the drift between the two.
- Hop distance to the surface: breadth-first over the live links, the sink at 0. What a gateway is configured
  with is the distance on the intact network; what it advertises is the distance over the links that are up,
  or ``None`` when it is cut off (a distance-vector exchange over the chain would converge to the same).

Moving nodes (trajectories of ``edge.sim.mobility``), sampled every ``step_s``:

- mobile-gateway and mobile-sink: the layout's radio model (same straight drift within ``radio_range_m``, or
  within ``corner_range_m`` round a corner).
- mobile-mobile: the same rule with the shorter ``mobile_range_m`` of a body-worn or machine-mounted node, and a
  stricter test of "the same drift": both points must lie in the same entry (or the same crosscut) -- two people
  in neighbouring crosscuts at the same easting are a pillar apart, which the gateway model never meets
  because a gateway sits on an intersection.
- A contact is a run of consecutive in-range samples; it is taken to last from half a step before the first to
  half a step after the last (so passing contacts shorter than a step may be missed: the step is small next to
  the seconds a passing contact lasts at drift speeds).
- People are in the mine from the first point of their trajectory to the last; a person whose day ends at the
  portal stays in range of it for ``exit_dwell_s`` more (walking out past the access point to the lamp room).
  Machines stay where they park.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from edge.sim.mine_layout import PORTAL, MineLayout
from edge.sim.mobility import Trajectory

LinkKind = Literal["cable", "radio"]


@dataclass(frozen=True)
class FixedLink:
    a: str
    b: str
    kind: LinkKind
    drifts: frozenset[str]  # layout edge ids the link runs along: a fall on any of them cuts it

    def cut_by(self, blocked: frozenset[str]) -> bool:
        return not self.drifts.isdisjoint(blocked)


@dataclass(frozen=True)
class FixedPoint:
    id: str
    node: str  # layout node it sits at
    x: float
    y: float


@dataclass
class FixedNetwork:
    sink: FixedPoint
    gateways: list[FixedPoint]
    links: list[FixedLink]

    @property
    def points(self) -> list[FixedPoint]:
        return [self.sink, *self.gateways]

    def live_links(self, blocked: frozenset[str] = frozenset()) -> list[FixedLink]:
        return [link for link in self.links if not link.cut_by(blocked)]

    def hops(self, blocked: frozenset[str] = frozenset()) -> dict[str, int | None]:
        """Hop distance of every fixed point to the sink over the links not cut by ``blocked``."""
        neighbours: dict[str, list[str]] = {p.id: [] for p in self.points}
        for link in self.live_links(blocked):
            neighbours[link.a].append(link.b)
            neighbours[link.b].append(link.a)
        distance: dict[str, int | None] = dict.fromkeys(neighbours)
        distance[self.sink.id] = 0
        queue = deque([self.sink.id])
        while queue:
            here = queue.popleft()
            step = distance[here]
            assert step is not None  # noqa: S101  (only reached nodes are queued)
            for other in neighbours[here]:
                if distance[other] is None:
                    distance[other] = step + 1
                    queue.append(other)
        return distance


def _drifts_between(layout: MineLayout, a: str, b: str) -> frozenset[str]:
    path = layout.shortest_path(a, b)
    return frozenset(layout.edge_between(u, v).id for u, v in itertools.pairwise(path))


def fixed_network(layout: MineLayout, *, sink_id: str = "surface") -> FixedNetwork:
    """The sink at the portal, the layout's gateways, the haulage backbone cable and gateway radio links."""
    portal = layout.nodes[layout.portal]
    sink = FixedPoint(sink_id, portal.id, portal.x, portal.y)
    gateways = [FixedPoint(g.id, g.node, g.x, g.y) for g in layout.gateways]
    links: list[FixedLink] = []
    haulage = layout.roles.haulage
    on_cable = [sink, *sorted((g for g in gateways if layout.nodes[g.node].entry == haulage), key=lambda g: g.y)]
    cabled: set[frozenset[str]] = set()
    for a, b in itertools.pairwise(on_cable):
        links.append(FixedLink(a.id, b.id, "cable", _drifts_between(layout, a.node, b.node)))
        cabled.add(frozenset((a.id, b.id)))
    points = [sink, *gateways]
    for i, a in enumerate(points):
        for b in points[i + 1 :]:
            if frozenset((a.id, b.id)) in cabled:
                continue
            if _hears(layout, a, b, layout.params.radio_range_m):
                links.append(FixedLink(a.id, b.id, "radio", _drifts_between(layout, a.node, b.node)))
    network = FixedNetwork(sink, gateways, links)
    unreachable = sorted(k for k, v in network.hops().items() if v is None)
    if unreachable:
        raise ValueError(
            f"gateways {unreachable} have neither the haulage backbone nor a radio path to the surface in this "
            "layout; put gateways on the haulage entry (gateway_entries) or closer together"
        )
    return network


def _hears(layout: MineLayout, a: FixedPoint, b: FixedPoint, range_m: float) -> bool:
    """The layout's radio rule between two points: same straight drift within range, or round a corner."""
    half = layout.params.entry_width_m / 2
    dx, dy = abs(a.x - b.x), abs(a.y - b.y)
    return (
        (dx <= half and dy <= range_m)
        or (dy <= half and dx <= range_m)
        or math.hypot(dx, dy) <= (layout.params.corner_range_m)
    )


# ---------------------------------------------------------------------------------------------- moving nodes
@dataclass(frozen=True)
class Contact:
    start: float  # epoch seconds
    end: float
    a: str  # the moving node
    b: str  # a gateway, the sink, or another moving node (then a < b)


@dataclass
class Positions:
    """Sampled positions: ``x[k, n]``, ``y[k, n]`` of node ``ids[n]`` at ``times[k]``; NaN when not in the mine."""

    times: NDArray[np.float64]
    ids: list[str]
    x: NDArray[np.float64]
    y: NDArray[np.float64]

    @property
    def present(self) -> NDArray[np.bool_]:
        present: NDArray[np.bool_] = ~np.isnan(self.x)
        return present


def sample_positions(
    trajectories: Sequence[Trajectory], *, start: float, end: float, step_s: float, exit_dwell_s: float = 60.0
) -> Positions:
    if not step_s > 0:
        raise ValueError(f"step_s must be > 0, got {step_s!r}")
    times = np.arange(start, end + 1e-9, step_s, dtype=np.float64)
    xs = np.full((len(times), len(trajectories)), np.nan)
    ys = np.full((len(times), len(trajectories)), np.nan)
    for n, trajectory in enumerate(trajectories):
        last = float(trajectory.t[-1])
        if trajectory.role == "equipment":
            last = math.inf  # parked in the section, powered, after the shift too
        elif trajectory.final_node == PORTAL:
            last += exit_dwell_s
        inside = (times >= trajectory.t[0]) & (times <= last)
        at = np.clip(times[inside], trajectory.t[0], trajectory.t[-1])
        xs[inside, n] = np.interp(at, trajectory.t, trajectory.x)
        ys[inside, n] = np.interp(at, trajectory.t, trajectory.y)
    return Positions(times, [t.miner_id for t in trajectories], xs, ys)


def _runs(in_range: NDArray[np.bool_]) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """(column, first row, last row) of every run of True down the columns of a (T, K) matrix."""
    padded = np.zeros((in_range.shape[0] + 2, in_range.shape[1]), dtype=np.int8)
    padded[1:-1] = in_range
    change = np.diff(padded, axis=0)
    start_rows, start_cols = np.nonzero(change == 1)
    end_rows, end_cols = np.nonzero(change == -1)
    # nonzero walks row-major; sort both by (column, row) so the k-th start pairs with the k-th end
    s_order = np.lexsort((start_rows, start_cols))
    e_order = np.lexsort((end_rows, end_cols))
    return start_cols[s_order], start_rows[s_order], end_rows[e_order] - 1


def _to_contacts(
    times: NDArray[np.float64], step_s: float, in_range: NDArray[np.bool_], pairs: Sequence[tuple[str, str]]
) -> list[Contact]:
    cols, first, last = _runs(in_range)
    t0, t1 = float(times[0]), float(times[-1])
    return [
        Contact(
            max(t0, float(times[f]) - step_s / 2),
            min(t1, float(times[la]) + step_s / 2),
            pairs[c][0],
            pairs[c][1],
        )
        for c, f, la in zip(cols.tolist(), first.tolist(), last.tolist(), strict=True)
    ]


def fixed_contacts(layout: MineLayout, network: FixedNetwork, positions: Positions, step_s: float) -> list[Contact]:
    """Contacts of moving nodes with the gateways and the sink (the layout's radio model)."""
    p = layout.params
    half = p.entry_width_m / 2
    fx = np.array([f.x for f in network.points])
    fy = np.array([f.y for f in network.points])
    steps, nodes = positions.x.shape
    matrix = np.zeros((steps, nodes * len(fx)), dtype=np.bool_)
    for k in range(0, steps, 512):  # in chunks: the (steps, nodes, points) distances of a shift are large
        dx = np.abs(positions.x[k : k + 512, :, None] - fx[None, None, :])
        dy = np.abs(positions.y[k : k + 512, :, None] - fy[None, None, :])
        with np.errstate(invalid="ignore"):
            hears = ((dx <= half) & (dy <= p.radio_range_m)) | ((dy <= half) & (dx <= p.radio_range_m))
            hears |= dx * dx + dy * dy <= p.corner_range_m**2
        matrix[k : k + 512] = hears.reshape(len(hears), nodes * len(fx))
    pairs = [(m, f.id) for m in positions.ids for f in network.points]
    return _to_contacts(positions.times, step_s, matrix, pairs)


def mobile_contacts(
    layout: MineLayout, positions: Positions, step_s: float, *, range_m: float, split_at: Sequence[float] = ()
) -> list[Contact]:
    """Contacts between moving nodes: same entry or same crosscut within ``range_m``, or round a corner.

    ``split_at``: times where the population changes (a shift change). The samples are then taken window by
    window, each over the nodes present in it only (two shifts' crews are never compared), and a contact that
    spans a boundary is joined up again: the same contacts, for much less work when a run covers two shifts.
    """
    times = positions.times
    rows = sorted(
        {int(r) for r in np.searchsorted(times, np.asarray(split_at, dtype=np.float64)) if 0 < r < len(times)}
    )
    if not rows:
        return _mobile_contacts(layout, positions, step_s, range_m=range_m)
    present = positions.present
    out: list[Contact] = []
    open_at_boundary: dict[tuple[str, str], int] = {}  # pair -> index in out of its contact ending at the boundary
    bounds = [0, *rows, len(times) - 1]
    for first, last in itertools.pairwise(bounds):  # windows share their boundary sample
        columns = np.flatnonzero(present[first : last + 1].any(axis=0))
        window = Positions(
            times[first : last + 1],
            [positions.ids[c] for c in columns.tolist()],
            positions.x[first : last + 1, columns],
            positions.y[first : last + 1, columns],
        )
        start, end = float(times[first]), float(times[last])
        joined: dict[tuple[str, str], int] = {}
        for contact in _mobile_contacts(layout, window, step_s, range_m=range_m):
            key = (contact.a, contact.b)
            before = open_at_boundary.get(key)
            if before is not None and contact.start == start:
                out[before] = Contact(out[before].start, contact.end, contact.a, contact.b)
                index = before
            else:
                out.append(contact)
                index = len(out) - 1
            if contact.end == end:
                joined[key] = index
        open_at_boundary = joined
    return out


def _mobile_contacts(layout: MineLayout, positions: Positions, step_s: float, *, range_m: float) -> list[Contact]:
    p = layout.params
    half = p.entry_width_m / 2
    steps, nodes = positions.x.shape
    if nodes < 2:
        return []
    ia, ib = np.triu_indices(nodes, k=1)
    x, y = positions.x, positions.y
    with np.errstate(invalid="ignore"):
        entry = np.rint(x / p.pitch_across_m)
        in_entry = np.abs(x - entry * p.pitch_across_m) <= half
        crosscut = np.rint(y / p.pitch_along_m)
        last_crosscut = p.crosscuts - 1
        in_crosscut = (np.abs(y - crosscut * p.pitch_along_m) <= half) & (crosscut >= 0) & (crosscut <= last_crosscut)
    entry = np.where(in_entry, entry, -1.0)
    crosscut = np.where(in_crosscut, crosscut, -1.0)
    matrix = np.zeros((steps, len(ia)), dtype=np.bool_)
    corner2 = p.corner_range_m**2
    for k in range(steps):
        xa, xb, ya, yb = x[k, ia], x[k, ib], y[k, ia], y[k, ib]
        with np.errstate(invalid="ignore"):
            dx, dy = np.abs(xa - xb), np.abs(ya - yb)
            same_entry = (entry[k, ia] == entry[k, ib]) & (entry[k, ia] >= 0) & (dy <= range_m)
            same_crosscut = (crosscut[k, ia] == crosscut[k, ib]) & (crosscut[k, ia] >= 0) & (dx <= range_m)
            matrix[k] = same_entry | same_crosscut | (dx * dx + dy * dy <= corner2)
    ids = positions.ids
    pairs = [
        (ids[a], ids[b]) if ids[a] < ids[b] else (ids[b], ids[a]) for a, b in zip(ia.tolist(), ib.tolist(), strict=True)
    ]
    return _to_contacts(positions.times, step_s, matrix, pairs)
