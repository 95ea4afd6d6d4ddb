"""Markdown tables of figures (benchmark output and the ``minegate bench`` report)."""

from __future__ import annotations

from collections.abc import Sequence


def cell(value: object) -> str:
    """A figure as a table shows it: 4 significant digits, no decimals from 1000 up; None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
