"""The report: sections run in order and fail soft, bench.json carries the metrics, bench.md renders them."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from edge.bench.metrics import higher, lower
from edge.bench.runner import Progress, parse_only, run_sections, write_report
from edge.bench.sections import BenchOptions, Say, SectionOutput
from edge.bench.system import cpu_model, meminfo_bytes, os_name

DTN_RESULT = {
    "fsync_p50_s": 0.004,
    "fsync_p90_s": 0.006,
    "target_durable_bundles_per_s": 5000,
    "group_commit": {
        "mode": "group commit, 64 producers",
        "bundles": 1000,
        "bundles_per_s": 13000.0,
        "mb_per_s": 3.3,
        "mean_batch": 62.5,
        "put_p50_ms": 4.0,
        "put_p99_ms": 9.0,
    },
    "one_at_a_time": {
        "mode": "put() one at a time",
        "bundles": 200,
        "bundles_per_s": 254.0,
        "mb_per_s": 0.06,
        "mean_batch": 1.0,
        "put_p50_ms": 3.9,
        "put_p99_ms": 8.0,
    },
    "recovery": {"count": 5000, "stored_mib": 1.3, "recovery_s": 0.033, "peak_rss": 30 * 2**20},
}


def _dtn(options: BenchOptions, say: Say) -> SectionOutput:
    say("ingest")
    out = SectionOutput(result=DTN_RESULT, notes=["a note from the section"])
    out.add("dtn.durable_group_commit_bundles_per_s", higher(13000.0, "bundles/s"))
    out.add("dtn.recovery_s", lower(0.033, "s"))
    out.add("dtn.not_measured", lower(float("nan"), "s"))  # not finite: left out
    return out


def _broken(options: BenchOptions, say: Say) -> SectionOutput:
    raise RuntimeError("no camera here")


def test_sections_fail_soft_and_report_renders(tmp_path: Path) -> None:
    stream = io.StringIO()
    ticks = iter(float(n) for n in range(100))
    progress = Progress(stream, clock=lambda: next(ticks))
    report = run_sections(
        ["camera", "dtn"], BenchOptions(quick=True), progress, sections={"camera": _broken, "dtn": _dtn}
    )
    camera, dtn = report["sections"]["camera"], report["sections"]["dtn"]
    assert camera["status"] == "error"
    assert camera["error"] == "RuntimeError: no camera here"
    assert dtn["status"] == "ok"
    assert set(report["metrics"]) == {"dtn.durable_group_commit_bundles_per_s", "dtn.recovery_s"}
    assert report["metrics"]["dtn.recovery_s"] == {"value": 0.033, "unit": "s", "better": "lower"}
    lines = stream.getvalue().splitlines()
    assert re.fullmatch(r"\[ +\d+\.\d s\] camera: start", lines[0])
    assert any("camera: FAILED: RuntimeError: no camera here" in line for line in lines)
    assert any(line.endswith("dtn: ingest") for line in lines)

    files = write_report(report, tmp_path)
    assert [f.name for f in files[:2]] == ["bench.json", "bench.md"]
    saved = json.loads((tmp_path / "bench.json").read_text(encoding="utf-8"))
    assert saved["schema"] == "minegate-bench"
    assert saved["schema_version"] == 1
    assert saved["options"] == {"quick": True, "load": 10, "only": ["camera", "dtn"]}
    markdown = (tmp_path / "bench.md").read_text(encoding="utf-8")
    assert "## Camera\n\n**Failed**: `RuntimeError: no camera here`" in markdown
    assert "| group commit, 64 producers | 1000 | 13000 | 3.3 | 62.5 | 4 | 9 |" in markdown
    assert "0.033 s to check every row" in markdown
    assert "- a note from the section" in markdown
    assert "## Charts" not in markdown  # neither section has a figure to chart


def test_only_keeps_the_suite_order_and_names_unknown_sections() -> None:
    assert parse_only("dtn,system") == ["system", "dtn"]
    assert parse_only(None) == ["system", "models", "pipeline", "camera", "dtn"]
    with pytest.raises(ValueError, match="unknown section\\(s\\) gpu; allowed: system, models, pipeline, camera, dtn"):
        parse_only("models,gpu")


def test_system_facts_from_proc_text() -> None:
    assert cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n") == "AMD EPYC 7B13"
    pi = "processor\t: 0\nCPU part\t: 0xd0b\n\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n"
    assert cpu_model(pi) == "Raspberry Pi 5 Model B Rev 1.0"
    assert cpu_model("processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd08\n") == (
        "ARM CPU part 0xd08 (implementer 0x41)"
    )
    assert meminfo_bytes("MemTotal:        8000000 kB\nMemFree: 1 kB\nMemAvailable:    4000 kB\n") == {
        "MemTotal": 8000000 * 1024,
        "MemAvailable": 4000 * 1024,
    }
    assert os_name('NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n') == "Debian GNU/Linux 12 (bookworm)"
