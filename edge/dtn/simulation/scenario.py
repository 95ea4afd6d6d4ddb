"""A shift in the mine as a DTN: who is there, what they send, which links exist, and the run itself.

Scenarios:

- ``normal``: one production shift (the world model's mobility: workers, supervisors, the supply trolley and
  section machines) with the backbone intact.
- ``incident``: the same shift; ``incident_after_s`` after the shift start a roof fall blocks the haulage and
  belt entries halfway along the mine (the world model's ``blocked_drift`` scenario: routines go on, movers
  detour round the fall). The backbone cable hangs in the haulage entry and is cut with it, so every gateway
  inby of the fall loses its way to the surface for the rest of the shift; the only way out for their bundles
  is a carrier that walks or drives past the fall.

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
from edge.sim.mobility import MobilityParams, Trajectory, default_scenario, simulate_days

ScenarioName = Literal["normal", "incident"]
SCENARIOS: tuple[ScenarioName, ...] = ("normal", "incident")
POLICIES = ("static", "epidemic", "spray")
_MOBILE_POLICY = {"static": "static", "epidemic": "epidemic", "spray": "spray"}
MiB = 1024 * 1024


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
    positions = sample_positions(trajectories, start=start, end=shift_end + config.drain_s, step_s=config.links.step_s)
    t_cut = start + config.incident_after_s if config.scenario == "incident" else None
    return World(
        layout, network, trajectories, positions, start, shift_end, blocked, t_cut, time.perf_counter() - started
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

    horizon = world.shift_end + config.drain_s
    links = config.links
    count = 0
    for link in world.network.links:
        end = world.t_cut if world.t_cut is not None and link.cut_by(world.blocked) else float("inf")
        engine.contact(link.a, link.b, world.start, end, links.cable_bps if link.kind == "cable" else links.radio_bps)
        count += 1
    if world.t_cut is not None:
        engine.set_hops_at(world.t_cut, world.network.hops(world.blocked))
    step = links.step_s
    for contact in fixed_contacts(world.layout, world.network, world.positions, step):
        engine.contact(contact.a, contact.b, contact.start, contact.end, links.radio_bps)
        count += 1
    for contact in mobile_contacts(world.layout, world.positions, step, range_m=links.mobile_range_m):
        engine.contact(contact.a, contact.b, contact.start, contact.end, links.radio_bps)
        count += 1
    rng = np.random.default_rng([config.seed, 7])
    for t, creation in generate(
        config.traffic,
        gateways=[g.id for g in world.network.gateways],
        positions=world.positions,
        start=world.start,
        end=world.shift_end,
        rng=rng,
    ):
        engine.create_at(t, creation)
    # A full cap lamp refusing bulk is the simulation working as intended, not news for the log.
    store_log = logging.getLogger("edge.dtn.store")
    level = store_log.level
    store_log.setLevel(logging.ERROR)
    try:
        tally = engine.run(horizon)
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
    )
    if not keep_open:
        result.close()
    return result


def with_policy(config: SimConfig, policy: str) -> SimConfig:
    return replace(config, policy=policy)


__all__ = [
    "POLICIES",
    "SCENARIOS",
    "LinkParams",
    "Priority",
    "RunResult",
    "SimConfig",
    "StoreParams",
    "World",
    "build_world",
    "run",
    "with_policy",
]
