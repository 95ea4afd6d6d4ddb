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
from pathlib import Path

from edge.dtn.simulation.report import RunMetrics, headline, markdown, markdown_cut_off, metrics, to_json
from edge.dtn.simulation.scenario import POLICIES, SCENARIOS, ScenarioName, SimConfig, build_world, run
from edge.dtn.simulation.traffic import TrafficParams
from edge.sim.mine_layout import LayoutParams
from edge.sim.mobility import MobilityParams

DEFAULT_SIZES = (25, 50, 100)


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


def _config(size: int, policy: str, scenario: ScenarioName, seed: int, tiny: bool) -> SimConfig:
    if tiny:
        return tiny_config(policy=policy, scenario=scenario, mobile_nodes=size, seed=seed)
    return SimConfig(policy=policy, scenario=scenario, mobile_nodes=size, seed=seed)


def run_group(size: int, scenario: ScenarioName, policies: Sequence[str], seed: int, tiny: bool) -> list[RunMetrics]:
    """All policies over one world (same mobility and traffic), so they differ only in routing."""
    world = build_world(_config(size, policies[0], scenario, seed, tiny))
    return [metrics(run(_config(size, policy, scenario, seed, tiny), world)) for policy in policies]


def _star(args: tuple[int, ScenarioName, Sequence[str], int, bool]) -> list[RunMetrics]:
    return run_group(*args)


def run_matrix(
    sizes: Sequence[int],
    policies: Sequence[str],
    scenarios: Sequence[ScenarioName],
    *,
    seed: int = 1,
    tiny: bool = False,
    jobs: int = 1,
    progress: Callable[[str], None] | None = None,
) -> list[RunMetrics]:
    """Every (size, scenario) world under every policy; ordered by size, scenario, then policy as given."""
    groups = [(size, scenario, tuple(policies), seed, tiny) for size in sizes for scenario in scenarios]
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
    parser.add_argument("--json", type=Path, default=None, help="write the metrics as JSON here")
    parser.add_argument("--markdown", type=Path, default=None, help="write the tables as Markdown here")
    return parser


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
    started = time.perf_counter()
    runs = run_matrix(
        args.nodes,
        args.policies,
        args.scenarios,
        seed=args.seed,
        tiny=args.tiny,
        jobs=args.jobs,
        progress=_progress,
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
    return "\n".join(parts)


__all__ = ["main", "render", "run_group", "run_matrix", "tiny_config"]
