"""Methane at the face and in the return: two well-mixed boxes in series, driven by airflow and methane make.

Face box (volume ``V_f``, the face area back to the last open crosscut)::

    dC_f/dt = (G_f + Q_f * C_in - Q_f * C_f) / V_f

Return box (``V_r``, the return airway up to the return-split sensor), fed by the face air, by leakage air that
reaches the return without passing the face, and by rib and goaf make::

    dC_r/dt = (Q_f * C_f + Q_l * C_in + G_r - (Q_f + Q_l) * C_r) / V_r

C are volume fractions, G methane flows (m3/s), Q air flows (m3/s); the return quantity ``Q_f + Q_l`` is set by
the main fan, so air that stops reaching the face (auxiliary fan stopped, door open, curtain down) short-circuits
to the return: the face concentration rises while the return may even fall. The steady state is ``C = G / Q`` plus
the inflow's concentration; a fan stop raises face methane at ``dC/dt = (G_f - Q_f' C_f) / V_f`` at first.

Goaf breathing: a falling barometer draws goaf gas into the return at ``V_goaf * (-dP/dt) / P`` (ideal gas,
isothermal), times its methane fraction; a rising barometer pushes air into the goaf and adds none.

Hazard events (``gas_event``) and their sources or reasoning:

* ``fan_stop``: auxiliary fan stops; 2-30 % of the face air keeps moving (a heading is a dead end: only leakage
  and natural pressure move air without its fan);
  35 % of stops are restarted after a median 12 min (many stop before any limit is reached).
* ``door_open``: a door or stopping left open short-circuits 30-85 % of the face air for 10 min-4 h.
* ``ventilation_decay``: damaged curtain or regulator: face air falls linearly to 10-60 % over 20-180 min.
* ``make_increase``: the miner cuts into a gassier zone (feeder, fault): make x1.5-x8 over 10-180 min, larger while
  cutting; some of these level off below any limit.
* ``outburst``: 20-3,000 m3 of methane (log-uniform) released in seconds to minutes (rise 5-60 s, decay 1-15 min);
  half are preceded by 10-30 min of erratic extra emission, half come with no warning at all. Small ones never
  reach a limit; large ones cross the alarm within a minute or two (little lead time is possible, by design).
* ``goaf_surge``: a storm front drops the barometer by 1-4 hPa/h for 1.5-3.5 h (1 hPa/h is a fast fall, 3-4 hPa/h
  a deep storm's) and a large goaf breathes methane into the return split; a small goaf barely shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.sim.hazard.dynamics import F64, first_order, linear_recurrence, ornstein_uhlenbeck, smooth_noise
from edge.sim.hazard.operations import Operations
from edge.sim.hazard.site import SiteParams

INTAKE_CH4_VOL_PERCENT = 0.03  # intake air picks up a little methane outby (China caps intake at 0.5 %)
AIR_O2_VOL_PERCENT = 20.93
PA_PER_HPA = 100.0
GAS_EVENT_KINDS = ("fan_stop", "door_open", "ventilation_decay", "make_increase", "outburst", "goaf_surge")


def box_model(make_m3s: F64, air_m3s: F64, volume_m3: float, inflow_fraction: F64 | float, c0: float) -> F64:
    """Volume fraction in a well-mixed box (``dC/dt = (G + Q C_in - Q C) / V``), exact per 1 s sample."""
    air = np.maximum(air_m3s, 1e-6)
    target = make_m3s / air + inflow_fraction
    return first_order(target, volume_m3 / air, c0)


@dataclass
class GasEffect:
    """What one gas event does to the ventilation drivers, and the record of it."""

    kind: str
    onset_s: float
    end_s: float
    face_air_factor: F64
    face_extra_make_m3s: F64
    return_extra_make_m3s: F64
    barometer_offset_hpa: F64
    parameters: dict[str, Any] = field(default_factory=dict)


def _ramp(n: int, start: float, duration: float) -> F64:
    ramp: F64 = np.clip((np.arange(n) - start) / max(duration, 1.0), 0.0, 1.0)
    return ramp


def gas_event(
    rng: np.random.Generator, site: SiteParams, ops: Operations, kind: str, *, onset_s: float, n: int
) -> GasEffect:
    """The drivers of one gas event of ``kind`` starting at ``onset_s`` in an episode of ``n`` seconds."""
    if kind not in GAS_EVENT_KINDS:
        raise ValueError(f"unknown gas event kind {kind!r}; allowed: {', '.join(GAS_EVENT_KINDS)}")
    t = np.arange(n, dtype=np.float64)
    air = np.ones(n)
    face_make = np.zeros(n)
    return_make = np.zeros(n)
    baro = np.zeros(n)
    end = float(n)
    params: dict[str, Any] = {}
    after = t >= onset_s
    if kind == "fan_stop":
        # A heading ventilated by an auxiliary fan is a dead end: little air reaches the face without it.
        residual = float(rng.uniform(0.02, 0.30))
        restarted = bool(rng.random() < 0.35)
        if restarted:
            end = min(float(n), onset_s + float(np.clip(rng.lognormal(np.log(12 * 60.0), 0.6), 60.0, 3 * 3600.0)))
        step = np.where(after & (t < end), residual, 1.0)
        air = first_order(step, 8.0, 1.0)  # run-down / run-up of the fan
        params = {"residual_air_fraction": residual, "restarted": restarted}
    elif kind == "door_open":
        residual = float(rng.uniform(0.15, 0.70))
        end = min(float(n), onset_s + float(np.clip(rng.lognormal(np.log(60 * 60.0), 0.8), 600.0, 4 * 3600.0)))
        air = first_order(np.where(after & (t < end), residual, 1.0), 5.0, 1.0)
        params = {"residual_air_fraction": residual}
    elif kind == "ventilation_decay":
        residual = float(rng.uniform(0.10, 0.60))
        duration = float(rng.uniform(20.0, 180.0)) * 60.0
        air = 1.0 - (1.0 - residual) * _ramp(n, onset_s, duration)
        params = {"residual_air_fraction": residual, "ramp_s": duration}
    elif kind == "make_increase":
        factor = float(rng.uniform(1.5, 8.0))
        duration = float(rng.uniform(10.0, 180.0)) * 60.0
        ramp = _ramp(n, onset_s, duration)
        # The gassier coal emits more while it is being cut: extra make on top of both parts of the face make.
        base = site.face_make_m3s + ops.cut_make_vol_percent / 100.0 * site.face_airflow_m3s
        face_make = (factor - 1.0) * ramp * base
        params = {"make_factor": factor, "ramp_s": duration}
    elif kind == "outburst":
        volume = float(np.exp(rng.uniform(np.log(20.0), np.log(3000.0))))
        rise, decay = float(rng.uniform(5.0, 60.0)), float(rng.uniform(60.0, 900.0))
        dt = np.maximum(t - onset_s, 0.0)
        face_make = volume * (np.exp(-dt / decay) - np.exp(-dt / rise)) / (decay - rise)
        precursor = bool(rng.random() < 0.5)
        if precursor:
            lead = float(rng.uniform(10.0, 30.0)) * 60.0
            window = (t >= onset_s - lead) & (t < onset_s)
            erratic = np.abs(smooth_noise(rng, n, sigma=1.0, period_s=60.0))
            face_make += window * erratic * site.face_make_m3s * float(rng.uniform(0.3, 1.2))
        end = min(float(n), onset_s + 5 * decay)
        params = {"volume_m3": volume, "rise_s": rise, "decay_s": decay, "precursor": precursor}
    else:  # goaf_surge
        rate_hpa_h = float(rng.uniform(1.0, 4.0))
        duration = float(rng.uniform(1.5, 3.5)) * 3600.0
        drop = rate_hpa_h * duration / 3600.0
        baro = -drop * _ramp(n, onset_s, duration)
        end = min(float(n), onset_s + duration)
        params = {"pressure_drop_hpa": drop, "fall_s": duration, "fall_rate_hpa_h": rate_hpa_h}
    return GasEffect(
        kind=kind,
        onset_s=onset_s,
        end_s=end,
        face_air_factor=air,
        face_extra_make_m3s=face_make,
        return_extra_make_m3s=return_make,
        barometer_offset_hpa=baro,
        parameters=params,
    )


@dataclass(frozen=True)
class VentilationState:
    ch4_face: F64  # %vol
    ch4_return: F64  # %vol
    airflow_face: F64  # m/s
    o2_face: F64  # %vol
    barometer_hpa: F64
    face_air_m3s: F64


def barometer(rng: np.random.Generator, site: SiteParams, n: int, start_tod_s: float) -> F64:
    """Barometric pressure (hPa): semidiurnal atmospheric tide (0.3-1.2 hPa) plus slow weather (sd 2 hPa).

    Weather is smooth at the scale of minutes (knots 12 h apart, interpolated: a typical tendency of a few tenths
    of a hPa per hour; a fall of 1 hPa/h or more is a storm, see ``goaf_surge``): a rough process would make the
    goaf breathe on noise.
    """
    t = np.arange(n, dtype=np.float64) + start_tod_s
    tide = rng.uniform(0.3, 1.2) * np.cos(2 * np.pi * (t / 43_200.0 - rng.uniform(0.35, 0.45)))
    weather = smooth_noise(rng, n, sigma=2.0, period_s=12 * 3600.0)
    result: F64 = site.barometric_mean_hpa + tide + weather
    return result


def simulate_ventilation(
    rng: np.random.Generator, site: SiteParams, ops: Operations, events: list[GasEffect], start_tod_s: float
) -> VentilationState:
    n = ops.shift.shape[0]
    q0 = site.face_airflow_m3s
    air_factor = ops.door_air_factor * ops.fan_blip_factor
    # Desorption from the ribs and the face wanders slowly (+-8 % over half-hours) even when nothing is cut.
    face_make = site.face_make_m3s * (1.0 + smooth_noise(rng, n, sigma=0.08, period_s=1800.0))
    face_make += ops.cut_make_vol_percent / 100.0 * q0
    return_make = np.full(n, site.return_rib_make_m3s)
    baro = barometer(rng, site, n, start_tod_s)
    for event in events:
        air_factor = air_factor * event.face_air_factor
        face_make = face_make + event.face_extra_make_m3s
        return_make = return_make + event.return_extra_make_m3s
        baro = baro + event.barometer_offset_hpa
    face_make = np.maximum(face_make, 0.0)
    # Turbulence and leakage make the face quantity wander by a few percent.
    face_air = q0 * air_factor * (1.0 + ornstein_uhlenbeck(rng, n, sigma=0.03, tau_s=20.0))
    face_air = np.maximum(face_air, 0.02 * q0)
    total = q0 + site.return_leakage_m3s
    leak = np.maximum(total - face_air, 0.0)

    c_in = INTAKE_CH4_VOL_PERCENT / 100.0
    c_face0 = site.face_background_vol_percent / 100.0 + c_in
    c_face = box_model(face_make, face_air, site.face_volume_m3, c_in, c_face0)

    dp_dt = np.gradient(baro) * PA_PER_HPA  # Pa/s
    # The goaf answers the barometer through the caved rock with a lag (~10 min); gas leaves only on a fall.
    outflow = np.maximum(-first_order(dp_dt, 600.0, float(dp_dt[0])), 0.0)
    goaf_make = outflow * site.goaf_volume_m3 / (baro * PA_PER_HPA) * site.goaf_ch4_fraction
    return_target_make = face_air * c_face + leak * c_in + return_make + goaf_make
    c_ret0 = float(return_target_make[0] / total)
    decay = np.exp(-total / site.return_volume_m3 * np.ones(n))
    c_return = linear_recurrence(decay, (1.0 - decay) * return_target_make / total, c_ret0)

    ch4_face = np.clip(c_face * 100.0, 0.0, 100.0)
    ch4_return = np.clip(c_return * 100.0, 0.0, 100.0)
    velocity = face_air / site.entry_area_m2
    o2 = AIR_O2_VOL_PERCENT * (1.0 - ch4_face / 100.0) - 0.05
    return VentilationState(ch4_face, ch4_return, velocity, o2, baro, face_air)
