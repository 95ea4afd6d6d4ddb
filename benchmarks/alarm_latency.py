"""End-to-end alarm latency: a methane value changes in a device's registers -> the power-trip coil is written.

The measurement is ``edge.bench.alarm_latency`` (also run by ``minegate bench``); this prints its table.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from benchmarks._common import NOISE_NOTE, markdown_table, write_result
from edge.bench.alarm_latency import measure

NAME = "alarm_latency"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--poll", type=float, default=1.0, help="poll interval, seconds")
    parser.add_argument("--devices", type=int, default=5, help="simulated 40-channel modules")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="minegate-bench-") as tmp:
        result = asyncio.run(measure(args.trials, args.poll, args.devices, Path(tmp), args.seed))
    path = write_result(NAME, result, results_dir=args.results_dir)
    ms = 1000.0
    rows = [
        [
            label,
            result[key]["p50_s"] * ms,
            result[key]["p99_s"] * ms,
            result[key]["max_s"] * ms,
        ]
        for label, key in (
            ("value change -> power_trip coil written", "latency"),
            ("  of which: change -> alarm raised (poll wait + decode + rules)", "change_to_alarm"),
            ("  of which: alarm raised -> coil written", "alarm_to_coil"),
        )
    ]
    print(
        f"alarm latency: {result['trials']} trials, {result['points']} points on {result['devices']} Modbus TCP "
        f"devices, poll {result['poll_interval_s']:g} s"
    )
    print(markdown_table(["path", "p50 ms", "p99 ms", "max ms"], rows))
    print(
        f"\ntarget: p99 <= poll + 100 ms = {result['target_p99_s'] * ms:.0f} ms; "
        f"measured p99 {result['latency']['p99_s'] * ms:.0f} ms"
    )
    print(NOISE_NOTE)
    print(f"result: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
