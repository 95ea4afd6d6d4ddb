"""What each configured point measures, and the quiet baseline it shows when nothing is happening.

Scenarios target points by role (methane, CO, oxygen...) found from the configuration's rule names, labels and
units, never by point ids, so the same scenario runs against any site's configuration. Scenario curves are
written in one canonical unit per quantity and converted to each point's configured unit at the end.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass

from edge.config.resolved import DeviceSpec, GatewaySpec, PointSpec
from edge.modbus.codec import DataType
from edge.modbus.planner import Table
from edge.rules.units import METHANE_LEL_VOL_PERCENT_IEC, UnitConversionError, convert, normalize_unit
from edge.sim.status_registers import status_point_names


class Quantity(enum.StrEnum):
    METHANE = "methane"
    CARBON_MONOXIDE = "carbon_monoxide"
    CARBON_DIOXIDE = "carbon_dioxide"
    OXYGEN = "oxygen"
    HYDROGEN_SULFIDE = "hydrogen_sulfide"
    TEMPERATURE = "temperature"
    AIRFLOW = "airflow"
    OTHER = "other"


# The unit each quantity's scenario curves are written in.
CANONICAL_UNIT: dict[Quantity, str] = {
    Quantity.METHANE: "%vol",
    Quantity.CARBON_MONOXIDE: "ppm",
    Quantity.CARBON_DIOXIDE: "%vol",
    Quantity.OXYGEN: "%vol",
    Quantity.HYDROGEN_SULFIDE: "ppm",
    Quantity.TEMPERATURE: "°C",
    Quantity.AIRFLOW: "m/s",
}

# Fresh-air readings at a ventilated working place, in canonical units.
AMBIENT: dict[Quantity, float] = {
    Quantity.METHANE: 0.25,
    Quantity.CARBON_MONOXIDE: 3.0,
    Quantity.CARBON_DIOXIDE: 0.1,  # return air carries some CO2 above the 0.04 % of surface air
    Quantity.OXYGEN: 20.8,
    Quantity.HYDROGEN_SULFIDE: 0.3,
    Quantity.TEMPERATURE: 24.0,
    Quantity.AIRFLOW: 2.0,
}

# Sensor noise amplitude, canonical units; OTHER points use a fraction of their measuring span instead.
NOISE: dict[Quantity, float] = {
    Quantity.METHANE: 0.02,
    Quantity.CARBON_MONOXIDE: 0.3,
    Quantity.CARBON_DIOXIDE: 0.01,
    Quantity.OXYGEN: 0.03,
    Quantity.HYDROGEN_SULFIDE: 0.05,
    Quantity.TEMPERATURE: 0.1,
    Quantity.AIRFLOW: 0.05,
}
_OTHER_NOISE_FRACTION_OF_SPAN = 0.005
_OTHER_BASELINE_FRACTION_OF_SPAN = 0.25
# A point of unknown kind that has a rule is some hazard with a limit inside its range: keep it low.
_OTHER_RULED_BASELINE_FRACTION_OF_SPAN = 0.02
_INTEGER_TYPES = (DataType.INT16, DataType.UINT16, DataType.INT32, DataType.UINT32)
# A noise smaller than the register's resolution would round away and look like a stuck sensor.
_MIN_NOISE_IN_LSB = 1.5

_TEMPERATURE_UNITS = {"°c", "degc", "c", "celsius"}
_FAHRENHEIT_UNITS = {"°f", "degf", "f"}
_AIRFLOW_UNITS = {"m/s": 1.0, "fpm": 196.850394, "ft/min": 196.850394, "m/min": 60.0}


def _rule(point: PointSpec) -> str:
    return (point.rule or "").casefold()


def _label(point: PointSpec) -> str:
    return point.label.casefold()


def quantity_of(point: PointSpec) -> Quantity:
    """Classify a point from its rule name first, then its label, then its unit."""
    rule, label, unit = _rule(point), _label(point), normalize_unit(point.unit)
    if rule.startswith("methane") or "methane" in label or label == "ch4":
        return Quantity.METHANE
    if rule == "co" or rule.startswith("co_") or "carbon monoxide" in label or label == "co":
        return Quantity.CARBON_MONOXIDE
    if rule.startswith(("carbon_dioxide", "co2")) or "carbon dioxide" in label or label == "co2":
        return Quantity.CARBON_DIOXIDE
    if rule.startswith(("oxygen", "o2")) or "oxygen" in label or label == "o2":
        return Quantity.OXYGEN
    if rule.startswith("h2s") or "hydrogen sul" in label or label == "h2s":
        return Quantity.HYDROGEN_SULFIDE
    if unit in _TEMPERATURE_UNITS or unit in _FAHRENHEIT_UNITS or "temperature" in label:
        return Quantity.TEMPERATURE
    if unit in _AIRFLOW_UNITS or "airflow" in label or "air velocity" in label:
        return Quantity.AIRFLOW
    return Quantity.OTHER


def to_point_unit(value: float, quantity: Quantity, point: PointSpec) -> float:
    """``value`` in the quantity's canonical unit, expressed in the point's configured unit.

    Units the simulator cannot convert pass through unchanged: the values then look wrong by a factor, which
    the gateway's range checks make visible, rather than the simulator refusing a configuration.
    """
    if quantity is Quantity.OTHER or not point.unit:
        return value
    unit = normalize_unit(point.unit)
    if quantity is Quantity.TEMPERATURE:
        return value * 9.0 / 5.0 + 32.0 if unit in _FAHRENHEIT_UNITS else value
    if quantity is Quantity.AIRFLOW:
        return value * _AIRFLOW_UNITS.get(unit, 1.0)
    # %LEL is gas-specific: methane uses the IEC basis the rule layer defaults to; other gases pass through.
    lel_basis = METHANE_LEL_VOL_PERCENT_IEC if quantity is Quantity.METHANE else None
    try:
        return convert(value, CANONICAL_UNIT[quantity], point.unit, lel_vol_percent=lel_basis)
    except UnitConversionError:
        return value


def simulated_points(device: DeviceSpec) -> tuple[PointSpec, ...]:
    """Points whose values a scenario drives: measured values, not status, heartbeat, relays or diagnostics."""
    firmware_owned = set(status_point_names(device))
    if device.heartbeat_point:
        firmware_owned.add(device.heartbeat_point)
    return tuple(
        p for p in device.points if not p.diagnostic and p.table is not Table.COIL and p.name not in firmware_owned
    )


def all_simulated_points(spec: GatewaySpec) -> tuple[PointSpec, ...]:
    return tuple(p for device in spec.devices for p in simulated_points(device))


def points_of(points: Iterable[PointSpec], quantity: Quantity) -> tuple[PointSpec, ...]:
    return tuple(p for p in points if quantity_of(p) is quantity)


def same_place(first: PointSpec, candidates: Iterable[PointSpec]) -> PointSpec | None:
    """The first candidate at ``first``'s location, else the first candidate at all, else ``None``."""
    listed = tuple(candidates)
    for candidate in listed:
        if candidate.location == first.location:
            return candidate
    return listed[0] if listed else None


