"""The scenario contract and the quiet section every scenario starts from."""

from __future__ import annotations

import math
from typing import Protocol

from edge.config.resolved import GatewaySpec
from edge.sim.point_roles import BaselineField
from edge.sim.states import DeviceState


class Scenario(Protocol):
    """What the simulated mine does over time: engineering values per point_id and a state per device.

    ``t_s`` is seconds since the scenario started, in wall time; a scenario built with ``time_scale`` k
    plays its story k times faster. Both methods are pure functions of ``t_s`` and are defined for every
    ``t_s >= 0``, also past ``duration_s`` (the section then stays as the story left it).
    """

    name: str
    duration_s: float

    def values(self, t_s: float) -> dict[str, float]: ...

    def device_states(self, t_s: float) -> dict[str, DeviceState]: ...


class ScenarioError(ValueError):
    """A scenario cannot be built for this gateway configuration (unknown name, nothing to act on)."""


class BaselineScenario:
    """Ambient values with seeded noise, every device online; subclasses add their event on top.

    Subclasses change values in each quantity's canonical unit (``%vol`` methane, ``ppm`` CO, ``°C``,
    ``m/s``...) in ``_shape_values``; conversion to every point's configured unit happens once, here.
    """

    def __init__(
        self, name: str, spec: GatewaySpec, *, seed: int, time_scale: float, nominal_duration_s: float
    ) -> None:
        if not (math.isfinite(time_scale) and time_scale > 0):
            raise ScenarioError(f"time_scale must be a positive number (2.0 plays twice as fast), got {time_scale}")
        self.name = name
        self.time_scale = time_scale
        self.duration_s = nominal_duration_s / time_scale
        self.field = BaselineField(spec, seed=seed)
        self._device_ids = tuple(device.device_id for device in spec.devices)

    def story_time(self, t_s: float) -> float:
        """Seconds of the scenario's story at wall time ``t_s`` (before 0 counts as 0)."""
        return max(0.0, t_s) * self.time_scale

    def values(self, t_s: float) -> dict[str, float]:
        t = self.story_time(t_s)
        canonical = self.field.canonical_values(t)
        self._shape_values(t, canonical)
        return self.field.in_point_units(canonical)

    def device_states(self, t_s: float) -> dict[str, DeviceState]:
        states = dict.fromkeys(self._device_ids, DeviceState.ONLINE)
        self._shape_states(self.story_time(t_s), states)
        return states

    def _shape_values(self, t: float, canonical: dict[str, float]) -> None:
        """Change ``canonical`` (point_id -> value in canonical units) in place for story time ``t``."""

    def _shape_states(self, t: float, states: dict[str, DeviceState]) -> None:
        """Change ``states`` in place for story time ``t``."""
