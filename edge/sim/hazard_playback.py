"""A generated hazard episode played through the simulated devices: what the early-warning task is for.

``HazardEpisodePlayback`` takes one episode of ``edge.sim.hazard.generator`` (its ``sensors`` array: what the
transmitters report, noise and faults included, one row per second) and writes each channel onto the point the
configuration's ``hazard: channels`` mapping gives that role, converted from the channel's unit into the point's.
Points without a role keep the quiet baseline. A sample the episode has as missing (NaN: a transmitter fault in the
generated data) holds the last reported value: a simulated Modbus register always holds a number.

The named scenario ``hazard_fan_stop`` plays the first auxiliary-fan-stop episode (seed = the simulator's seed) whose
face methane reaches the statutory alarm, starting ``lead_in_s`` story seconds before the fan stops so that a gateway
started with the simulator has a full 30-min window of normal operation when it does.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from edge.config.resolved import GatewaySpec
from edge.hazard.channel_units import unit_converter
from edge.hazard.contract import CHANNEL_INDEX, SENSOR_WINDOW_S, HazardType
from edge.sim.hazard.episode import Episode, HazardEvent
from edge.sim.hazard.generator import HazardScenarioGenerator
from edge.sim.scenario_base import BaselineScenario, ScenarioError

DEFAULT_LEAD_IN_S = SENSOR_WINDOW_S + 600  # a full model window plus ten minutes for both processes to start
MAX_EPISODES_SEARCHED = 50


def fan_stop_episode(seed: int, *, layout_seed: int = 0, jurisdiction: str = "us_msha_coal") -> Episode:
    """The first fan-stop episode of ``seed`` whose face methane reaches the statutory alarm (``deadline_s``)."""
    generator = HazardScenarioGenerator(seed=seed, layout_seed=layout_seed, jurisdiction=jurisdiction)
    for index in range(MAX_EPISODES_SEARCHED):
        episode = generator.hazard_episode(index, HazardType.GAS_ACCUMULATION, "fan_stop")
        if any(e.deadline_s is not None for e in episode.events):
            return episode
    raise ScenarioError(
        f"no fan-stop episode of seed {seed} reaches the statutory methane alarm in its first "
        f"{MAX_EPISODES_SEARCHED} episodes; try another --seed"
    )


def _forward_filled(column: NDArray[np.float32]) -> NDArray[np.float64]:
    values = column.astype(np.float64)
    ok = np.isfinite(values)
    if not ok.any():
        return values
    index = np.where(ok, np.arange(values.shape[0]), 0)
    np.maximum.accumulate(index, out=index)
    filled = values[index]
    filled[: int(np.argmax(ok))] = values[int(np.argmax(ok))]  # before the first report: the first report
    return filled


class HazardEpisodePlayback(BaselineScenario):
    def __init__(
        self,
        spec: GatewaySpec,
        episode: Episode,
        *,
        start_s: float,
        seed: int = 0,
        time_scale: float = 1.0,
        name: str = "hazard_episode",
    ) -> None:
        if spec.hazard is None:
            raise ScenarioError(
                f"scenario {name!r} plays sensor channels by role: gateway {spec.gateway_id!r} needs a 'hazard:' "
                "section whose 'channels' map roles (ch4_face, airflow_face...) to its points"
            )
        if not 0 <= start_s < episode.duration_s:
            raise ScenarioError(f"start_s must be within the episode (0-{episode.duration_s:.0f} s), got {start_s}")
        self.episode = episode
        self.start_s = float(start_s)
        super().__init__(
            name, spec, seed=seed, time_scale=time_scale, nominal_duration_s=episode.duration_s - self.start_s
        )
        points = {p.point_id: p for p in self.field.points}
        self._columns: dict[str, tuple[NDArray[np.float64], float, float]] = {}
        for role, point_id in spec.hazard.channels.items():
            point = points.get(point_id)
            if point is None:
                continue  # an instrument or a status point: the simulated devices do not carry it
            to_channel = unit_converter(role, point.unit)
            factor, offset = to_channel(1.0) - to_channel(0.0), to_channel(0.0)
            column = _forward_filled(episode.sensors[:, CHANNEL_INDEX[role]])
            self._columns[point_id] = (column, factor, offset)

    @property
    def event(self) -> HazardEvent:
        return self.episode.events[0]

    def episode_time(self, t_s: float) -> float:
        """Episode second shown at wall time ``t_s`` after the simulator started."""
        return self.start_s + self.story_time(t_s)

    def wall_time_of(self, episode_s: float) -> float:
        """Wall seconds after the simulator's start at which episode second ``episode_s`` is shown."""
        return (episode_s - self.start_s) / self.time_scale

    def values(self, t_s: float) -> dict[str, float]:
        values = super().values(t_s)
        row = min(math.floor(self.episode_time(t_s)), self.episode.sensors.shape[0] - 1)
        for point_id, (column, factor, offset) in self._columns.items():
            value = float(column[row])
            if math.isfinite(value):
                values[point_id] = (value - offset) / factor
        return values


def fan_stop_playback(
    spec: GatewaySpec, *, seed: int = 0, time_scale: float = 1.0, lead_in_s: float = DEFAULT_LEAD_IN_S
) -> HazardEpisodePlayback:
    episode = fan_stop_episode(
        seed, jurisdiction=spec.jurisdiction if spec.jurisdiction == "cn_coal" else "us_msha_coal"
    )
    onset = episode.events[0].onset_s
    return HazardEpisodePlayback(
        spec, episode, start_s=max(0.0, onset - lead_in_s), seed=seed, time_scale=time_scale, name="hazard_fan_stop"
    )
