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

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
