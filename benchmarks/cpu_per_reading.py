"""Gateway CPU seconds per 1,000 readings: 10 Modbus TCP devices x 40 values polled at 1 s (400 readings/s).

The measurement is ``edge.bench.cpu_per_reading`` (also run by ``minegate bench``); this prints its table.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks._common import NOISE_NOTE, markdown_table, write_result
from edge.bench.cpu_per_reading import TARGET_CPU_S_PER_1000, measure

NAME = "cpu_per_reading"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="measured window, seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of polling before the window")
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--poll", type=float, default=1.0, help="poll interval, seconds")
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="minegate-bench-") as tmp:
        result = measure(args.duration, args.warmup, args.devices, args.poll, Path(tmp))
    path = write_result(NAME, result, results_dir=args.results_dir)
    mib = 1024 * 1024
    print(
        f"gateway CPU per reading: {result['devices']} Modbus TCP devices x 40 values every "
        f"{result['poll_interval_s']:g} s, health + rules + alarm journal + PUB on, {result['window_s']:.0f} s window"
    )
    print(
        markdown_table(
            ["figure", "value"],
            [
                [
                    "readings/s achieved (offered)",
                    f"{result['readings_per_s']:.1f} ({result['offered_readings_per_s']:g})",
                ],
                ["gateway CPU s per 1,000 readings", f"{result['cpu_s_per_1000_readings']:.4f}"],
                ["target CPU s per 1,000 readings", f"{TARGET_CPU_S_PER_1000}"],
                ["gateway CPU, fraction of one core", f"{result['gateway_cpu_fraction_of_one_core']:.3f}"],
                [
                    "gateway RSS at end / peak, MiB",
                    f"{result['gateway_rss_bytes'] / mib:.1f} / {result['gateway_peak_rss_bytes'] / mib:.1f}",
                ],
                ["PUB messages received", result["pub_messages_received"]],
                [
                    "skipped polls / points not good at end",
                    f"{result['skipped_polls']} / {result['points_not_good_at_end']}",
                ],
                ["simulator CPU s (not counted)", f"{result['simulator_cpu_s']:.2f}"],
            ],
        )
    )
    print(NOISE_NOTE)
    print(f"result: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
