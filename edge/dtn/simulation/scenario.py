"""A shift in the mine as a DTN: who is there, what they send, which links exist, and the run itself.

Scenarios:

- ``normal``: one production shift (the world model's mobility: workers, supervisors, the supply trolley and
  section machines) with the backbone intact.
- ``incident``: the same shift; ``incident_after_s`` after the shift start a roof fall blocks the haulage and
  belt entries halfway along the mine (the world model's ``blocked_drift`` scenario: routines go on, movers
  detour round the fall). The backbone cable hangs in the haulage entry and is cut with it, so every gateway
  inby of the fall loses its way to the surface for the rest of the shift; the only way out for their bundles
  is a carrier that walks or drives past the fall. Radio does not pass through the fall either: from then on no
  contact's straight line may cross the rubble (``edge.dtn.simulation.contacts``).

The next shift (``next_shift_s`` > 0; the first shift alone when 0): a production mine runs shifts back to back,
so the run does not stop when the first shift's crew is out. ``shift_gap_s`` after the first shift ends the next
one starts, with the same timetable (09:00-17:00 then 19:00-03:00 by default), and the fall, if any, still in
place (nobody clears a roof fall between shifts). Before it a certified examiner makes the pre-shift examination:
in from the portal, round the faces, the feeder, the supply point and the refuge chamber, and back out so as to
be at the portal ``preshift_record_s`` before the shift starts (US coal mines: an examination within the 3 hours
before any shift, its results recorded on the surface before the crew goes in -- 30 CFR 75.360, cited from
general knowledge, not from the project's regulations notes). Then the oncoming crew comes in as the mobility
model brings in any shift: different people (their own node ids, numbered after the first population and the
examiner), the same machines (the same nodes: trolley and section equipment, with what their stores hold). The
run goes ``next_shift_s`` into that shift, and the next shift's own traffic is generated as the first shift's.
The figures of the first shift's bundles are taken twice: at the end of its drain (what a run of the first
shift alone reports) and at the end of the run.

Routing policies (what the benchmark compares):

- ``static``: gateways route statically along the chain and never give carriers anything; carriers hand
  their own bundles to the first gateway that knows its way out. The infrastructure-only baseline.
- ``epidemic`` / ``spray``: gateways still route statically along the chain, and hand copies of what has
  been stuck there longer than ``carrier_handoff_after_s`` to passing carriers (they keep custody); carriers
  run epidemic routing or binary spray-and-wait with ``spray_copies`` tokens among themselves.

Store budgets: gateways have an SD card's worth; a person's cap-lamp node little; a machine's node more.
Link rates: the backbone modem, and an 802.15.4-class radio for everything that moves.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from edge.clock import FakeClock
from edge.dtn.bundle import Priority
from edge.dtn.routing import PeerKind, make_router
from edge.dtn.simulation.contacts import (
    Fall,
    FixedNetwork,
    Positions,
    fixed_contacts,
    fixed_network,
    mobile_contacts,
    sample_positions,
)
from edge.dtn.simulation.engine import Engine, SimNode, Tally
from edge.dtn.simulation.traffic import TrafficParams, generate
from edge.dtn.store import BundleStore
from edge.sim.mine_layout import LayoutParams, MineLayout
from edge.sim.mobility import (
    Activity,
    MobilityParams,
    Population,
    Trajectory,
    build_population,
    default_scenario,
    simulate_days,
    simulate_preshift_examination,
    simulate_shift,
)

ScenarioName = Literal["normal", "incident"]
SCENARIOS: tuple[ScenarioName, ...] = ("normal", "incident")
POLICIES = ("static", "epidemic", "spray")
_MOBILE_POLICY = {"static": "static", "epidemic": "epidemic", "spray": "spray"}
MiB = 1024 * 1024
PRESHIFT_WINDOW_S = 3 * 3600.0  # the examination is made within the 3 hours before the shift (30 CFR 75.360)


@dataclass(frozen=True)
class LinkParams:
    cable_bps: float = 10e6 / 8  # 10 Mbit/s over the leaky feeder / fibre modem
    radio_bps: float = 250e3 / 8  # 250 kbit/s: an 802.15.4-class radio on cap lamps, machines and gateways
    mobile_range_m: float = 50.0  # body-worn to body-worn, line of sight in a drift (gateways: the layout's)
    step_s: float = 5.0  # contact sampling step

    def __post_init__(self) -> None:
        for name in ("cable_bps", "radio_bps", "mobile_range_m", "step_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"link parameter {name} must be > 0, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class StoreParams:
    gateway_bytes: int = 256 * MiB
    person_bytes: int = 2 * MiB
    machine_bytes: int = 32 * MiB
    sink_bytes: int = 4096 * MiB


@dataclass(frozen=True)
class SimConfig:
    policy: str = "epidemic"
    scenario: ScenarioName = "normal"
    mobile_nodes: int = 25
    seed: int = 1
    layout: LayoutParams = field(default_factory=LayoutParams)
    traffic: TrafficParams = field(default_factory=TrafficParams)
    links: LinkParams = field(default_factory=LinkParams)
    stores: StoreParams = field(default_factory=StoreParams)
    incident_after_s: float = 4 * 3600.0  # after the shift start
    drain_s: float = 1800.0  # the run goes on this long after the shift (and the traffic) ends
    next_shift_s: float = 0.0  # > 0: then into the next shift this far (module docstring); 0: the run ends here
    shift_gap_s: float = 2 * 3600.0  # from the end of the shift to the start of the next
    preshift_record_s: float = 600.0  # the examiner is back at the portal this long before the next shift
    spray_copies: int = 8
    carrier_handoff_after_s: float = 120.0
    quantum_s: float = 1.0
    sample_s: float = 300.0
    mobility: MobilityParams | None = None  # None: MobilityParams(nodes=mobile_nodes)

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"policy {self.policy!r} is not one of {', '.join(POLICIES)}")
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario {self.scenario!r} is not one of {', '.join(SCENARIOS)}")
        if self.mobile_nodes < 0:
            raise ValueError(f"mobile_nodes must be >= 0, got {self.mobile_nodes}")
        if self.drain_s < 0:
            raise ValueError(f"drain_s must be >= 0, got {self.drain_s!r}")
        if self.next_shift_s < 0:
            raise ValueError(f"next_shift_s must be >= 0 (0: no next shift), got {self.next_shift_s!r}")
        if self.next_shift_s > 0:
            if self.shift_gap_s < self.drain_s:
                raise ValueError(
                    f"shift_gap_s ({self.shift_gap_s!r}) must be >= drain_s ({self.drain_s!r}): the first shift's "
                    "figures are taken at the end of its drain, before the next shift"
                )
            shift = self.mobility or MobilityParams()
            length = shift.shift_end_s - shift.shift_start_s
            if self.next_shift_s > length:
                raise ValueError(
                    f"next_shift_s ({self.next_shift_s!r}) must not exceed the length of a shift ({length!r} s)"
                )
            if not 0 <= self.preshift_record_s < PRESHIFT_WINDOW_S:
                raise ValueError(
                    f"preshift_record_s must be in [0, {PRESHIFT_WINDOW_S:.0f}) s, got {self.preshift_record_s!r}"
                )


@dataclass
class NextShift:
    """The shift after the first one, when the run goes on into it."""

    start: float  # epoch seconds
    horizon: float  # the run ends here
    examiner: str | None  # None when the run has no moving nodes
    examiner_enters: float
    examiner_out: float  # back at the portal
    crew: list[str]  # the oncoming shift's people who came to work (examiner not included)
    machines: list[str]  # the same machines as in the first shift


@dataclass
class World:
    """Everything a run needs that does not depend on the routing policy (built once per scenario/size)."""

    layout: MineLayout
    network: FixedNetwork
    trajectories: list[Trajectory]
    positions: Positions
    start: float
    shift_end: float
    blocked: frozenset[str]
    t_cut: float | None
    build_s: float = 0.0
    drain_end: float = 0.0  # the end of the first shift's drain: where a run of the first shift alone stops
    first_shift: int = 0  # moving nodes at work in the first shift (the first ``first_shift`` trajectories)
    next_shift: NextShift | None = None

    @property
    def horizon(self) -> float:
        return self.next_shift.horizon if self.next_shift else self.drain_end

    @property
    def fall(self) -> Fall | None:
        """The rubble radio does not pass through, from the cut on (None in the normal shift)."""
        if self.t_cut is None or not self.blocked:
            return None
        return Fall.in_layout(self.layout, self.blocked, self.t_cut)


@dataclass
class RunResult:
    config: SimConfig
    tally: Tally
    world: World
    nodes: dict[str, SimNode]
    wall_s: float
    cpu_s: float  # this process's CPU time for the run (the machine may be shared: wall time says less)
    contacts: int
    engine: Engine
    drain_tally: Tally  # as it stood at the end of the first shift's drain (``tally`` itself when the run ends there)

    def close(self) -> None:
        for node in self.nodes.values():
            node.store.close()


def build_world(config: SimConfig) -> World:
    started = time.perf_counter()
    layout = MineLayout(config.layout)
    network = fixed_network(layout)
    mobility = config.mobility or MobilityParams(nodes=max(1, config.mobile_nodes))
    blocked: frozenset[str] = frozenset()
    scenario = None
    if config.scenario == "incident":
        scenario = default_scenario(layout, "blocked_drift", t_event_s=config.incident_after_s)
        blocked = scenario.blocked_edges
    trajectories = simulate_days(layout, mobility, seed=config.seed, days=1, scenario=scenario)
    if config.mobile_nodes == 0:
        trajectories = []
    midnight = dt.datetime.combine(mobility.start_date, dt.time(), tzinfo=dt.UTC).timestamp()
    start = midnight + mobility.shift_start_s
    shift_end = midnight + mobility.shift_end_s
    drain_end = shift_end + config.drain_s
    first_shift = len(trajectories)
    next_shift = None
    if config.next_shift_s > 0:
        trajectories, next_shift = _next_shift(
            config, layout, mobility, first=trajectories, shift_end=shift_end, blocked=blocked
        )
    horizon = next_shift.horizon if next_shift else drain_end
    positions = sample_positions(trajectories, start=start, end=horizon, step_s=config.links.step_s)
    t_cut = start + config.incident_after_s if config.scenario == "incident" else None
    return World(
        layout,
        network,
        trajectories,
        positions,
        start,
        shift_end,
        blocked,
        t_cut,
        time.perf_counter() - started,
        drain_end=drain_end,
        first_shift=first_shift,
        next_shift=next_shift,
    )


def _next_shift(
    config: SimConfig,
    layout: MineLayout,
    mobility: MobilityParams,
    *,
    first: list[Trajectory],
    shift_end: float,
    blocked: frozenset[str],
) -> tuple[list[Trajectory], NextShift]:
    """The first shift's trajectories with the machines' next shift joined on, then the examiner and the crew."""
    length = mobility.shift_end_s - mobility.shift_start_s
    next_start = shift_end + config.shift_gap_s
    # The population of the first shift as simulate_days draws it (same seed): its machines work the next shift.
    population = build_population(layout, mobility, rng=np.random.default_rng(config.seed))
    machines = [m for m in population.movers if m.role in ("trolley", "equipment")]
    rng = np.random.default_rng([config.seed, 2])
    others = build_population(layout, mobility, rng=rng)  # the oncoming crew: other people, same role counts
    number = mobility.nodes + 1
    examiner_id = f"m{number:03d}"
    people = [
        replace(m, miner_id=f"m{number + k:03d}")
        for k, m in enumerate((m for m in others.movers if m.role in ("worker", "supervisor")), start=1)
    ]
    fall = default_scenario(layout, "blocked_drift", t_event_s=0.0) if blocked else None
    shift = simulate_shift(
        layout,
        Population([*people, *machines]),
        mobility,
        rng=rng,
        day_index=0,
        scenario=fall,
        start_offset_s=length + config.shift_gap_s,
    )
    exam = simulate_preshift_examination(
        layout,
        mobility,
        rng=np.random.default_rng([config.seed, 3]),
        examiner_id=examiner_id,
        enter_at=0.0,
        blocked_edges=blocked,
    )
    duration = float(exam.t[-1] - exam.t[0])
    enters = next_start - config.preshift_record_s - duration
    if enters < next_start - PRESHIFT_WINDOW_S:
        raise ValueError(
            f"the pre-shift examination takes {duration:.0f} s here and would start more than 3 h before the next "
            f"shift (30 CFR 75.360); lower preshift_record_s ({config.preshift_record_s!r})"
        )
    exam = replace(exam, t=exam.t + enters)
    joined = {t.miner_id: t for t in shift if t.role in ("trolley", "equipment")}
    trajectories = [_join(t, joined.pop(t.miner_id)) if t.miner_id in joined else t for t in first]
    crew = [t for t in shift if t.role in ("worker", "supervisor")]
    if not first:  # a run without moving nodes has no next shift's either, only its traffic
        exam_id, crew, machines = None, [], []
    else:
        exam_id = examiner_id
        trajectories += [exam, *crew, *joined.values()]
    return trajectories, NextShift(
        start=next_start,
        horizon=next_start + config.next_shift_s,
        examiner=exam_id,
        examiner_enters=enters,
        examiner_out=float(exam.t[-1]),
        crew=[t.miner_id for t in crew],
        machines=[m.miner_id for m in machines],
    )


def _join(first: Trajectory, second: Trajectory) -> Trajectory:
    """One machine's two shifts as one trajectory: it stays where the first left it until the second starts."""
    if (first.x[-1], first.y[-1]) != (second.x[0], second.y[0]):
        raise ValueError(
            f"{first.miner_id} ends the shift at {first.final_node} but starts the next elsewhere: "
            "the mobility model should park a machine where it starts"
        )
    return replace(
        first,
        t=np.concatenate([first.t, second.t]),
        x=np.concatenate([first.x, second.x]),
        y=np.concatenate([first.y, second.y]),
        activity=np.concatenate([first.activity, np.array([Activity.PARKED], dtype=np.int8), second.activity]),
        final_node=second.final_node,
    )


