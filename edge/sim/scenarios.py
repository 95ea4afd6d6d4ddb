"""The named scenarios of the simulated mine, built from any gateway configuration.

Every scenario finds what it acts on by role (the first methane point, the airflow at the same place, the
first transmitter that can report a fault), so it runs unchanged against each site's configuration. Story
times below are at ``time_scale`` 1; ``time_scale`` k plays them k times faster.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from pathlib import Path

from edge.config.resolved import DeviceSpec, GatewaySpec, PointSpec
from edge.readings import QualityReason
from edge.sim.hazard_playback import fan_stop_playback
from edge.sim.mine_air import MineAirReplay
from edge.sim.point_roles import Quantity, all_simulated_points, points_of, same_place, simulated_points
from edge.sim.scenario_base import BaselineScenario, Scenario, ScenarioError
from edge.sim.states import DeviceState

__all__ = [
    "CoBeltFire",
    "DeviceDropout",
    "MethaneBuildup",
    "NormalShift",
    "Scenario",
    "ScenarioError",
    "TransmitterFault",
    "make_scenario",
    "scenarios",
]


def _first_point(spec: GatewaySpec, quantity: Quantity, scenario: str, how_found: str) -> PointSpec:
    candidates = points_of(all_simulated_points(spec), quantity)
    if not candidates:
        raise ScenarioError(
            f"scenario {scenario!r} needs a {quantity.value} point ({how_found}); gateway {spec.gateway_id!r} has none"
        )
    return candidates[0]


def _smoothstep_cycle(t: float, period_s: float) -> float:
    """0 -> 1 -> 0 over one period: the rhythm of cutting cycles and traffic within a shift."""
    return 0.5 - 0.5 * math.cos(2.0 * math.pi * t / period_s)


# Rise at the peak of a cutting cycle in a normal shift, canonical units.
_SHIFT_SWING: dict[Quantity, float] = {
    Quantity.METHANE: 0.2,
    Quantity.CARBON_MONOXIDE: 1.5,
    Quantity.CARBON_DIOXIDE: 0.05,
    Quantity.OXYGEN: -0.1,
    Quantity.HYDROGEN_SULFIDE: 0.2,
    Quantity.TEMPERATURE: 0.8,
}


class NormalShift(BaselineScenario):
    """A production shift: gas and temperature rise and fall with cutting cycles, never near a limit.

    Peaks stay well inside the statutory limits (methane below 0.6 %vol against 1.0, CO a few ppm above
    ambient against +5, oxygen above 20.5 % against 19.5) so the scenario doubles as a false-alarm test.
    """

    NOMINAL_DURATION_S = 600.0
    CYCLE_PERIOD_S = 240.0

    def __init__(self, spec: GatewaySpec, *, seed: int = 0, time_scale: float = 1.0) -> None:
        super().__init__(
            "normal_shift", spec, seed=seed, time_scale=time_scale, nominal_duration_s=self.NOMINAL_DURATION_S
        )

    def _shape_values(self, t: float, canonical: dict[str, float]) -> None:
        cycle = _smoothstep_cycle(t, self.CYCLE_PERIOD_S)
        for point_id in canonical:
            canonical[point_id] += _SHIFT_SWING.get(self.field.quantity(point_id), 0.0) * cycle


class MethaneBuildup(BaselineScenario):
    """An auxiliary fan stops: airflow at the face collapses and methane builds up, then the fan restarts.

    With the fan stopped the face is a ventilated box with a constant methane inflow and little air:
    ``dC/dt = (G - Q C) / V`` is a first-order rise toward ``G/Q`` (here 2.2 %vol) with time constant
    ``V/Q``. The numbers put the 1.0 % alert about 29 s and the 1.5 % alarm about 51 s into the story;
    after the restart at 100 s methane falls back below 1.0 % by about 117 s.
    """

    NOMINAL_DURATION_S = 150.0
    FAN_STOP_S = 10.0
    FAN_RESTART_S = 100.0
    STEADY_STATE_VOL_PERCENT = 2.2
    RISE_TIME_CONSTANT_S = 40.0
    DECAY_TIME_CONSTANT_S = 20.0
    AIRFLOW_REMAINING_FRACTION = 0.15  # leakage and natural draught keep a little air moving
    AIRFLOW_TIME_CONSTANT_S = 5.0

    def __init__(self, spec: GatewaySpec, *, seed: int = 0, time_scale: float = 1.0) -> None:
        super().__init__(
            "methane_buildup", spec, seed=seed, time_scale=time_scale, nominal_duration_s=self.NOMINAL_DURATION_S
        )
        self.methane_point = _first_point(
            spec, Quantity.METHANE, self.name, "a rule starting with 'methane' or a label containing 'Methane'"
        )
        airflow = same_place(self.methane_point, points_of(all_simulated_points(spec), Quantity.AIRFLOW))
        self.airflow_point = airflow

    def methane_vol_percent(self, t: float) -> float:
        """The methane curve without noise, %vol, at story time ``t``."""
        ambient = self.field.base(self.methane_point.point_id)
        if t < self.FAN_STOP_S:
            return ambient
        if t < self.FAN_RESTART_S:
            return self._rise(ambient, t - self.FAN_STOP_S)
        at_restart = self._rise(ambient, self.FAN_RESTART_S - self.FAN_STOP_S)
        return ambient + (at_restart - ambient) * math.exp(-(t - self.FAN_RESTART_S) / self.DECAY_TIME_CONSTANT_S)

    def _rise(self, ambient: float, since_stop_s: float) -> float:
        steady = self.STEADY_STATE_VOL_PERCENT
        return steady + (ambient - steady) * math.exp(-since_stop_s / self.RISE_TIME_CONSTANT_S)

    def _airflow_fraction(self, t: float) -> float:
        low = self.AIRFLOW_REMAINING_FRACTION
        tau = self.AIRFLOW_TIME_CONSTANT_S
        if t < self.FAN_STOP_S:
            return 1.0
        stopped = low + (1.0 - low) * math.exp(-(t - self.FAN_STOP_S) / tau)
        if t < self.FAN_RESTART_S:
            return stopped
        at_restart = low + (1.0 - low) * math.exp(-(self.FAN_RESTART_S - self.FAN_STOP_S) / tau)
        return 1.0 - (1.0 - at_restart) * math.exp(-(t - self.FAN_RESTART_S) / tau)

    def _shape_values(self, t: float, canonical: dict[str, float]) -> None:
        methane_id = self.methane_point.point_id
        canonical[methane_id] = self.methane_vol_percent(t) + self.field.noise(methane_id, t)
        if self.airflow_point is not None:
            airflow_id = self.airflow_point.point_id
            canonical[airflow_id] = self.field.base(airflow_id) * self._airflow_fraction(t) + self.field.noise(
                airflow_id, t
            )


class CoBeltFire(BaselineScenario):
    """A smouldering belt: CO at the first CO point creeps up over minutes, the air warms with it.

    Smouldering accelerates before it levels off, so the rise is a logistic curve (80 ppm above ambient,
    midpoint 150 s, width 40 s) starting at 10 s: about +5 ppm (belt alert) near 60 s and +10 ppm (alarm)
    near 80 s.
    """

    NOMINAL_DURATION_S = 300.0
    IGNITION_S = 10.0
    CO_RISE_PPM = 80.0
    TEMPERATURE_RISE_C = 6.0
    MIDPOINT_S = 150.0
    WIDTH_S = 40.0

    def __init__(self, spec: GatewaySpec, *, seed: int = 0, time_scale: float = 1.0) -> None:
        super().__init__(
            "co_belt_fire", spec, seed=seed, time_scale=time_scale, nominal_duration_s=self.NOMINAL_DURATION_S
        )
        self.co_point = _first_point(
            spec, Quantity.CARBON_MONOXIDE, self.name, "a rule 'co'/'co_*' or a label 'Carbon monoxide'"
        )
        self.temperature_point = same_place(self.co_point, points_of(all_simulated_points(spec), Quantity.TEMPERATURE))

    def progress(self, t: float) -> float:
        """0 before ignition, rising toward 1 as the fire develops."""
        if t <= self.IGNITION_S:
            return 0.0

        def logistic(x: float) -> float:
            return 1.0 / (1.0 + math.exp(-(x - self.MIDPOINT_S) / self.WIDTH_S))

        start = logistic(self.IGNITION_S)
        return (logistic(t) - start) / (1.0 - start)

    def _shape_values(self, t: float, canonical: dict[str, float]) -> None:
        progress = self.progress(t)
        canonical[self.co_point.point_id] += self.CO_RISE_PPM * progress
        if self.temperature_point is not None:
            canonical[self.temperature_point.point_id] += self.TEMPERATURE_RISE_C * progress


def _fault_capable(device: DeviceSpec) -> bool:
    return any(c.reason is QualityReason.FAULT for c in device.quality_conditions)


class TransmitterFault(BaselineScenario):
    """The first gas transmitter that can report a fault goes to FAULT at 20 s and recovers at 60 s."""

    NOMINAL_DURATION_S = 90.0
    FAULT_FROM_S = 20.0
    FAULT_UNTIL_S = 60.0

    def __init__(self, spec: GatewaySpec, *, seed: int = 0, time_scale: float = 1.0) -> None:
        super().__init__(
            "transmitter_fault", spec, seed=seed, time_scale=time_scale, nominal_duration_s=self.NOMINAL_DURATION_S
        )
        capable = [d for d in spec.devices if _fault_capable(d)] or [
            d for d in spec.devices if any(p.raw_fault_below is not None for p in d.points)
        ]
        if not capable:
            raise ScenarioError(
                f"scenario {self.name!r} needs a device that can report a fault (a quality condition with "
                f"reason 'fault', or a 4-20 mA point with raw_fault_below); gateway {spec.gateway_id!r} has none"
            )
        self.device_id = capable[0].device_id

    def _shape_states(self, t: float, states: dict[str, DeviceState]) -> None:
        if self.FAULT_FROM_S <= t < self.FAULT_UNTIL_S:
            states[self.device_id] = DeviceState.FAULT


class DeviceDropout(BaselineScenario):
    """One measuring device stops answering at 20 s (cable cut, power loss) and returns at 60 s."""

    NOMINAL_DURATION_S = 90.0
    OFFLINE_FROM_S = 20.0
    OFFLINE_UNTIL_S = 60.0

    def __init__(self, spec: GatewaySpec, *, seed: int = 0, time_scale: float = 1.0) -> None:
        super().__init__(
            "device_dropout", spec, seed=seed, time_scale=time_scale, nominal_duration_s=self.NOMINAL_DURATION_S
        )
        measuring = [d for d in spec.devices if simulated_points(d)] or list(spec.devices)
        if not measuring:
            raise ScenarioError(f"scenario {self.name!r}: gateway {spec.gateway_id!r} has no Modbus devices")
        self.device_id = measuring[0].device_id

    def _shape_states(self, t: float, states: dict[str, DeviceState]) -> None:
        if self.OFFLINE_FROM_S <= t < self.OFFLINE_UNTIL_S:
            states[self.device_id] = DeviceState.OFFLINE


_Factory = Callable[[GatewaySpec, int, float, Path | None], Scenario]

_REGISTRY: dict[str, tuple[str, _Factory]] = {
    "normal_shift": (
        "production shift: gas and temperature follow cutting cycles, never near a limit",
        lambda spec, seed, scale, _path: NormalShift(spec, seed=seed, time_scale=scale),
    ),
    "methane_buildup": (
        "auxiliary fan stops: airflow drops, methane crosses 1.0 % then 1.5 %, fan restarts and it clears",
        lambda spec, seed, scale, _path: MethaneBuildup(spec, seed=seed, time_scale=scale),
    ),
    "co_belt_fire": (
        "smouldering belt: CO and temperature at the belt rise over minutes",
        lambda spec, seed, scale, _path: CoBeltFire(spec, seed=seed, time_scale=scale),
    ),
    "transmitter_fault": (
        "first gas transmitter reports a fault from 20 s to 60 s",
        lambda spec, seed, scale, _path: TransmitterFault(spec, seed=seed, time_scale=scale),
    ),
    "device_dropout": (
        "one device stops answering from 20 s to 60 s",
        lambda spec, seed, scale, _path: DeviceDropout(spec, seed=seed, time_scale=scale),
    ),
    "mine_air_replay": (
        "replays a real Colombian coal mine's gas monitor (2021), one CSV row per second",
        lambda spec, seed, scale, path: MineAirReplay(spec, seed=seed, time_scale=scale, data_path=path),
    ),
    "hazard_fan_stop": (
        "a generated auxiliary-fan stop played onto the hazard: channel roles, 40 min before methane's alarm",
        lambda spec, seed, scale, _path: fan_stop_playback(spec, seed=seed, time_scale=scale),
    ),
}


def scenarios() -> dict[str, str]:
    """Scenario name -> one-line description, in presentation order."""
    return {name: description for name, (description, _) in _REGISTRY.items()}


def make_scenario(
    name: str, spec: GatewaySpec, *, seed: int = 0, time_scale: float = 1.0, data_path: Path | None = None
) -> Scenario:
    """Build the scenario ``name`` for ``spec``; ``data_path`` is only read by ``mine_air_replay``."""
    entry = _REGISTRY.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ScenarioError(f"unknown scenario {name!r}{hint} (known: {', '.join(_REGISTRY)})")
    _, factory = entry
    return factory(spec, seed, time_scale, data_path)
