"""bench compare: regressions in each metric's worse direction, improvements not flagged, missing metrics listed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge.bench.compare import compare, load_metrics, parse_threshold, relative_change, sizing_differences
from edge.cli import main


def _report(path: Path, metrics: dict[str, tuple[float, str, str]]) -> Path:
    body: dict[str, Any] = {
        "schema": "minegate-bench",
        "schema_version": 1,
        "metrics": {key: {"value": v, "unit": unit, "better": better} for key, (v, unit, better) in metrics.items()},
    }
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


BEFORE = {
    "models.x.batch_1.median_ms": (10.0, "ms", "lower"),  # latency up 20 %: a regression
    "models.x.batched.rows_per_s": (1000.0, "rows/s", "higher"),  # throughput up 20 %: an improvement
    "dtn.durable_group_commit_bundles_per_s": (5000.0, "bundles/s", "higher"),  # down 5 %: within 10 %
    "pipeline.alarm.latency.p99_ms": (900.0, "ms", "lower"),  # down 30 %: an improvement
    "camera.analysed_fps": (4.0, "frame/s", "higher"),  # only in the earlier run
}
AFTER = {
    "models.x.batch_1.median_ms": (12.0, "ms", "lower"),
    "models.x.batched.rows_per_s": (1200.0, "rows/s", "higher"),
    "dtn.durable_group_commit_bundles_per_s": (4750.0, "bundles/s", "higher"),
    "pipeline.alarm.latency.p99_ms": (630.0, "ms", "lower"),
    "dtn.recovery_s": (0.1, "s", "lower"),  # only in the later run
}


def test_regression_flagged_improvement_not_missing_listed(tmp_path: Path) -> None:
    before = load_metrics(_report(tmp_path / "a.json", BEFORE))
    after = load_metrics(_report(tmp_path / "b.json", AFTER))
    result = compare(before, after, threshold=0.10)
    assert [c.key for c in result.regressions] == ["models.x.batch_1.median_ms"]
    by_key = {c.key: c for c in result.changes}
    assert by_key["models.x.batch_1.median_ms"].relative == pytest.approx(0.2)
    assert by_key["models.x.batched.rows_per_s"].improvement
    assert by_key["pipeline.alarm.latency.p99_ms"].improvement
    dtn = by_key["dtn.durable_group_commit_bundles_per_s"]
    assert not dtn.regression
    assert not dtn.improvement
    assert result.only_before == ["camera.analysed_fps"]
    assert result.only_after == ["dtn.recovery_s"]


def test_throughput_down_beyond_threshold_is_a_regression(tmp_path: Path) -> None:
    before = {"t": (100.0, "rows/s", "higher")}
    after = {"t": (80.0, "rows/s", "higher")}
    result = compare(
        load_metrics(_report(tmp_path / "a.json", before)),
        load_metrics(_report(tmp_path / "b.json", after)),
        threshold=0.1,
    )
    assert [c.key for c in result.regressions] == ["t"]


def test_command_exit_codes_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _report(tmp_path / "a.json", BEFORE), _report(tmp_path / "b.json", AFTER)
    assert main(["bench", "compare", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "| models.x.batch_1.median_ms | ms | lower | 10 | 12 | +20.0% | REGRESSION |" in out
    assert "| models.x.batched.rows_per_s | rows/s | higher | 1000 | 1200 | +20.0% | better |" in out
    assert "Only in" in out
    assert "- camera.analysed_fps" in out
    assert "- dtn.recovery_s" in out
    # The same runs compared with a looser threshold: nothing regressed.
    assert main(["bench", "compare", str(a), str(b), "--threshold", "25%"]) == 0
    assert "No regression beyond 25%" in capsys.readouterr().out


def test_bad_inputs_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_bench = tmp_path / "other.json"
    not_bench.write_text('{"benchmark": "alarm_latency"}', encoding="utf-8")
    assert main(["bench", "compare", str(not_bench), str(not_bench)]) == 2
    assert "not a minegate bench report" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "minegate-bench", "metrics": {"m": {"value": 1, "better": "up"}}}), "utf-8")
    with pytest.raises(ValueError, match="metric 'm': better is 'up'; allowed: lower, higher"):
        load_metrics(bad)
    with pytest.raises(ValueError, match="--threshold: 'ten' is not a number"):
        parse_threshold("ten")


@pytest.mark.parametrize(("text", "fraction"), [("10%", 0.10), ("10", 0.10), ("0.05", 0.05), ("2.5%", 0.025)])
def test_threshold_forms(text: str, fraction: float) -> None:
    assert parse_threshold(text) == pytest.approx(fraction)


def test_relative_change_from_zero() -> None:
    assert relative_change(0.0, 0.0) == 0.0
    assert relative_change(0.0, 1.0) == float("inf")
    assert relative_change(2.0, 1.0) == pytest.approx(-0.5)


def test_differently_sized_runs_are_called_out() -> None:
    quick = {"options": {"quick": True, "load": 10, "only": ["models"]}}
    full = {"options": {"quick": False, "load": 10, "only": ["models", "dtn"]}}
    assert sizing_differences(quick, full) == ["quick: True -> False"]
    assert sizing_differences(full, full) == []
