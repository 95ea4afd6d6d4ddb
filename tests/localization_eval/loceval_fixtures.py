"""Small synthetic inputs for the evaluation tests: hand-made window sets and walkers in a tiny real mine."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge.sim.mine_layout import LayoutParams, MineLayout

PERIOD_S = 5.0
DAY0 = 1_750_000_000.0 - (1_750_000_000.0 % 86_400.0)  # a UTC midnight


@dataclass
class ToyWindows:
    """Satisfies ``baselines.Windows`` without the training module: what the baselines and protocols read."""

    y: NDArray[np.int64]
    last_pillar: NDArray[np.int64]
    miner: NDArray[np.int64]
    shift: NDArray[np.int64]
    t_last: NDArray[np.float64]
    target_xy: NDArray[np.float32]
    labels: list[str]
    horizon: int = 1
    X: NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 1, 1), np.float32))

    def subset(self, idx: NDArray[Any]) -> ToyWindows:
        return replace(
            self,
            y=self.y[idx],
            last_pillar=self.last_pillar[idx],
            miner=self.miner[idx],
            shift=self.shift[idx],
            t_last=self.t_last[idx],
            target_xy=self.target_xy[idx],
            X=self.X[idx] if self.X.shape[0] else self.X,
        )


def toy_windows(last: list[int], y: list[int], n_classes: int, *, miner: list[int] | None = None) -> ToyWindows:
    n = len(y)
    return ToyWindows(
        y=np.array(y, dtype=np.int64),
        last_pillar=np.array(last, dtype=np.int64),
        miner=np.array(miner if miner is not None else [0] * n, dtype=np.int64),
        shift=np.zeros(n, dtype=np.int64),
        t_last=np.arange(n, dtype=np.float64),
        target_xy=np.full((n, 2), np.nan, dtype=np.float32),
        labels=[f"p{i + 1}" for i in range(n_classes)],
    )


def tiny_layout() -> MineLayout:
    # 3 entries x 6 crosscuts = 2 x 5 = 10 pillars; gateways every 2nd crosscut on the default entries.
    return MineLayout(LayoutParams(entries=3, crosscuts=6, refuge_crosscuts_outby=2, gateway_every_crosscuts=2))


@dataclass
class WalkRecords:
    """The columns of ``export.localization.dataset.Records`` that ``build_windows`` reads."""

    miner: NDArray[Any]
    role: NDArray[Any]
    t: NDArray[np.float64]
    speed: NDArray[np.float64]
    direction_deg: NDArray[np.float64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    pillar: NDArray[np.int64]
    pillar_labels: list[str]


@dataclass
class WalkContacts:
    miner: NDArray[np.str_]
    gateway: NDArray[np.str_]
    t_start: NDArray[np.float64]
    t_end: NDArray[np.float64]


def walkers(
    layout: MineLayout, *, miners: int = 6, days: int = 2, steps: int = 150, seed: int = 0
) -> tuple[WalkRecords, WalkContacts]:
    """Miners pacing up and down one entry each (north = 0 deg, south = 180 deg, compass) with pauses; contacts
    whenever a gateway is within 20 m."""
    rng = np.random.default_rng(seed)
    p = layout.params
    top = (p.crosscuts - 1) * p.pitch_along_m - 1.0
    cols: dict[str, list[Any]] = {k: [] for k in ("miner", "role", "t", "speed", "dir", "x", "y")}
    for m in range(miners):
        x = (m % p.entries) * p.pitch_across_m
        for d in range(days):
            t0 = DAY0 + d * 86_400.0 + 9 * 3600.0 + rng.uniform(0, 30)
            pos = rng.uniform(0, top)
            heading = 1.0
            speed = rng.uniform(1.0, 2.0)
            for k in range(steps):
                v = speed if (k // 20) % 3 != 2 else 0.0
                cols["miner"].append(f"m{m + 1}")
                cols["role"].append("worker" if m % 2 else "supervisor")
                cols["t"].append(t0 + k * PERIOD_S)
                cols["speed"].append(v + rng.normal(0, 0.02) * (v > 0))
                cols["dir"].append(0.0 if heading > 0 else 180.0)
                cols["x"].append(x)
                cols["y"].append(pos)
                pos += heading * v * PERIOD_S
                if not 0.0 <= pos <= top:
                    heading = -heading
                    pos = float(np.clip(pos, 0.0, top))
    xs, ys = np.array(cols["x"]), np.array(cols["y"])
    records = WalkRecords(
        miner=np.array(cols["miner"]),
        role=np.array(cols["role"]),
        t=np.array(cols["t"]),
        speed=np.array(cols["speed"]),
        direction_deg=np.array(cols["dir"]),
        x=xs,
        y=ys,
        pillar=layout.pillar_index_at(xs, ys),
        pillar_labels=list(layout.pillar_ids),
    )
    gx = np.array([g.x for g in layout.gateways])
    gy = np.array([g.y for g in layout.gateways])
    near = np.hypot(xs[:, None] - gx[None, :], ys[:, None] - gy[None, :]) <= 20.0
    c_m: list[str] = []
    c_g: list[str] = []
    c_s: list[float] = []
    c_e: list[float] = []
    for gi, gw in enumerate(layout.gateways):
        for mid in np.unique(records.miner):
            rows = np.flatnonzero((records.miner == mid) & near[:, gi])
            if rows.size == 0:
                continue
            # Consecutive records in range form one contact.
            breaks = np.flatnonzero(np.diff(rows) != 1)
            for seg in np.split(rows, breaks + 1):
                c_m.append(str(mid))
                c_g.append(gw.id)
                c_s.append(float(records.t[seg[0]]))
                c_e.append(float(records.t[seg[-1]]))
    contacts = WalkContacts(np.array(c_m), np.array(c_g), np.array(c_s), np.array(c_e))
    return records, contacts
