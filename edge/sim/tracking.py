"""What a tracking system records of the simulated movers: periodic movement records with sensor noise, and
contact events with the fixed gateways.

Movement records (``Records``, columnar): one row per mover every ``period_s`` seconds while the mover is in the
mine, on a fixed time grid (multiples of the period since the epoch, so records of different movers line up).

- ``speed_mps``: the true speed of the segment plus Gaussian noise (``speed_sd_mps``), clipped at 0; a mover
  that is paused reports exactly 0 (a tag's motion sensor knows when it is still).
- ``direction_deg``: degrees clockwise from mine north (+y), in [0, 360): the true heading plus Gaussian noise
  (``direction_sd_deg``). A paused mover reports the heading it had when it stopped.
- ``x, y``: the true position plus Gaussian noise (``position_sd_m`` on each axis).
- ``pillar_id``: the pillar of the TRUE position (``MineLayout.pillar_at``), not of the noisy one: it is the
  label a localization model must predict, so it must not carry the sensor's error.

Contacts: a mover is in contact with a gateway while its true position is inside the gateway's radio
coverage (``MineLayout.gateway_coverage``); positions are checked every ``step_s`` and a contact
``(miner_id, gateway_id, t_start, t_end)`` spans the first to the last check in range. That is what a
delay-tolerant network sees underground: sparse, intermittent encounters, not a position fix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge.localization.columns import Contact, Records
from edge.sim.mine_layout import MineLayout
from edge.sim.mobility import Trajectory


@dataclass(frozen=True)
class SensorNoise:
    speed_sd_mps: float = 0.1
    direction_sd_deg: float = 10.0
    position_sd_m: float = 2.0

    def __post_init__(self) -> None:
        for name in ("speed_sd_mps", "direction_sd_deg", "position_sd_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def sample_records(
    trajectories: Sequence[Trajectory],
    layout: MineLayout,
    *,
    rng: np.random.Generator,
    period_s: float = 5.0,
    noise: SensorNoise | None = None,
) -> Records:
    """Noisy movement records of every trajectory every ``period_s`` (see the module docstring)."""
    if not (math.isfinite(period_s) and period_s > 0):
        raise ValueError(f"period_s must be a positive number of seconds, got {period_s!r}")
    noise = noise or SensorNoise()
    miners: list[NDArray[np.str_]] = []
    roles: list[NDArray[np.str_]] = []
    columns: list[tuple[NDArray[np.float64], ...]] = []
    for tr in trajectories:
        first = math.ceil(tr.t[0] / period_s)
        last = math.floor(tr.t[-1] / period_s)
        if last < first:
            continue
        times = np.arange(first, last + 1, dtype=np.float64) * period_s
        x, y, speed, heading, _activity = tr.sample(times)
        n = len(times)
        moving = speed > 0
        noisy_speed = np.where(moving, np.maximum(speed + rng.normal(0, noise.speed_sd_mps, n), 0.0), 0.0)
        noisy_direction = (heading + rng.normal(0, noise.direction_sd_deg, n)) % 360.0
        noisy_direction[noisy_direction >= 360.0] = 0.0  # -1e-17 % 360 rounds to 360.0
        miners.append(np.full(n, tr.miner_id))  # dtype from the value: np.str_ alone would be <U1
        roles.append(np.full(n, tr.role))
        columns.append(
            (
                times,
                noisy_speed,
                noisy_direction,
                x + rng.normal(0, noise.position_sd_m, n),
                y + rng.normal(0, noise.position_sd_m, n),
                layout.pillar_index_at(x, y).astype(np.float64),  # the TRUE position's pillar
            )
        )

    def joined(k: int) -> NDArray[np.float64]:
        return np.concatenate([c[k] for c in columns]) if columns else np.zeros(0)

    records = Records(
        miner=np.concatenate(miners) if miners else np.zeros(0, dtype=np.str_),
        role=np.concatenate(roles) if roles else np.zeros(0, dtype=np.str_),
        t=joined(0),
        speed=joined(1),
        direction_deg=joined(2),
        x=joined(3),
        y=joined(4),
        pillar=joined(5).astype(np.int64),
        pillar_labels=list(layout.pillar_ids),
    )
    return records.sorted_by_miner_and_time()


def gateway_contacts(trajectories: Sequence[Trajectory], layout: MineLayout, *, step_s: float = 1.0) -> list[Contact]:
    """Contact events between movers and fixed gateways, ordered by miner, then start time, then gateway."""
    if not (math.isfinite(step_s) and step_s > 0):
        raise ValueError(f"step_s must be a positive number of seconds, got {step_s!r}")
    gateway_ids = [g.id for g in layout.gateways]
    contacts: list[Contact] = []
    for tr in trajectories:
        # On the step grid (multiples of step_s since the epoch), like the movement records.
        times = np.arange(math.ceil(tr.t[0] / step_s), math.floor(tr.t[-1] / step_s) + 1) * step_s
        if len(times) == 0:
            continue
        x = np.interp(times, tr.t, tr.x)
        y = np.interp(times, tr.t, tr.y)
        heard = layout.gateway_coverage(x, y)
        padded = np.zeros((len(times) + 2, len(gateway_ids)), dtype=np.int8)
        padded[1:-1] = heard
        change = np.diff(padded, axis=0)
        for g, gateway_id in enumerate(gateway_ids):
            starts = np.flatnonzero(change[:, g] == 1)
            ends = np.flatnonzero(change[:, g] == -1) - 1
            contacts.extend(
                Contact(tr.miner_id, gateway_id, float(times[s]), float(times[e]))
                for s, e in zip(starts, ends, strict=True)
            )
    contacts.sort(key=lambda c: (c.miner_id, c.t_start, c.gateway_id))
    return contacts
