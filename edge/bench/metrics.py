"""A benchmark figure that two runs can be compared on: its value, unit, and which direction is better."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

Better = Literal["lower", "higher"]
BETTER: tuple[Better, ...] = ("lower", "higher")


@dataclass(frozen=True, slots=True)
class Metric:
    value: float
    unit: str
    better: Better

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "better": self.better}

    @classmethod
    def from_json(cls, key: str, data: Any) -> Metric:
        """``ValueError`` naming the metric and the field when ``data`` is not a metric entry."""
        if not isinstance(data, dict):
            raise ValueError(f"metric {key!r}: expected an object with value, unit, better; got {data!r}")
        better = data.get("better")
        if better not in BETTER:
            raise ValueError(f"metric {key!r}: better is {better!r}; allowed: {', '.join(BETTER)}")
        value = data.get("value")
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"metric {key!r}: value is {value!r}; a number is needed")
        return cls(float(value), str(data.get("unit", "")), better)


def lower(value: float | None, unit: str) -> Metric | None:
    """A figure where less is better (latency, CPU, memory); None when it was not measured or is not finite."""
    return Metric(float(value), unit, "lower") if value is not None and math.isfinite(value) else None


def higher(value: float | None, unit: str) -> Metric | None:
    """A figure where more is better (throughput, rates)."""
    return Metric(float(value), unit, "higher") if value is not None and math.isfinite(value) else None
