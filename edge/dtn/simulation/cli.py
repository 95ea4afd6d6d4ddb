"""``minegate dtn sim``: run the DTN simulation matrix and print the ONE metrics tables.

The integrator wires ``main`` into ``edge/cli.py``; it also runs as ``python -m edge.dtn.simulation``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from edge.dtn.simulation.report import (
    RunMetrics,
    headline,
    markdown,
    markdown_cut_off,
    markdown_horizons,
    markdown_next_shift,
    metrics,
    to_json,
)
from edge.dtn.simulation.scenario import POLICIES, SCENARIOS, ScenarioName, SimConfig, build_world, run
from edge.dtn.simulation.traffic import TrafficParams
from edge.sim.mine_layout import LayoutParams
from edge.sim.mobility import MobilityParams

DEFAULT_SIZES = (25, 50, 100)
# Two hours into the next shift: the pre-shift examiner has been in and out, the crew is at the face and the supply
# trolley has made its first trip -- everybody who crosses a fall early in the shift has. A fixed span, set before
# looking at the figures; the first shift's own horizon (the end of its drain) is reported next to it.
DEFAULT_NEXT_SHIFT_H = 2.0
DEFAULT_SHIFT_GAP_H = 2.0  # 09:00-17:00, then 19:00-03:00: room for the examination between the two crews


def tiny_config(*, policy: str, scenario: ScenarioName, mobile_nodes: int, seed: int) -> SimConfig:
    """A 3-entry, 11-crosscut mine (3 gateways) and a two-hour shift: seconds to run, for tests and a quick look.

    The section is the last 3 crosscuts; the fall (``blocked_drift``) is at crosscut 5, half an hour in.
    """
    mobility = MobilityParams(
        nodes=max(1, mobile_nodes),
        shift_start_s=9 * 3600.0,
        shift_end_s=11 * 3600.0,
        lunch_at_s=10 * 3600.0,
        lunch_spread_s=300.0,
        arrival_spread_s=120.0,
        section_crosscuts=3,
        task_s=(300.0, 900.0),
    )
    return SimConfig(
        policy=policy,
        scenario=scenario,
        mobile_nodes=mobile_nodes,
        seed=seed,
        layout=LayoutParams(entries=3, crosscuts=11, refuge_crosscuts_outby=2),
        traffic=TrafficParams(alarm_per_gateway_per_h=6.0, bulk_every_s=600.0),
        mobility=mobility,
        incident_after_s=1800.0,
        drain_s=600.0,
    )


def _config(
    size: int, policy: str, scenario: ScenarioName, *, seed: int, tiny: bool, next_shift_s: float, shift_gap_s: float
) -> SimConfig:
    config = (
        tiny_config(policy=policy, scenario=scenario, mobile_nodes=size, seed=seed)
        if tiny
        else SimConfig(policy=policy, scenario=scenario, mobile_nodes=size, seed=seed)
    )
    return replace(config, next_shift_s=next_shift_s, shift_gap_s=shift_gap_s)


def run_group(
    size: int,
    scenario: ScenarioName,
    policies: Sequence[str],
    seed: int,
    tiny: bool,
    *,
    next_shift_s: float = 0.0,
    shift_gap_s: float = DEFAULT_SHIFT_GAP_H * 3600.0,
) -> list[RunMetrics]:
    """All policies over one world (same mobility and traffic), so they differ only in routing."""
    configs = [
        _config(size, p, scenario, seed=seed, tiny=tiny, next_shift_s=next_shift_s, shift_gap_s=shift_gap_s)
        for p in policies
    ]
    world = build_world(configs[0])
    return [metrics(run(config, world)) for config in configs]


def _star(args: tuple[int, ScenarioName, Sequence[str], int, bool, float, float]) -> list[RunMetrics]:
    size, scenario, policies, seed, tiny, next_shift_s, shift_gap_s = args
    return run_group(size, scenario, policies, seed, tiny, next_shift_s=next_shift_s, shift_gap_s=shift_gap_s)


def run_matrix(
    sizes: Sequence[int],
    policies: Sequence[str],
    scenarios: Sequence[ScenarioName],
    *,
    seed: int = 1,
    tiny: bool = False,
    jobs: int = 1,
    progress: Callable[[str], None] | None = None,
    next_shift_s: float = 0.0,
    shift_gap_s: float = DEFAULT_SHIFT_GAP_H * 3600.0,
) -> list[RunMetrics]:
    """Every (size, scenario) world under every policy; ordered by size, scenario, then policy as given.

    ``next_shift_s`` > 0: each run goes on that far into the next shift (``SimConfig.next_shift_s``)."""
    groups = [
        (size, scenario, tuple(policies), seed, tiny, next_shift_s, shift_gap_s)
        for size in sizes
        for scenario in scenarios
    ]
    results: list[list[RunMetrics]] = []
    if jobs <= 1:
        for group in groups:
            started = time.perf_counter()
            results.append(_star(group))
            if progress:
                progress(f"{group[0]} mobile nodes, {group[1]}: {time.perf_counter() - started:.1f} s")
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for group, done in zip(groups, pool.map(_star, groups), strict=True):
                results.append(done)
                if progress:
                    progress(f"{group[0]} mobile nodes, {group[1]}: done")
    return [m for group_result in results for m in group_result]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minegate dtn sim",
        description="Discrete-event DTN simulation over the mine's mobility: delivery probability, latency, "
        "overhead ratio and buffer occupancy per priority class and routing policy.",
    )
    parser.add_argument("--nodes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="mobile node counts")
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=POLICIES)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tiny", action="store_true", help="a 3-gateway mine and a 2-hour shift (seconds)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (one per mine size and scenario)")
    add_next_shift_arguments(parser)
    parser.add_argument("--json", type=Path, default=None, help="write the metrics as JSON here")
    parser.add_argument("--markdown", type=Path, default=None, help="write the tables as Markdown here")
    return parser


def add_next_shift_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--next-shift-h",
        type=float,
        default=DEFAULT_NEXT_SHIFT_H,
        help="go on this many hours into the next shift (pre-shift examination, then the next crew; the first "
        "shift's figures are reported at the end of its drain and at the end of the run); 0: stop after the drain",
    )
    parser.add_argument(
        "--shift-gap-h",
        type=float,
        default=DEFAULT_SHIFT_GAP_H,
        help="hours from the end of the shift to the start of the next",
    )


def check_next_shift_arguments(args: argparse.Namespace) -> str | None:
    """An error message for bad --next-shift-h / --shift-gap-h (with --tiny, --seed), or None."""
    try:
        _config(
            1,
            POLICIES[0],
            SCENARIOS[0],
            seed=args.seed,
            tiny=args.tiny,
            next_shift_s=args.next_shift_h * 3600.0,
            shift_gap_s=args.shift_gap_h * 3600.0,
        )
    except ValueError as error:
        return f"--next-shift-h {args.next_shift_h:g} / --shift-gap-h {args.shift_gap_h:g}: {error}"
    return None


def _progress(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    bad = [n for n in args.nodes if n < 0]
    if bad:
        sys.stderr.write(f"--nodes must be >= 0, got {bad}\n")
        return 2
    if args.jobs < 1 or args.jobs > (os.cpu_count() or 1) * 4:
        sys.stderr.write(f"--jobs must be between 1 and {(os.cpu_count() or 1) * 4}, got {args.jobs}\n")
        return 2
    problem = check_next_shift_arguments(args)
    if problem:
        sys.stderr.write(problem + "\n")
        return 2
    started = time.perf_counter()
    runs = run_matrix(
        args.nodes,
        args.policies,
        args.scenarios,
        seed=args.seed,
        tiny=args.tiny,
        jobs=args.jobs,
        progress=_progress,
        next_shift_s=args.next_shift_h * 3600.0,
        shift_gap_s=args.shift_gap_h * 3600.0,
    )
    text = render(runs, seed=args.seed, tiny=args.tiny, wall_s=time.perf_counter() - started)
    sys.stdout.write(text + "\n")
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(to_json(runs), indent=2) + "\n", encoding="utf-8")
    return 0


def render(runs: Sequence[RunMetrics], *, seed: int, tiny: bool, wall_s: float) -> str:
    mine = "tiny mine (3 gateways), 2-hour shift" if tiny else "default mine (14 gateways), 8-hour shift"
    parts = [
        f"DTN simulation: {mine}, seed {seed}, {len(runs)} runs in {wall_s:.0f} s wall, "
        f"{sum(r.cpu_s for r in runs):.0f} s CPU (slowest run {max((r.cpu_s for r in runs), default=0):.0f} s CPU)",
        "",
        markdown(runs),
    ]
    incident = [r for r in runs if r.scenario == "incident"]
    if incident:
        parts += [
            "",
            "Created inby of the fall after it (can only leave on a carrier):",
            "",
            markdown_cut_off(incident),
        ]
        parts += ["", headline(incident)]
    extended = [r for r in runs if r.next_shift is not None]
    if extended:
        ns = extended[0].next_shift
        assert ns is not None  # noqa: S101
        exams = {
            (
                r.mobile_nodes,
                r.scenario,
            ): f"{r.next_shift.examiner_enters_utc[11:16]}-{r.next_shift.examiner_out_utc[11:16]}"
            for r in extended
            if r.next_shift is not None
        }
        parts += [
            "",
            f"The run goes on into the next shift (from {ns.start_utc}; the fall still in place in the incident) to "
            f"{ns.end_utc}: first the pre-shift examiner, in and back out at the portal ("
            + ", ".join(f"{n} nodes {s}: {t}" for (n, s), t in exams.items())
            + "), then the oncoming crew. The first shift's bundles at both horizons:",
            "",
            markdown_horizons(runs),
            "",
            f"The first shift's bundles, {ns.hours_into_shift:g} h into the next shift, per class:",
            "",
            markdown_next_shift(runs),
        ]
    return "\n".join(parts)


__all__ = [
    "DEFAULT_NEXT_SHIFT_H",
    "DEFAULT_SHIFT_GAP_H",
    "add_next_shift_arguments",
    "check_next_shift_arguments",
    "main",
    "render",
    "run_group",
    "run_matrix",
    "tiny_config",
]
