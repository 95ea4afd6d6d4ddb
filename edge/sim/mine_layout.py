"""A room-and-pillar coal mine as a graph with metric coordinates: one world model for the simulator, the DTN
simulation and training.

Geometry (all lengths in metres; +y is mine north and the *inby* direction, towards the working faces):

- ``entries`` parallel drifts run north; entry ``i`` has its centre line at ``x = i * pitch_across`` where
  ``pitch_across = pillar_across_m + entry_width_m``. ``crosscuts`` drifts run east-west; crosscut ``j`` has its
  centre line at ``y = j * pitch_along`` with ``pitch_along = pillar_along_m + entry_width_m``. Crosscut 0 is the
  outby end, crosscut ``crosscuts - 1`` the last one driven.
- Nodes: every intersection ``e{i}c{j}``; a face node ``f{i}`` per entry, ``face_advance_m`` inby of the last
  crosscut (entries are advanced beyond the last crosscut); ``portal`` (the shaft bottom / portal) ``portal_drift_m``
  outby of crosscut 0, reached by a straight drift continuing the haulage (track) entry.
- Pillars are the solid blocks between two adjacent entries and two adjacent crosscuts, numbered ``p1 ... pN``
  row by row from the outby end, west to east inside a row: the pillar between entries ``i, i+1`` and crosscuts
  ``j, j+1`` is ``p{j * (entries - 1) + i + 1}``. A pillar's *cell* is the rectangle between the four drift centre
  lines around it; the cells tile the mine.
- Entry roles (US practice for a main/section development): the belt entry is entry ``entries // 2``, the
  haulage (track) entry is the one west of it, the primary (intake) escapeway is west of the track entry and the
  secondary escapeway is east of the belt entry (where the entries exist). The remaining entries are returns.
- The refuge chamber is at the primary escapeway, ``refuge_crosscuts_outby`` crosscuts outby of the last crosscut
  (MSHA asks for a refuge alternative within 1,000 ft of the working face).

Radio model of the fixed gateways (documented here because the DTN simulation relies on it): a gateway sits at
an intersection. Coal does not pass radio and a pillar corner shadows it, so a point hears a gateway when
(a) it is in the same straight drift as the gateway (the gateway's entry or its crosscut, within half an entry
width of the centre line) and no more than ``radio_range_m`` away along that drift (line of sight), or
(b) it is within ``corner_range_m`` of the gateway in a straight line (the short reach of diffraction round a
corner into the neighbouring drift).
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

LAYOUT_SCHEMA_VERSION = 1
PORTAL = "portal"

EdgeKind = Literal["entry", "crosscut", "face", "portal"]


@dataclass(frozen=True)
class LayoutParams:
    """Size and features of the mine. The default gives 6 entries x 31 crosscuts = 5 x 30 = 150 pillars."""

    entries: int = 6
    crosscuts: int = 31
    pillar_along_m: float = 24.0  # pillar length along the entries (north-south), solid coal
    pillar_across_m: float = 18.0  # pillar width across the entries (east-west), solid coal
    entry_width_m: float = 6.0  # 20 ft, the usual maximum entry width in US coal
    face_advance_m: float = 12.0  # how far each entry is driven inby of the last crosscut
    portal_drift_m: float = 60.0  # from crosscut 0 out to the portal / shaft bottom
    refuge_crosscuts_outby: int = 8  # 8 x 30 m = 240 m outby of the last crosscut, within 1,000 ft of the face
    # Fixed gateways: on these entries (None: the haulage entry and the primary escapeway), at every
    # gateway_every_crosscuts-th crosscut starting at crosscut 0.
    gateway_entries: tuple[int, ...] | None = None
    gateway_every_crosscuts: int = 5
    radio_range_m: float = 100.0  # line of sight along a straight drift
    corner_range_m: float = 15.0  # round a pillar corner into a neighbouring drift
    # Speed limits per drift (m/s): the maximum any mover may have there.
    speed_limit_haulage_mps: float = 5.0
    speed_limit_belt_mps: float = 3.0
    speed_limit_entry_mps: float = 4.0
    speed_limit_crosscut_mps: float = 2.5  # tight turns round pillar corners
    speed_limit_face_mps: float = 1.5  # unsupported-roof area at the face: walking pace, trams creep

    def __post_init__(self) -> None:
        if self.entries < 3:
            raise ValueError(f"a room-and-pillar section needs at least 3 entries, got entries={self.entries}")
        if self.crosscuts < 2:
            raise ValueError(f"at least 2 crosscuts are needed to form pillars, got crosscuts={self.crosscuts}")
        positive = {
            "pillar_along_m": self.pillar_along_m,
            "pillar_across_m": self.pillar_across_m,
            "entry_width_m": self.entry_width_m,
            "face_advance_m": self.face_advance_m,
            "portal_drift_m": self.portal_drift_m,
            "radio_range_m": self.radio_range_m,
            "speed_limit_haulage_mps": self.speed_limit_haulage_mps,
            "speed_limit_belt_mps": self.speed_limit_belt_mps,
            "speed_limit_entry_mps": self.speed_limit_entry_mps,
            "speed_limit_crosscut_mps": self.speed_limit_crosscut_mps,
            "speed_limit_face_mps": self.speed_limit_face_mps,
        }
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        if not (math.isfinite(self.corner_range_m) and self.corner_range_m >= 0):
            raise ValueError(f"corner_range_m must be >= 0, got {self.corner_range_m!r}")
        if not 0 <= self.refuge_crosscuts_outby < self.crosscuts:
            raise ValueError(
                f"refuge_crosscuts_outby must be in [0, {self.crosscuts - 1}], got {self.refuge_crosscuts_outby}"
            )
        if self.gateway_every_crosscuts < 1:
            raise ValueError(f"gateway_every_crosscuts must be >= 1, got {self.gateway_every_crosscuts}")
        if self.gateway_entries is not None:
            bad = [e for e in self.gateway_entries if not 0 <= e < self.entries]
            if bad or not self.gateway_entries:
                raise ValueError(f"gateway_entries must be entry numbers in [0, {self.entries - 1}], got {bad}")

    @property
    def pitch_across_m(self) -> float:
        return self.pillar_across_m + self.entry_width_m

    @property
    def pitch_along_m(self) -> float:
        return self.pillar_along_m + self.entry_width_m


@dataclass(frozen=True)
class Node:
    id: str
    x: float
    y: float
    entry: int | None  # None for the portal
    crosscut: int | None  # None for face nodes and the portal


@dataclass(frozen=True)
class Edge:
    id: str  # "a~b" with a, b in construction order
    a: str
    b: str
    kind: EdgeKind
    length_m: float
    speed_limit_mps: float
    belt: bool = False
    haulage: bool = False
    primary_escapeway: bool = False
    secondary_escapeway: bool = False

    def other(self, node_id: str) -> str:
        return self.b if node_id == self.a else self.a


@dataclass(frozen=True)
class Pillar:
    id: str
    number: int
    x: float  # centre
    y: float
    half_across_m: float  # half the solid pillar's extent east-west
    half_along_m: float  # half the solid pillar's extent north-south
    entry: int  # the pillar lies between entry `entry` and `entry + 1`
    crosscut: int  # ... and between crosscut `crosscut` and `crosscut + 1`


@dataclass(frozen=True)
class Gateway:
    id: str
    node: str
    x: float
    y: float
    entry: int
    crosscut: int


@dataclass(frozen=True)
class EntryRoles:
    belt: int
    haulage: int
    primary_escapeway: int | None
    secondary_escapeway: int | None


@dataclass
class MineLayout:
    """The mine built from ``LayoutParams`` (deterministic: the same params give the same mine)."""

    params: LayoutParams
    nodes: dict[str, Node] = field(init=False)
    edges: dict[str, Edge] = field(init=False)
    pillars: list[Pillar] = field(init=False)
    gateways: list[Gateway] = field(init=False)
    roles: EntryRoles = field(init=False)
    faces: list[str] = field(init=False)
    refuge: str = field(init=False)
    portal: str = field(init=False)

    def __post_init__(self) -> None:
        p = self.params
        belt = p.entries // 2
        haulage = belt - 1
        primary = haulage - 1 if haulage - 1 >= 0 else None
        secondary = belt + 1 if belt + 1 < p.entries else None
        self.roles = EntryRoles(belt, haulage, primary, secondary)
        self._build_graph()
        self._build_pillars()
        self._build_gateways()
        self.faces = [f"f{i}" for i in range(p.entries)]
        refuge_entry = primary if primary is not None else haulage
        self.refuge = self.intersection_id(refuge_entry, p.crosscuts - 1 - p.refuge_crosscuts_outby)
        self.portal = PORTAL

    # ----------------------------------------------------------------------------------------- construction
    def _build_graph(self) -> None:
        p = self.params
        self.nodes = {}
        self.edges = {}
        self._adjacency: dict[str, list[tuple[str, Edge]]] = {}
        for j in range(p.crosscuts):
            for i in range(p.entries):
                self._add_node(Node(self.intersection_id(i, j), i * p.pitch_across_m, j * p.pitch_along_m, i, j))
        last_y = (p.crosscuts - 1) * p.pitch_along_m
        for i in range(p.entries):
            self._add_node(Node(f"f{i}", i * p.pitch_across_m, last_y + p.face_advance_m, i, None))
        haulage_x = self.roles.haulage * p.pitch_across_m
        self._add_node(Node(PORTAL, haulage_x, -p.portal_drift_m, None, None))

        for i in range(p.entries):
            for j in range(p.crosscuts - 1):
                self._add_edge(self.intersection_id(i, j), self.intersection_id(i, j + 1), "entry", i)
            self._add_edge(self.intersection_id(i, p.crosscuts - 1), f"f{i}", "face", i)
        for j in range(p.crosscuts):
            for i in range(p.entries - 1):
                self._add_edge(self.intersection_id(i, j), self.intersection_id(i + 1, j), "crosscut", None)
        self._add_edge(PORTAL, self.intersection_id(self.roles.haulage, 0), "portal", self.roles.haulage)

    def _add_node(self, node: Node) -> None:
        self.nodes[node.id] = node
        self._adjacency[node.id] = []

    def _add_edge(self, a: str, b: str, kind: EdgeKind, entry: int | None) -> None:
        p, roles = self.params, self.roles
        na, nb = self.nodes[a], self.nodes[b]
        length = math.hypot(nb.x - na.x, nb.y - na.y)
        belt = entry == roles.belt and kind == "entry"
        haulage = entry == roles.haulage and kind in ("entry", "portal")
        if kind == "face":
            limit = p.speed_limit_face_mps
        elif kind == "crosscut":
            limit = p.speed_limit_crosscut_mps
        elif haulage:
            limit = p.speed_limit_haulage_mps
        elif belt:
            limit = p.speed_limit_belt_mps
        else:
            limit = p.speed_limit_entry_mps
        # The escapeways run the whole way out: up their entries, along crosscut 0 to the foot of the portal
        # drift (which continues the haulage entry), and out the portal drift.
        on_escape_line = kind in ("entry", "face")
        primary = (on_escape_line and entry == roles.primary_escapeway) or kind == "portal"
        secondary = (on_escape_line and entry == roles.secondary_escapeway) or kind == "portal"
        if kind == "crosscut" and na.crosscut == 0 and na.entry is not None and nb.entry is not None:
            span = (min(na.entry, nb.entry), max(na.entry, nb.entry))
            for escape_entry in (roles.primary_escapeway, roles.secondary_escapeway):
                if escape_entry is None:
                    continue
                low, high = sorted((escape_entry, roles.haulage))
                if low <= span[0] and span[1] <= high:
                    primary = primary or escape_entry == roles.primary_escapeway
                    secondary = secondary or escape_entry == roles.secondary_escapeway
        edge = Edge(f"{a}~{b}", a, b, kind, length, limit, belt, haulage, primary, secondary)
        self.edges[edge.id] = edge
        self._adjacency[a].append((b, edge))
        self._adjacency[b].append((a, edge))

    def _build_pillars(self) -> None:
        p = self.params
        self.pillars = []
        for j in range(p.crosscuts - 1):
            for i in range(p.entries - 1):
                number = j * (p.entries - 1) + i + 1
                self.pillars.append(
                    Pillar(
                        id=f"p{number}",
                        number=number,
                        x=(i + 0.5) * p.pitch_across_m,
                        y=(j + 0.5) * p.pitch_along_m,
                        half_across_m=p.pillar_across_m / 2,
                        half_along_m=p.pillar_along_m / 2,
                        entry=i,
                        crosscut=j,
                    )
                )
        self._pillar_index = {pl.id: pl for pl in self.pillars}

    def _build_gateways(self) -> None:
        p, roles = self.params, self.roles
        if p.gateway_entries is not None:
            entries = sorted(set(p.gateway_entries))
        else:
            entries = sorted({e for e in (roles.haulage, roles.primary_escapeway) if e is not None})
        self.gateways = []
        for j in range(0, p.crosscuts, p.gateway_every_crosscuts):
            for i in entries:
                node = self.nodes[self.intersection_id(i, j)]
                self.gateways.append(Gateway(f"g{len(self.gateways) + 1}", node.id, node.x, node.y, i, j))
        self._gw_x = np.array([g.x for g in self.gateways], dtype=np.float64)
        self._gw_y = np.array([g.y for g in self.gateways], dtype=np.float64)

    # ------------------------------------------------------------------------------------------------ queries
    @staticmethod
    def intersection_id(entry: int, crosscut: int) -> str:
        return f"e{entry}c{crosscut}"

    @property
    def pillar_ids(self) -> list[str]:
        """``p1 ... pN`` in number order (the class labels of the localization task)."""
        return [pl.id for pl in self.pillars]

    def pillar(self, pillar_id: str) -> Pillar:
        try:
            return self._pillar_index[pillar_id]
        except KeyError:
            raise KeyError(f"no pillar {pillar_id!r} in this mine; pillars are p1..p{len(self.pillars)}") from None

    def neighbours(self, node_id: str) -> list[str]:
        return [other for other, _ in self._adjacency[node_id]]

    def incident_edges(self, node_id: str) -> list[Edge]:
        return [edge for _, edge in self._adjacency[node_id]]

    def edge_between(self, a: str, b: str) -> Edge:
        for other, edge in self._adjacency[a]:
            if other == b:
                return edge
        raise KeyError(f"no drift joins {a!r} and {b!r}")

    def pillar_at(self, x: float, y: float) -> str:
        """The pillar whose cell contains (x, y).

        Cells are the rectangles between the drift centre lines round each pillar, half-open on the east and
        north side: a point in a drift belongs to the nearest pillar centre, and a point exactly on a centre
        line (the common case: people walk the middle of a drift) belongs to the pillar east of an entry and
        north (inby) of a crosscut. Points outside the pillared area (last entry, face advance, portal drift)
        belong to the nearest pillar: the cell index is clamped.
        """
        return self.pillar_ids[int(self.pillar_index_at(np.array([x]), np.array([y]))[0])]

    def pillar_index_at(self, xs: NDArray[np.float64], ys: NDArray[np.float64]) -> NDArray[np.int64]:
        """``pillar_at`` for arrays: the 0-based index into ``pillar_ids`` (pillar number - 1)."""
        p = self.params
        col = np.clip(np.floor(xs / p.pitch_across_m), 0, p.entries - 2).astype(np.int64)
        row = np.clip(np.floor(ys / p.pitch_along_m), 0, p.crosscuts - 2).astype(np.int64)
        return row * (p.entries - 1) + col

    def distance_between_pillars(self, p: str, q: str) -> float:
        a, b = self.pillar(p), self.pillar(q)
        return math.hypot(a.x - b.x, a.y - b.y)

    def pillar_centres(self) -> NDArray[np.float64]:
        """(N, 2) array of pillar centres in ``pillar_ids`` order."""
        return np.array([[pl.x, pl.y] for pl in self.pillars], dtype=np.float64)

    def shortest_path(
        self,
        a: str,
        b: str,
        *,
        blocked_edges: frozenset[str] = frozenset(),
        allowed_edges: frozenset[str] | None = None,
        cost_factor: dict[str, float] | None = None,
    ) -> list[str]:
        """Node ids from ``a`` to ``b`` (both included) on the shortest route by length (Dijkstra).

        ``blocked_edges`` are impassable; when ``allowed_edges`` is given only those may be used;
        ``cost_factor`` multiplies the length of the named edges (e.g. to prefer escapeways). Raises
        ``NoRouteError`` when ``b`` cannot be reached.
        """
        for node in (a, b):
            if node not in self.nodes:
                raise KeyError(f"no node {node!r} in this mine")
        dist: dict[str, float] = {a: 0.0}
        previous: dict[str, str] = {}
        queue: list[tuple[float, str]] = [(0.0, a)]
        done: set[str] = set()
        while queue:
            d, node = heapq.heappop(queue)
            if node in done:
                continue
            if node == b:
                break
            done.add(node)
            for other, edge in self._adjacency[node]:
                if edge.id in blocked_edges or (allowed_edges is not None and edge.id not in allowed_edges):
                    continue
                weight = edge.length_m * (cost_factor.get(edge.id, 1.0) if cost_factor else 1.0)
                nd = d + weight
                if nd < dist.get(other, math.inf):
                    dist[other] = nd
                    previous[other] = node
                    heapq.heappush(queue, (nd, other))
        if b not in dist:
            raise NoRouteError(f"no route from {a!r} to {b!r} avoiding {len(blocked_edges)} blocked drift(s)")
        path = [b]
        while path[-1] != a:
            path.append(previous[path[-1]])
        path.reverse()
        return path

    def reachable(self, start: str, *, blocked_edges: frozenset[str] = frozenset()) -> set[str]:
        """Nodes reachable from ``start`` without crossing ``blocked_edges``."""
        seen = {start}
        stack = [start]
        while stack:
            node = stack.pop()
            for other, edge in self._adjacency[node]:
                if other not in seen and edge.id not in blocked_edges:
                    seen.add(other)
                    stack.append(other)
        return seen

    def path_length(self, path: Sequence[str]) -> float:
        return sum(self.edge_between(u, v).length_m for u, v in itertools.pairwise(path))

    def gateways_in_range(self, x: float, y: float) -> list[str]:
        mask = self.gateway_coverage(np.array([x], dtype=np.float64), np.array([y], dtype=np.float64))[0]
        return [g.id for g, hit in zip(self.gateways, mask, strict=True) if hit]

    def gateway_coverage(self, xs: NDArray[np.float64], ys: NDArray[np.float64]) -> NDArray[np.bool_]:
        """(n, G) boolean: which gateways each point hears under the radio model in the module docstring."""
        p = self.params
        half = p.entry_width_m / 2
        dx = xs[:, None] - self._gw_x[None, :]
        dy = ys[:, None] - self._gw_y[None, :]
        along_entry = (np.abs(dx) <= half) & (np.abs(dy) <= p.radio_range_m)
        along_crosscut = (np.abs(dy) <= half) & (np.abs(dx) <= p.radio_range_m)
        corner = dx * dx + dy * dy <= p.corner_range_m**2
        coverage: NDArray[np.bool_] = along_entry | along_crosscut | corner
        return coverage

    def in_panel(self, xs: NDArray[np.float64], ys: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Which points lie in the pillared panel or at its faces, as opposed to the outby portal drift.

        US tracking guidance (MSHA PPL P14-V-01, see ../shared/regulations.md 1.3) asks for location within
        200 ft in working sections and strategic areas and within 2,000 ft elsewhere. This model counts the
        whole panel as working section (stricter than the guidance, which means the active section only) and
        the portal drift as outby.
        """
        inside: NDArray[np.bool_] = np.asarray(ys, dtype=np.float64) >= -self.params.entry_width_m / 2
        return inside

    def distance_to_network(self, xs: NDArray[np.float64], ys: NDArray[np.float64]) -> NDArray[np.float64]:
        """Distance from each point to the nearest drift centre line (0 for points on the network)."""
        ax = np.array([self.nodes[e.a].x for e in self.edges.values()])
        ay = np.array([self.nodes[e.a].y for e in self.edges.values()])
        bx = np.array([self.nodes[e.b].x for e in self.edges.values()])
        by = np.array([self.nodes[e.b].y for e in self.edges.values()])
        best = np.full(xs.shape, np.inf)
        for k in range(len(ax)):
            vx, vy = bx[k] - ax[k], by[k] - ay[k]
            s = np.clip(((xs - ax[k]) * vx + (ys - ay[k]) * vy) / (vx * vx + vy * vy), 0.0, 1.0)
            best = np.minimum(best, np.hypot(xs - ax[k] - s * vx, ys - ay[k] - s * vy))
        return best

    # -------------------------------------------------------------------------------------------- persistence
    def to_json(self) -> str:
        """Parameters plus the derived geometry (for consumers that do not import this module)."""
        document: dict[str, Any] = {
            "schema": LAYOUT_SCHEMA_VERSION,
            "params": asdict(self.params),
            "roles": asdict(self.roles),
            "portal": self.portal,
            "refuge": self.refuge,
            "faces": self.faces,
            "nodes": [asdict(n) for n in self.nodes.values()],
            "edges": [asdict(e) for e in self.edges.values()],
            "pillars": [asdict(pl) for pl in self.pillars],
            "gateways": [asdict(g) for g in self.gateways],
        }
        return json.dumps(document, indent=1)

    @classmethod
    def from_json(cls, text: str) -> MineLayout:
        """Rebuild from ``to_json`` output; refuses a document whose geometry differs from what its params build
        (a layout written by an older version of this module must not silently change under a trained model)."""
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("schema") != LAYOUT_SCHEMA_VERSION:
            raise ValueError(f"not a mine layout document of schema {LAYOUT_SCHEMA_VERSION}")
        raw = dict(document["params"])
        if raw.get("gateway_entries") is not None:
            raw["gateway_entries"] = tuple(raw["gateway_entries"])
        layout = cls(LayoutParams(**raw))
        stored = json.loads(layout.to_json())
        for key in ("nodes", "edges", "pillars", "gateways", "refuge", "portal", "faces"):
            if stored[key] != document.get(key):
                raise ValueError(f"layout document's {key!r} differ from what its params build (schema drift)")
        return layout

    def save(self, path: Path) -> None:
        path.write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> MineLayout:
        return cls.from_json(path.read_text(encoding="utf-8"))

    # ------------------------------------------------------------------------------------------------ drawing
    def render_png(
        self,
        path: Path,
        *,
        values_by_pillar: dict[str, float] | None = None,
        title: str = "Mine layout",
        value_label: str = "value",
        markers: Iterable[tuple[float, float, str]] = (),
    ) -> None:
        """Plan view: drifts, pillars (coloured by ``values_by_pillar`` when given, grey when missing), gateways
        with their ids, faces, refuge and portal. Needs matplotlib (the ``train`` extra)."""
        import matplotlib  # noqa: PLC0415  (optional dependency, only for drawing)

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
        from matplotlib.patches import Rectangle  # noqa: PLC0415

        p = self.params
        width = (p.entries - 1) * p.pitch_across_m
        height = (p.crosscuts - 1) * p.pitch_along_m + p.face_advance_m + p.portal_drift_m
        fig, ax = plt.subplots(figsize=(4 + width / 40, 2 + height / 90))
        cmap = plt.get_cmap("viridis")
        finite = [v for v in (values_by_pillar or {}).values() if math.isfinite(v)]
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
        norm = matplotlib.colors.Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1)
        for pl in self.pillars:
            value = (values_by_pillar or {}).get(pl.id)
            colour = cmap(norm(value)) if value is not None and math.isfinite(value) else (0.55, 0.55, 0.55, 1)
            ax.add_patch(
                Rectangle(
                    (pl.x - pl.half_across_m, pl.y - pl.half_along_m),
                    2 * pl.half_across_m,
                    2 * pl.half_along_m,
                    facecolor=colour,
                    edgecolor="black",
                    linewidth=0.3,
                )
            )
            if len(self.pillars) <= 400:
                ax.text(pl.x, pl.y, pl.id, ha="center", va="center", fontsize=4)
        for edge in self.edges.values():
            na, nb = self.nodes[edge.a], self.nodes[edge.b]
            line_colour = "tab:orange" if edge.belt else "tab:green" if edge.primary_escapeway else "lightgrey"
            ax.plot([na.x, nb.x], [na.y, nb.y], color=line_colour, linewidth=0.8, zorder=0)
        ax.scatter(self._gw_x, self._gw_y, marker="^", color="tab:red", s=18, zorder=3, label="gateway")
        for key, label, marker in ((self.refuge, "refuge", "s"), (self.portal, "portal", "D")):
            node = self.nodes[key]
            ax.scatter([node.x], [node.y], marker=marker, s=30, zorder=3, label=label)
        face_nodes = [self.nodes[f] for f in self.faces]
        ax.scatter([n.x for n in face_nodes], [n.y for n in face_nodes], marker="v", s=14, label="face")
        for mx, my, mlabel in markers:
            ax.annotate(mlabel, (mx, my), fontsize=5)
        if values_by_pillar:
            fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=value_label)
        ax.set_aspect("equal")
        ax.set_xlabel("x (m, east)")
        ax.set_ylabel("y (m, north = inby)")
        ax.set_title(title)
        ax.legend(loc="lower right", fontsize=5)
        fig.tight_layout()
        fig.savefig(path, dpi=150)
        plt.close(fig)


class NoRouteError(ValueError):
    """No passable route between two nodes (e.g. every way out is blocked)."""


def default_layout() -> MineLayout:
    return MineLayout(LayoutParams())
