"""DTN simulation: the ONE simulator's metrics for 25/50/100 mobile nodes, normal shift and incident, per routing
policy and priority class.

What runs: ``edge.dtn.simulation`` -- the real ``BundleStore`` (in memory, not fsynced) and the real routers on
every node, driven by a discrete-event engine with a virtual clock over the world model's default mine (6
entries x 31 crosscuts, 14 gateways, portal sink) and mobility (one 8-hour shift of workers, supervisors, the
supply trolley and section machines). The incident: 4 h into the shift a roof fall blocks the haulage and belt
entries halfway along the mine and cuts the backbone cable, so the six gateways inby of it reach the surface
only through carriers. Policies: ``static`` (the gateway chain only; carriers upload their own records),
``epidemic`` and ``spray`` (gateways hand stuck bundles to carriers; carriers run the named policy).

The run goes on into the next shift (``--next-shift-h``, default 2; 0 stops after the first shift's 30-minute
drain as before): 09:00-17:00, then 19:00-03:00 with the fall still in place; a pre-shift examiner walks the
section before it, then the oncoming crew (other people, the same machines) comes in. The first shift's figures
are reported at both horizons: the end of its drain and the end of the run.

The issue's target: in the incident, alarm delivery probability >= 0.99 with epidemic / spray routing. The
figures are printed as they come out: nothing is tuned to meet the target.

    python -m benchmarks.dtn_simulation                    # the full matrix (minutes)
    python -m benchmarks.dtn_simulation --tiny --nodes 4   # a tiny mine, seconds
    python -m benchmarks.dtn_simulation --out sim.md       # also write the tables (.md) or the metrics (.json)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks._common import NOISE_NOTE, write_result
from edge.dtn.simulation.cli import (
    DEFAULT_SIZES,
    add_next_shift_arguments,
    check_next_shift_arguments,
    render,
    run_matrix,
)
from edge.dtn.simulation.report import to_json
from edge.dtn.simulation.scenario import POLICIES, SCENARIOS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=POLICIES)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (one per mine size and scenario)")
    parser.add_argument("--tiny", action="store_true", help="a 3-gateway mine and a 2-hour shift")
    parser.add_argument("--out", type=Path, default=None, help="also write the tables (.md) or metrics (.json)")
    parser.add_argument("--results-dir", type=Path, default=None)
    add_next_shift_arguments(parser)
    args = parser.parse_args(argv)
    problem = check_next_shift_arguments(args)
    if problem:
        parser.error(problem)

    started = time.perf_counter()
    runs = run_matrix(
        args.nodes,
        args.policies,
        args.scenarios,
        seed=args.seed,
        tiny=args.tiny,
        jobs=args.jobs,
        progress=lambda line: print(line, flush=True),
        next_shift_s=args.next_shift_h * 3600.0,
        shift_gap_s=args.shift_gap_h * 3600.0,
    )
    wall_s = time.perf_counter() - started
    text = render(runs, seed=args.seed, tiny=args.tiny, wall_s=wall_s)
    print()
    print(text)
    print()
    print(NOISE_NOTE + " (Wall time only: the simulated figures do not depend on the machine.)")
    result = {
        "seed": args.seed,
        "tiny": args.tiny,
        "next_shift_h": args.next_shift_h,
        "shift_gap_h": args.shift_gap_h,
        "wall_s": wall_s,
        "runs": to_json(runs),
    }
    path = write_result("dtn_simulation", result, results_dir=args.results_dir)
    print(f"results: {path}")
    if args.out is not None:
        if args.out.suffix == ".json":
            args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        else:
            args.out.write_text(text + "\n", encoding="utf-8")
        print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
