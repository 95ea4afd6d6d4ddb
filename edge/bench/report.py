"""The ``minegate bench`` report as Markdown, and its charts as PNG when matplotlib is installed.

matplotlib is a gateway dependency, so the charts are drawn on the board being measured; an install trimmed of it
still gets the complete JSON and Markdown, and the report says the charts were skipped.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from edge.bench.tables import markdown_table

MIB = 1024 * 1024
CHART_LATENCY = "models_latency.png"
CHART_THROUGHPUT = "models_throughput.png"
CHART_ALARM = "alarm_latency.png"


def _mib(value: float | None) -> float | None:
    return None if value is None else value / MIB


def _machine(system: Mapping[str, Any]) -> list[str]:
    load = system.get("load_average_1_5_15") or []
    rows: list[list[object]] = [
        ["host", system.get("host")],
        ["CPU", f"{system.get('cpu')} ({system.get('machine')})"],
        ["cores (usable)", f"{system.get('cores')} ({system.get('cores_usable')})"],
        ["RAM GiB (available at start)", _ram(system)],
        ["OS, kernel", f"{system.get('os')}, {system.get('kernel')}"],
        ["Python", f"{system.get('python')} ({system.get('python_implementation')})"],
        ["load average 1/5/15 min at start", " / ".join(f"{v:.2f}" for v in load) or "-"],
        [
            "inference backends",
            ", ".join(f"{name}: {state}" for name, state in (system.get("backends") or {}).items()),
        ],
    ]
    libraries = system.get("libraries") or {}
    lines = ["## Machine", "", markdown_table(["fact", "value"], rows), ""]
    lines += [markdown_table(["library", "version"], [[n, v or "not installed"] for n, v in libraries.items()]), ""]
    return lines


def _ram(system: Mapping[str, Any]) -> str:
    total, available = system.get("ram_bytes"), system.get("ram_available_bytes")
    if total is None:
        return "-"
    gib = 1024**3
    return f"{total / gib:.1f}" + (f" ({available / gib:.1f})" if available is not None else "")


def _models(result: Mapping[str, Any]) -> list[str]:
    rows = []
    for c in result.get("cases", []):
        one, batched = c["batch_1"], c.get("batched")
        rows.append(
            [
                c["model"],
                c["file"],
                c["backend"] + (f" (fixed batch {c['fixed_batch']})" if c.get("fixed_batch") else ""),
                c["precision"],
                c["bytes"] / MIB,
                c["load_s"] * 1e3,
                one["median_ms"],
                one["p99_ms"],
                batched["batch"] if batched else "-",
                batched["median_ms"] if batched else None,
                batched["p99_ms"] if batched else None,
                batched["rows_per_s"] if batched else one["rows_per_s"],
                _mib(c.get("rss_delta_bytes")),
            ]
        )
    header = [
        "model",
        "file",
        "backend",
        "precision",
        "MiB",
        "load ms",
        "b1 median ms",
        "b1 p99 ms",
        "batch",
        "batched median ms",
        "batched p99 ms",
        "rows/s",
        "RSS Δ MiB",
    ]
    lines = [
        f"Every file of every manifest under `{result.get('models_dir')}` on every backend that runs it, each in a "
        "fresh process. Input: the manifest's reference input, rows repeated to fill the batch. Load time includes "
        "the runtime's import, the sha256, contract and reference checks. rows/s is at the batched median (batch 1 "
        "for detectors). RSS Δ: the process's RSS after the timed calls minus before loading.",
        "",
    ]
    lines += [markdown_table(header, rows) if rows else "No model file was measured.", ""]
    return lines


def _pipeline(result: Mapping[str, Any]) -> list[str]:
    alarm, cpu = result.get("alarm_latency"), result.get("cpu_per_reading")
    lines: list[str] = []
    if alarm:
        lines += [
            f"End-to-end alarm latency: {alarm['trials']} trials, {alarm['points']} points on {alarm['devices']} "
            f"Modbus TCP devices polled every {alarm['poll_interval_s']:g} s; a methane value changes in the simulated "
            "device -> the power-trip coil is written (target p99 <= poll + 100 ms).",
            "",
            markdown_table(
                ["path", "p50 ms", "p99 ms", "max ms"],
                [
                    [label, alarm[key]["p50_s"] * 1e3, alarm[key]["p99_s"] * 1e3, alarm[key]["max_s"] * 1e3]
                    for label, key in (
                        ("change -> power_trip coil written", "latency"),
                        ("  change -> alarm raised", "change_to_alarm"),
                        ("  alarm raised -> coil written", "alarm_to_coil"),
                    )
                ],
            ),
            "",
        ]
    if cpu:
        lines += [
            markdown_table(
                ["gateway under load", "value"],
                [
                    [
                        "readings/s achieved (offered)",
                        f"{cpu['readings_per_s']:.1f} ({cpu['offered_readings_per_s']:g})",
                    ],
                    ["CPU s per 1,000 readings", f"{cpu['cpu_s_per_1000_readings']:.4f}"],
                    ["gateway CPU, fraction of one core", f"{cpu['gateway_cpu_fraction_of_one_core']:.3f}"],
                    [
                        "gateway RSS / peak MiB",
                        f"{cpu['gateway_rss_bytes'] / MIB:.1f} / {cpu['gateway_peak_rss_bytes'] / MIB:.1f}",
                    ],
                    ["measured window s", f"{cpu['window_s']:.1f}"],
                ],
            ),
            "",
        ]
    return lines


def _camera(result: Mapping[str, Any]) -> list[str]:
    if "skipped" in result:
        return [f"Skipped: {result['skipped']}", ""]
    case, costs = result["full_rate_ungated"], result["per_frame_ms"]
    width, height = result["frame_size"]
    return [
        f"Detector {result['detector']}, one thread; one {width}x{height} camera replayed at "
        f"{result['camera_fps']:g} frame/s, every frame sampled, motion gating off (the path's capacity).",
        "",
        markdown_table(
            ["camera path", "value"],
            [
                ["analysed frame/s", case["analysed_fps_min"]],
                ["detection ms p50 / p95", f"{case['detect_ms_p50'] or 0:.1f} / {case['detect_ms_p95'] or 0:.1f}"],
                ["observe (health + motion) ms p50", costs["observe_ms_p50"]],
                ["capture-to-result latency p50 s", case["latency_p50_s"]],
                ["CPU cores", case["cpu_cores"]],
                ["frames replaced in the mailbox", case["frames_replaced"]],
            ],
        ),
        "",
    ]


def _dtn(result: Mapping[str, Any]) -> list[str]:
    group, one, rec = result["group_commit"], result["one_at_a_time"], result["recovery"]
    rows = [
        [r["mode"], r["bundles"], r["bundles_per_s"], r["mb_per_s"], r["mean_batch"], r["put_p50_ms"], r["put_p99_ms"]]
        for r in (group, one)
    ]
    return [
        f"Durable ingest into the bundle store (SQLite WAL, fsync per commit; this disk's fdatasync p50 "
        f"{result['fsync_p50_s'] * 1e6:.0f} µs). Target: {result['target_durable_bundles_per_s']} durable bundles/s.",
        "",
        markdown_table(["mode", "bundles", "bundles/s", "MB/s", "mean batch", "put p50 ms", "put p99 ms"], rows),
        "",
        f"Recovery: a store of {rec['count']} bundles ({rec['stored_mib']:.1f} MiB of frames) reopened in a fresh "
        f"process: {rec['recovery_s']:.3f} s to check every row and rebuild the budget, peak RSS "
        f"{rec['peak_rss'] / MIB:.1f} MiB.",
        "",
    ]


RENDERERS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "system": _machine,
    "models": _models,
    "pipeline": _pipeline,
    "camera": _camera,
    "dtn": _dtn,
}
TITLES = {
    "system": "System",
    "models": "Models",
    "pipeline": "Pipeline",
    "camera": "Camera",
    "dtn": "DTN store",
}


def render_markdown(report: Mapping[str, Any], *, charts: Sequence[str] = (), chart_note: str | None = None) -> str:
    sections: Mapping[str, Any] = report.get("sections", {})
    options = report.get("options", {})
    lines = [
        f"# minegate bench: {report.get('host', '?')}",
        "",
        f"Started {report.get('started_utc')}, {report.get('wall_s', 0):.0f} s in all; "
        f"{'quick' if options.get('quick') else 'full'} run, simulated load {options.get('load')} devices x 40 values "
        "at 1 s. One run: compare runs of the same gateway (`minegate bench compare A.json B.json`), not hosts.",
        "",
        markdown_table(
            ["section", "status", "seconds", "notes"],
            [[n, s["status"], f"{s['seconds']:.1f}", len(s.get("notes", []))] for n, s in sections.items()],
        ),
        "",
    ]
    system = sections.get("system", {})
    if system.get("status") == "ok":
        lines += _machine(system["result"])
        lines += [f"- {note}" for note in system.get("notes", [])]
        if system.get("notes"):
            lines.append("")
    for name, entry in sections.items():
        if name == "system" and entry["status"] == "ok":
            continue  # shown as the Machine section
        lines += [f"## {TITLES.get(name, name)}", ""]
        if entry["status"] != "ok":
            lines += [f"**Failed**: `{entry['error']}`", ""]
        else:
            try:
                lines += RENDERERS[name](entry["result"])
            except (KeyError, TypeError, ValueError) as exc:  # a partial result: the JSON still has it all
                lines += [f"(cannot render this section's result: {type(exc).__name__}: {exc}; see bench.json)", ""]
        lines += [f"- {note}" for note in entry.get("notes", [])]
        if entry.get("notes"):
            lines.append("")
    if charts or chart_note:
        lines += ["## Charts", ""]
        lines += [f"![{name}]({name})" for name in charts]
        if chart_note:
            lines.append(chart_note)
        lines.append("")
    return "\n".join(lines)


# ---- charts ---------------------------------------------------------------------------------------------------
def write_charts(report: Mapping[str, Any], out_dir: Path) -> tuple[list[Path], str | None]:
    """PNG charts of the figures present; (files, None), or ([], why not) when matplotlib is not installed."""
    if importlib.util.find_spec("matplotlib") is None:
        return (
            [],
            "Charts skipped: matplotlib is missing from this venv (a minegate dependency: reinstall minegate).",
        )
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")  # no display on a gateway
    import matplotlib.pyplot as plt  # noqa: PLC0415

    written: list[Path] = []
    sections = report.get("sections", {})
    models = sections.get("models", {})
    cases = models.get("result", {}).get("cases", []) if models.get("status") == "ok" else []
    if cases:
        labels = [f"{c['model']}/{c['file']}\n{c['backend']}" for c in cases]
        for name, title, values, xlabel in (
            (
                CHART_LATENCY,
                "Model latency at batch 1 (median, p99 as the whisker)",
                [(c["batch_1"]["median_ms"], c["batch_1"]["p99_ms"]) for c in cases],
                "ms per call (log scale)",
            ),
            (
                CHART_THROUGHPUT,
                "Model throughput (batched; batch 1 for detectors)",
                [((c["batched"] or c["batch_1"])["rows_per_s"], None) for c in cases],
                "rows/s (log scale)",
            ),
        ):
            figure, axes = plt.subplots(figsize=(9, 0.5 * len(cases) + 1.5))
            medians = [v for v, _ in values]
            errors = [[0.0] * len(values), [max(0.0, (p or v) - v) for v, p in values]]
            axes.barh(labels, medians, xerr=errors if any(p for _, p in values) else None, color="#4878a8")
            axes.set_xscale("log")
            axes.set_xlabel(xlabel)
            axes.set_title(title)
            axes.invert_yaxis()
            axes.tick_params(axis="y", labelsize=7)
            figure.tight_layout()
            path = out_dir / name
            figure.savefig(path, dpi=100)
            plt.close(figure)
            written.append(path)
    pipeline = sections.get("pipeline", {})
    alarm = pipeline.get("result", {}).get("alarm_latency") if pipeline.get("status") == "ok" else None
    if alarm and alarm.get("latencies_s"):
        figure, axes = plt.subplots(figsize=(7, 3.5))
        axes.hist([v * 1e3 for v in alarm["latencies_s"]], bins=min(20, len(alarm["latencies_s"])), color="#4878a8")
        axes.axvline(alarm["target_p99_s"] * 1e3, color="#c03030", linestyle="--", label="target p99")
        axes.set_xlabel("value change -> power_trip coil written, ms")
        axes.set_ylabel("trials")
        axes.set_title(f"Alarm latency, {alarm['points']} points polled every {alarm['poll_interval_s']:g} s")
        axes.legend()
        figure.tight_layout()
        path = out_dir / CHART_ALARM
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written, None
