"""Gas concentration units: comparing a reading with a limit written in another unit, and printing both.

Conversions supported (after normalising spellings such as ``"% vol"``, ``"vol%"``, ``"%LEL"``):

* volume percent <-> ppm: 1 %vol = 10 000 ppm.
* %LEL -> volume percent: ``value * lel_vol_percent / 100``. For methane IEC 60079-20-1 gives the lower
  explosive limit as 4.4 %vol (``METHANE_LEL_VOL_PERCENT_IEC``). Some instruments, especially older ones and
  those calibrated to EN 50054 / North American practice, use 5.0 %vol (``METHANE_LEL_VOL_PERCENT_LEGACY``):
  the basis must match the instrument's calibration, otherwise a 1.5 %vol limit is compared with a value off
  by 14 %. %LEL is gas-specific, so a rule that is not about methane passes ``lel_vol_percent=None`` and
  %LEL readings are then refused rather than converted with the wrong basis.

Any other unit is only comparable with itself.
"""

from __future__ import annotations

import math

METHANE_LEL_VOL_PERCENT_IEC = 4.4  # IEC 60079-20-1
METHANE_LEL_VOL_PERCENT_LEGACY = 5.0  # instruments calibrated on the older 5 %vol basis
PPM_PER_VOL_PERCENT = 10_000.0

_VOL_PERCENT = "%vol"
_PPM = "ppm"
_LEL_PERCENT = "%lel"

_ALIASES: dict[str, str] = {
    "%": _VOL_PERCENT,
    "%vol": _VOL_PERCENT,
    "vol%": _VOL_PERCENT,
    "%v/v": _VOL_PERCENT,
    "%volume": _VOL_PERCENT,
    "ppm": _PPM,
    "ppmv": _PPM,
    "%lel": _LEL_PERCENT,
    "lel%": _LEL_PERCENT,
    "%lfl": _LEL_PERCENT,
}


class UnitConversionError(ValueError):
    """A value cannot be expressed in the unit of the limit it must be compared with."""


def normalize_unit(unit: str) -> str:
    """Canonical spelling of ``unit``: case and spaces ignored, known aliases folded."""
    folded = "".join(unit.split()).casefold()
    return _ALIASES.get(folded, folded)


def _to_vol_percent(value: float, unit: str, lel_vol_percent: float | None) -> float | None:
    if unit == _VOL_PERCENT:
        return value
    if unit == _PPM:
        return value / PPM_PER_VOL_PERCENT
    if unit == _LEL_PERCENT and lel_vol_percent is not None:
        return value * lel_vol_percent / 100.0
    return None


def _from_vol_percent(value: float, unit: str, lel_vol_percent: float | None) -> float | None:
    if unit == _VOL_PERCENT:
        return value
    if unit == _PPM:
        return value * PPM_PER_VOL_PERCENT
    if unit == _LEL_PERCENT and lel_vol_percent is not None:
        return value * 100.0 / lel_vol_percent
    return None


def _incompatibility(from_unit: str, to_unit: str, lel_vol_percent: float | None) -> str:
    message = f"unit {from_unit!r} cannot be compared with limit unit {to_unit!r}"
    if _LEL_PERCENT in (normalize_unit(from_unit), normalize_unit(to_unit)) and lel_vol_percent is None:
        message += " (%LEL is only converted for rules that state their LEL basis, i.e. methane)"
    return message


def convert(
    value: float,
    from_unit: str,
    to_unit: str,
    *,
    lel_vol_percent: float | None = METHANE_LEL_VOL_PERCENT_IEC,
) -> float:
    """``value`` expressed in ``from_unit``, converted to ``to_unit``.

    ``lel_vol_percent`` is the volume percent at 100 %LEL of the measured gas (default: methane per
    IEC 60079-20-1); ``None`` forbids %LEL conversions. Raises ``UnitConversionError``.
    """
    if lel_vol_percent is not None and not (math.isfinite(lel_vol_percent) and lel_vol_percent > 0):
        raise UnitConversionError(f"LEL basis must be a positive volume percent, got {lel_vol_percent!r}")
    source, target = normalize_unit(from_unit), normalize_unit(to_unit)
    if source == target:
        return value
    vol = _to_vol_percent(value, source, lel_vol_percent)
    converted = None if vol is None else _from_vol_percent(vol, target, lel_vol_percent)
    if converted is None:
        raise UnitConversionError(_incompatibility(from_unit, to_unit, lel_vol_percent))
    return converted


def check_unit(
    point_unit: str, rule_unit: str, *, lel_vol_percent: float | None = METHANE_LEL_VOL_PERCENT_IEC
) -> str | None:
    """``None`` when readings in ``point_unit`` can be compared with limits in ``rule_unit``, else the reason.

    The config validator calls this at load time (pass the rule's own ``lel_vol_percent``), so that a unit
    mistake is refused at start-up instead of showing up as a malfunction underground.
    """
    try:
        convert(1.0, point_unit, rule_unit, lel_vol_percent=lel_vol_percent)
    except UnitConversionError as error:
        return str(error)
    return None


def _is_ppm(unit: str) -> bool:
    return normalize_unit(unit) == _PPM


def format_value(value: float, unit: str) -> str:
    """A measured value for a message: two decimals, ppm to 0.1 without a trailing ``.0``."""
    if _is_ppm(unit):
        text = f"{value:.1f}"
        text = text.removesuffix(".0")
    else:
        text = f"{value:.2f}"
    # "-0.00" would read as a negative concentration
    return text.removeprefix("-") if float(text) == 0 else text


def format_limit(limit: float, unit: str) -> str:
    """A configured limit for a message: ``1.5``, ``1.0``, ``19.5``, ``24`` ppm; never ``1.50000001``."""
    text = f"{limit:.3f}".rstrip("0")
    if text.endswith("."):
        text = text.removesuffix(".") if _is_ppm(unit) else text + "0"
    return text.removeprefix("-") if float(text) == 0 else text
