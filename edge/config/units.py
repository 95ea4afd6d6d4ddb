"""Quantities written the way people write them in YAML: ``"500ms"``, ``"2s"``, ``"1.5min"``, ``"19200"``."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator

_DURATION = re.compile(r"^\s*(?P<num>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?P<unit>[a-zµ]*)\s*$")
_DURATION_UNITS = {
    "": 1.0,
    "s": 1.0,
    "sec": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "min": 60.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
# Units people write that are not accepted, with the one they mean: the "did you mean" of a bad duration.
_UNIT_SPELLINGS = {
    "msec": "ms",
    "msecs": "ms",
    "millis": "ms",
    "millisecond": "ms",
    "milliseconds": "ms",
    "usec": "us",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "mins": "min",
    "minute": "min",
    "minutes": "min",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "day": "d",
    "days": "d",
}
_BAUDRATES = (1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200)


def parse_duration(value: object) -> float:
    """Seconds from ``500ms``, ``2s``, ``1.5min``, ``1h`` or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '500ms', '2s' or '1min', got {value!r}")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an int too large for a float
            raise ValueError("a number this large is not a usable duration") from None
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match is None or match["unit"] not in _DURATION_UNITS:
            raise ValueError(
                f"{value!r} is not a duration: write a number and a unit, one of ms, s, min, h "
                f"(e.g. '500ms', '2s', '1min'){_duration_hint(value)}"
            )
        seconds = float(match["num"]) * _DURATION_UNITS[match["unit"]]
    else:
        raise ValueError(f"expected a duration such as '500ms', '2s' or '1min', got {value!r}")
    if not math.isfinite(seconds):  # '.nan' or '1e999s' would silently disable a timeout
        raise ValueError(f"a duration must be a finite number, got {value!r}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return seconds


def _duration_hint(text: str) -> str:
    """``"; did you mean '500ms'?"`` for ``"500 msec"`` or ``"500MS"``; empty when no reading is clear."""
    match = _DURATION.match(text.lower())
    if match is None:
        return ""
    unit = _UNIT_SPELLINGS.get(match["unit"], match["unit"])
    return f"; did you mean '{match['num']}{unit}'?" if unit and unit in _DURATION_UNITS else ""


def parse_baudrate(value: object) -> int:
    """A serial speed: ``19200``, ``"19200"``, ``"19k2"`` or ``"19.2k"``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a baud rate, got {value!r}")
    text = str(value).strip().lower().removesuffix("bd").removesuffix("baud").strip()
    rate: float
    try:
        if "k" in text:
            head, _, tail = text.partition("k")
            rate = float(f"{head}.{tail}" if tail else head) * 1000
        else:
            rate = float(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a baud rate; allowed: {', '.join(map(str, _BAUDRATES))}") from None
    if rate not in _BAUDRATES:
        raise ValueError(f"{value!r} is not a standard baud rate; allowed: {', '.join(map(str, _BAUDRATES))}")
    return int(rate)


Duration = Annotated[float, BeforeValidator(parse_duration)]
Baudrate = Annotated[int, BeforeValidator(parse_baudrate)]
