"""Readings in a site's configured units converted to the canonical unit of each hazard channel.

The model was trained on the contract's units (``edge.hazard.contract.SENSOR_CHANNELS``); a site's methane head may
report %LEL, its anemometer ft/min, its barometer kPa. Every conversion here is linear (``value * factor +
offset``); a unit that cannot be converted is refused at configuration time with the units that can.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge.hazard.contract import SENSOR_CHANNELS
from edge.rules.units import METHANE_LEL_VOL_PERCENT_IEC, PPM_PER_VOL_PERCENT, normalize_unit


@dataclass(frozen=True, slots=True)
class Linear:
    factor: float
    offset: float = 0.0

    def __call__(self, value: float) -> float:
        return value * self.factor + self.offset


# Per canonical unit (normalised spelling): accepted point units -> conversion into the canonical unit.
_CONVERSIONS: dict[str, dict[str, Linear]] = {
    "%vol": {
        "%vol": Linear(1.0),
        "ppm": Linear(1.0 / PPM_PER_VOL_PERCENT),
    },
    "ppm": {"ppm": Linear(1.0), "%vol": Linear(PPM_PER_VOL_PERCENT)},
    "m/s": {"m/s": Linear(1.0), "m/min": Linear(1.0 / 60.0), "fpm": Linear(0.00508), "ft/min": Linear(0.00508)},
    "°c": {
        "°c": Linear(1.0),
        "degc": Linear(1.0),
        "c": Linear(1.0),
        "celsius": Linear(1.0),
        "°f": Linear(5.0 / 9.0, -32.0 * 5.0 / 9.0),
        "degf": Linear(5.0 / 9.0, -32.0 * 5.0 / 9.0),
        "f": Linear(5.0 / 9.0, -32.0 * 5.0 / 9.0),
        "k": Linear(1.0, -273.15),
    },
    "mm/s": {"mm/s": Linear(1.0), "in/s": Linear(25.4), "ips": Linear(25.4)},
    "mm": {"mm": Linear(1.0), "cm": Linear(10.0), "m": Linear(1000.0), "in": Linear(25.4)},
    "mpa": {"mpa": Linear(1.0), "kpa": Linear(0.001), "bar": Linear(0.1), "psi": Linear(0.00689476)},
    "hpa": {"hpa": Linear(1.0), "mbar": Linear(1.0), "kpa": Linear(10.0), "pa": Linear(0.01), "bar": Linear(1000.0)},
    "1/m": {"1/m": Linear(1.0), "od/m": Linear(1.0), "m-1": Linear(1.0), "m^-1": Linear(1.0)},
}
_CANONICAL = {c.name: normalize_unit(c.unit) for c in SENSOR_CHANNELS}


class ChannelUnitError(ValueError):
    """A point's unit cannot be converted into its hazard channel's unit."""


def accepted_units(channel: str) -> list[str]:
    canonical = _CANONICAL[channel]
    return sorted({*_CONVERSIONS[canonical], *(["%lel"] if canonical == "%vol" else [])})


def unit_converter(channel: str, point_unit: str, *, lel_vol_percent: float | None = None) -> Callable[[float], float]:
    """``value in point_unit -> value in channel's canonical unit``; ``ChannelUnitError`` naming the units allowed.

    A point without a unit is taken to be in the channel's unit (many 4-20 mA inputs are configured bare). A
    methane point in %LEL is read on ``lel_vol_percent``, the point's own LEL basis in the rule layer (IEC 4.4 %vol
    unless the site overrides it, e.g. 5.0 on older heads), so the model sees what the statutory rules see.
    """
    canonical = _CANONICAL.get(channel)
    if canonical is None:
        raise ChannelUnitError(f"unknown hazard channel {channel!r}; channels: {', '.join(_CANONICAL)}")
    unit = normalize_unit(point_unit) if point_unit.strip() else canonical
    conversions = dict(_CONVERSIONS[canonical])
    if canonical == "%vol":  # methane, the only %LEL gas among the channels
        conversions["%lel"] = Linear((lel_vol_percent or METHANE_LEL_VOL_PERCENT_IEC) / 100.0)
    conversion = conversions.get(unit)
    if conversion is None:
        raise ChannelUnitError(
            f"unit {point_unit!r} cannot be converted to {channel}'s unit {canonical!r}; allowed: "
            f"{', '.join(accepted_units(channel))}"
        )
    return conversion
