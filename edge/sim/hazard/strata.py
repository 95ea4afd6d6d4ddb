"""Roof convergence and rock (support) pressure, with accelerating creep before a roof fall.

Background: convergence creeps at the site's rate (0.01-0.15 mm/h) and 3x faster for a while after each cut near
the instrument (the face advances and the abutment load moves over it); pressure on the support follows the
convergence through its stiffness (0.05-0.4 MPa/mm) and wanders by ~0.2 MPa (temperature, load redistribution).

Before a fall (``fall``): accelerating creep of the inverse-velocity kind (Fukuzono 1985; Voight 1988,
``dv/dt = A v^alpha`` with alpha 1.7-2.0): ``v = v0 ((t_f - t_0) / (t_f - t))^(1/(alpha-1))``, so for alpha = 2
``1/v`` falls linearly to zero at the failure time ``t_f``. It starts at 2-10x the background rate, 20 min to
6 h (log-uniform) before the fall. At the fall the roof drops 20-200 mm at once and the support pressure is
shed; a third of the instruments are destroyed (their channels go NaN: the sensor model treats this as a dropout
to the end). This matches the incident in regulations.md 3.1
(telltale 40 -> 60 -> 110 mm over 8 h, fall 12 h later): rate and acceleration, not level, announce a fall.

Not every acceleration ends in a fall (``stabilises``): the rate rises the same way and then decays back as the
load finds a new equilibrium (supports take it, or the face moves on); no TARP trigger values are public
(regulations.md 3.1), so events are timed by the fall itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.sim.hazard.dynamics import F64, first_order, smooth_noise
from edge.sim.hazard.operations import Operations
from edge.sim.hazard.site import SiteParams

STRATA_KINDS = ("fall", "stabilises")


@dataclass
class StrataEvent:
    kind: str
    onset_s: float
    fall_s: float | None
    extra_rate_mm_s: F64
    end_s: float
    sensor_destroyed: bool = False
    drop_mm: float = 0.0
    parameters: dict[str, Any] = field(default_factory=dict)


def strata_event(rng: np.random.Generator, site: SiteParams, kind: str, onset_s: float, n: int) -> StrataEvent:
    if kind not in STRATA_KINDS:
        raise ValueError(f"unknown strata event kind {kind!r}; allowed: {', '.join(STRATA_KINDS)}")
    t = np.arange(n, dtype=np.float64)
    lead = float(np.exp(rng.uniform(np.log(20 * 60.0), np.log(6 * 3600.0))))
    v0 = site.creep_mm_per_h / 3600.0 * float(rng.uniform(2.0, 10.0))
    alpha = float(rng.uniform(1.7, 2.0))
    power = 1.0 / (alpha - 1.0)
    t_f = onset_s + lead
    # v(onset) = v0; the rate is held finite in the last half minute (the fall is under way by then).
    remaining = np.maximum(t_f - t, 30.0)
    accelerating = np.where((t >= onset_s) & (t < t_f), v0 * (lead / remaining) ** power, 0.0)
    if kind == "fall":
        return StrataEvent(
            kind=kind,
            onset_s=onset_s,
            fall_s=t_f if t_f < n else None,
            extra_rate_mm_s=accelerating,
            end_s=min(float(n), t_f),
            sensor_destroyed=bool(rng.random() < 1 / 3),
            drop_mm=float(rng.uniform(20.0, 200.0)),
            parameters={"lead_s": lead, "initial_rate_mm_h": v0 * 3600.0, "alpha": alpha},
        )
    # Stabilising: the acceleration runs for a fraction of the would-be lead time, then the rate decays.
    turn = onset_s + lead * float(rng.uniform(0.4, 0.85))
    peak = v0 * (lead / max(t_f - turn, 30.0)) ** power
    decay_tau = float(rng.uniform(0.5, 3.0)) * 3600.0
    rate = np.where(t < turn, accelerating, peak * np.exp(-(t - turn) / decay_tau))
    rate = np.where(t >= onset_s, rate, 0.0)
    return StrataEvent(
        kind=kind,
        onset_s=onset_s,
        fall_s=None,
        extra_rate_mm_s=rate,
        end_s=min(float(n), turn + 2 * decay_tau),
        parameters={
            "lead_s": lead,
            "turn_s": turn,
            "initial_rate_mm_h": v0 * 3600.0,
            "decay_tau_s": decay_tau,
            "alpha": alpha,
        },
    )


@dataclass(frozen=True)
class StrataSignals:
    convergence_mm: F64
    rock_pressure_mpa: F64


def simulate_strata(
    rng: np.random.Generator, site: SiteParams, ops: Operations, event: StrataEvent | None
) -> StrataSignals:
    n = ops.shift.shape[0]
    background = site.creep_mm_per_h / 3600.0
    after_cut = first_order(ops.cutting.astype(np.float64), 1800.0, 0.0)  # abutment load follows the face for ~30 min
    rate = (
        background
        * (1.0 + 2.0 * after_cut)
        * (1.0 + 0.3 * smooth_noise(rng, n, sigma=1.0, period_s=3600.0).clip(-1, 1))
    )
    if event is not None:
        rate = rate + event.extra_rate_mm_s
    start = float(rng.uniform(5.0, 60.0))  # convergence since the instrument was set
    convergence = start + np.cumsum(rate)
    pressure = site.support_pressure_mpa + site.support_stiffness_mpa_per_mm * (convergence - start)
    pressure = pressure + smooth_noise(rng, n, sigma=0.2, period_s=900.0)
    if event is not None and event.fall_s is not None:
        fall = int(event.fall_s)
        convergence[fall:] += event.drop_mm
        # The broken roof no longer loads the support: the pressure is shed to a fraction within seconds.
        shed = first_order((np.arange(n) >= fall).astype(np.float64), 5.0, 0.0)
        pressure = pressure * (1.0 - 0.7 * shed)
    return StrataSignals(convergence, np.maximum(pressure, 0.0))
