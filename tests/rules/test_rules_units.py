"""Gas unit conversion and the number formats used in alarm messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.rules.units import (
    METHANE_LEL_VOL_PERCENT_IEC,
    UnitConversionError,
    check_unit,
    convert,
    format_limit,
    format_value,
    normalize_unit,
)


@pytest.mark.parametrize("spelling", ["%", "%vol", "% vol", "VOL%", "%v/v", " % "])
def test_volume_percent_spellings_are_one_unit(spelling: str) -> None:
    assert normalize_unit(spelling) == "%vol"


def test_known_conversions() -> None:
    assert convert(1.5, "%", "ppm") == pytest.approx(15_000.0)
    assert convert(24.0, "ppm", "%") == pytest.approx(0.0024)
    assert convert(100.0, "%LEL", "%") == pytest.approx(METHANE_LEL_VOL_PERCENT_IEC)
    assert convert(30.0, "%LEL", "%", lel_vol_percent=5.0) == pytest.approx(1.5)
    assert convert(1.1, "%", "%LEL") == pytest.approx(25.0)
    assert convert(20.0, "%LEL", "ppm") == pytest.approx(8_800.0)
    assert convert(71.5, "°C", "°c") == 71.5  # same unit, whatever the case


def test_lel_basis_can_be_refused() -> None:
    with pytest.raises(UnitConversionError, match="LEL basis"):
        convert(10.0, "%LEL", "ppm", lel_vol_percent=None)


@pytest.mark.parametrize("basis", [0.0, -4.4, float("nan")])
def test_lel_basis_must_be_positive(basis: float) -> None:
    with pytest.raises(UnitConversionError, match="positive volume percent"):
        convert(10.0, "%LEL", "%", lel_vol_percent=basis)


def test_check_unit_reports_what_cannot_be_compared() -> None:
    assert check_unit("ppm", "%") is None
    assert check_unit("% LEL", "%") is None
    assert check_unit("mA", "%") == "unit 'mA' cannot be compared with limit unit '%'"
    reason = check_unit("%LEL", "ppm", lel_vol_percent=None)
    assert reason is not None
    assert "methane" in reason


@given(st.floats(min_value=0.0, max_value=100.0))
def test_ppm_round_trip(value: float) -> None:
    assert convert(convert(value, "%", "ppm"), "ppm", "%") == pytest.approx(value, abs=1e-12)


@given(st.floats(min_value=0.0, max_value=100.0), st.floats(min_value=1.0, max_value=20.0))
def test_lel_round_trip(value: float, basis: float) -> None:
    there = convert(value, "%LEL", "%", lel_vol_percent=basis)
    assert convert(there, "%", "%LEL", lel_vol_percent=basis) == pytest.approx(value, abs=1e-9)


@pytest.mark.parametrize(
    ("limit", "unit", "text"),
    [
        (1.5, "%", "1.5"),
        (1.0, "%", "1.0"),
        (19.5, "%", "19.5"),
        (1.50000001, "%", "1.5"),
        (1.25, "%", "1.25"),
        (24.0, "ppm", "24"),
        (7.5, "ppm", "7.5"),
        (0.0, "%", "0.0"),
    ],
)
def test_limits_print_compactly(limit: float, unit: str, text: str) -> None:
    assert format_limit(limit, unit) == text


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (1.62, "%", "1.62"),
        (1.0, "%", "1.00"),
        (31.0, "ppm", "31"),
        (31.44, "ppm", "31.4"),
        (-0.001, "%", "0.00"),
    ],
)
def test_values_print_with_fixed_precision(value: float, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_formatted_limits_are_short_and_faithful(limit: float) -> None:
    text = format_limit(limit, "%")
    assert len(text.partition(".")[2]) <= 3
    assert float(text) == pytest.approx(limit, abs=5e-4)
