"""A developing fire in the belt entry seen by the CO, smoke and temperature sensors downwind of it.

The fire is described by its fuel mass-loss rate ``m(t)`` (g/s). A smouldering fire grows roughly exponentially
(``m = m0 exp(t / tau)``, tau 4-60 min) and may level off (self-extinguishes or stays a hot spot: cap drawn
below or above what reaches the alarm) or turn into flaming combustion, after which it grows 5x faster and its
yields change. What reaches the sensors, diluted in the belt air ``Q_b`` and delayed by the travel time
``distance / velocity``:

* CO: ``ppm = 1e6 * y_CO * m / rho_CO / Q_b``; CO yield 0.10-0.25 g/g smouldering (smouldering rubber, coal and
  wood give 0.1-0.3 g/g; SFPE Handbook, Ohlemiller), 0.02-0.05 g/g flaming; rho_CO = 1145 g/m3 at 25 °C.
* Smoke: optical density per metre ``OD = sigma * y_s * m / (Q_b ln 10)`` with the mass-specific extinction
  sigma = 4.4 m2/g for smouldering and 8.7 m2/g for flaming smoke (Mulholland & Croarkin 2000), smoke yield
  0.05-0.15 g/g. The 75.351 smoke alarm level is 0.022 OD/m [R].
* Air temperature: ``dT = HRR / (rho c_p Q_b) * exp(-x / L)`` with effective heat of combustion 10 kJ/g
  smouldering, 25 kJ/g flaming (conveyor-belt rubber, coal), rho c_p = 1.2 kJ/(m3 K), and heat lost to the rock
  over L = 100-300 m of airway.

Normal-operation CO comes from diesel equipment (``operations``). A fire caused by an overheating drive bearing
(``drive_bearing`` source) starts at the drive; a belt fire (``belt_smoulder``) at a seized idler or spillage
rubbing the belt somewhere upwind of the sensor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.sim.hazard.dynamics import F64, first_order

CO_DENSITY_G_PER_M3 = 1145.0
RHO_CP_KJ_PER_M3K = 1.2
FIRE_SOURCES = ("belt_smoulder", "drive_bearing")


@dataclass
class FireEffect:
    source: str
    onset_s: float
    co_ppm: F64  # above ambient, at the sensor
    smoke_od_per_m: F64
    temperature_rise_c: F64
    end_s: float
    parameters: dict[str, Any] = field(default_factory=dict)


def fire_event(
    rng: np.random.Generator,
    source: str,
    onset_s: float,
    n: int,
    *,
    belt_air_m3s: float,
    distance_m: float,
    velocity_ms: float,
) -> FireEffect:
    if source not in FIRE_SOURCES:
        raise ValueError(f"unknown fire source {source!r}; allowed: {', '.join(FIRE_SOURCES)}")
    t = np.arange(n, dtype=np.float64)
    m0 = float(rng.uniform(0.02, 0.10))  # g/s: a hot spot just beginning to smoulder
    tau = float(np.exp(rng.uniform(np.log(4 * 60.0), np.log(60 * 60.0))))
    # Level-off cap: a quarter of fires stay below the size that would reach the CO alarm in this airflow.
    cap = float(np.exp(rng.uniform(np.log(0.5), np.log(30.0))))
    flaming_at = onset_s + tau * float(rng.uniform(2.0, 6.0)) if rng.random() < 0.4 else np.inf
    dt = np.maximum(t - onset_s, 0.0)
    since_flaming = np.maximum(t - flaming_at, 0.0) if np.isfinite(flaming_at) else np.zeros(n)
    growth = dt / tau + 4.0 * since_flaming / tau
    mass = np.where(t >= onset_s, m0 * np.exp(np.minimum(growth, 50.0)), 0.0)
    cap_now = np.where(t < flaming_at, cap, cap * 20.0)
    mass = np.minimum(mass, cap_now)
    flaming = t >= flaming_at
    y_co = np.where(flaming, rng.uniform(0.02, 0.05), rng.uniform(0.10, 0.25))
    y_smoke = rng.uniform(0.05, 0.15)
    sigma = np.where(flaming, 8.7, 4.4)
    heat = np.where(flaming, 25.0, 10.0)
    co = 1e6 * y_co * mass / CO_DENSITY_G_PER_M3 / belt_air_m3s
    smoke = sigma * y_smoke * mass / (belt_air_m3s * np.log(10.0))
    loss_length = float(rng.uniform(100.0, 300.0))
    temperature = heat * mass / (RHO_CP_KJ_PER_M3K * belt_air_m3s) * np.exp(-distance_m / loss_length)
    delay = int(distance_m / max(velocity_ms, 0.1))
    # Mixing across the airway smooths what the sensor sees over ~half a minute.
    co, smoke, temperature = (first_order(_delayed(x, delay), 30.0, 0.0) for x in (co, smoke, temperature))
    return FireEffect(
        source=source,
        onset_s=onset_s,
        co_ppm=co,
        smoke_od_per_m=smoke,
        temperature_rise_c=temperature,
        end_s=float(n),
        parameters={
            "initial_mass_rate_g_s": m0,
            "growth_tau_s": tau,
            "mass_rate_cap_g_s": cap,
            "flaming_at_s": None if not np.isfinite(flaming_at) else float(flaming_at),
            "transport_delay_s": delay,
        },
    )


def _delayed(x: F64, samples: int) -> F64:
    if samples <= 0:
        return x
    out: F64 = np.concatenate([np.zeros(samples), x[:-samples]])
    return out
