"""Which configured point plays which role of the hazard model, in which unit, at which place.

Built from the ``hazard:`` section's ``channels`` and the gateway's points; refuses an unknown role, an unknown
point and a unit that cannot be converted, each naming what is allowed. The same mapping drives the simulator's
playback of a generated hazard episode onto a configuration (``edge.sim.hazard_playback``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from edge.hazard.channel_units import ChannelUnitError, unit_converter
from edge.hazard.config import LOCATION_ROLES
from edge.hazard.contract import CHANNEL_INDEX, CHANNEL_NAMES, SENSOR_CHANNELS, SensorChannel

_CHANNELS = {c.name: c for c in SENSOR_CHANNELS}


class ChannelMapError(ValueError):
    """The ``hazard:`` channel mapping does not fit the gateway's points."""


class PointLike(Protocol):
    @property
    def point_id(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def stale_after_s(self) -> float: ...


@dataclass(frozen=True, slots=True)
class MappedChannel:
    channel: SensorChannel
    index: int  # column in the contract's channel order
    point_id: str
    point_unit: str
    to_canonical: Callable[[float], float]
    stale_after_s: float  # a reading older than this is missing (the point's own staleness limit)

    @property
    def role(self) -> str:
        return self.channel.name


class ChannelMap:
    def __init__(self, channels: Iterable[MappedChannel], locations: Mapping[str, str]) -> None:
        self.channels = tuple(sorted(channels, key=lambda m: m.index))
        self._by_point = {m.point_id: m for m in self.channels}
        self._by_role = {m.role: m for m in self.channels}
        self.locations = dict(locations)  # location role -> place name

    @classmethod
    def build(
        cls,
        roles: Mapping[str, str],
        points: Iterable[PointLike],
        *,
        locations: Mapping[str, str] | None = None,
        lel_basis: Mapping[str, float] | None = None,
    ) -> ChannelMap:
        """``roles``: channel role -> point id. ``locations`` (location role -> place) override the place names
        taken from the mapped points (the location of the first point mapped at each location role). ``lel_basis``:
        point id -> the %vol at 100 %LEL its rules use, for %LEL methane points."""
        by_id = {p.point_id: p for p in points}
        mapped: list[MappedChannel] = []
        for role, point_id in roles.items():
            channel = _CHANNELS.get(role)
            if channel is None:
                raise ChannelMapError(f"unknown hazard channel role {role!r}; allowed: {', '.join(CHANNEL_NAMES)}")
            point = by_id.get(point_id)
            if point is None:
                raise ChannelMapError(
                    f"hazard channel {role!r} maps to unknown point {point_id!r}; points: {', '.join(sorted(by_id))}"
                )
            try:
                convert = unit_converter(role, point.unit, lel_vol_percent=(lel_basis or {}).get(point_id))
            except ChannelUnitError as exc:
                raise ChannelMapError(f"hazard channel {role!r} (point {point_id!r}): {exc}") from None
            mapped.append(
                MappedChannel(channel, CHANNEL_INDEX[role], point_id, point.unit, convert, point.stale_after_s)
            )
        given = dict(locations or {})
        unknown = sorted(set(given) - set(LOCATION_ROLES))
        if unknown:
            raise ChannelMapError(f"unknown location role(s) {unknown}; allowed: {', '.join(LOCATION_ROLES)}")
        places: dict[str, str] = {}
        for m in sorted(mapped, key=lambda m: m.index):
            places.setdefault(m.channel.location_role, by_id[m.point_id].location)
        places.update(given)
        return cls(mapped, places)

    def for_point(self, point_id: str) -> MappedChannel | None:
        return self._by_point.get(point_id)

    def for_role(self, role: str) -> MappedChannel | None:
        return self._by_role.get(role)

    def place(self, location_role: str) -> str:
        """The site's name for a kind of place ("face 3"), or the role itself when nothing names it."""
        return self.locations.get(location_role) or location_role.replace("_", " ")

    def place_of_channel(self, role: str) -> str:
        return self.place(_CHANNELS[role].location_role)
