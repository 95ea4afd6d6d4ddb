"""A simulated crew on the move: movement records and gateway contacts published over ZeroMQ (msgpack).

It stands in for what the DTN delivers to a gateway: the same ``movement`` / ``contact`` messages that
``edge.localization.source.RecordFeed`` consumes. The shift is simulated up front with the mobility
model, then released in real time (or faster): record timestamps keep their simulated spacing and are moved
by one constant so that "seconds since last seen" on the gateway is measured against its own clock.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np
import zmq
import zmq.asyncio

from edge.clock import Clock
from edge.sim.mine_layout import MineLayout
from edge.sim.mobility import MobilityParams, ScenarioKind, default_scenario, simulate_days
from edge.sim.tracking import gateway_contacts, sample_records

log = logging.getLogger(__name__)

MOVEMENT_TOPIC = b"movement"
CONTACT_TOPIC = b"contact"


@dataclass(frozen=True)
class CrewParams:
    nodes: int = 25
    seed: int = 0
    period_s: float = 5.0
    start_hour: float = 10.0  # simulated clock time the release starts at (the shift began at 09:00)
    backfill_s: float = 300.0  # history released at once at start, so every miner has a full window
    time_scale: float = 1.0
    scenario: ScenarioKind | None = None
    scenario_after_s: float = 120.0  # simulated seconds after the start of the release


class CrewPublisher:
    def __init__(
        self, layout: MineLayout, params: CrewParams, *, context: zmq.asyncio.Context, endpoint: str, clock: Clock
    ) -> None:
        self.layout = layout
        self.params = params
        self.clock = clock
        # XPUB, not PUB: it hears subscriptions, so the history backfill waits for the gateway to connect
        # instead of vanishing into a socket nobody listens to yet (ZeroMQ's slow-joiner problem).
        self._socket = context.socket(zmq.XPUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.SNDHWM, 100_000)
        self._socket.bind(endpoint)
        self.endpoint = endpoint
        shift_params = MobilityParams(nodes=params.nodes)
        # Scenario times count from the shift start (09:00 by default), the release from start_hour.
        after_shift_start = params.start_hour * 3600.0 - shift_params.shift_start_s + params.scenario_after_s
        scenario = (
            default_scenario(layout, params.scenario, t_event_s=after_shift_start)
            if params.scenario is not None
            else None
        )
        trajectories = simulate_days(layout, shift_params, seed=params.seed, days=1, scenario=scenario)
        records = sample_records(trajectories, layout, rng=np.random.default_rng(params.seed), period_s=params.period_s)
        contacts = gateway_contacts(trajectories, layout, step_s=params.period_s)
        first = float(records.t.min()) if len(records) else 0.0
        self._sim_start = first - (first % 86_400.0) + params.start_hour * 3600.0
        order = np.argsort(records.t, kind="stable")
        self._records = records
        self._order = order
        self._contacts = sorted(contacts, key=lambda c: c.t_start)
        self.published = 0

    def _shift(self, t_sim: float, wall_start: float) -> float:
        return wall_start + (t_sim - self._sim_start)

    def _record(self, i: int, wall_start: float) -> dict[str, Any]:
        r = self._records
        return {
            "miner_id": str(r.miner[i]),
            "role": str(r.role[i]),
            "t_wall": self._shift(float(r.t[i]), wall_start),
            "speed_mps": float(r.speed[i]),
            "direction_deg": float(r.direction_deg[i]),
            "pillar_id": r.pillar_labels[int(r.pillar[i])],
            "x": float(r.x[i]),
            "y": float(r.y[i]),
        }

    async def run(self, duration_s: float | None = None) -> None:
        """Release records as simulated time passes; the contacts are released when they end."""
        p = self.params
        log.info("crew: waiting for a subscriber on %s", self.endpoint)
        await self._socket.recv()  # the first subscription message
        wall_start = self.clock.wall()
        mono_start = self.clock.monotonic()
        t_record = self._records.t[self._order]
        next_record = int(np.searchsorted(t_record, self._sim_start - p.backfill_s))
        next_contact = 0
        try:
            while duration_s is None or self.clock.monotonic() - mono_start < duration_s:
                now_sim = self._sim_start + (self.clock.monotonic() - mono_start) * p.time_scale
                end = int(np.searchsorted(t_record, now_sim, side="right"))
                for k in range(next_record, end):
                    body = self._record(int(self._order[k]), wall_start)
                    await self._socket.send_multipart([MOVEMENT_TOPIC, msgpack.packb(body)])
                    self.published += 1
                next_record = max(next_record, end)
                while next_contact < len(self._contacts) and self._contacts[next_contact].t_start <= now_sim:
                    c = self._contacts[next_contact]
                    body = {
                        "miner_id": c.miner_id,
                        "gateway_id": c.gateway_id,
                        "t_start": self._shift(c.t_start, wall_start),
                        "t_end": self._shift(min(c.t_end, now_sim), wall_start),
                    }
                    await self._socket.send_multipart([CONTACT_TOPIC, msgpack.packb(body)])
                    next_contact += 1
                if next_record >= len(t_record):
                    log.info("crew: end of the simulated shift")
                    return
                await asyncio.sleep(0.2)
        finally:
            self._socket.close(linger=0)
