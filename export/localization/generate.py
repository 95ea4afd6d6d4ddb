"""Generate a miner-location dataset from the simulated mine, or check a CSV file of movement records.

    python -m export.localization.generate --nodes 25 --days 3 --period 5s --seed 1 --out DIR [--scenario KIND]
    python -m export.localization.generate --check FILE.csv

Writes ``records.csv`` (extended format), ``records_paper.csv`` (the paper's Table 1 columns),
``contacts.csv`` (gateway contacts) and ``layout.json`` (the mine) into ``DIR``, then prints counts, timings
and the sha256 of each file. ``--check`` reads a records file, prints its cleaning report and exits 0, or 2
with a one-line error when the file is structurally bad.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge.config.units import parse_duration
from edge.sim.mine_layout import LayoutParams, MineLayout
from edge.sim.mobility import SCENARIO_KINDS, MobilityParams, default_scenario, simulate_days
from edge.sim.tracking import SensorNoise, gateway_contacts, sample_records
from export.localization.dataset import (
    DatasetFormatError,
    dataset_sha256,
    read_records,
    write_contacts,
    write_records,
)


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive duration, got {text!r}")
    return seconds


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m export.localization.generate",
        description="Generate a miner-location dataset (records, contacts, layout) from the simulated mine.",
    )
    parser.add_argument("--nodes", type=_positive_int, default=25, help="moving nodes (the paper: 25, 50, 100)")
    parser.add_argument("--days", type=_positive_int, default=3, help="shifts to simulate (one a day)")
    parser.add_argument("--period", type=_duration, default=5.0, help="record period, e.g. 5s, 500ms")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="output directory (created)")
    parser.add_argument("--scenario", choices=SCENARIO_KINDS, help="emergency on the last day")
    parser.add_argument("--event-at", type=_duration, default=4 * 3600.0, help="emergency time after shift start")
    parser.add_argument("--start-date", type=dt.date.fromisoformat, default=dt.date(2026, 1, 5), help="day 0")
    parser.add_argument("--entries", type=_positive_int, default=LayoutParams.entries)
    parser.add_argument("--crosscuts", type=_positive_int, default=LayoutParams.crosscuts)
    parser.add_argument("--position-noise", type=float, default=SensorNoise.position_sd_m, help="metres (sd)")
    parser.add_argument("--speed-noise", type=float, default=SensorNoise.speed_sd_mps, help="m/s (sd)")
    parser.add_argument("--direction-noise", type=float, default=SensorNoise.direction_sd_deg, help="degrees (sd)")
    parser.add_argument("--check", type=Path, metavar="CSV", help="only read FILE and print its cleaning report")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = sys.stdout
    if args.check is not None:
        try:
            records, report = read_records(args.check)
        except DatasetFormatError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 2
        out.write(f"{report}\n{len(records.miner_names())} miners, {len(records.pillar_labels)} pillar labels\n")
        return 0
    if args.out is None:
        parser.error("--out DIR is required to generate a dataset")
    try:
        layout = MineLayout(LayoutParams(entries=args.entries, crosscuts=args.crosscuts))
        params = MobilityParams(nodes=args.nodes, start_date=args.start_date)
        noise = SensorNoise(args.speed_noise, args.direction_noise, args.position_noise)
    except ValueError as exc:
        parser.error(str(exc))
    scenario = default_scenario(layout, args.scenario, t_event_s=args.event_at) if args.scenario else None
    args.out.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    trajectories = simulate_days(layout, params, seed=args.seed, days=args.days, scenario=scenario)
    moved = time.perf_counter()
    # The sensor noise has its own stream so that changing noise does not change the movements.
    records = sample_records(
        trajectories, layout, rng=np.random.default_rng([args.seed, 1]), period_s=args.period, noise=noise
    )
    contacts = gateway_contacts(trajectories, layout)
    sampled = time.perf_counter()
    layout.save(args.out / "layout.json")
    write_records(records, args.out / "records.csv", fmt="extended")
    write_records(records, args.out / "records_paper.csv", fmt="paper")
    write_contacts(contacts, args.out / "contacts.csv")
    written = time.perf_counter()

    roles = {role: len(set(records.miner[records.role == role].tolist())) for role in params.role_counts()}
    used = len(np.unique(records.pillar))
    out.write(
        f"mine: {len(layout.pillars)} pillars, {len(layout.nodes)} nodes, {len(layout.edges)} drifts, "
        f"{len(layout.gateways)} gateways\n"
        f"movers: {args.nodes} ({', '.join(f'{k} {v}' for k, v in roles.items())}), {args.days} day(s)"
        f"{f', {args.scenario} on the last day' if scenario else ''}\n"
        f"records: {len(records)} rows every {args.period:g} s, {used} pillars visited; contacts: {len(contacts)}\n"
        f"time: mobility {moved - started:.2f} s, sampling+contacts {sampled - moved:.2f} s, "
        f"writing {written - sampled:.2f} s, total {written - started:.2f} s\n"
    )
    for name in ("records.csv", "records_paper.csv", "contacts.csv", "layout.json"):
        path = args.out / name
        out.write(f"  {path}  {path.stat().st_size / 1e6:.1f} MB  sha256 {dataset_sha256(path)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
