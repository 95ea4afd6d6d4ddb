"""Rotating equipment: bearing-housing vibration (ISO 10816-3 RMS velocity) and bearing temperature.

Normal running: a machine in good order sits in zone A/B of its class (``edge.hazard.contract`` FAN_ZONES,
BELT_DRIVE_ZONES): the fan at 40-80 % of its zone B/C boundary, the belt drive at 30-60 % plus a load-dependent
part (coal on the belt). A start-up shows 1.5-3x the
running level for 5-30 s (run-up through resonances), which briefly reaches zone C (a classic nuisance alarm).
A stopped machine reads ~0.1 mm/s (background from neighbouring plant).

Bearing degradation (the final phase before failure, compressed to hours; real bearings take weeks to get here):
the exponential degradation model widely used in prognostics (Gebraeel et al. 2005, IIE Trans. 37:543),
``v = v_run * (1 + k (exp((t - t0) / tau) - 1))`` with tau 20-180 min, capped for the 30 % that level off in
zone C (a defect that stays stable until the next planned stop).

A degraded machine whose vibration stays at 1.25x the zone C/D boundary for a minute is tripped by its vibration
protection and stays stopped (``MachineSignals.trip_s``); a tripped auxiliary fan is a fan stop for the face.

Bearing temperature follows the heat generated with a thermal lag of 10-30 min: ambient + 15-30 K when running
loaded, plus 2.5-6 K per mm/s of vibration above the running level (friction in a damaged bearing). The alarm
reference is 85 °C (regulations.md 3.3 [S, weak]); a bearing that starts a fire exceeds 150 °C.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge.hazard.contract import VibrationZones
from edge.sim.hazard.dynamics import F64, first_order

STOPPED_VIBRATION_MM_S = 0.1
# ISO 10816-3 guidance (regulations.md 3.2 [R]): TRIP normally in zone C/D, not above 1.25x the C/D boundary; the
# protection relay acts on a reading held for a minute, so a run-up transient does not trip the machine.
TRIP_FACTOR = 1.25
TRIP_HOLD_S = 60
MACHINES = ("fan", "belt_drive")


@dataclass
class Degradation:
    """Extra vibration (mm/s) and heat of a degrading bearing; added to a machine by ``simulate_machine``."""

    machine: str
    onset_s: float
    extra_vibration: F64
    extra_heat_k: F64
    end_s: float
    parameters: dict[str, Any] = field(default_factory=dict)


def degradation_event(
    rng: np.random.Generator, machine: str, zones: VibrationZones, onset_s: float, n: int, *, severe: bool = False
) -> Degradation:
    """A bearing defect growing from ``onset_s``; ``severe`` ones never level off and overheat (a fire source)."""
    if machine not in MACHINES:
        raise ValueError(f"unknown machine {machine!r}; allowed: {', '.join(MACHINES)}")
    t = np.arange(n, dtype=np.float64)
    tau = float(np.exp(rng.uniform(np.log(20 * 60.0), np.log(180 * 60.0))))
    k = float(rng.uniform(0.05, 0.3))
    levels_off = (not severe) and rng.random() < 0.3
    cap = zones.b_c + float(rng.uniform(0.2, 0.9)) * (zones.c_d - zones.b_c) if levels_off else zones.c_d * 4.0
    growth = np.where(t >= onset_s, np.exp(np.minimum((t - onset_s) / tau, 50.0)) - 1.0, 0.0)
    extra = np.minimum(k * zones.b_c * 0.5 * growth, cap)
    heat_per_mm_s = float(rng.uniform(2.5, 6.0)) * (3.0 if severe else 1.0)
    return Degradation(
        machine=machine,
        onset_s=onset_s,
        extra_vibration=extra,
        extra_heat_k=heat_per_mm_s * extra,
        end_s=float(n),
        parameters={"tau_s": tau, "k": k, "levels_off": levels_off, "cap_mm_s": cap, "heat_k_per_mm_s": heat_per_mm_s},
    )


@dataclass(frozen=True)
class MachineSignals:
    vibration_mm_s: F64
    bearing_temp_c: F64
    running: NDArray[np.bool_]  # after any protection trip
    trip_s: float | None  # when the vibration protection stopped the machine


def trip_time(vibration: F64, zones: VibrationZones) -> float | None:
    """First second at which vibration has stayed at the trip level (1.25 x the C/D boundary) for a minute."""
    over = vibration >= TRIP_FACTOR * zones.c_d
    held = np.concatenate([[0], np.cumsum(over)])
    sustained = np.flatnonzero(held[TRIP_HOLD_S:] - held[:-TRIP_HOLD_S] == TRIP_HOLD_S)
    return float(sustained[0] + TRIP_HOLD_S) if sustained.shape[0] else None


def simulate_machine(
    rng: np.random.Generator,
    zones: VibrationZones,
    running: NDArray[np.bool_],
    load: F64,
    air_temperature_c: float,
    *,
    load_share: float,
    degradation: Degradation | None,
) -> MachineSignals:
    """Vibration and bearing temperature of one machine; ``load_share`` = part of the level that follows load."""
    n = running.shape[0]
    level = zones.b_c * float(rng.uniform(0.4, 0.8) if load_share == 0 else rng.uniform(0.3, 0.6))
    running_level = level * (1.0 - load_share + load_share * (0.5 + load))
    starts = np.flatnonzero(np.diff(running.astype(np.int8)) == 1) + 1
    transient = np.ones(n)
    for start in starts:
        span = int(rng.uniform(5.0, 30.0))
        transient[start : start + span] = rng.uniform(1.5, 3.0)
    extra = degradation.extra_vibration if degradation is not None else np.zeros(n)
    # The ~6 % scatter of successive RMS readings is added by the sensor model (``faults.SENSOR_NOISE``).
    vibration = np.where(running, running_level * transient + extra, STOPPED_VIBRATION_MM_S)
    tripped = trip_time(vibration, zones) if degradation is not None else None
    if tripped is not None:
        # Locked out until the bearing is changed: it stays stopped for the rest of the episode.
        running = running & (np.arange(n) < tripped)
        vibration = np.where(running, vibration, STOPPED_VIBRATION_MM_S)

    rise = float(rng.uniform(15.0, 30.0))
    heat = np.where(running, rise * (0.6 + 0.4 * load), 0.0)
    if degradation is not None:
        heat = heat + np.where(running, degradation.extra_heat_k, 0.0)
    tau = float(rng.uniform(10.0, 30.0)) * 60.0
    temperature = air_temperature_c + first_order(heat, tau, float(heat[0]))
    return MachineSignals(vibration, temperature, running, tripped)
