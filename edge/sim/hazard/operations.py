"""Normal operation of a section, second by second: shifts, cutting cycles, belt running, door openings, fan blips.

These are the *normal* excursions a warning model must not mistake for precursors:

* Shifts: two production shifts (07:00-15:00, 15:00-23:00) and a maintenance shift (23:00-07:00), the usual US
  pattern. Production starts 20-45 min into a shift (travel, pre-shift work) and stops ~20 min before its end,
  with a 30 min meal break near mid-shift.
* Cutting cycles: a continuous-miner cut lasts 15-45 min (log-normal, median 25 min); between cuts the miner trams
  and the place is bolted (median 20 min). Freshly exposed coal desorbs methane: the face make rises during a cut
  with a ~2 min lag and decays over ~6 min after it (broken coal keeps emitting); each cut's amplitude varies
  log-normally (sigma 0.3, clipped to 0.4-2x) about the site's median, so some cuts peak at twice the median.
* Gas pockets: now and then (0-3 per production shift) the miner opens a small pocket or feeder: a burst of
  make worth a median 0.15 %vol at the design air (log-normal, sigma 0.5) for 1-5 min. Sharp, real rises that
  look like the start of an accumulation and then fall away.
* Coal reaches the belt drive after the belt transport delay and loads it (vibration and bearing temperature
  follow the load). The belt runs through production shifts and stops for part of the maintenance shift.
* Ventilation doors are opened for vehicles 3-12 times per production shift for 20-120 s, dropping the face air by
  10-40 %; the auxiliary fan trips and restarts on its own (power blip) about once a day for 20-90 s.
* Diesel equipment passing the belt CO sensor adds 1-6 ppm for 2-10 min, 0-4 times per production shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge.sim.hazard.dynamics import F64, first_order, intervals_to_mask, poisson_times
from edge.sim.hazard.site import SiteParams

DAY_S = 86_400.0
SHIFT_S = 8 * 3600.0
FIRST_SHIFT_START_S = 7 * 3600.0  # 07:00
PRODUCTION_SHIFTS = (0, 1)  # day and afternoon; shift 2 (23:00-07:00) is maintenance
CUT_RISE_TAU_S = 120.0
CUT_DECAY_TAU_S = 360.0
BELT_SPEED_MS = 3.0  # conveyor belt speed (not the air): coal travels from the face to the drive at this speed


@dataclass(frozen=True)
class Operations:
    """Normal-operation drivers on the 1 s grid of an episode (``n`` samples from ``start_tod_s``)."""

    start_tod_s: float
    shift: NDArray[np.int8]  # 0 day, 1 afternoon, 2 maintenance
    production: NDArray[np.bool_]  # crew at work in a production shift (between start-up and clean-up)
    cutting: NDArray[np.bool_]
    cut_make_vol_percent: F64  # extra face methane from cutting and pockets at the design air (%vol equivalent)
    belt_running: NDArray[np.bool_]
    belt_load: F64  # 0 empty .. 1 full
    door_air_factor: F64  # multiplier on face air from door openings (1 = closed)
    fan_blip_factor: F64  # multiplier on face air from brief fan trips
    diesel_co_ppm: F64
    cut_starts_s: F64
    door_open_starts_s: F64
    fan_blip_starts_s: F64


def shift_of(tod_s: F64) -> NDArray[np.int8]:
    shifted = (tod_s - FIRST_SHIFT_START_S) % DAY_S
    result: NDArray[np.int8] = (shifted // SHIFT_S).astype(np.int8)
    return result


def simulate_operations(rng: np.random.Generator, site: SiteParams, n: int, start_tod_s: float) -> Operations:
    t = np.arange(n, dtype=np.float64)
    tod = (start_tod_s + t) % DAY_S
    shift = shift_of(tod)
    # Shift boundaries inside the episode, in episode seconds.
    first_boundary = (FIRST_SHIFT_START_S - start_tod_s) % SHIFT_S - SHIFT_S
    boundaries = np.arange(first_boundary, n + SHIFT_S, SHIFT_S)
    production = np.zeros(n, dtype=bool)
    cutting = np.zeros(n, dtype=bool)
    cut_amplitude = np.zeros(n)
    cut_starts: list[float] = []
    belt_off_starts: list[float] = []
    belt_off_durations: list[float] = []
    for start in boundaries:
        tod_start = (start_tod_s + start) % DAY_S
        kind = int(shift_of(np.array([tod_start + 60.0]))[0])
        if kind not in PRODUCTION_SHIFTS:
            # maintenance shift: the belt is stopped for 2-5 h for belt work
            belt_off_starts.append(start + rng.uniform(0.5, 2.5) * 3600.0)
            belt_off_durations.append(rng.uniform(2.0, 5.0) * 3600.0)
            continue
        work_start = start + rng.uniform(20.0, 45.0) * 60.0
        work_end = start + SHIFT_S - rng.uniform(15.0, 30.0) * 60.0
        meal = start + SHIFT_S / 2 + rng.uniform(-45.0, 45.0) * 60.0
        production[max(0, int(work_start)) : max(0, min(n, int(work_end)))] = True
        clock = work_start + rng.uniform(0.0, 15.0) * 60.0
        while clock < work_end:
            cut = float(np.clip(rng.lognormal(np.log(25.0 * 60.0), 0.3), 10 * 60.0, 50 * 60.0))
            if clock < meal < clock + cut:
                clock = meal + 30 * 60.0
                continue
            end = min(clock + cut, work_end)
            lo, hi = int(np.clip(clock, 0, n)), int(np.clip(end, 0, n))
            if hi > lo:
                cutting[lo:hi] = True
                cut_amplitude[lo:hi] = np.clip(rng.lognormal(0.0, 0.3), 0.4, 2.0) * site.cutting_peak_vol_percent
            if 0 <= clock < n:
                cut_starts.append(clock)
            clock = end + float(np.clip(rng.lognormal(np.log(20.0 * 60.0), 0.45), 5 * 60.0, 60 * 60.0))
    # Make rises while coal is cut and decays after: two lags, one for each direction.
    rising = first_order(cut_amplitude, CUT_RISE_TAU_S, 0.0)
    cut_make = np.where(cutting, rising, 0.0)
    tail = first_order(np.where(cutting, rising, 0.0), np.where(cutting, 1.0, CUT_DECAY_TAU_S), 0.0)
    cut_make = np.maximum(cut_make, tail)
    pockets = np.zeros(n)
    pocket_rate = float(rng.uniform(0.0, 3.0)) / SHIFT_S
    for start_s in poisson_times(rng, pocket_rate * 3.0, float(n)):  # thinned to cutting time below
        if not cutting[int(start_s)]:
            continue
        width = float(rng.uniform(60.0, 300.0))
        lo, hi = int(start_s), min(n, int(start_s + width))
        pockets[lo:hi] += rng.lognormal(np.log(0.15), 0.5)
    cut_make = cut_make + first_order(pockets, 30.0, 0.0)

    belt_running = ~intervals_to_mask(n, np.array(belt_off_starts), np.array(belt_off_durations))
    travel_s = (site.face_volume_m3 / site.entry_area_m2 + 150.0) / BELT_SPEED_MS  # face to drive along the belt
    coal = np.roll(cutting.astype(np.float64), int(travel_s))
    coal[: int(travel_s)] = 0.0
    belt_load = first_order(coal * rng.uniform(0.6, 1.0), 60.0, 0.0) * belt_running

    door_factor = np.ones(n)
    door_starts: list[float] = []
    prod_seconds = float(production.sum())
    n_doors = int(rng.poisson(prod_seconds / SHIFT_S * rng.uniform(3.0, 12.0)))
    if n_doors and prod_seconds:
        candidates = np.flatnonzero(production)
        for start_index in rng.choice(candidates, size=n_doors):
            duration = int(rng.uniform(20.0, 120.0))
            drop = rng.uniform(0.10, 0.40)
            door_factor[start_index : start_index + duration] = np.minimum(
                door_factor[start_index : start_index + duration], 1.0 - drop
            )
            door_starts.append(float(start_index))
    # The air responds to a door within seconds (the airway's air changes, not the face box).
    door_factor = first_order(door_factor, 5.0, 1.0)

    fan_factor = np.ones(n)
    blips = poisson_times(rng, 1.0 / DAY_S, float(n))
    for start_s in blips:
        duration = int(rng.uniform(20.0, 90.0))
        fan_factor[int(start_s) : int(start_s) + duration] = rng.uniform(0.1, 0.35)
    fan_factor = first_order(fan_factor, 8.0, 1.0)  # fan run-down and run-up

    diesel = np.zeros(n)
    passes = poisson_times(rng, rng.uniform(0.0, 4.0) / SHIFT_S, float(n))
    for start_s in passes:
        if not production[int(start_s)]:
            continue
        width = rng.uniform(120.0, 600.0)
        peak = rng.uniform(1.0, 6.0)
        lo, hi = int(start_s), min(n, int(start_s + 3 * width))
        x = (np.arange(lo, hi) - start_s) / width
        diesel[lo:hi] += peak * np.sin(np.pi * np.clip(x * 1.5, 0.0, 1.0)) ** 2
    return Operations(
        start_tod_s=start_tod_s,
        shift=shift,
        production=production,
        cutting=cutting,
        cut_make_vol_percent=cut_make,
        belt_running=belt_running,
        belt_load=belt_load,
        door_air_factor=door_factor,
        fan_blip_factor=fan_factor,
        diesel_co_ppm=diesel,
        cut_starts_s=np.array(cut_starts),
        door_open_starts_s=np.array(door_starts),
        fan_blip_starts_s=blips,
    )
