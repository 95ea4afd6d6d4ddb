"""Small synthetic movement records with the columns of ``export.localization.dataset.Records``.

Miners walk back and forth along a straight row of pillar cells at constant speed (so the next pillar is a
deterministic function of position and heading, and learnable from speed, direction and pillar history), or
stand still. Each shift is one UTC day; one miner has a long gap in the middle of a shift."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

PERIOD_S = 5.0
CELL_M = 30.0
N_CELLS = 8
DAY0 = 1_750_000_000.0 - (1_750_000_000.0 % 86_400.0)  # a UTC midnight
SHIFT_START_H = 9.0


@dataclass
class SynthRecords:
    miner: NDArray[Any]
    role: NDArray[Any]
    t: NDArray[np.float64]
    speed: NDArray[np.float64]
    direction_deg: NDArray[np.float64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    pillar: NDArray[np.int64]
    pillar_labels: list[str] = field(default_factory=list)


def synth_records(
    *, miners: int = 6, shifts: int = 2, steps: int = 240, seed: int = 0, gap_miner: int | None = 0
) -> SynthRecords:
    rng = np.random.default_rng(seed)
    rows: dict[str, list[Any]] = {k: [] for k in ("miner", "role", "t", "speed", "dir", "x", "y")}
    for m in range(miners):
        for s in range(shifts):
            t0 = DAY0 + s * 86_400.0 + SHIFT_START_H * 3600.0 + rng.uniform(0, 60)
            pos = rng.uniform(0, CELL_M * N_CELLS)
            heading = 1.0 if rng.random() < 0.5 else -1.0
            speed = rng.uniform(1.5, 3.0)
            for k in range(steps):
                t = t0 + k * PERIOD_S
                if gap_miner == m and s == 0 and steps // 3 <= k < steps // 3 + 10:
                    continue  # a 50 s hole in the records: the track must split here
                moving = (k // 40) % 3 != 2  # a pause every third block of 40 records
                v = speed if moving else 0.0
                rows["miner"].append(f"m{m + 1}")
                rows["role"].append("worker" if m % 2 == 0 else "supervisor")
                rows["t"].append(t)
                rows["speed"].append(v)
                rows["dir"].append(90.0 if heading > 0 else 270.0)
                rows["x"].append(pos)
                rows["y"].append(0.0)
                pos += heading * v * PERIOD_S
                if pos < 0 or pos >= CELL_M * N_CELLS:
                    heading = -heading
                    pos = float(np.clip(pos, 0, CELL_M * N_CELLS - 1e-6))
    x = np.array(rows["x"])
    labels = [f"p{i + 1}" for i in range(N_CELLS)]
    pillar = np.clip(np.floor(x / CELL_M), 0, N_CELLS - 1).astype(np.int64)
    order = rng.permutation(len(x))  # records arrive in no particular order
    return SynthRecords(
        miner=np.array(rows["miner"])[order],
        role=np.array(rows["role"])[order],
        t=np.array(rows["t"])[order],
        speed=np.array(rows["speed"])[order],
        direction_deg=np.array(rows["dir"])[order],
        x=x[order],
        y=np.array(rows["y"])[order],
        pillar=pillar[order],
        pillar_labels=labels,
    )
