"""``python -m edge.sim.hazard``: generate a hazard dataset, or summarise one.

python -m edge.sim.hazard generate --episodes 200 --normal-days 30 --seed 1 --layout-seed 0 --out data/hz
python -m edge.sim.hazard summary data/hz
"""

from __future__ import annotations

import argparse
import collections
import sys
from collections.abc import Sequence
from pathlib import Path

from edge.hazard.contract import JURISDICTIONS, HazardType
from edge.sim.hazard.dataset import DatasetError, read_manifest, write_dataset
from edge.sim.hazard.episode import Episode
from edge.sim.hazard.faults import FaultRates
from edge.sim.hazard.generator import GeneratorParams, HazardScenarioGenerator


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def _hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected hours as a number (e.g. 6 or 0.5), got {text!r}") from None
    if not 1.0 <= value <= 168.0:
        raise argparse.ArgumentTypeError(f"expected between 1 and 168 hours, got {value}")
    return value


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 (1 = default fault rates), got {text!r}") from None
    if not 0.0 <= value <= 5.0:
        raise argparse.ArgumentTypeError(f"expected a fault-rate scale between 0 and 5, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m edge.sim.hazard", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    g = commands.add_parser("generate", help="generate episodes into a directory (npz + manifest.json)")
    g.add_argument("--episodes", type=_non_negative_int, default=0, help="hazard episodes (default 0)")
    g.add_argument("--normal-days", type=_non_negative_int, default=0, help="normal gateway-days (default 0)")
    g.add_argument("--seed", type=_non_negative_int, required=True, help="scenario stream (hold out whole seeds)")
    g.add_argument("--layout-seed", type=_non_negative_int, default=0, help="the mine (0 = default layout)")
    g.add_argument("--jurisdiction", choices=JURISDICTIONS, default="us_msha_coal")
    g.add_argument(
        "--hazard", choices=[h.value for h in HazardType], help="only this hazard (default: all, equal weight)"
    )
    g.add_argument("--hours", type=_hours, default=6.0, help="length of a hazard episode (default 6)")
    g.add_argument("--normal-hours", type=_hours, default=24.0, help="length of a normal day (default 24)")
    g.add_argument("--fault-scale", type=_scale, default=1.0, help="multiplies every sensor fault rate (default 1)")
    g.add_argument("--out", type=Path, required=True)
    g.add_argument("--overwrite", action="store_true", help="write into a non-empty directory")
    g.add_argument("-q", "--quiet", action="store_true")
    s = commands.add_parser("summary", help="summarise a generated directory from its manifest")
    s.add_argument("directory", type=Path)
    return parser


def _generate(args: argparse.Namespace) -> int:
    hazard_s = int(args.hours * 3600)
    onset_hi = min(9000.0, hazard_s * 0.5)
    params = GeneratorParams(
        hazard_episode_s=hazard_s,
        normal_day_s=int(args.normal_hours * 3600),
        onset_window_s=(min(3600.0, onset_hi * 0.4), onset_hi),
        faults=FaultRates(scale=args.fault_scale),
    )
    generator = HazardScenarioGenerator(
        seed=args.seed, layout_seed=args.layout_seed, jurisdiction=args.jurisdiction, params=params
    )

    def progress(done: int, total: int, episode: Episode) -> None:
        if not args.quiet:
            sys.stderr.write(f"\r{done}/{total} {episode.episode_id} {episode.kind:<40}")
            if done == total:
                sys.stderr.write("\n")

    manifest = write_dataset(
        args.out,
        generator,
        hazard_episodes=args.episodes,
        normal_days=args.normal_days,
        hazard=HazardType(args.hazard) if args.hazard else None,
        overwrite=args.overwrite,
        progress=progress,
    )
    sys.stdout.write(f"wrote {len(manifest['episodes'])} episodes to {args.out}\n")
    return 0


def _summary(args: argparse.Namespace) -> int:
    manifest = read_manifest(args.directory)
    generator = manifest["generator"]
    kinds = collections.Counter(e["kind"] for e in manifest["episodes"])
    reached = collections.Counter(
        e["kind"] for e in manifest["episodes"] if any(ev["deadline_s"] is not None for ev in e["events"])
    )
    hours = sum(e["duration_s"] for e in manifest["episodes"]) / 3600.0
    sys.stdout.write(
        f"{args.directory}: {len(manifest['episodes'])} episodes, {hours:.1f} h; generator {generator['version']}, "
        f"seed {generator['seed']}, layout seed {generator['layout_seed']}, {generator['jurisdiction']}\n"
    )
    for kind, count in sorted(kinds.items()):
        sys.stdout.write(f"  {kind:<40} {count:>5}  deadline reached in {reached.get(kind, 0)}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _generate(args) if args.command == "generate" else _summary(args)
    except (DatasetError, ValueError) as error:
        parser.exit(2, f"{parser.prog} {args.command}: error: {error}\n")
