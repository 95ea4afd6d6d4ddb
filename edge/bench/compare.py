"""``minegate bench compare A.json B.json``: every metric present in both runs with its relative change, a
regression being a change in the metric's worse direction (latency up, throughput down) beyond the threshold."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.bench.metrics import Metric
from edge.bench.tables import markdown_table

DEFAULT_THRESHOLD = 0.10


@dataclass(frozen=True, slots=True)
class Change:
    key: str
    before: Metric
    after: Metric
    relative: float  # (after - before) / |before|; +-inf from zero, 0 when both are zero
    regression: bool
    improvement: bool


@dataclass(slots=True)
class Comparison:
    changes: list[Change] = field(default_factory=list)
    only_before: list[str] = field(default_factory=list)
    only_after: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.regression]


def parse_threshold(text: str) -> float:
    """``10%`` or ``10`` (percent) or ``0.1`` (a fraction below 1) as a fraction; ``ValueError`` otherwise."""
    raw = text.strip()
    try:
        value = float(raw.removesuffix("%"))
    except ValueError:
        raise ValueError(f"--threshold: {text!r} is not a number; write e.g. 10% or 0.1") from None
    fraction = value / 100.0 if raw.endswith("%") or value >= 1 else value
    if not 0 <= fraction < 100 or not math.isfinite(fraction):
        raise ValueError(f"--threshold: {text!r} is out of range; allowed 0% up to 10000%")
    return fraction


def relative_change(before: float, after: float) -> float:
    if before == 0:
        return 0.0 if after == 0 else math.copysign(math.inf, after)
    return (after - before) / abs(before)


def load_report(path: Path) -> dict[str, Any]:
    """A ``bench.json``; ``ValueError`` naming the file and what is wrong."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file (give the bench.json of a minegate bench run)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
    if not isinstance(data, dict) or data.get("schema") != "minegate-bench":
        raise ValueError(f"{path}: not a minegate bench report (its schema field is not 'minegate-bench')")
    return data


def sizing_differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Options that change what is measured (quick vs full, simulated load) and differ between two reports."""
    old, new = before.get("options") or {}, after.get("options") or {}
    return [
        f"{name}: {old.get(name)!r} -> {new.get(name)!r}"
        for name in ("quick", "load")
        if old.get(name) != new.get(name)
    ]


def load_metrics(path: Path) -> dict[str, Metric]:
    """The metrics of a ``bench.json``; ``ValueError`` naming the file and what is wrong."""
    data = load_report(path)
    metrics = data.get("metrics")
    if not isinstance(metrics, dict):
        raise ValueError(f"{path}: metrics: expected an object of metric entries, got {type(metrics).__name__}")
    try:
        return {str(key): Metric.from_json(str(key), value) for key, value in metrics.items()}
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def compare(before: dict[str, Metric], after: dict[str, Metric], *, threshold: float) -> Comparison:
    result = Comparison(
        only_before=sorted(set(before) - set(after)),
        only_after=sorted(set(after) - set(before)),
    )
    for key in sorted(set(before) & set(after)):
        old, new = before[key], after[key]
        change = relative_change(old.value, new.value)
        # The later run's direction decides: a metric's direction does not change between versions of the suite.
        worse = change if new.better == "lower" else -change
        result.changes.append(
            Change(key, old, new, change, regression=worse > threshold, improvement=worse < -threshold)
        )
    return result


def _percent(value: float) -> str:
    return f"{value:+.1%}" if math.isfinite(value) else ("+inf" if value > 0 else "-inf")


def render(
    comparison: Comparison, *, threshold: float, before_name: str, after_name: str, differences: Sequence[str] = ()
) -> str:
    rows = [
        [
            c.key,
            c.before.unit,
            "lower" if c.before.better == "lower" else "higher",
            c.before.value,
            c.after.value,
            _percent(c.relative),
            "REGRESSION" if c.regression else "better" if c.improvement else "",
        ]
        for c in comparison.changes
    ]
    lines = [
        f"# minegate bench compare: {before_name} -> {after_name} (threshold {threshold:.0%})",
        "",
        *(
            [f"**The runs were sized differently** ({'; '.join(differences)}): their figures are not comparable.", ""]
            if differences
            else []
        ),
        markdown_table(["metric", "unit", "better", "before", "after", "change", "verdict"], rows)
        if rows
        else "No metric is present in both reports.",
        "",
    ]
    if comparison.only_before:
        lines += [f"Only in {before_name} (not measured in {after_name}):", *[f"- {k}" for k in comparison.only_before]]
        lines.append("")
    if comparison.only_after:
        lines += [f"Only in {after_name} (new):", *[f"- {k}" for k in comparison.only_after]]
        lines.append("")
    regressions = comparison.regressions
    lines.append(
        f"{len(regressions)} regression(s) beyond {threshold:.0%}: " + ", ".join(c.key for c in regressions)
        if regressions
        else f"No regression beyond {threshold:.0%} in {len(comparison.changes)} metrics."
    )
    return "\n".join(lines)