def _capacity(config: SimConfig, trajectory: Trajectory) -> int:
    return config.stores.machine_bytes if trajectory.role in ("trolley", "equipment") else config.stores.person_bytes


def run(config: SimConfig, world: World | None = None, *, keep_open: bool = False) -> RunResult:
    """One simulated shift under ``config`` (``world`` may be shared between policies of one scenario).

    The nodes' stores are closed at the end unless ``keep_open`` (then call ``RunResult.close``)."""
    world = world or build_world(config)
    started = time.perf_counter()
    cpu_started = time.process_time()
    clock = FakeClock(start_wall=world.start)
    engine = Engine(clock, quantum_s=config.quantum_s, sample_s=config.sample_s)
    mobile_policy = _MOBILE_POLICY[config.policy]
    handoff = None if config.policy == "static" else config.carrier_handoff_after_s

    def store(node_id: str, capacity: int) -> BundleStore:
        return BundleStore(":memory:", node_id=node_id, capacity_bytes=capacity, clock=clock, durable=False)

    configured = world.network.hops()
    sink = world.network.sink
    engine.add_node(SimNode(sink.id, PeerKind.SURFACE, store(sink.id, config.stores.sink_bytes), None, hops=0))
    for gateway in world.network.gateways:
        hops = configured[gateway.id]
        router = make_router(
            "static",
            node_id=gateway.id,
            node_kind=PeerKind.FIXED,
            hops_to_surface=hops,
            clock=clock,
            carrier_handoff_after_s=handoff,
        )
        node = SimNode(gateway.id, PeerKind.FIXED, store(gateway.id, config.stores.gateway_bytes), router, hops=hops)
        node.polls_carriers = handoff is not None
        engine.add_node(node)
    for trajectory in world.trajectories:
        router = make_router(
            mobile_policy,
            node_id=trajectory.miner_id,
            node_kind=PeerKind.MOBILE,
            hops_to_surface=None,
            spray_copies=config.spray_copies,
        )
        capacity = _capacity(config, trajectory)
        engine.add_node(SimNode(trajectory.miner_id, PeerKind.MOBILE, store(trajectory.miner_id, capacity), router))

    links = config.links
    count = 0
    for link in world.network.links:
        end = world.t_cut if world.t_cut is not None and link.cut_by(world.blocked) else float("inf")
        engine.contact(link.a, link.b, world.start, end, links.cable_bps if link.kind == "cable" else links.radio_bps)
        count += 1
    if world.t_cut is not None:
        engine.set_hops_at(world.t_cut, world.network.hops(world.blocked))
    step = links.step_s
    fall = world.fall
    for contact in fixed_contacts(world.layout, world.network, world.positions, step, fall=fall):
        engine.contact(contact.a, contact.b, contact.start, contact.end, links.radio_bps)
        count += 1
    split = [world.drain_end] if world.next_shift else []  # the shift change: two crews never meet
    for contact in mobile_contacts(
        world.layout, world.positions, step, range_m=links.mobile_range_m, split_at=split, fall=fall
    ):
        engine.contact(contact.a, contact.b, contact.start, contact.end, links.radio_bps)
        count += 1
    shifts = [(world.start, world.shift_end, [config.seed, 7])]
    if world.next_shift:  # the next shift's traffic from its own random stream: the first shift's stays the same
        shifts.append((world.next_shift.start, world.next_shift.horizon, [config.seed, 8]))
    for begin, end, seed in shifts:
        for t, creation in generate(
            config.traffic,
            gateways=[g.id for g in world.network.gateways],
            positions=world.positions,
            start=begin,
            end=end,
            rng=np.random.default_rng(seed),
        ):
            engine.create_at(t, creation)
    # A full cap lamp refusing bulk is the simulation working as intended, not news for the log.
    store_log = logging.getLogger("edge.dtn.store")
    level = store_log.level
    store_log.setLevel(logging.ERROR)
    try:
        tally = engine.run(world.drain_end)
        drain_tally = tally
        if world.next_shift:
            drain_tally = copy.deepcopy(tally)
            tally = engine.run(world.next_shift.horizon)
    finally:
        store_log.setLevel(level)
    result = RunResult(
        config,
        tally,
        world,
        engine.nodes,
        time.perf_counter() - started,
        time.process_time() - cpu_started,
        count,
        engine,
        drain_tally,
    )
    if not keep_open:
        result.close()
    return result


def with_policy(config: SimConfig, policy: str) -> SimConfig:
    return replace(config, policy=policy)


__all__ = [
    "POLICIES",
    "PRESHIFT_WINDOW_S",
    "SCENARIOS",
    "LinkParams",
    "NextShift",
    "Priority",
    "RunResult",
    "SimConfig",
    "StoreParams",
    "World",
    "build_world",
    "run",
    "with_policy",
]
