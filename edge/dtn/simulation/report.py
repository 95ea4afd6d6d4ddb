"""The ONE simulator's message statistics for one run, per priority class, and their tables.

As in ONE's ``MessageStatsReport``: ``delivery_probability = delivered / created`` (first arrivals at the
surface sink of bundles created in the run); latency = first arrival minus creation, median and 95th percentile
over the delivered ones; ``overhead_ratio = (relayed - delivered) / delivered`` where ``relayed`` counts every
transfer a receiver stored (each hop, each copy, the final one included). Buffer occupancy (ONE's
``BufferOccupancyReport``): bytes held per node, sampled every ``sample_s``, mean and maximum per node kind.

``cut_off`` (incident only): the same figures restricted to bundles created at gateways inby of the fall after
it happened -- the ones that can only leave on a carrier.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from edge.dtn.bundle import Priority
from edge.dtn.routing import PeerKind
from edge.dtn.simulation.engine import ClassTally, Tally
from edge.dtn.simulation.scenario import RunResult


@dataclass(frozen=True)
class ClassMetrics:
    priority: str
    created: int
    delivered: int
    delivery_probability: float
    latency_median_s: float
    latency_p95_s: float
    latency_mean_s: float
    overhead_ratio: float
    relayed: int
    duplicates: int
    aborted: int
    refused: int
    hops_median: float


@dataclass(frozen=True)
class BufferMetrics:
    kind: str
    mean_bytes: float
    max_bytes: int
    mean_bytes_by_priority: dict[str, float]


@dataclass(frozen=True)
class RunMetrics:
    policy: str
    scenario: str
    mobile_nodes: int  # the population of the mobility model
    at_work: int  # moving nodes that came to work that day (absent people carry no node)
    gateways: int
    seed: int
    by_class: list[ClassMetrics]
    overall: ClassMetrics
    cut_off: list[ClassMetrics]  # incident: bundles created inby of the fall after it
    buffers: list[BufferMetrics]
    sink_redelivered: int
    contacts: int
    events: int
    wall_s: float
    cpu_s: float

    def klass(self, priority: Priority) -> ClassMetrics | None:
        return next((c for c in self.by_class if c.priority == priority.name.lower()), None)


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else math.nan


def _class_metrics(name: str, t: ClassTally) -> ClassMetrics:
    lat = t.latencies_s
    return ClassMetrics(
        priority=name,
        created=t.created,
        delivered=t.delivered,
        delivery_probability=t.delivered / t.created if t.created else math.nan,
        latency_median_s=_percentile(lat, 50),
        latency_p95_s=_percentile(lat, 95),
        latency_mean_s=float(np.mean(lat)) if lat else math.nan,
        overhead_ratio=(t.relayed - t.delivered) / t.delivered if t.delivered else math.nan,
        relayed=t.relayed,
        duplicates=t.duplicate,
        aborted=t.aborted,
        refused=t.refused,
        hops_median=_percentile([float(h) for h in t.hop_counts], 50),
    )


def _merge(tallies: Iterable[ClassTally]) -> ClassTally:
    total = ClassTally()
    for t in tallies:
        total.created += t.created
        total.delivered += t.delivered
        total.relayed += t.relayed
        total.started += t.started
        total.aborted += t.aborted
        total.refused += t.refused
        total.duplicate += t.duplicate
        total.latencies_s += t.latencies_s
        total.hop_counts += t.hop_counts
    return total


def _cut_off(tally: Tally, sources: set[str], t_cut: float) -> list[ClassMetrics]:
    by_class = {p: ClassTally() for p in Priority}
    for bid, created in tally.created.items():
        if bid.source not in sources or created < t_cut:
            continue
        t = by_class[tally.priority[bid]]
        t.created += 1
        delivered = tally.delivered.get(bid)
        if delivered is not None:
            t.delivered += 1
            t.latencies_s.append(delivered - created)
    return [_class_metrics(p.name.lower(), t) for p, t in by_class.items() if t.created]


def metrics(result: RunResult) -> RunMetrics:
    tally, world = result.tally, result.world
    by_class = [_class_metrics(p.name.lower(), t) for p, t in tally.by_class.items() if t.created]
    cut_off: list[ClassMetrics] = []
    if world.t_cut is not None:
        after = world.network.hops(world.blocked)
        sources = {g.id for g in world.network.gateways if after[g.id] is None}
        cut_off = _cut_off(tally, sources, world.t_cut)
    buffers = [
        BufferMetrics(
            kind=kind.value,
            mean_bytes=b.bytes_sum / b.samples if b.samples else math.nan,
            max_bytes=b.bytes_max,
            mean_bytes_by_priority={
                p.name.lower(): v / b.samples for p, v in b.by_priority_sum.items() if b.samples and v
            },
        )
        for kind, b in tally.buffers.items()
        if kind is not PeerKind.SURFACE
    ]
    return RunMetrics(
        policy=result.config.policy,
        scenario=result.config.scenario,
        mobile_nodes=result.config.mobile_nodes,
        at_work=len(world.trajectories),
        gateways=len(world.network.gateways),
        seed=result.config.seed,
        by_class=by_class,
        overall=_class_metrics("all", _merge(tally.by_class.values())),
        cut_off=cut_off,
        buffers=buffers,
        sink_redelivered=tally.sink_redelivered,
        contacts=result.contacts,
        events=tally.events,
        wall_s=result.wall_s,
        cpu_s=result.cpu_s,
    )


def to_json(runs: Sequence[RunMetrics]) -> list[dict[str, object]]:
    def clean(value: object) -> object:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return [clean(asdict(run)) for run in runs]  # type: ignore[misc]


def _fmt(value: float, digits: int = 1) -> str:
    return "-" if not math.isfinite(value) else f"{value:.{digits}f}"


def _prob(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.4f}"


def _kib(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value / 1024:.0f}"


def markdown(runs: Sequence[RunMetrics]) -> str:
    """One row per run and class: nodes, scenario, policy, delivery, latency, overhead, buffers."""
    header = [
        "mobile nodes (at work)",
        "scenario",
        "policy",
        "class",
        "created",
        "delivery prob.",
        "latency median s",
        "latency p95 s",
        "overhead ratio",
        "buffer mean/max KiB (gateway)",
        "buffer mean/max KiB (mobile)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for run in runs:
        buf = {b.kind: f"{_kib(b.mean_bytes)} / {_kib(b.max_bytes)}" for b in run.buffers}
        for c in [*run.by_class, run.overall]:
            lines.append(
                "| "
                + " | ".join(
                    [
                        f"{run.mobile_nodes} ({run.at_work})",
                        run.scenario,
                        run.policy,
                        c.priority,
                        str(c.created),
                        _prob(c.delivery_probability),
                        _fmt(c.latency_median_s),
                        _fmt(c.latency_p95_s),
                        _fmt(c.overhead_ratio, 2),
                        buf.get("fixed", "-") if c.priority == "all" else "",
                        buf.get("mobile", "-") if c.priority == "all" else "",
                    ]
                )
                + " |"
            )
    return "\n".join(lines)


def markdown_cut_off(runs: Sequence[RunMetrics]) -> str:
    """Incident runs: bundles created inby of the fall after it (they can only leave on a carrier)."""
    header = ["mobile nodes", "policy", "class", "created", "delivery prob.", "latency median s", "latency p95 s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for run in runs:
        for c in run.cut_off:
            lines.append(
                f"| {run.mobile_nodes} | {run.policy} | {c.priority} | {c.created} | {_prob(c.delivery_probability)}"
                f" | {_fmt(c.latency_median_s)} | {_fmt(c.latency_p95_s)} |"
            )
    return "\n".join(lines)


def headline(runs: Sequence[RunMetrics]) -> str:
    """The issue's target: incident alarm delivery probability with epidemic / spray routing."""
    out = []
    for run in runs:
        alarm = run.klass(Priority.ALARM)
        if run.scenario != "incident" or alarm is None:
            continue
        mark = "meets" if alarm.delivery_probability >= 0.99 else "misses"
        out.append(
            f"incident, {run.mobile_nodes} mobile nodes, {run.policy}: alarm delivery probability "
            f"{_prob(alarm.delivery_probability)} ({alarm.delivered}/{alarm.created}) -- {mark} the 0.99 target"
        )
    return "\n".join(out)


__all__ = [
    "BufferMetrics",
    "ClassMetrics",
    "RunMetrics",
    "headline",
    "markdown",
    "markdown_cut_off",
    "metrics",
    "to_json",
]
