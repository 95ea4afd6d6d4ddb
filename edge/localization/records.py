"""Movement records and gateway contacts as the gateway receives them, and a bounded history per miner."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.localization.columns import Contacts, Records


class RecordError(ValueError):
    """A movement or contact message that cannot be used; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class MovementRecord:
    miner_id: str
    role: str
    t_wall: float  # UTC epoch seconds
    speed_mps: float
    direction_deg: float  # clockwise from mine north
    pillar_id: str
    x: float = math.nan
    y: float = math.nan

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MovementRecord:
        try:
            record = cls(
                miner_id=str(d["miner_id"]),
                role=str(d.get("role", "")),
                t_wall=float(d["t_wall"]),
                speed_mps=float(d["speed_mps"]),
                direction_deg=float(d["direction_deg"]),
                pillar_id=str(d["pillar_id"]),
                x=float(d.get("x", math.nan)),
                y=float(d.get("y", math.nan)),
            )
        except KeyError as exc:
            raise RecordError(f"movement record without {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise RecordError(f"movement record with a non-numeric field: {exc}") from None
        if not (math.isfinite(record.t_wall) and math.isfinite(record.speed_mps) and record.speed_mps >= 0):
            raise RecordError(f"movement record of {record.miner_id!r}: time and speed must be finite, speed >= 0")
        if not 0.0 <= record.direction_deg < 360.0:
            raise RecordError(f"movement record of {record.miner_id!r}: direction must be in [0, 360) degrees")
        return record

    def to_dict(self) -> dict[str, Any]:
        return {
            "miner_id": self.miner_id,
            "role": self.role,
            "t_wall": self.t_wall,
            "speed_mps": self.speed_mps,
            "direction_deg": self.direction_deg,
            "pillar_id": self.pillar_id,
            "x": self.x,
            "y": self.y,
        }


@dataclass(frozen=True, slots=True)
class ContactRecord:
    miner_id: str
    gateway_id: str
    t_start: float
    t_end: float

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ContactRecord:
        try:
            record = cls(str(d["miner_id"]), str(d["gateway_id"]), float(d["t_start"]), float(d["t_end"]))
        except KeyError as exc:
            raise RecordError(f"contact record without {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise RecordError(f"contact record with a non-numeric time: {exc}") from None
        if record.t_end < record.t_start:
            raise RecordError(f"contact of {record.miner_id!r} with {record.gateway_id!r} ends before it starts")
        return record

    def to_dict(self) -> dict[str, Any]:
        return {"miner_id": self.miner_id, "gateway_id": self.gateway_id, "t_start": self.t_start, "t_end": self.t_end}


class TrackStore:
    """The last ``history`` records of each miner, and their recent gateway contacts.

    Bounded per miner (old records fall off: only the last window matters for a prediction) and in the
    number of miners (a mine's roster is finite; a flood of unknown ids is refused, not stored).
    """

    def __init__(
        self, *, labels: list[str], history: int, max_miners: int = 2000, contacts_per_miner: int = 32
    ) -> None:
        self.labels = list(labels)
        self._label_index = {p: i for i, p in enumerate(self.labels)}
        self._history = history
        self._max_miners = max_miners
        self._contacts_per_miner = contacts_per_miner
        self.tracks: dict[str, deque[MovementRecord]] = {}
        self.contacts: dict[str, deque[ContactRecord]] = {}
        self.refused = 0  # roster full
        self.unknown_pillar = 0  # a pillar the model was not trained on (another mine's layout?)

    def add(self, record: MovementRecord) -> bool:
        if record.pillar_id not in self._label_index:
            self.unknown_pillar += 1
            return False
        track = self.tracks.get(record.miner_id)
        if track is None:
            if len(self.tracks) >= self._max_miners:
                self.refused += 1
                return False
            track = self.tracks[record.miner_id] = deque(maxlen=self._history)
        if track and record.t_wall <= track[-1].t_wall:
            return False  # a duplicate or out-of-order copy (DTN delivers at least once)
        track.append(record)
        return True

    def add_contact(self, contact: ContactRecord) -> None:
        self.contacts.setdefault(contact.miner_id, deque(maxlen=self._contacts_per_miner)).append(contact)

    def latest(self, miner_id: str) -> MovementRecord | None:
        track = self.tracks.get(miner_id)
        return track[-1] if track else None

    def last_contact(self, miner_id: str) -> ContactRecord | None:
        contacts = self.contacts.get(miner_id)
        return max(contacts, key=lambda c: c.t_end) if contacts else None

    def columns(self) -> Records:
        records = [r for track in self.tracks.values() for r in track]
        index = self._label_index
        return Records(
            miner=np.array([r.miner_id for r in records], dtype=np.str_),
            role=np.array([r.role for r in records], dtype=np.str_),
            t=np.array([r.t_wall for r in records], dtype=np.float64),
            speed=np.array([r.speed_mps for r in records], dtype=np.float64),
            direction_deg=np.array([r.direction_deg for r in records], dtype=np.float64),
            x=np.array([r.x for r in records], dtype=np.float64),
            y=np.array([r.y for r in records], dtype=np.float64),
            pillar=np.array([index[r.pillar_id] for r in records], dtype=np.int64),
            pillar_labels=self.labels,
        )

    def contact_columns(self) -> Contacts:
        contacts: Iterable[ContactRecord] = (c for cs in self.contacts.values() for c in cs)
        rows = list(contacts)
        return Contacts(
            miner=np.array([c.miner_id for c in rows], dtype=np.str_),
            gateway=np.array([c.gateway_id for c in rows], dtype=np.str_),
            t_start=np.array([c.t_start for c in rows], dtype=np.float64),
            t_end=np.array([c.t_end for c in rows], dtype=np.float64),
        )
