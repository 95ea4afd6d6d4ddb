"""One generated episode (a stretch of a section's life) and its compressed npz form.

Arrays (``n`` seconds of sensors, ``F`` camera frames):

* ``sensor_t`` (n,) float64 seconds from the episode start; ``sensors`` (n, C) float32 as the transmitters report
  them (noise, faults, NaN for missing); ``sensors_clean`` (n, C) the physical truth; ``fault_code`` (n, C) int8
  (``faults.FaultCode``); channels in ``edge.hazard.contract.CHANNEL_NAMES`` order.
* ``camera_t`` (F,), ``camera`` (F, K) float32 in ``CAMERA_FIELDS`` order (NaN where not valid), ``camera_valid``
  (F,), ``camera_truth`` (F, 3) true persons / bare heads / persons in zone.
* ``hazard_active`` (n, H) bool in ``HAZARD_TYPES`` order.

Everything else (identity, site, events with their crossing times, every threshold activation, log entries) is JSON
stored in the same file as ``meta_json``, so the file loads with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge.hazard.contract import (
    CAMERA_FIELDS,
    CHANNEL_NAMES,
    CONTRACT_VERSION,
    HAZARD_TYPES,
    SENSOR_CHANNELS,
    HazardType,
    LogEntry,
    LogKind,
)

EPISODE_FORMAT_VERSION = 1
_ARRAYS = (
    "sensor_t",
    "sensors",
    "sensors_clean",
    "fault_code",
    "camera_t",
    "camera",
    "camera_valid",
    "camera_truth",
    "hazard_active",
)


class EpisodeFormatError(ValueError):
    """An episode file that is not one this version can read."""


@dataclass(frozen=True)
class HazardEvent:
    """One hazard in an episode with the times an evaluation needs.

    ``deadline_s`` is the time the hazard is *due* to be known by: the first statutory alarm-level activation on its
    channels for gas and fire (``deadline_rule`` names it, e.g. ``"ch4_face:alarm"``), ISO 10816 zone D for
    equipment, the fall for strata, the first violation for people; None when it never comes in the episode (a
    precursor that levelled off, a fan restarted in time).
    """

    hazard: HazardType
    kind: str
    onset_s: float
    end_s: float
    location: str
    deadline_s: float | None
    deadline_rule: str
    crossings: dict[str, dict[str, float | None]]  # first activation at or after onset, by channel and level
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["hazard"] = self.hazard.value
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> HazardEvent:
        return cls(**{**document, "hazard": HazardType(document["hazard"])})


@dataclass
class Episode:
    episode_id: str
    kind: str  # "normal" or "<hazard>/<kind>", e.g. "gas_accumulation/fan_stop"
    seed: int
    layout_seed: int
    index: int
    jurisdiction: str
    start_tod_s: float  # time of day (s after midnight) of sample 0: shifts follow the clock
    sensor_t: NDArray[np.float64]
    sensors: NDArray[np.float32]
    sensors_clean: NDArray[np.float32]
    fault_code: NDArray[np.int8]
    camera_t: NDArray[np.float64]
    camera: NDArray[np.float32]
    camera_valid: NDArray[np.bool_]
    camera_truth: NDArray[np.float32]
    hazard_active: NDArray[np.bool_]
    events: list[HazardEvent]
    crossings: dict[str, dict[str, list[float]]]
    logs: list[LogEntry]
    site: dict[str, Any]
    generator: dict[str, Any]  # version and parameters that made it

    @property
    def duration_s(self) -> float:
        return float(self.sensor_t.shape[0])

    @property
    def is_normal(self) -> bool:
        return not self.events

    def channel(self, name: str, *, clean: bool = False) -> NDArray[np.float32]:
        data = self.sensors_clean if clean else self.sensors
        try:
            column: NDArray[np.float32] = data[:, CHANNEL_NAMES.index(name)]
        except ValueError:
            raise KeyError(f"no sensor channel {name!r}; channels: {', '.join(CHANNEL_NAMES)}") from None
        return column

    def meta(self) -> dict[str, Any]:
        return {
            "format": EPISODE_FORMAT_VERSION,
            "contract": CONTRACT_VERSION,
            "episode_id": self.episode_id,
            "kind": self.kind,
            "seed": self.seed,
            "layout_seed": self.layout_seed,
            "index": self.index,
            "jurisdiction": self.jurisdiction,
            "start_tod_s": self.start_tod_s,
            "channels": [{"name": c.name, "unit": c.unit, "location_role": c.location_role} for c in SENSOR_CHANNELS],
            "camera_fields": [f.value for f in CAMERA_FIELDS],
            "hazard_types": [h.value for h in HAZARD_TYPES],
            "events": [e.to_json() for e in self.events],
            "crossings": self.crossings,
            "logs": [{**asdict(e), "kind": e.kind.value} for e in self.logs],
            "site": self.site,
            "generator": self.generator,
        }

    def save(self, path: Path) -> None:
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        np.savez_compressed(path, meta_json=np.array(json.dumps(self.meta())), **arrays)

    @classmethod
    def load(cls, path: Path) -> Episode:
        with np.load(path, allow_pickle=False) as data:
            if "meta_json" not in data.files:
                raise EpisodeFormatError(f"{path}: not a hazard episode file (no meta_json)")
            meta = json.loads(str(data["meta_json"]))
            if meta.get("format") != EPISODE_FORMAT_VERSION:
                raise EpisodeFormatError(
                    f"{path}: episode format {meta.get('format')!r}; this version reads {EPISODE_FORMAT_VERSION}"
                )
            if meta.get("channels") and [c["name"] for c in meta["channels"]] != list(CHANNEL_NAMES):
                raise EpisodeFormatError(f"{path}: sensor channels differ from the contract's {list(CHANNEL_NAMES)}")
            arrays = {name: data[name] for name in _ARRAYS}
        return cls(
            episode_id=meta["episode_id"],
            kind=meta["kind"],
            seed=meta["seed"],
            layout_seed=meta["layout_seed"],
            index=meta["index"],
            jurisdiction=meta["jurisdiction"],
            start_tod_s=meta["start_tod_s"],
            events=[HazardEvent.from_json(e) for e in meta["events"]],
            crossings=meta["crossings"],
            logs=[LogEntry(**{**e, "kind": LogKind(e["kind"])}) for e in meta["logs"]],
            site=meta["site"],
            generator=meta["generator"],
            **arrays,
        )
