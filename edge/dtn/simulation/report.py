"""The ONE simulator's message statistics for one run, per priority class, and their tables.

As in ONE's ``MessageStatsReport``: ``delivery_probability = delivered / created`` (first arrivals at the
surface sink of bundles created in the run); latency = first arrival minus creation, median and 95th percentile
over the delivered ones; ``overhead_ratio = (relayed - delivered) / delivered`` where ``relayed`` counts every
transfer a receiver stored (each hop, each copy, the final one included). Buffer occupancy (ONE's
``BufferOccupancyReport``): bytes held per node, sampled every ``sample_s``, mean and maximum per node kind.

``cut_off`` (incident only): the same figures restricted to bundles created at gateways inby of the fall after
it happened -- the ones that can only leave on a carrier.

Two horizons when the run goes on into the next shift: the run's figures (``by_class``, ``overall``, ``cut_off``,
buffers) are those of the first shift at the end of its drain, what a run of that shift alone reports; and
``next_shift`` has the same first shift's bundles counted again at the end of the run (later arrivals count, with
their long latencies), plus the next shift's own bundles, created up to the end of the run (which cuts them off
as the end of the first shift's drain cut off its last ones).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from edge.dtn.bundle import BundleId, Priority
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
class NextShiftMetrics:
    start_utc: str
    end_utc: str  # the end of the run
    hours_into_shift: float
    examiner: str | None
    examiner_enters_utc: str
    examiner_out_utc: str  # back at the portal
    crew_at_work: int
    by_class: list[ClassMetrics]  # the first shift's bundles at the end of the run
    overall: ClassMetrics
    cut_off: list[ClassMetrics]
    own_by_class: list[ClassMetrics]  # the next shift's bundles, created until the end of the run


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
    next_shift: NextShiftMetrics | None  # the run went on into the next shift: the figures at its end
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


def _subset(tally: Tally, keep: Callable[[BundleId, float], bool]) -> dict[Priority, ClassTally]:
    """Class tallies of the bundles ``keep(id, created)`` chooses, from the per-bundle counts."""
    by_class = {p: ClassTally() for p in Priority}
    for bid, created in tally.created.items():
        if not keep(bid, created):
            continue
        t = by_class[tally.priority[bid]]
        t.created += 1
        t.relayed += tally.relays[bid]
        t.aborted += tally.aborts[bid]
        t.refused += tally.refusals[bid]
        t.duplicate += tally.duplicates[bid]
        delivered = tally.delivered.get(bid)
        if delivered is not None:
            t.delivered += 1
            t.latencies_s.append(delivered - created)
            t.hop_counts.append(tally.hops[bid])
    return by_class


def _listed(by_class: dict[Priority, ClassTally]) -> list[ClassMetrics]:
    return [_class_metrics(p.name.lower(), t) for p, t in by_class.items() if t.created]


def _cut_off(tally: Tally, sources: set[str], t_cut: float, before: float = math.inf) -> list[ClassMetrics]:
    return _listed(_subset(tally, lambda bid, created: bid.source in sources and t_cut <= created < before))


def _utc(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")


def metrics(result: RunResult) -> RunMetrics:
    """The first shift's figures at the end of its drain, and at the end of the run if it went on."""
    tally, world = result.drain_tally, result.world
    by_class = [_class_metrics(p.name.lower(), t) for p, t in tally.by_class.items() if t.created]
    cut_off: list[ClassMetrics] = []
    sources: set[str] = set()
    if world.t_cut is not None:
        after = world.network.hops(world.blocked)
        sources = {g.id for g in world.network.gateways if after[g.id] is None}
        cut_off = _cut_off(tally, sources, world.t_cut)
    next_shift = None
    if world.next_shift is not None:
        ns, final, first_end = world.next_shift, result.tally, world.shift_end
        first = _subset(final, lambda _bid, created: created < first_end)
        next_shift = NextShiftMetrics(
            start_utc=_utc(ns.start),
            end_utc=_utc(ns.horizon),
            hours_into_shift=(ns.horizon - ns.start) / 3600.0,
            examiner=ns.examiner,
            examiner_enters_utc=_utc(ns.examiner_enters),
            examiner_out_utc=_utc(ns.examiner_out),
            crew_at_work=len(ns.crew),
            by_class=_listed(first),
            overall=_class_metrics("all", _merge(first.values())),
            cut_off=_cut_off(final, sources, world.t_cut, first_end) if world.t_cut is not None else [],
            own_by_class=_listed(_subset(final, lambda _bid, created: created >= first_end)),
        )
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
        at_work=world.first_shift,
        gateways=len(world.network.gateways),
        seed=result.config.seed,
        by_class=by_class,
        overall=_class_metrics("all", _merge(tally.by_class.values())),
        cut_off=cut_off,
        buffers=buffers,
        next_shift=next_shift,
        sink_redelivered=result.tally.sink_redelivered,
        contacts=result.contacts,
        events=result.tally.events,
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


