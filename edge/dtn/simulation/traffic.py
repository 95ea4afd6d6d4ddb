"""What the nodes send during a shift, all addressed to the surface.

At every gateway: gas alarms (ALARM, a Poisson process), five-minute reading summaries (TELEMETRY, periodic)
and trend or log files (BULK, periodic). At every moving node while it is in the mine: batches of its movement records
(MOVEMENT, periodic: the position fixes of the last period). Periodic sources start at a random phase. Sizes
are payload bytes (the bundle adds ~40 bytes of header and checksum). Nothing generates CONTROL traffic: in
this mine the surface sends commands, the simulation only follows traffic towards the surface.

The rates are what a gateway of this project produces (a five-minute summary of its points, as a historian keeps them)
and what a tracking tag batches; the alarm rate is higher than a real mine's (about one gas alarm per gateway
per hour) so that a shift has enough alarms to estimate a delivery probability near 0.99 at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.dtn.bundle import Priority
from edge.dtn.simulation.contacts import Positions
from edge.dtn.simulation.engine import Creation


@dataclass(frozen=True)
class TrafficParams:
    alarm_per_gateway_per_h: float = 1.0
    alarm_bytes: int = 160
    alarm_lifetime_s: float = 24 * 3600.0
    telemetry_every_s: float = 300.0
    telemetry_bytes: int = 4000
    telemetry_lifetime_s: float = 6 * 3600.0
    bulk_every_s: float = 900.0
    bulk_bytes: int = 32 * 1024
    bulk_lifetime_s: float = 24 * 3600.0
    movement_every_s: float = 300.0
    movement_bytes: int = 480
    movement_lifetime_s: float = 2 * 3600.0

    def __post_init__(self) -> None:
        for name in ("telemetry_every_s", "bulk_every_s", "movement_every_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"traffic {name} must be > 0 seconds, got {getattr(self, name)!r}")
        if self.alarm_per_gateway_per_h < 0:
            raise ValueError(f"alarm_per_gateway_per_h must be >= 0, got {self.alarm_per_gateway_per_h!r}")


def _body(kind: str, number: int, size: int) -> dict[str, object]:
    return {"kind": kind, "n": number, "data": bytes(size)}


def generate(
    params: TrafficParams,
    *,
    gateways: list[str],
    positions: Positions,
    start: float,
    end: float,
    rng: np.random.Generator,
) -> list[tuple[float, Creation]]:
    """Every bundle creation in ``[start, end)``, time-ordered (ties by node, then class)."""
    out: list[tuple[float, Creation]] = []
    per_h = params.alarm_per_gateway_per_h
    for gateway in gateways:
        if per_h > 0:
            t = start + float(rng.exponential(3600.0 / per_h))
            n = 0
            while t < end:
                body = _body("alarm", n, params.alarm_bytes)
                out.append((t, Creation(gateway, Priority.ALARM, "alarm", body, params.alarm_lifetime_s)))
                t += float(rng.exponential(3600.0 / per_h))
                n += 1
        for priority, kind, every, size, lifetime in (
            (
                Priority.TELEMETRY,
                "readings",
                params.telemetry_every_s,
                params.telemetry_bytes,
                params.telemetry_lifetime_s,
            ),
            (Priority.BULK, "bulk", params.bulk_every_s, params.bulk_bytes, params.bulk_lifetime_s),
        ):
            times = np.arange(start + float(rng.uniform(0, every)), end, every)
            out += [
                (float(t), Creation(gateway, priority, kind, _body(kind, n, size), lifetime))
                for n, t in enumerate(times)
            ]
    present = positions.present
    every = params.movement_every_s
    for column, node in enumerate(positions.ids):
        times = np.arange(start + float(rng.uniform(0, every)), end, every)
        rows = np.clip(np.searchsorted(positions.times, times), 0, len(positions.times) - 1)
        inside = present[rows, column]
        out += [
            (
                float(t),
                Creation(
                    node,
                    Priority.MOVEMENT,
                    "movement",
                    _body("movement", n, params.movement_bytes),
                    params.movement_lifetime_s,
                ),
            )
            for n, t in enumerate(times[inside])
        ]
    out.sort(key=lambda item: (item[0], item[1].node, int(item[1].priority)))
    return out