@dataclass(frozen=True, slots=True)
class _Wobble:
    """Smooth, deterministic noise: a few slow sines with seeded periods and phases."""

    amplitude: float
    periods_s: tuple[float, ...]
    phases: tuple[float, ...]
    weights: tuple[float, ...]

    def at(self, t_s: float) -> float:
        total = sum(
            weight * math.sin(2.0 * math.pi * t_s / period + phase)
            for weight, period, phase in zip(self.weights, self.periods_s, self.phases, strict=True)
        )
        return self.amplitude * total


class BaselineField:
    """Ambient value plus seeded noise for every simulated point, in each point's canonical unit.

    The noise is a pure function of (seed, point, time), so a scenario gives the same value for the same
    instant however often or irregularly it is sampled.
    """

    def __init__(self, spec: GatewaySpec, *, seed: int) -> None:
        self._points = all_simulated_points(spec)
        self._quantity = {p.point_id: quantity_of(p) for p in self._points}
        self._base: dict[str, float] = {}
        self._wobble: dict[str, _Wobble] = {}
        rng = random.Random(seed)  # noqa: S311 - seeded, reproducible sensor noise; not security
        for point in self._points:
            quantity = self._quantity[point.point_id]
            self._base[point.point_id] = self._baseline(point, quantity)
            self._wobble[point.point_id] = _Wobble(
                amplitude=self._noise_amplitude(point, quantity),
                periods_s=tuple(rng.uniform(6.0, 90.0) for _ in range(3)),
                phases=tuple(rng.uniform(0.0, 2.0 * math.pi) for _ in range(3)),
                weights=(0.5, 0.3, 0.2),
            )

    @property
    def points(self) -> tuple[PointSpec, ...]:
        return self._points

    def quantity(self, point_id: str) -> Quantity:
        return self._quantity[point_id]

    def base(self, point_id: str) -> float:
        return self._base[point_id]

    def noise(self, point_id: str, t_s: float) -> float:
        return self._wobble[point_id].at(t_s)

    def canonical_values(self, t_s: float) -> dict[str, float]:
        return {pid: base + self._wobble[pid].at(t_s) for pid, base in self._base.items()}

    def in_point_units(self, canonical: dict[str, float]) -> dict[str, float]:
        by_id = {p.point_id: p for p in self._points}
        return {
            pid: to_point_unit(value, self._quantity[pid], by_id[pid])
            for pid, value in canonical.items()
            if pid in by_id
        }

    @staticmethod
    def _baseline(point: PointSpec, quantity: Quantity) -> float:
        if quantity is not Quantity.OTHER:
            return AMBIENT[quantity]
        if point.measuring_range is None:
            return 0.0
        low, high = point.measuring_range
        fraction = _OTHER_BASELINE_FRACTION_OF_SPAN if point.rule is None else _OTHER_RULED_BASELINE_FRACTION_OF_SPAN
        return low + fraction * (high - low)

    @staticmethod
    def _noise_amplitude(point: PointSpec, quantity: Quantity) -> float:
        if quantity is Quantity.OTHER:
            span = 0.0 if point.measuring_range is None else point.measuring_range[1] - point.measuring_range[0]
            amplitude = _OTHER_NOISE_FRACTION_OF_SPAN * abs(span)
            per_canonical_unit = 1.0
        else:
            amplitude = NOISE[quantity]
            per_canonical_unit = abs(to_point_unit(1.0, quantity, point) - to_point_unit(0.0, quantity, point))
        if point.data_type in _INTEGER_TYPES and per_canonical_unit > 0:
            amplitude = max(amplitude, _MIN_NOISE_IN_LSB * abs(point.scale) / per_canonical_unit)
        return amplitude