def _table_head(header: Sequence[str]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]


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
    lines = _table_head(header)
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
    lines = _table_head(header)
    for run in runs:
        for c in run.cut_off:
            lines.append(
                f"| {run.mobile_nodes} | {run.policy} | {c.priority} | {c.created} | {_prob(c.delivery_probability)}"
                f" | {_fmt(c.latency_median_s)} | {_fmt(c.latency_p95_s)} |"
            )
    return "\n".join(lines)


def markdown_next_shift(runs: Sequence[RunMetrics]) -> str:
    """Runs that went on into the next shift: the first shift's bundles at the end of the run, per class."""
    header = [
        "mobile nodes",
        "scenario",
        "policy",
        "class",
        "created",
        "delivery prob.",
        "latency median s",
        "latency p95 s",
        "overhead ratio",
    ]
    lines = _table_head(header)
    for run in runs:
        if run.next_shift is None:
            continue
        for c in [*run.next_shift.by_class, run.next_shift.overall]:
            lines.append(
                f"| {run.mobile_nodes} | {run.scenario} | {run.policy} | {c.priority} | {c.created} | "
                f"{_prob(c.delivery_probability)} | {_fmt(c.latency_median_s)} | {_fmt(c.latency_p95_s)} | "
                f"{_fmt(c.overhead_ratio, 2)} |"
            )
    return "\n".join(lines)


def markdown_horizons(runs: Sequence[RunMetrics]) -> str:
    """Alarms and all classes of the first shift, at the end of its drain and at the end of the run."""
    header = [
        "mobile nodes",
        "scenario",
        "policy",
        "counted until",
        "alarm delivery",
        "alarm latency median / p95 s",
        "all-class delivery",
        "overhead ratio (all)",
    ]
    lines = _table_head(header)
    for run in runs:
        horizons: list[tuple[str, list[ClassMetrics], ClassMetrics]] = [
            ("end of the shift's drain", run.by_class, run.overall)
        ]
        if run.next_shift is not None:
            label = f"{run.next_shift.hours_into_shift:g} h into the next shift"
            horizons.append((label, run.next_shift.by_class, run.next_shift.overall))
        for label, by_class, overall in horizons:
            alarm = next((c for c in by_class if c.priority == "alarm"), None)
            cells = ["-", "-"]
            if alarm is not None:
                cells = [
                    f"{_prob(alarm.delivery_probability)} ({alarm.delivered}/{alarm.created})",
                    f"{_fmt(alarm.latency_median_s)} / {_fmt(alarm.latency_p95_s)}",
                ]
            lines.append(
                f"| {run.mobile_nodes} | {run.scenario} | {run.policy} | {label} | {cells[0]} | {cells[1]} | "
                f"{_prob(overall.delivery_probability)} | {_fmt(overall.overhead_ratio, 2)} |"
            )
    return "\n".join(lines)


def headline(runs: Sequence[RunMetrics]) -> str:
    """The issue's target: incident alarm delivery probability with epidemic / spray routing (both horizons)."""
    out = []
    for run in runs:
        if run.scenario != "incident":
            continue
        horizons = [("end of the shift's drain", run.by_class)]
        if run.next_shift is not None:
            horizons.append((f"{run.next_shift.hours_into_shift:g} h into the next shift", run.next_shift.by_class))
        for label, by_class in horizons:
            alarm = next((c for c in by_class if c.priority == "alarm"), None)
            if alarm is None:
                continue
            mark = "meets" if alarm.delivery_probability >= 0.99 else "misses"
            out.append(
                f"incident, {run.mobile_nodes} mobile nodes, {run.policy}, {label}: alarm delivery probability "
                f"{_prob(alarm.delivery_probability)} ({alarm.delivered}/{alarm.created}) -- {mark} the 0.99 target"
            )
    return "\n".join(out)


__all__ = [
    "BufferMetrics",
    "ClassMetrics",
    "NextShiftMetrics",
    "RunMetrics",
    "headline",
    "markdown",
    "markdown_cut_off",
    "markdown_horizons",
    "markdown_next_shift",
    "metrics",
    "to_json",
]
