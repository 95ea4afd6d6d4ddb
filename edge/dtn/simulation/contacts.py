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

A roof fall (``Fall``): from the time it comes down, a drift it blocks is full of rubble, and a 2.4 GHz
(802.15.4-class) signal does not get through a drift filled with broken rock. The rubble is a rectangle: the
blocked drift's centre line, ``entry_width_m`` wide, from one intersection to the next but without the
intersections themselves (they stay open: the movers' detours go through them, and a gateway sits in one). A
mobile-gateway, mobile-sink or mobile-mobile sample whose straight line between the two positions passes
through the inside of any rubble rectangle is not in range (a line that only grazes its edge is). A node inside
the rubble (someone in the drift when it fell) hears no one. Gateway-to-gateway links were already cut by a
fall on the drift between them (above).

What the contact model still does not model: it is distance-only within a drift (no path loss, fading,
shadowing by machines or people, nor the drift's own bends); a pillar is modelled only through the "same drift"
rule (two points in parallel entries, or in neighbouring crosscuts, do not hear each other unless within
``corner_range_m``; a corner contact stands for diffraction round the pillar corner its straight line cuts);
the rubble is all-or-nothing (no signal over the top of a partial fall, no fall shorter than the drift
segment); and nothing reaches round the fall through the crosscuts beyond the corner rule.
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


# ---------------------------------------------------------------------------------------------- roof fall
@dataclass(frozen=True)
class Fall:
    """The rubble of a roof fall: one rectangle per blocked drift (module docstring), there from ``t`` on.

    Rectangle ``r`` is centred at ``(cx[r], cy[r])``, runs along the unit vector ``(ux[r], uy[r])`` for
    ``half_length[r]`` either way and is ``half_width[r]`` wide either side of it."""

    t: float  # epoch seconds
    edges: tuple[str, ...]
    cx: NDArray[np.float64]
    cy: NDArray[np.float64]
    ux: NDArray[np.float64]
    uy: NDArray[np.float64]
    half_length: NDArray[np.float64]
    half_width: NDArray[np.float64]

    @classmethod
    def in_layout(cls, layout: MineLayout, blocked_edges: frozenset[str], t: float) -> Fall:
        unknown = sorted(blocked_edges - layout.edges.keys())
        if unknown:
            raise ValueError(f"blocked edges {unknown} are not drifts of this layout (edge ids are 'a~b')")
        half = layout.params.entry_width_m / 2
        rows: list[tuple[float, float, float, float, float]] = []
        edges = sorted(blocked_edges)
        for edge_id in edges:
            edge = layout.edges[edge_id]
            a, b = layout.nodes[edge.a], layout.nodes[edge.b]
            length = math.hypot(b.x - a.x, b.y - a.y)
            ux, uy = (b.x - a.x) / length, (b.y - a.y) / length
            # An intersection stays open (detours go through it): the rubble starts where the drift leaves it.
            trim_a = half if a.entry is not None and a.crosscut is not None else 0.0
            trim_b = half if b.entry is not None and b.crosscut is not None else 0.0
            mid = (trim_a + length - trim_b) / 2
            rows.append((a.x + ux * mid, a.y + uy * mid, ux, uy, max(0.0, (length - trim_a - trim_b) / 2)))
        table = np.array(rows, dtype=np.float64).reshape(len(rows), 5)
        return cls(
            t,
            tuple(edges),
            table[:, 0].copy(),
            table[:, 1].copy(),
            table[:, 2].copy(),
            table[:, 3].copy(),
            table[:, 4].copy(),
            np.full(len(rows), half),
        )

    def blocks(
        self,
        x0: NDArray[np.float64],
        y0: NDArray[np.float64],
        x1: NDArray[np.float64],
        y1: NDArray[np.float64],
    ) -> NDArray[np.bool_]:
        """Whether the straight line from ``(x0, y0)`` to ``(x1, y1)`` passes through the inside of any rubble.

        Element-wise over arrays of one shape; the segment is clipped against each rectangle in its own frame
        (Liang-Barsky): it crosses when the parameter interval left inside both slabs has a positive length."""
        x0, y0, x1, y1 = (np.asarray(v, dtype=np.float64)[..., None] for v in (x0, y0, x1, y1))
        rx, ry = x0 - self.cx, y0 - self.cy
        dx, dy = x1 - x0, y1 - y0
        lo = np.zeros(np.broadcast_shapes(rx.shape, dx.shape))
        hi = np.ones_like(lo)
        slabs = (
            (rx * self.ux + ry * self.uy, dx * self.ux + dy * self.uy, self.half_length),
            (ry * self.ux - rx * self.uy, dy * self.ux - dx * self.uy, self.half_width),
        )
        for start, step, half in slabs:
            parallel = step == 0
            with np.errstate(divide="ignore", invalid="ignore"):
                t1 = (-half - start) / step
                t2 = (half - start) / step
            lo = np.where(parallel, lo, np.maximum(lo, np.minimum(t1, t2)))
            hi = np.where(parallel, np.where(np.abs(start) < half, hi, -1.0), np.minimum(hi, np.maximum(t1, t2)))
        crosses: NDArray[np.bool_] = np.asarray((lo < hi).any(axis=-1), dtype=np.bool_)
        return crosses


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


def fixed_contacts(
    layout: MineLayout, network: FixedNetwork, positions: Positions, step_s: float, *, fall: Fall | None = None
) -> list[Contact]:
    """Contacts of moving nodes with the gateways and the sink (the layout's radio model; none through ``fall``)."""
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
        if fall is not None:
            rows, movers, points = np.nonzero(hears & (positions.times[k : k + 512, None, None] >= fall.t))
            through = fall.blocks(positions.x[k + rows, movers], positions.y[k + rows, movers], fx[points], fy[points])
            hears[rows[through], movers[through], points[through]] = False
        matrix[k : k + 512] = hears.reshape(len(hears), nodes * len(fx))
    pairs = [(m, f.id) for m in positions.ids for f in network.points]
    return _to_contacts(positions.times, step_s, matrix, pairs)


def mobile_contacts(
    layout: MineLayout,
    positions: Positions,
    step_s: float,
    *,
    range_m: float,
    split_at: Sequence[float] = (),
    fall: Fall | None = None,
) -> list[Contact]:
    """Contacts between moving nodes: same entry or same crosscut within ``range_m``, or round a corner, and not
    through the rubble of ``fall``.

    ``split_at``: times where the population changes (a shift change). The samples are then taken window by
    window, each over the nodes present in it only (two shifts' crews are never compared), and a contact that
    spans a boundary is joined up again: the same contacts, for much less work when a run covers two shifts.
    """
    times = positions.times
    rows = sorted(
        {int(r) for r in np.searchsorted(times, np.asarray(split_at, dtype=np.float64)) if 0 < r < len(times)}
    )
    if not rows:
        return _mobile_contacts(layout, positions, step_s, range_m=range_m, fall=fall)
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
        for contact in _mobile_contacts(layout, window, step_s, range_m=range_m, fall=fall):
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


def _mobile_contacts(
    layout: MineLayout, positions: Positions, step_s: float, *, range_m: float, fall: Fall | None = None
) -> list[Contact]:
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
        if fall is not None and positions.times[k] >= fall.t:
            heard = np.flatnonzero(matrix[k])
            matrix[k, heard[fall.blocks(xa[heard], ya[heard], xb[heard], yb[heard])]] = False
    ids = positions.ids
    pairs = [
        (ids[a], ids[b]) if ids[a] < ids[b] else (ids[b], ids[a]) for a, b in zip(ia.tolist(), ib.tolist(), strict=True)
    ]
    return _to_contacts(positions.times, step_s, matrix, pairs)
