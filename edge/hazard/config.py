"""The ``hazard:`` configuration section (pydantic, unknown keys refused), ready to embed in the gateway schema.

The early-warning model names its inputs by *role* (``ch4_face``, ``co_belt``...); a site says which of its points
plays each role, and where each kind of place is, so warnings name the site's own places::

    hazard:
      model_dir: ../../models/hazard        # default: the repository's models/hazard
      channels:                             # contract role -> configured point id
        ch4_face: ch4_face3
        airflow_face: air_face3
        co_belt: co_belt2
      locations: {face: face 3, belt: belt 2 entry}   # optional: default is the mapped point's device location
      camera: cam-face3                     # optional: the camera stream whose features the model reads

Roles left out are missing inputs (the model sees them as a dead transmitter). ``time_scale`` is for simulation
only: a simulated mine playing its story k times faster (``minegate sim --time-scale k``) is sampled at story
seconds when the gateway's ``time_scale`` is also k; a real gateway leaves it at 1.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.hazard.channel_units import ChannelUnitError, unit_converter
from edge.hazard.contract import CHANNEL_NAMES, SENSOR_CHANNELS

LOCATION_ROLES: tuple[str, ...] = tuple(dict.fromkeys(c.location_role for c in SENSOR_CHANNELS))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HazardSection(_Strict):
    model_dir: str | None = Field(
        None, description="hazard model directory (manifest.json + files); relative to the config file"
    )
    file: str | None = Field(None, description="model file to use (default: int8, else fp32)")
    threads: int = Field(1, ge=1, le=4, description="inference threads (1 leaves a core for the loop)")
    channels: dict[str, str] = Field(description="contract channel role -> configured point id")
    locations: dict[str, str] = Field(
        {}, description="location role (face, return, belt, fan, belt_drive, roof, section) -> place name"
    )
    camera: str | None = Field(None, description="camera stream id feeding the camera features (default: the only one)")
    text_encoder: str | None = Field(
        None, description="text encoder directory for log entries (default: the repository's models/text/minilm)"
    )
    time_scale: float = Field(
        1.0, gt=0, le=1000, description="SIMULATION ONLY: story seconds per wall second of a time-scaled sim"
    )

    @field_validator("channels")
    @classmethod
    def known_channels(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(CHANNEL_NAMES))
        if unknown:
            raise ValueError(f"unknown hazard channel role(s) {unknown}; allowed: {', '.join(CHANNEL_NAMES)}")
        if not value:
            raise ValueError(f"map at least one channel role to a point; roles: {', '.join(CHANNEL_NAMES)}")
        points = list(value.values())
        twice = sorted({p for p in points if points.count(p) > 1})
        if twice:
            raise ValueError(f"point(s) {twice} are mapped to more than one channel role; one role per point")
        return value

    @field_validator("locations")
    @classmethod
    def known_locations(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(LOCATION_ROLES))
        if unknown:
            raise ValueError(f"unknown location role(s) {unknown}; allowed: {', '.join(LOCATION_ROLES)}")
        return value


@dataclass(frozen=True, slots=True)
class SectionProblem:
    path: tuple[str, ...]  # below ``hazard``, e.g. ("channels", "ch4_face")
    message: str
    value: str | None = None  # the offending value, when it is one of ``allowed``'s kind
    allowed: tuple[str, ...] = ()


def resolve_section(
    section: HazardSection,
    *,
    base_dir: Path,
    point_units: Mapping[str, str],
    cameras: Sequence[str],
) -> tuple[HazardSection, list[SectionProblem]]:
    """Paths made absolute (relative to the config file), and every mapping checked against the gateway: each
    mapped point exists and its unit converts to the channel's, the camera is a configured stream."""
    problems: list[SectionProblem] = []
    for role, point_id in section.channels.items():
        unit = point_units.get(point_id)
        if unit is None:
            problems.append(SectionProblem(("channels", role), "no point of that name", point_id, tuple(point_units)))
            continue
        try:
            unit_converter(role, unit)
        except ChannelUnitError as exc:
            problems.append(SectionProblem(("channels", role), f"point {point_id!r}: {exc}"))
    camera = section.camera
    if camera is not None and camera not in cameras:
        problems.append(SectionProblem(("camera",), "no camera stream of that name", camera, tuple(cameras)))
    if camera is None and len(cameras) == 1:
        camera = cameras[0]

    model_dir = None if section.model_dir is None else os.path.normpath(base_dir / section.model_dir)
    text = section.text_encoder
    if text is not None and not text.startswith("hashed"):
        text = os.path.normpath(base_dir / text)
    return section.model_copy(update={"model_dir": model_dir, "text_encoder": text, "camera": camera}), problems
