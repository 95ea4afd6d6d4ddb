"""Hazard scenario generator: generation speed, file size, and the statistics that make its evaluation meaningful.

Prints (and writes ``benchmarks/results/hazard_generate.json``):

* seconds to generate a 24 h normal gateway-day at 1 s (14 channels, camera, logs, truth), a 6 h hazard episode,
  and to write one day as compressed npz, with its size;
* per hazard kind: the share of events that reach their deadline (statutory alarm / ISO zone D / roof fall /
  first violation) inside the episode, and onset -> deadline quantiles (how much lead time is possible at all);
* normal days: face methane peaks, statutory methane alert/alarm activations on the clean and on the observed
  signals (faults included; activations within 15 min of the previous count once), fault counts;
* a crude linear-trend check on gas (60 s means 9 min apart extrapolated 15 min ahead against the 1.5 % alarm):
  its lead time and its false warnings per normal day, to show the task is neither trivial nor impossible.
  The real baseline belongs to the evaluation (issue 5, later items).

    python -m benchmarks.hazard_generate [--episodes-per-kind 30] [--normal-days 20] [--seed 7] [--layouts 4]
        [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks._common import NOISE_NOTE, markdown_table, percentile, write_result
from edge.hazard.contract import CHANNEL_INDEX, HazardType
from edge.sim.hazard.faults import FaultCode
from edge.sim.hazard.generator import HAZARD_KINDS, HazardScenarioGenerator
from edge.sim.hazard.ground_truth import activation_times

NAME = "hazard_generate"
ALARM_VOL_PERCENT = 1.5
TREND_HORIZON_S = 900
TREND_MEAN_S = 60
TREND_SPAN_S = 540
MERGE_S = 900  # warnings closer than this count as one


def trend_warnings(ch4: NDArray[np.float32]) -> NDArray[np.bool_]:
    """Linear-trend extrapolation of face methane: mean of the last 60 s vs the 60 s mean 9 min earlier."""
    x = ch4.astype(np.float64)
    valid = np.isfinite(x)
    filled = np.where(valid, x, 0.0)
    sums = np.concatenate([[0.0], np.cumsum(filled)])
    counts = np.concatenate([[0], np.cumsum(valid)])
    n = x.shape[0]
    end = np.arange(1, n + 1)
    start = np.maximum(end - TREND_MEAN_S, 0)
    recent = (sums[end] - sums[start]) / np.maximum(counts[end] - counts[start], 1)
    earlier = np.full(n, np.nan)
    earlier[TREND_SPAN_S:] = recent[:-TREND_SPAN_S]
    slope = (recent - earlier) / TREND_SPAN_S
    with np.errstate(invalid="ignore"):
        warn: NDArray[np.bool_] = (recent + slope * TREND_HORIZON_S >= ALARM_VOL_PERCENT) & (slope > 0)
    return warn


def warning_onsets(warn: NDArray[np.bool_]) -> list[int]:
    onsets: list[int] = []
    for index in np.flatnonzero(np.diff(np.concatenate([[False], warn]).astype(np.int8)) == 1):
        if not onsets or index - onsets[-1] > MERGE_S:
            onsets.append(int(index))
    return onsets


def merged(times: Sequence[float]) -> list[float]:
    """Activations closer than ``MERGE_S`` to the previous one count once (a noisy reading chattering at a limit)."""
    kept: list[float] = []
    for t in times:
        if not kept or t - kept[-1] > MERGE_S:
            kept.append(t)
    return kept


def quantiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "min": min(values),
        "p10": percentile(values, 10),
        "median": statistics.median(values),
        "p90": percentile(values, 90),
        "max": max(values),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes-per-kind", type=int, default=30)
    parser.add_argument("--normal-days", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--layouts", type=int, default=4, help="mines (layout seeds 0..N-1) to spread episodes over")
    parser.add_argument("--results-dir", type=Path, help="where the JSON goes (default benchmarks/results)")
    args = parser.parse_args(argv)
    generators = [HazardScenarioGenerator(seed=args.seed, layout_seed=layout) for layout in range(args.layouts)]
    generators[0]

    # -- speed ---------------------------------------------------------------------------------------------
    day_times, days = [], []
    for index in range(args.normal_days):
        t0 = time.perf_counter()
        days.append(generators[index % len(generators)].normal_day(index))
        day_times.append(time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "day.npz"
        t0 = time.perf_counter()
        days[0].save(path)
        write_s = time.perf_counter() - t0
        size_mb = path.stat().st_size / 1e6
    speed = {
        "normal_day_s_median": statistics.median(day_times),
        "normal_day_s_max": max(day_times),
        "write_day_npz_s": write_s,
        "day_npz_mb": size_mb,
    }

    # -- events --------------------------------------------------------------------------------------------
    rows: list[list[object]] = []
    kinds: dict[str, Any] = {}
    episode_times: list[float] = []
    gas_lead: list[float] = []
    gas_possible: list[float] = []
    gas_missed = 0
    for hazard, options in HAZARD_KINDS.items():
        for kind, _ in options:
            spans: list[float] = []
            reached = 0
            for index in range(args.episodes_per_kind):
                t0 = time.perf_counter()
                episode = generators[index % len(generators)].hazard_episode(index, hazard, kind)
                episode_times.append(time.perf_counter() - t0)
                event = next(e for e in episode.events if e.hazard is hazard)
                if event.deadline_s is None:
                    continue
                reached += 1
                spans.append((event.deadline_s - event.onset_s) / 60.0)
                if hazard is HazardType.GAS_ACCUMULATION and event.deadline_rule == "ch4_face:alarm":
                    gas_possible.append((event.deadline_s - event.onset_s) / 60.0)
                    warn = trend_warnings(episode.channel("ch4_face"))
                    start = int(event.onset_s)
                    hits = np.flatnonzero(warn[start : int(event.deadline_s) + 1])
                    if hits.shape[0]:
                        gas_lead.append(float(event.deadline_s - (start + int(hits[0]))) / 60.0)
                    else:
                        gas_missed += 1
            q = quantiles(spans)
            kinds[f"{hazard.value}/{kind}"] = {
                "reached": reached,
                "of": args.episodes_per_kind,
                "onset_to_deadline_min": q,
            }
            rows.append(
                [
                    f"{hazard.value}/{kind}",
                    f"{reached}/{args.episodes_per_kind}",
                    q.get("min", float("nan")),
                    q.get("p10", float("nan")),
                    q.get("median", float("nan")),
                    q.get("p90", float("nan")),
                ]
            )

    # -- normal days ---------------------------------------------------------------------------------------
    per_day: dict[str, list[float]] = {
        k: []
        for k in (
            "face_peaks_over_0.6",
            "face_peaks_over_0.8",
            "clean_alert",
            "clean_alarm",
            "observed_alert",
            "observed_alarm",
            "faults",
            "trend_false_warnings",
            "log_entries",
        )
    }
    for day in days:
        rule = generators[day.layout_seed].rules["ch4_face"]
        clean = day.channel("ch4_face", clean=True).astype(np.float64)
        for peak in (0.6, 0.8):
            high = clean > peak
            per_day[f"face_peaks_over_{peak}"].append(float(np.sum(np.diff(high.astype(np.int8)) == 1)))
        for level in ("alert", "alarm"):
            threshold = next(t for t in rule.thresholds if t.name == level)
            count = sum(
                len(day.crossings[ch][level]) for ch in ("ch4_face", "ch4_return") if level in day.crossings[ch]
            )
            per_day[f"clean_{level}"].append(float(count))
            observed_count = 0
            for ch in ("ch4_face", "ch4_return"):
                column = day.sensors[:, CHANNEL_INDEX[ch]].astype(np.float64)
                observed_count += len(merged(activation_times(column, threshold)))
            per_day[f"observed_{level}"].append(float(observed_count))
        codes = day.fault_code
        starts = (codes[1:] != FaultCode.NONE) & (codes[1:] != codes[:-1])
        per_day["faults"].append(float(starts.sum()))
        per_day["trend_false_warnings"].append(float(len(warning_onsets(trend_warnings(day.channel("ch4_face"))))))
        per_day["log_entries"].append(float(len(day.logs)))
    normal = {k: {"mean": statistics.mean(v), "max": max(v)} for k, v in per_day.items()}

    print(f"# Hazard scenario generator (seed {args.seed}, layout seeds 0..{args.layouts - 1})\n")
    print(markdown_table(["what", "seconds"], [[k, v] for k, v in speed.items()]))
    print(f"\n6 h hazard episode: median {statistics.median(episode_times):.3f} s\n")
    print(markdown_table(["hazard/kind", "deadline reached", "min", "p10", "median", "p90"], rows))
    print("\n(minutes from onset to the deadline: statutory alarm, ISO zone D, roof fall or first violation)\n")
    print(markdown_table(["per normal day", "mean", "max"], [[k, v["mean"], v["max"]] for k, v in normal.items()]))
    trend = {
        "face_alarm_events": len(gas_possible),
        "possible_lead_min": quantiles(gas_possible),
        "trend_lead_min": quantiles(gas_lead),
        "trend_missed": gas_missed,
        "trend_false_warnings_per_day": normal["trend_false_warnings"]["mean"],
    }
    print(f"\nlinear-trend check on gas events that reach the face alarm: {trend}")
    print(f"\n{NOISE_NOTE}")
    arguments = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    write_result(
        NAME,
        {"speed": speed, "kinds": kinds, "normal_days": normal, "trend_check": trend, "args": arguments},
        results_dir=args.results_dir,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
