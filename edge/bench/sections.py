"""The sections of ``minegate bench``: each runs measuring cores of ``edge.bench`` at a size that fits the whole
suite in a few minutes, and returns its figures, the metrics two runs are compared on, and notes.

Sizes: ``quick`` is a smoke run (seconds per section); the default is what the report is for. The simulated
load (``load``) is the number of 40-value Modbus TCP devices the gateway polls every second in the pipeline
section (10 = 400 readings/s).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.bench.metrics import Metric, higher, lower

Say = Callable[[str], None]
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class BenchOptions:
    quick: bool = False
    load: int = 10  # simulated 40-value devices polled at 1 s in the pipeline section
    models_dir: Path | None = None  # default: edge.models_dir.shipped_models_dir()


@dataclass(slots=True)
class SectionOutput:
    result: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, key: str, metric: Metric | None) -> None:
        if metric is not None:
            self.metrics[key] = metric


# ---- system -----------------------------------------------------------------------------------------------
def system_section(options: BenchOptions, say: Say) -> SectionOutput:
    from edge.bench.system import system_facts  # noqa: PLC0415

    say("CPU, memory, OS, libraries, inference backends")
    facts = system_facts()
    out = SectionOutput(result=facts)
    if facts["load_average_1_5_15"] and facts["cores_usable"]:
        busy = facts["load_average_1_5_15"][0] / facts["cores_usable"]
        if busy > 0.5:
            out.notes.append(
                f"the machine was busy when the run started (1-min load {facts['load_average_1_5_15'][0]:.1f} on "
                f"{facts['cores_usable']} cores): figures are slower than on an idle gateway"
            )
    return out


# ---- models -----------------------------------------------------------------------------------------------
def models_section(options: BenchOptions, say: Say) -> SectionOutput:
    from edge.bench.models import Timing, measure_in_child, shipped_cases  # noqa: PLC0415
    from edge.inference.backends import available_backends, backend_formats  # noqa: PLC0415
    from edge.models_dir import shipped_models_dir  # noqa: PLC0415

    root = options.models_dir or shipped_models_dir()
    backends = {name: backend_formats(name) for name, state in available_backends().items() if state == "ok"}
    cases, notes = shipped_cases(root, backends)
    out = SectionOutput(notes=[*notes])
    if not cases:
        out.notes.append(f"no model file to measure under {root}")
    timing = Timing(calls_1=50, calls_batch=10, budget_s=1.0, warmup=2) if options.quick else Timing(budget_s=3.0)
    measured: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    for n, case in enumerate(cases, start=1):
        say(f"{n}/{len(cases)} {case.key}")
        try:
            figures = measure_in_child(case, timing)
        except (RuntimeError, OSError, ValueError) as exc:  # one refused or crashing file must not stop the rest
            failed.append({"case": case.key, "error": str(exc)})
            out.notes.append(f"{case.key}: {exc}")
            continue
        measured.append(figures)
        key = f"models.{case.key}"
        out.add(f"{key}.load_s", lower(figures["load_s"], "s"))
        out.add(f"{key}.batch_1.median_ms", lower(figures["batch_1"]["median_ms"], "ms"))
        out.add(f"{key}.batch_1.p99_ms", lower(figures["batch_1"]["p99_ms"], "ms"))
        out.add(f"{key}.batch_1.rows_per_s", higher(figures["batch_1"]["rows_per_s"], "rows/s"))
        if figures["batched"] is not None:
            out.add(f"{key}.batched.median_ms", lower(figures["batched"]["median_ms"], "ms"))
            out.add(f"{key}.batched.p99_ms", lower(figures["batched"]["p99_ms"], "ms"))
            out.add(f"{key}.batched.rows_per_s", higher(figures["batched"]["rows_per_s"], "rows/s"))
        out.add(f"{key}.rss_delta_mib", lower(figures["rss_delta_bytes"] / MIB, "MiB"))
    out.result = {
        "models_dir": str(root),
        "batch": timing.batch,
        "cases": measured,
        "failed": failed,
    }
    return out


# ---- pipeline ---------------------------------------------------------------------------------------------
def pipeline_section(options: BenchOptions, say: Say) -> SectionOutput:
    from edge.bench import alarm_latency, cpu_per_reading  # noqa: PLC0415

    devices = options.load
    trials = 3 if options.quick else 12
    window_s, warmup_s = (4.0, 1.0) if options.quick else (20.0, 4.0)
    out = SectionOutput()
    with tempfile.TemporaryDirectory(prefix="minegate-bench-alarm-") as tmp:
        say(f"alarm latency: {trials} methane alarms, {devices} devices x 40 values at 1 s, gateway as its own process")
        alarm = asyncio.run(alarm_latency.measure(trials, 1.0, devices, Path(tmp), seed=1))
    with tempfile.TemporaryDirectory(prefix="minegate-bench-cpu-") as tmp:
        say(f"CPU per reading: {devices} devices x 40 values at 1 s, {window_s:g} s window")
        cpu = cpu_per_reading.measure(window_s, warmup_s, devices, 1.0, Path(tmp))
    out.result = {"alarm_latency": alarm, "cpu_per_reading": cpu}
    for part in ("latency", "change_to_alarm", "alarm_to_coil"):
        out.add(f"pipeline.alarm.{part}.p50_ms", lower(alarm[part]["p50_s"] * 1e3, "ms"))
        out.add(f"pipeline.alarm.{part}.p99_ms", lower(alarm[part]["p99_s"] * 1e3, "ms"))
    out.add("pipeline.alarm.latency.max_ms", lower(alarm["latency"]["max_s"] * 1e3, "ms"))
    out.add("pipeline.cpu_s_per_1000_readings", lower(cpu["cpu_s_per_1000_readings"], "CPU s"))
    out.add("pipeline.gateway_cpu_cores", lower(cpu["gateway_cpu_fraction_of_one_core"], "cores"))
    out.add("pipeline.readings_per_s", higher(cpu["readings_per_s"], "readings/s"))
    out.add("pipeline.gateway_rss_mib", lower(cpu["gateway_rss_bytes"] / MIB, "MiB"))
    if alarm["latency"]["p99_s"] > alarm["target_p99_s"]:
        out.notes.append(
            f"alarm latency p99 {alarm['latency']['p99_s'] * 1e3:.0f} ms is over the target of poll + 100 ms "
            f"({alarm['target_p99_s'] * 1e3:.0f} ms)"
        )
    return out


# ---- camera -----------------------------------------------------------------------------------------------
def _camera_detector(options: BenchOptions, work: Path, say: Say) -> tuple[Any, str]:
    """The shipped detector when it is built, else the stand-in (needs onnx); ``LookupError`` when neither."""
    from edge.bench.camera import build_standin  # noqa: PLC0415
    from edge.camera.detector import load_detector  # noqa: PLC0415
    from edge.models_dir import shipped_models_dir  # noqa: PLC0415

    root = options.models_dir or shipped_models_dir()
    for manifest in sorted(root.rglob("manifest.json")) if root.is_dir() else []:
        if json.loads(manifest.read_text(encoding="utf-8")).get("task") == "detection":
            files = [p for p in manifest.parent.iterdir() if p.suffix in (".onnx", ".tflite")]
            if files:
                say(f"loading the detector {manifest.parent.relative_to(root)}")
                detector = load_detector(manifest.parent, threads=1)
                return detector, f"{manifest.parent.relative_to(root)}/{detector.file.path}"
    if importlib.util.find_spec("onnx") is None:
        raise LookupError("no detector is built (make detector) and onnx is not installed to build the stand-in")
    say("no detector built: building the stand-in of YOLOv8n's compute")
    size = 160 if options.quick else 640
    model_dir, gmacs = build_standin(work / "standin", size=size)
    return load_detector(model_dir, threads=1), f"stand-in {gmacs:.2f} GMAC at {size} px (random weights)"


def camera_section(options: BenchOptions, say: Say) -> SectionOutput:
    from edge.bench.camera import make_video, per_frame_costs, run_case  # noqa: PLC0415

    out = SectionOutput()
    camera_fps = 10.0
    duration = 3.0 if options.quick else 10.0
    with tempfile.TemporaryDirectory(prefix="minegate-bench-camera-") as tmp:
        work = Path(tmp)
        try:
            detector, described = _camera_detector(options, work, say)
        except LookupError as exc:
            out.notes.append(f"camera section skipped: {exc}")
            out.result = {"skipped": str(exc)}
            return out
        width, height = (320, 240) if options.quick else (1280, 720)
        say(f"a {width}x{height} camera replayed at {camera_fps:g} frame/s")
        video = make_video(work / "cam.avi", width=width, height=height, fps=camera_fps, seconds=3, seed=0)
        say("per-frame cost of observe and of one detection")
        costs = per_frame_costs(detector, video, frames=20 if options.quick else 40)
        say(f"CameraService at the camera's full rate, gating off, {duration:g} s")
        case = asyncio.run(
            run_case(
                [video],
                detector,
                sample_rate=camera_fps,
                gating=False,
                camera_fps=camera_fps,
                duration=duration,
                settle=0.5,
            )
        )
    out.result = {
        "detector": described,
        "frame_size": [width, height],
        "camera_fps": camera_fps,
        "per_frame_ms": costs,
        "full_rate_ungated": case,
    }
    out.add("camera.analysed_fps", higher(case["analysed_fps_min"], "frame/s"))
    out.add("camera.detect_ms_p50", lower(case["detect_ms_p50"], "ms"))
    out.add("camera.observe_ms_p50", lower(costs["observe_ms_p50"], "ms"))
    out.add("camera.cpu_cores", lower(case["cpu_cores"], "cores"))
    return out


# ---- DTN store --------------------------------------------------------------------------------------------
def dtn_section(options: BenchOptions, say: Say) -> SectionOutput:
    from edge.bench import dtn_store  # noqa: PLC0415

    bundles = 1000 if options.quick else 10000
    single = 200 if options.quick else 1000
    recover_count = 5000 if options.quick else 50000
    producers = 64
    payload = 200
    out = SectionOutput()
    with tempfile.TemporaryDirectory(prefix="minegate-bench-dtn-") as tmp:
        directory = Path(tmp)
        say("fsync latency of the data disk")
        fsync_p50, fsync_p90 = dtn_store.fsync_latency_s(directory)
        say(f"durable ingest: {bundles} bundles, group commit, {producers} producers")
        group = asyncio.run(
            dtn_store.group_commit(
                directory / "group.db", durable=True, bundles=bundles, producers=producers, payload=payload
            )
        )
        say(f"durable ingest: {single} bundles, one fsync each")
        one = dtn_store.one_at_a_time(directory / "single.db", durable=True, bundles=single, payload=payload)
        say(f"recovery: reopening a store of {recover_count} bundles in a fresh process")
        path = directory / "recover.db"
        stored = dtn_store.fill(path, recover_count, payload)
        recovery = dtn_store.recover_in_child(path)
    out.result = {
        "fsync_p50_s": fsync_p50,
        "fsync_p90_s": fsync_p90,
        "group_commit": group,
        "one_at_a_time": one,
        "recovery": {**recovery, "stored_mib": stored / MIB},
        "target_durable_bundles_per_s": dtn_store.TARGET_DURABLE_PER_S,
    }
    out.add("dtn.fsync_p50_ms", lower(fsync_p50 * 1e3, "ms"))
    out.add("dtn.durable_group_commit_bundles_per_s", higher(group["bundles_per_s"], "bundles/s"))
    out.add("dtn.durable_group_commit_put_p99_ms", lower(group["put_p99_ms"], "ms"))
    out.add("dtn.durable_one_at_a_time_bundles_per_s", higher(one["bundles_per_s"], "bundles/s"))
    out.add("dtn.recovery_s", lower(recovery["recovery_s"], "s"))
    out.add("dtn.recovery_peak_rss_mib", lower(recovery["peak_rss"] / MIB, "MiB"))
    if group["bundles_per_s"] < dtn_store.TARGET_DURABLE_PER_S:
        out.notes.append(
            f"durable group commit {group['bundles_per_s']:.0f} bundles/s is under the target of "
            f"{dtn_store.TARGET_DURABLE_PER_S}/s (fsync p50 {fsync_p50 * 1e6:.0f} µs on this disk)"
        )
    return out


Section = Callable[[BenchOptions, Say], SectionOutput]
SECTIONS: dict[str, Section] = {
    "system": system_section,
    "models": models_section,
    "pipeline": pipeline_section,
    "camera": camera_section,
    "dtn": dtn_section,
}
