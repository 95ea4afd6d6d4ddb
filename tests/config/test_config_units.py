"""parse_duration / parse_baudrate: the quantities people write in YAML."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.config.units import _DURATION_UNITS, parse_baudrate, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("2s", 2.0),
        ("2 s", 2.0),
        ("1.5min", 90.0),
        ("1m", 60.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("250us", 250e-6),
        ("250µs", 250e-6),
        ("3sec", 3.0),
        ("10", 10.0),
        (".5s", 0.5),
        ("1e3ms", 1.0),
        (" 7s ", 7.0),
        (0, 0.0),
        (3, 3.0),
        (0.25, 0.25),
    ],
)
def test_duration_accepts(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value",
    ["", "s", "5 parsecs", "5S", "-1s", "1..2s", "5 min s", "nan", "inf", "1e999s", True, None, [1], -0.5, 10**400],
)
def test_duration_refuses(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


def test_non_finite_durations_are_refused() -> None:
    # A NaN timeout compares false with everything and would silently never fire.
    for value in (float("nan"), float("inf"), "1e400s"):
        with pytest.raises(ValueError, match="finite"):
            parse_duration(value)


@given(
    value=st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False),
    unit=st.sampled_from(sorted(_DURATION_UNITS)),
    space=st.sampled_from(["", " "]),
)
def test_duration_round_trips_with_every_unit(value: float, unit: str, space: str) -> None:
    # repr() gives the shortest text that reads back as the same float, exponent included.
    parsed = parse_duration(f"{value!r}{space}{unit}")
    assert math.isclose(parsed, value * _DURATION_UNITS[unit], rel_tol=1e-12, abs_tol=0.0)


@given(st.text(max_size=40))
def test_duration_only_raises_value_error_on_arbitrary_text(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError:
        return
    assert math.isfinite(seconds)
    assert seconds >= 0


@pytest.mark.parametrize(
    ("value", "rate"),
    [(19200, 19200), ("19200", 19200), ("19k2", 19200), ("19.2k", 19200), ("9600bd", 9600), ("115k2", 115200),
     ("9600 baud", 9600), ("1k2", 1200), (38400.0, 38400)],
)  # fmt: skip
def test_baudrate_accepts(value: object, rate: int) -> None:
    assert parse_baudrate(value) == rate


@pytest.mark.parametrize("value", [19201, "19k3", "fast", "", "1k2k", "nan", "inf", -9600])
def test_baudrate_refuses_with_allowed_list(value: object) -> None:
    with pytest.raises(ValueError, match=r"baud rate.*allowed: 1200, 2400, 4800, 9600, 14400, 19200"):
        parse_baudrate(value)


def test_baudrate_refuses_a_yaml_boolean() -> None:
    # 'baudrate: yes' is True in YAML 1.1; int(True) == 1 must not slip through as a number.
    with pytest.raises(ValueError, match="expected a baud rate"):
        parse_baudrate(True)


@given(st.text(max_size=20))
def test_baudrate_only_raises_value_error(text: str) -> None:
    try:
        rate = parse_baudrate(text)
    except ValueError:
        return
    assert rate in (1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200)
