"""People and machines moving through the mine: a network-based moving-object generator after Brinkhoff.

Every mover travels along the drifts of a ``MineLayout`` from node to node towards destinations chosen by its
role, at a personal cruising speed capped by each drift's speed limit, and pauses where its work is. A
trajectory is a piecewise-linear path in time: breakpoints ``(t, x, y)`` at every intersection passed and at
the start and end of every pause, with the activity of each segment between two breakpoints.

Roles (what a coal section does during a production shift):

- **worker**: enters from the portal at the start of the shift (within ``arrival_spread_s``), walks to the
  working section and moves between a personal set of work places (faces, feeder, supply point, section
  crosscuts; the sets overlap because they are drawn from one weighted pool), with a task at each; a lunch
  break at the dinner hole (by the refuge chamber); walks out so as to reach the portal by the shift end.
- **supervisor** (section foreman): faster, visits a personal round of specific stops (faces for the
  on-shift examination, feeder, refuge, an outby stop at the gateway nearest the portal to report) with short
  inspections.
- **trolley** (supply car on the track): loads at the portal, runs inby on the haulage entry to the supply
  point, unloads, runs back out: a fixed directional flow loaded-inby / empty-outby.
- **equipment**: stays in the section (parked at the section's power centre between shifts). Shuttle cars run
  between the active face (the continuous miner moves from face to face through the shift) and the belt
  feeder, loading and unloading; scoops take supplies from the supply point to the active face. Diesel and
  battery machines stop now and then to cool or charge.

Movers do not interact (no queueing behind one another on the track): a simplification stated here.

Emergencies (``Scenario``): at ``t_event_s`` after the shift start the scenario's drifts are blocked.

- ``blocked_drift``: routines continue; a mover about to pass a blocked drift re-plans round it.
- ``evacuation``: everyone stops work (at the end of the drift segment being walked, a few seconds) and goes
  out along the primary escapeway (escapeway drifts cost half, so routes keep to them where they can); a
  share goes to the refuge chamber instead; when the way out is blocked they go to the refuge; equipment is
  de-energised and stays where it is (``parked``).
- ``trapped``: a roof fall across the whole section (every entry between two crosscuts). Movers outby walk
  out; movers inby cannot: a share stops where it is (injured or pinned: stationary), a share goes to the
  refuge chamber and waits, the rest move about within ``confine_radius_m`` of where they were.
People at the refuge or trapped stay until the end of the shift, which is the horizon of a simulated day.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from edge.sim.mine_layout import MineLayout, NoRouteError

Role = Literal["worker", "supervisor", "trolley", "equipment"]
ROLES: tuple[Role, ...] = ("worker", "supervisor", "trolley", "equipment")
ScenarioKind = Literal["blocked_drift", "evacuation", "trapped"]
SCENARIO_KINDS: tuple[ScenarioKind, ...] = ("blocked_drift", "evacuation", "trapped")


class Activity(IntEnum):
    MOVING = 0
    TASK = 1
    BREAK = 2
    INSPECTION = 3
    LOADING = 4
    UNLOADING = 5
    COOLING = 6
    PARKED = 7
    WAITING_AT_REFUGE = 8
    TRAPPED = 9


@dataclass(frozen=True)
class MobilityParams:
    nodes: int = 25
    # Shares of the moving nodes by role (the paper's four categories); counts by largest remainder.
    role_shares: tuple[tuple[Role, float], ...] = (
        ("worker", 0.60),
        ("supervisor", 0.12),
        ("trolley", 0.12),
        ("equipment", 0.16),
    )
    start_date: dt.date = dt.date(2026, 1, 5)  # day 0 (a Monday); day k is start_date + k days
    shift_start_s: float = 9 * 3600.0  # seconds after midnight UTC: 09:00-17:00 as in the paper
    shift_end_s: float = 17 * 3600.0
    arrival_spread_s: float = 600.0
    # Personal cruising speed ranges (m/s): a mover's speed is drawn once, varied a little per day and per leg.
    speed_mps: tuple[tuple[Role, float, float], ...] = (
        ("worker", 0.8, 1.5),
        ("supervisor", 1.3, 1.9),
        ("trolley", 3.0, 5.0),
        ("equipment", 2.0, 3.5),
    )
    day_speed_sd: float = 0.05  # relative day-to-day variation of a mover's pace
    leg_speed_sd: float = 0.08  # relative variation from one drift segment to the next
    section_crosscuts: int = 6  # the working section: the last crosscuts and the faces
    worker_places: tuple[int, int] = (2, 4)  # size of a worker's personal set of work places
    off_set_probability: float = 0.15  # a task somewhere outside the personal set (per-day variation)
    task_s: tuple[float, float] = (600.0, 2700.0)
    lunch_at_s: float = 12 * 3600.0
    lunch_spread_s: float = 1800.0
    lunch_s: tuple[float, float] = (1500.0, 2100.0)
    supervisor_stops: tuple[int, int] = (3, 5)
    inspection_s: tuple[float, float] = (180.0, 600.0)
    trolley_stop_s: tuple[float, float] = (300.0, 900.0)
    shuttle_load_s: tuple[float, float] = (40.0, 90.0)
    shuttle_unload_s: tuple[float, float] = (20.0, 45.0)
    scoop_unload_s: tuple[float, float] = (180.0, 480.0)
    cooling_every_s: tuple[float, float] = (3600.0, 7200.0)
    cooling_s: tuple[float, float] = (300.0, 900.0)
    miner_moves_every_s: tuple[float, float] = (3600.0, 7200.0)  # continuous miner changes face
    absence_probability: float = 0.03  # a person off work on a given day (machines always run)
    evacuation_speedup: float = 1.25
    walking_cap_mps: float = 2.0  # nobody runs faster than this in a drift, even evacuating

    def __post_init__(self) -> None:
        if self.nodes < 1:
            raise ValueError(f"nodes must be >= 1, got {self.nodes}")
        if not 0 <= self.shift_start_s < self.shift_end_s <= 86400:
            raise ValueError("shift_start_s must be before shift_end_s, both within one day")
        if {r for r, _ in self.role_shares} - set(ROLES) or sum(s for _, s in self.role_shares) <= 0:
            raise ValueError(f"role_shares must name roles of {ROLES} with a positive total")
        for role, lo, hi in self.speed_mps:
            if not 0 < lo <= hi:
                raise ValueError(f"speed range of {role} must satisfy 0 < min <= max, got {lo}..{hi}")

    def speed_range(self, role: Role) -> tuple[float, float]:
        for r, lo, hi in self.speed_mps:
            if r == role:
                return lo, hi
        raise KeyError(role)

    def role_counts(self) -> dict[Role, int]:
        total = sum(s for _, s in self.role_shares)
        exact = [(role, self.nodes * share / total) for role, share in self.role_shares]
        counts = {role: math.floor(v) for role, v in exact}
        rest = self.nodes - sum(counts.values())
        for role, _ in sorted(exact, key=lambda rv: rv[1] - math.floor(rv[1]), reverse=True)[:rest]:
            counts[role] += 1
        return counts


@dataclass(frozen=True)
class Scenario:
    kind: ScenarioKind
    t_event_s: float  # seconds after the shift start
    blocked_edges: frozenset[str]
    refuge_share: float = 0.25  # evacuation: share of people who go to the refuge instead of out
    stationary_share: float = 0.4  # trapped: share who stay where they are
    refuge_if_trapped_share: float = 0.4  # trapped: share who go to the refuge (the rest are confined)
    confine_radius_m: float = 60.0


def default_scenario(layout: MineLayout, kind: ScenarioKind, *, t_event_s: float = 4 * 3600.0) -> Scenario:
    """A scenario placed by the layout's geometry.

    blocked_drift: a roof fall in the haulage and belt entries halfway along the mine. evacuation: a belt fire,
    smoke fills three belt-entry segments outby of the section. trapped: a fall across every entry three
    crosscuts outby of the refuge, cutting the section off from the portal.
    """
    p, roles = layout.params, layout.roles
    mid = (p.crosscuts - 1) // 2

    def entry_segment(entry: int, j: int) -> str:
        return layout.edge_between(layout.intersection_id(entry, j), layout.intersection_id(entry, j + 1)).id

    if kind == "blocked_drift":
        blocked = {entry_segment(roles.haulage, mid), entry_segment(roles.belt, mid)}
    elif kind == "evacuation":
        blocked = {entry_segment(roles.belt, j) for j in range(mid - 1, mid + 2)}
    else:
        row = max(0, p.crosscuts - 1 - p.refuge_crosscuts_outby - 3)
        blocked = {entry_segment(i, row) for i in range(p.entries)}
    return Scenario(kind=kind, t_event_s=t_event_s, blocked_edges=frozenset(blocked))


@dataclass(frozen=True)
class Mover:
    """One moving node: what stays the same from one day to the next."""

    miner_id: str
    role: Role
    cruise_mps: float
    places: tuple[str, ...]  # worker: work places; supervisor: round of stops; machines: empty
    machine: str = ""  # equipment: "shuttle_car" or "scoop"


@dataclass(frozen=True)
class Trajectory:
    """Breakpoints of one mover's day: position is linear in time between consecutive breakpoints."""

    miner_id: str
    role: Role
    day_index: int
    t: NDArray[np.float64]  # epoch seconds, non-decreasing
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    activity: NDArray[np.int8]  # per segment: len(t) - 1 values of Activity
    final_node: str

    def segment_speed(self) -> NDArray[np.float64]:
        dt_ = np.diff(self.t)
        dist = np.hypot(np.diff(self.x), np.diff(self.y))
        speed: NDArray[np.float64] = np.divide(dist, dt_, out=np.zeros_like(dist), where=dt_ > 0)
        return speed

    def segment_heading_deg(self) -> NDArray[np.float64]:
        """Degrees clockwise from north (+y), in [0, 360). A pause keeps the heading of the move before it
        (a miner standing still faces where he walked); pauses before the first move take its heading."""
        dx, dy = np.diff(self.x), np.diff(self.y)
        moving = np.hypot(dx, dy) > 1e-9
        heading = np.degrees(np.arctan2(dx, dy)) % 360.0
        if not moving.any():
            return np.zeros_like(heading)
        index = np.where(moving, np.arange(len(heading)), -1)
        index = np.maximum.accumulate(index)
        index[index < 0] = int(np.argmax(moving))
        filled: NDArray[np.float64] = heading[index]
        return filled

    def sample(self, times: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
        """True (x, y, speed, heading, activity) at ``times`` (which must lie in [t[0], t[-1]])."""
        x = np.interp(times, self.t, self.x)
        y = np.interp(times, self.t, self.y)
        if len(self.t) < 2:
            zeros = np.zeros_like(times)
            return x, y, zeros, zeros, np.full(times.shape, float(Activity.PARKED))
        segment = np.clip(np.searchsorted(self.t, times, side="right") - 1, 0, len(self.t) - 2)
        # A sample at a breakpoint where a zero-length segment follows would pick the wrong one; searchsorted
        # 'right' takes the last segment starting at that time, which is the one that has a duration.
        return (
            x,
            y,
            self.segment_speed()[segment],
            self.segment_heading_deg()[segment],
            self.activity[segment].astype(np.float64),
        )


@dataclass
class Population:
    movers: list[Mover]


def build_population(layout: MineLayout, params: MobilityParams, *, rng: np.random.Generator) -> Population:
    """Who works in the mine: roles, personal speeds and personal sets of places (fixed across days)."""
    counts = params.role_counts()
    places = _SectionPlaces(layout, params)
    movers: list[Mover] = []
    for role in ROLES:
        lo, hi = params.speed_range(role)
        for k in range(counts.get(role, 0)):
            miner_id = f"m{len(movers) + 1:03d}"
            cruise = float(rng.uniform(lo, hi))
            if role == "worker":
                size = int(rng.integers(params.worker_places[0], params.worker_places[1] + 1))
                chosen = rng.choice(len(places.pool), size=min(size, len(places.pool)), replace=False, p=places.weights)
                movers.append(Mover(miner_id, role, cruise, tuple(places.pool[i] for i in sorted(chosen))))
            elif role == "supervisor":
                size = int(rng.integers(params.supervisor_stops[0], params.supervisor_stops[1] + 1))
                candidates = [*layout.faces, places.feeder, layout.refuge]
                chosen = rng.choice(len(candidates), size=min(size, len(candidates)), replace=False)
                movers.append(Mover(miner_id, role, cruise, tuple(candidates[i] for i in sorted(chosen))))
            elif role == "trolley":
                movers.append(Mover(miner_id, role, cruise, ()))
            else:
                movers.append(Mover(miner_id, role, cruise, (), "shuttle_car" if k % 2 == 0 else "scoop"))
    return Population(movers)


def simulate_shift(
    layout: MineLayout,
    population: Population,
    params: MobilityParams,
    *,
    rng: np.random.Generator,
    day_index: int,
    scenario: Scenario | None = None,
    start_offset_s: float = 0.0,
) -> list[Trajectory]:
    """Every mover's trajectory for one shift (absent people have none).

    ``start_offset_s`` moves the whole shift (start, lunch, end) that much later: a later shift of the same day
    with the same timetable, which may end after midnight (e.g. 9 h: an 18:00-02:00 shift after the 09:00-17:00
    one). ``MobilityParams`` keeps its one shift within a day; this is how a second shift is had without it."""
    midnight = dt.datetime.combine(params.start_date + dt.timedelta(days=day_index), dt.time(), tzinfo=dt.UTC)
    offset = midnight.timestamp() + start_offset_s
    day = _Day(
        layout=layout,
        params=params,
        places=_SectionPlaces(layout, params),
        rng=rng,
        day_index=day_index,
        start=offset + params.shift_start_s,
        end=offset + params.shift_end_s,
        lunch=offset + params.lunch_at_s,
        scenario=scenario,
    )
    day.plan_continuous_miner()
    trajectories = []
    for mover in population.movers:
        if mover.role in ("worker", "supervisor") and rng.random() < params.absence_probability:
            continue
        trajectories.append(day.run(mover))
    return trajectories


def simulate_days(
    layout: MineLayout,
    params: MobilityParams,
    *,
    seed: int,
    days: int,
    scenario: Scenario | None = None,
    scenario_day: int | None = None,
) -> list[Trajectory]:
    """``days`` shifts of one population; the scenario (if any) happens on ``scenario_day`` (default: the last)."""
    rng = np.random.default_rng(seed)
    population = build_population(layout, params, rng=rng)
    emergency_day = days - 1 if scenario_day is None else scenario_day
    out: list[Trajectory] = []
    for day_index in range(days):
        day_scenario = scenario if day_index == emergency_day else None
        out.extend(simulate_shift(layout, population, params, rng=rng, day_index=day_index, scenario=day_scenario))
    return out


def simulate_preshift_examination(
    layout: MineLayout,
    params: MobilityParams,
    *,
    rng: np.random.Generator,
    examiner_id: str,
    enter_at: float,
    day_index: int = 0,
    blocked_edges: frozenset[str] = frozenset(),
) -> Trajectory:
    """A certified examiner's pre-shift examination of the working section, before an oncoming shift.

    In from the portal at ``enter_at`` (epoch seconds), round the places the crew will work -- every face, the
    belt feeder, the supply point and the refuge chamber -- nearest first, an inspection at each, and back out to
    the portal, where the results are recorded before the crew may go in. Walks at a supervisor's pace (the
    examiner is usually a section foreman) and round ``blocked_edges`` (a fall that is still there); a place it
    cannot reach is left out. The caller times it: US coal mines examine within the 3 hours before a shift
    (30 CFR 75.360, from general knowledge)."""
    places = _SectionPlaces(layout, params)
    day = _Day(
        layout=layout,
        params=params,
        places=places,
        rng=rng,
        day_index=day_index,
        start=enter_at,
        end=math.inf,  # the examination takes as long as it takes; the caller times the entry
        lunch=math.inf,
        scenario=Scenario("blocked_drift", 0.0, blocked_edges) if blocked_edges else None,
    )
    lo, hi = params.speed_range("supervisor")
    examiner = Mover(examiner_id, "supervisor", float(rng.uniform(lo, hi)), ())
    portal = layout.nodes[layout.portal]
    track = _Track(layout.portal, [enter_at], [portal.x], [portal.y])
    todo = list(dict.fromkeys([*layout.faces, places.feeder, places.supply, layout.refuge]))
    while todo:
        here = track.node
        todo.sort(key=lambda n: (day._travel_estimate(here, n, examiner.cruise_mps, examiner, track.now), n))
        place = todo.pop(0)
        if day._go(track, place, examiner.cruise_mps, examiner):
            day._stay(track, track.now + float(rng.uniform(*params.inspection_s)), Activity.INSPECTION)
    day._go(track, layout.portal, examiner.cruise_mps, examiner)
    return Trajectory(
        miner_id=examiner_id,
        role="supervisor",
        day_index=day_index,
        t=np.array(track.t),
        x=np.array(track.x),
        y=np.array(track.y),
        activity=np.array(track.activity, dtype=np.int8),
        final_node=track.node,
    )


# ------------------------------------------------------------------------------------------------ internals
class _SectionPlaces:
    """Named places of the working section, derived from the layout."""

    def __init__(self, layout: MineLayout, params: MobilityParams) -> None:
        p, roles = layout.params, layout.roles
        last = p.crosscuts - 1
        first_row = max(0, last - params.section_crosscuts + 1)
        self.feeder = layout.intersection_id(roles.belt, max(0, last - 1))  # belt tailpiece: shuttle cars dump
        self.supply = layout.intersection_id(roles.haulage, max(0, last - 2))  # end of track: supplies
        self.parking = layout.intersection_id(roles.haulage, first_row)  # power centre / equipment parking
        self.section_nodes = {n.id for n in layout.nodes.values() if n.crosscut is None and n.entry is not None}
        self.section_nodes |= {
            n.id for n in layout.nodes.values() if n.crosscut is not None and n.crosscut >= first_row
        }
        self.section_edges = frozenset(
            e.id for e in layout.edges.values() if e.a in self.section_nodes and e.b in self.section_nodes
        )
        self.haulage_edges = frozenset(e.id for e in layout.edges.values() if e.haulage)
        self.escapeway_discount = {e.id: 0.5 for e in layout.edges.values() if e.primary_escapeway}
        # Work places: faces most of all, then the feeder, the supply point and the last two crosscuts.
        pool = dict.fromkeys(layout.faces, 3.0)
        pool[self.feeder] = 2.0
        pool[self.supply] = 1.5
        for j in (last, last - 1):
            for i in range(p.entries):
                pool.setdefault(layout.intersection_id(i, max(0, j)), 1.0)
        self.pool = list(pool)
        weights = np.array(list(pool.values()))
        self.weights = weights / weights.sum()


_SLOW_LEG_ALLOWANCE = 1.0 / 0.75


class _Interrupted(Exception):
    """The emergency started while the mover was busy: the routine ends there."""


@dataclass
class _Track:
    node: str
    t: list[float]
    x: list[float]
    y: list[float]
    activity: list[int] = field(default_factory=list)

    @property
    def now(self) -> float:
        return self.t[-1]

    def append(self, t: float, x: float, y: float, activity: Activity) -> None:
        if t <= self.t[-1]:
            return
        self.t.append(t)
        self.x.append(x)
        self.y.append(y)
        self.activity.append(int(activity))


@dataclass
class _Day:
    layout: MineLayout
    params: MobilityParams
    places: _SectionPlaces
    rng: np.random.Generator
    day_index: int
    start: float
    end: float
    lunch: float
    scenario: Scenario | None
    miner_faces: list[tuple[float, str]] = field(default_factory=list)

    # -------------------------------------------------------------------------------------- day-level plans
    def plan_continuous_miner(self) -> None:
        """The face the continuous miner cuts, through the shift: it moves on to the next entry now and then."""
        faces = self.layout.faces
        index = int(self.rng.integers(len(faces)))
        t = self.start
        while t < self.end:
            self.miner_faces.append((t, faces[index]))
            t += float(self.rng.uniform(*self.params.miner_moves_every_s))
            index = (index + 1) % len(faces)

    def active_face(self, t: float) -> str:
        face = self.miner_faces[0][1]
        for since, f in self.miner_faces:
            if since <= t:
                face = f
        return face

    @property
    def t_event(self) -> float:
        return self.start + self.scenario.t_event_s if self.scenario else math.inf

    @property
    def interrupts(self) -> bool:
        return self.scenario is not None and self.scenario.kind in ("evacuation", "trapped")

    def blocked_at(self, t: float) -> frozenset[str]:
        return self.scenario.blocked_edges if self.scenario and t >= self.t_event else frozenset()

    # -------------------------------------------------------------------------------------------- one mover
    def run(self, mover: Mover) -> Trajectory:
        p = self.params
        speed = mover.cruise_mps * float(np.clip(self.rng.normal(1.0, p.day_speed_sd), 0.8, 1.2))
        lo, hi = p.speed_range(mover.role)
        speed = float(np.clip(speed, lo, hi))
        if mover.role == "equipment":
            home = self.places.parking
            t0 = self.start + float(self.rng.uniform(0, 300))  # pre-shift checks before tramming
        else:
            home = self.layout.portal
            t0 = self.start + float(self.rng.uniform(0, p.arrival_spread_s))
        node = self.layout.nodes[home]
        track = _Track(home, [t0], [node.x], [node.y])
        try:
            self._routine(mover, track, speed)
            self._go(track, home, speed, mover)
        except _Interrupted:
            self._respond(mover, track, speed)
        if mover.role == "equipment" and track.now < self.end:
            node = self.layout.nodes[track.node]
            track.append(self.end, node.x, node.y, Activity.PARKED)
        return Trajectory(
            miner_id=mover.miner_id,
            role=mover.role,
            day_index=self.day_index,
            t=np.array(track.t),
            x=np.array(track.x),
            y=np.array(track.y),
            activity=np.array(track.activity, dtype=np.int8),
            final_node=track.node,
        )

    def _steps(self, mover: Mover, track: _Track) -> Iterator[tuple[str, float, Activity]]:
        """The mover's routine: (destination, pause there, activity of the pause), endlessly."""
        p, places, rng = self.params, self.places, self.rng
        if mover.role == "worker":
            lunch_at = self.lunch + float(rng.uniform(-p.lunch_spread_s, p.lunch_spread_s))
            had_lunch = False
            while True:
                if not had_lunch and track.now >= lunch_at:
                    had_lunch = True
                    yield self.layout.refuge, float(rng.uniform(*p.lunch_s)), Activity.BREAK
                    continue
                if rng.random() < p.off_set_probability:
                    choice = places.pool[int(rng.choice(len(places.pool), p=places.weights))]
                else:
                    options = [pl for pl in mover.places if pl != track.node] or list(mover.places)
                    choice = options[int(rng.integers(len(options)))]
                yield choice, float(rng.uniform(*p.task_s)), Activity.TASK
        elif mover.role == "supervisor":
            order = list(mover.places)
            reported = False
            while True:
                rng.shuffle(order)
                for stop in order:
                    yield stop, float(rng.uniform(*p.inspection_s)), Activity.INSPECTION
                if not reported and track.now >= self.lunch:
                    reported = True  # once mid-shift, out to the gateway nearest the portal to report
                    yield self.layout.gateways[0].node, float(rng.uniform(*p.inspection_s)), Activity.INSPECTION
        elif mover.role == "trolley":
            while True:
                yield self.layout.portal, float(rng.uniform(*p.trolley_stop_s)), Activity.LOADING
                yield places.supply, float(rng.uniform(*p.trolley_stop_s)), Activity.UNLOADING
        else:
            next_cooling = track.now + float(rng.uniform(*p.cooling_every_s))
            while True:
                if track.now >= next_cooling:
                    yield places.parking, float(rng.uniform(*p.cooling_s)), Activity.COOLING
                    next_cooling = track.now + float(rng.uniform(*p.cooling_every_s))
                face = self.active_face(track.now)
                if mover.machine == "shuttle_car":
                    yield face, float(rng.uniform(*p.shuttle_load_s)), Activity.LOADING
                    yield places.feeder, float(rng.uniform(*p.shuttle_unload_s)), Activity.UNLOADING
                else:
                    yield places.supply, float(rng.uniform(*p.shuttle_load_s)), Activity.LOADING
                    yield face, float(rng.uniform(*p.scoop_unload_s)), Activity.UNLOADING

    def _routine(self, mover: Mover, track: _Track, speed: float) -> None:
        home = self.places.parking if mover.role == "equipment" else self.layout.portal
        for destination, pause, activity in self._steps(mover, track):
            # Only start what can be finished with time left to get back by the end of the shift.
            # Travel estimates are scaled for the slowest leg pace (0.75 of cruising) so the mover is out in time.
            needed = (
                _SLOW_LEG_ALLOWANCE * self._travel_estimate(track.node, destination, speed, mover, track.now)
                + pause
                + _SLOW_LEG_ALLOWANCE * self._travel_estimate(destination, home, speed, mover, track.now)
            )
            if track.now + needed > self.end:
                return
            if not self._go(track, destination, speed, mover):
                continue  # cut off by a blocked drift: on to the next task
            self._stay(track, track.now + pause, activity)

    def _allowed(self, mover: Mover) -> frozenset[str] | None:
        if mover.role == "trolley":
            return self.places.haulage_edges
        if mover.role == "equipment":
            return self.places.section_edges
        return None

    def _route(self, start: str, goal: str, mover: Mover, blocked: frozenset[str]) -> list[str]:
        allowed = self._allowed(mover)
        if allowed is not None:
            try:
                return self.layout.shortest_path(start, goal, blocked_edges=blocked, allowed_edges=allowed)
            except NoRouteError:
                pass  # a fall on the track: machines detour through crosscuts and other entries
        return self.layout.shortest_path(start, goal, blocked_edges=blocked)

    def _travel_estimate(self, start: str, goal: str, speed: float, mover: Mover, now: float) -> float:
        try:
            path = self._route(start, goal, mover, self.blocked_at(now))
        except NoRouteError:
            return math.inf
        return sum(
            edge.length_m / min(speed, edge.speed_limit_mps)
            for edge in (self.layout.edge_between(u, v) for u, v in itertools.pairwise(path))
        )

    def _go(self, track: _Track, goal: str, speed: float, mover: Mover, *, emergency: bool = False) -> bool:
        """Walk/drive to ``goal`` segment by segment, re-planning when a drift ahead is blocked. False when the
        goal cannot be reached; raises ``_Interrupted`` when the emergency starts on the way."""
        cost = self.places.escapeway_discount if emergency else None

        def plan(blocked: frozenset[str]) -> list[str]:
            if emergency:  # out along the escapeway where it can be: escapeway drifts count half their length
                return self.layout.shortest_path(track.node, goal, blocked_edges=blocked, cost_factor=cost)
            return self._route(track.node, goal, mover, blocked)

        planned_with = self.blocked_at(track.now)
        try:
            path = plan(planned_with)
        except NoRouteError:
            return False
        index = 0
        while track.node != goal:
            if not emergency and self.interrupts and track.now >= self.t_event:
                raise _Interrupted
            blocked = self.blocked_at(track.now)
            if blocked != planned_with:
                planned_with = blocked
                try:
                    path = plan(blocked)
                except NoRouteError:
                    return False
                index = 0
            nxt = path[index + 1]
            edge = self.layout.edge_between(track.node, nxt)
            leg = speed * float(np.clip(self.rng.normal(1.0, self.params.leg_speed_sd), 0.75, 1.25))
            leg = min(leg, self.params.speed_range(mover.role)[1], edge.speed_limit_mps)
            node = self.layout.nodes[nxt]
            track.append(track.now + edge.length_m / leg, node.x, node.y, Activity.MOVING)
            track.node = nxt
            index += 1
        return True

    def _stay(self, track: _Track, until: float, activity: Activity, *, emergency: bool = False) -> None:
        node = self.layout.nodes[track.node]
        if not emergency and self.interrupts and until > self.t_event:
            track.append(max(track.now, self.t_event), node.x, node.y, activity)
            raise _Interrupted
        track.append(min(until, self.end), node.x, node.y, activity)

    # ------------------------------------------------------------------------------------------ emergencies
    def _respond(self, mover: Mover, track: _Track, speed: float) -> None:
        assert self.scenario is not None  # noqa: S101  (only reached when a scenario interrupts)
        scenario, layout, rng = self.scenario, self.layout, self.rng
        blocked = scenario.blocked_edges
        if mover.role == "equipment":
            self._stay(track, self.end, Activity.PARKED, emergency=True)
            return
        if mover.role in ("worker", "supervisor"):
            speed = min(speed * self.params.evacuation_speedup, self.params.walking_cap_mps)
        can_leave = layout.portal in layout.reachable(track.node, blocked_edges=blocked)
        can_shelter = layout.refuge in layout.reachable(track.node, blocked_edges=blocked)
        person = mover.role in ("worker", "supervisor")
        if scenario.kind == "evacuation":
            goal = layout.portal
            if person and can_shelter and (not can_leave or rng.random() < scenario.refuge_share):
                goal = layout.refuge
            self._escape(mover, track, speed, goal, can_reach=can_leave or goal == layout.refuge)
            return
        # Trapped: outby of the fall the mine is evacuated; inby of it nobody gets out.
        if can_leave:
            self._escape(mover, track, speed, layout.portal, can_reach=True)
            return
        draw = rng.random()
        if not person or draw < scenario.stationary_share:
            self._stay(track, self.end, Activity.TRAPPED, emergency=True)
        elif can_shelter and draw < scenario.stationary_share + scenario.refuge_if_trapped_share:
            self._escape(mover, track, speed, layout.refuge, can_reach=True)
        else:
            self._confined(mover, track, speed)

    def _escape(self, mover: Mover, track: _Track, speed: float, goal: str, *, can_reach: bool) -> None:
        if can_reach and self._go(track, goal, speed, mover, emergency=True):
            if goal == self.layout.refuge:
                self._stay(track, self.end, Activity.WAITING_AT_REFUGE, emergency=True)
            return
        self._stay(track, self.end, Activity.TRAPPED, emergency=True)

    def _confined(self, mover: Mover, track: _Track, speed: float) -> None:
        """Move about among the nodes within the confinement radius of where the fall caught the mover."""
        assert self.scenario is not None  # noqa: S101
        layout, rng, scenario = self.layout, self.rng, self.scenario
        centre = layout.nodes[track.node]
        reachable = layout.reachable(track.node, blocked_edges=scenario.blocked_edges)
        nearby = sorted(
            n
            for n in reachable
            if math.hypot(layout.nodes[n].x - centre.x, layout.nodes[n].y - centre.y) <= scenario.confine_radius_m
        )
        while track.now < self.end:
            goal = nearby[int(rng.integers(len(nearby)))]
            # Shortest routes between nodes within the radius can stray outside it: keep to nearby nodes.
            allowed = frozenset(
                e.id
                for e in layout.edges.values()
                if e.a in nearby and e.b in nearby and e.id not in scenario.blocked_edges
            )
            try:
                path = layout.shortest_path(track.node, goal, allowed_edges=allowed)
            except NoRouteError:
                path = [track.node]
            for nxt in path[1:]:
                edge = layout.edge_between(track.node, nxt)
                node = layout.nodes[nxt]
                arrive = track.now + edge.length_m / min(speed, edge.speed_limit_mps)
                if arrive > self.end:
                    break
                track.append(arrive, node.x, node.y, Activity.MOVING)
                track.node = nxt
            self._stay(track, track.now + float(rng.uniform(300.0, 1200.0)), Activity.TRAPPED, emergency=True)
