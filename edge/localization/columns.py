"""Movement records and gateway contacts as columns: the one in-memory form the simulator writes, the CSV
loader reads, the trainer windows and the gateway's localization task keeps (see ``edge.sim.tracking`` for what
each column means when the simulator produces it)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Records:
    """Movement records, one row per (miner, time), sorted by miner then time.

    ``miner`` and ``role`` hold the strings themselves (``role`` is ``""`` for every row when the source has no
    roles, e.g. the paper's format); pillars are integer codes into ``pillar_labels`` (the class labels).
    ``x``/``y`` are NaN when the source has no positions.
    """

    miner: NDArray[np.str_]
    role: NDArray[np.str_]
    t: NDArray[np.float64]  # epoch seconds (UTC)
    speed: NDArray[np.float64]  # m/s
    direction_deg: NDArray[np.float64]  # degrees clockwise from north, [0, 360)
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    pillar: NDArray[np.int64]  # codes into pillar_labels
    pillar_labels: list[str]

    def __len__(self) -> int:
        return len(self.t)

    @property
    def has_roles(self) -> bool:
        return bool(len(self.role)) and bool(np.all(self.role != ""))

    @property
    def has_positions(self) -> bool:
        return bool(len(self.x)) and not bool(np.isnan(self.x).all())

    def miner_names(self) -> list[str]:
        """Distinct miner ids in natural order (``m2`` before ``m10``)."""
        return sorted({str(m) for m in self.miner.tolist()}, key=natural_key)

    def pillar_ids(self) -> NDArray[np.str_]:
        labels: NDArray[np.str_] = np.asarray(self.pillar_labels, dtype=np.str_)[self.pillar]
        return labels

    def select(self, rows: NDArray[np.bool_] | NDArray[np.intp]) -> Records:
        """The given rows (a mask or indices), same label table."""
        return Records(
            miner=self.miner[rows],
            role=self.role[rows],
            t=self.t[rows],
            speed=self.speed[rows],
            direction_deg=self.direction_deg[rows],
            x=self.x[rows],
            y=self.y[rows],
            pillar=self.pillar[rows],
            pillar_labels=self.pillar_labels,
        )

    def sorted_by_miner_and_time(self) -> Records:
        return self.select(np.lexsort((self.t, self.miner)))


def natural_key(label: str) -> tuple[str, int, str]:
    """Sort key putting ``p2`` before ``p10``; labels without a trailing number sort by text."""
    match = re.match(r"^(\D*)(\d+)$", label)
    if match:
        return match[1], int(match[2]), ""
    return label, -1, label


@dataclass(frozen=True)
class Contact:
    miner_id: str
    gateway_id: str
    t_start: float  # epoch seconds
    t_end: float


@dataclass(frozen=True)
class Contacts:
    """Contact events as columns (one row per contact interval)."""

    miner: NDArray[np.str_]
    gateway: NDArray[np.str_]
    t_start: NDArray[np.float64]
    t_end: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.t_start)

    @classmethod
    def from_list(cls, contacts: Sequence[Contact]) -> Contacts:
        return cls(
            miner=np.array([c.miner_id for c in contacts], dtype=np.str_),
            gateway=np.array([c.gateway_id for c in contacts], dtype=np.str_),
            t_start=np.array([c.t_start for c in contacts], dtype=np.float64),
            t_end=np.array([c.t_end for c in contacts], dtype=np.float64),
        )

    def to_list(self) -> list[Contact]:
        return [
            Contact(str(m), str(g), float(a), float(b))
            for m, g, a, b in zip(self.miner, self.gateway, self.t_start, self.t_end, strict=True)
        ]
