"""A gateway's section of a mine: geometry from the world model, physical constants drawn per layout seed.

A *layout seed* is a different mine: ``layout_params_for_seed`` varies the room-and-pillar geometry (layout seed
0 is the default mine) and ``SiteParams.draw`` varies what the geometry does not fix (seam height, gassiness,
airflow, belt speed, roof behaviour). Held-out layouts in the evaluation are held-out layout seeds.

Sources and reasoning for the ranges (SI units; concentrations in %vol as the rule layer uses them):

* Seam (entry) height 1.5-3.0 m: US room-and-pillar coal is worked mostly in 1.2-3 m seams.
* Face air quantity 3-7 m3/s (6,400-15,000 cfm): 30 CFR 75.325(a) asks for >= 3,000 cfm (1.4 m3/s) at each
  working face and ventilation plans for continuous miners with scrubbers typically approve 6,000-9,000 cfm.
* Background face methane 0.08-0.30 %vol while idle, cutting peaks 0.15-0.45 %vol median per site (background plus
  median peak below 0.7 %vol): faces are run below the 1.0 % working-place level of 75.323(b); a gassy seam shows
  peaks of a few tenths per cut, and the odd cut of a gassy seam touches the 1.0 % alert (what the alert is for).
* Return leakage 30-100 % of the face quantity: air reaching the return split through stoppings and the
  crosscuts inby the last open one adds to the face air.
* Rib make into the return sized to add 0.05-0.25 %vol to it; goaf void communicating with the return 5e4-5e5 m3
  at 20-80 % CH4 (gob gas is mostly methane in a gassy seam): a worked-out area
  "breathes" when the barometer falls (outflow = V * (-dP/dt) / P, ideal gas at constant temperature).
* Belt air velocity 0.8-3.0 m/s (160-590 fpm): typical belt entries (75.351 spacing rules distinguish < 50,
  50-100 and faster fpm; modern belt air courses run a few hundred fpm).
* Ambient CO 0-5 ppm: the mine-specific ambient the US belt CO limits are relative to (75.351 [R]).
* Roof creep 0.01-0.15 mm/h background convergence: a few mm per day at a well-supported entry; NIOSH cites
  deflection rates as the warning quantity (regulations.md 3.1).
* Support / stress-cell pressure 8-30 MPa with a stiffness of 0.05-0.4 MPa per mm of convergence.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edge.sim.mine_layout import LayoutParams, MineLayout

_SITE_STREAM = 0x5173  # separates the site draw from the layout draw of the same seed


def layout_params_for_seed(layout_seed: int) -> LayoutParams:
    """The mine's geometry for ``layout_seed``: 0 is the default mine, any other seed a different one."""
    if layout_seed < 0:
        raise ValueError(f"layout_seed must be >= 0, got {layout_seed}")
    if layout_seed == 0:
        return LayoutParams()
    rng = np.random.default_rng(np.random.SeedSequence([layout_seed, 0x1A70]))
    crosscuts = int(rng.integers(10, 41))
    return LayoutParams(
        entries=int(rng.integers(3, 9)),
        crosscuts=crosscuts,
        pillar_along_m=float(rng.uniform(15.0, 30.0)),
        pillar_across_m=float(rng.uniform(12.0, 24.0)),
        entry_width_m=float(rng.uniform(5.0, 6.5)),
        face_advance_m=float(rng.uniform(6.0, 18.0)),
        refuge_crosscuts_outby=min(crosscuts - 1, int(rng.integers(3, 9))),
    )


@dataclass(frozen=True)
class SiteParams:
    """Everything about the section that stays the same from one episode to the next."""

    layout_seed: int
    # names from the layout (what log entries and sensor locations call things)
    face: str
    face_entry: int
    return_entry: int
    belt_entry: int
    belt_drive: str  # equipment name, e.g. "belt drive 2"
    belt_drive_location: str  # node id
    fan: str  # auxiliary fan name
    doors: tuple[str, ...]  # ventilation doors / regulators in the section (node ids)
    co_sensor_location: str
    return_sensor_location: str
    roof_sensor_location: str
    # geometry (m, m2, m3)
    seam_height_m: float
    entry_area_m2: float
    face_volume_m3: float
    return_volume_m3: float
    belt_source_to_sensor_m: float  # drive (typical fire source) to the CO sensor downwind
    # ventilation
    face_airflow_m3s: float
    return_leakage_m3s: float
    face_background_vol_percent: float
    cutting_peak_vol_percent: float  # median extra face methane at the end of a cut
    return_rib_make_m3s: float  # ribs and goaf edge along the return, constant part
    goaf_volume_m3: float
    goaf_ch4_fraction: float
    # belt entry
    belt_air_velocity_ms: float
    co_ambient_ppm: float
    air_temperature_c: float
    # strata
    creep_mm_per_h: float
    support_pressure_mpa: float
    support_stiffness_mpa_per_mm: float
    # barometer (hPa): the mean level depends on the mine's depth and altitude
    barometric_mean_hpa: float
    crew_size: int

    @property
    def belt_airflow_m3s(self) -> float:
        return self.belt_air_velocity_ms * self.entry_area_m2

    @property
    def face_make_m3s(self) -> float:
        """Idle face methane make that gives the background concentration at the design face air."""
        return self.face_airflow_m3s * self.face_background_vol_percent / 100.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def draw(cls, layout: MineLayout, layout_seed: int) -> SiteParams:
        """The section of ``layout`` with physical constants drawn from ``layout_seed`` (deterministic)."""
        rng = np.random.default_rng(np.random.SeedSequence([layout_seed, _SITE_STREAM]))
        p, roles = layout.params, layout.roles
        entries = p.entries
        returns = [e for e in range(entries) if e not in (roles.belt, roles.haulage, roles.primary_escapeway)]
        return_entry = returns[-1] if returns else entries - 1
        # The continuous miner works the face of one of the centre entries: the belt entry's face.
        face_entry = roles.belt
        last = p.crosscuts - 1
        seam_height = float(rng.uniform(1.5, 3.0))
        area = p.entry_width_m * seam_height
        # The face zone: from the face back to the last open crosscut (line curtain / tubing ventilates it).
        face_volume = area * (p.face_advance_m + p.pitch_along_m)
        return_sensor_crosscuts = int(rng.integers(2, min(8, last) + 1))
        return_volume = area * return_sensor_crosscuts * p.pitch_along_m
        face_air = float(rng.uniform(3.0, 7.0))
        leakage = face_air * float(rng.uniform(0.3, 1.0))
        background = float(rng.uniform(0.08, 0.30))
        # Normal cuts must stay a normal excursion: background plus a median cut below 0.7 %vol.
        cutting_peak = float(rng.uniform(0.15, max(0.16, min(0.45, 0.7 - background))))
        # Rib make sized by what it adds to the return: 0.05-0.25 %vol over the diluted face air.
        rib_make = (face_air + leakage) * float(rng.uniform(0.05, 0.25)) / 100.0
        drive_number = int(rng.integers(1, 5))
        door_crosscuts = sorted({int(c) for c in rng.integers(1, max(2, last), size=2)})
        co_crosscut = min(last, 1)
        return cls(
            layout_seed=layout_seed,
            face=f"f{face_entry}",
            face_entry=face_entry,
            return_entry=return_entry,
            belt_entry=roles.belt,
            belt_drive=f"belt drive {drive_number}",
            belt_drive_location=layout.intersection_id(roles.belt, 0),
            fan=f"auxiliary fan AF-{face_entry + 1}",
            doors=tuple(layout.intersection_id(roles.haulage, c) for c in door_crosscuts),
            co_sensor_location=layout.intersection_id(roles.belt, co_crosscut),
            return_sensor_location=layout.intersection_id(return_entry, last - return_sensor_crosscuts),
            roof_sensor_location=layout.intersection_id(face_entry, last),
            seam_height_m=seam_height,
            entry_area_m2=area,
            face_volume_m3=face_volume,
            return_volume_m3=return_volume,
            # 75.351 [R]: a CO sensor within ~100 ft (30 m) downwind of each drive.
            belt_source_to_sensor_m=float(rng.uniform(10.0, 30.0)),
            face_airflow_m3s=face_air,
            return_leakage_m3s=leakage,
            face_background_vol_percent=background,
            cutting_peak_vol_percent=cutting_peak,
            return_rib_make_m3s=rib_make,
            goaf_volume_m3=float(math.exp(rng.uniform(math.log(5e4), math.log(5e5)))),
            goaf_ch4_fraction=float(rng.uniform(0.20, 0.80)),
            belt_air_velocity_ms=float(rng.uniform(0.8, 3.0)),
            co_ambient_ppm=float(np.round(rng.uniform(0.0, 5.0))),
            air_temperature_c=float(rng.uniform(15.0, 30.0)),
            creep_mm_per_h=float(math.exp(rng.uniform(math.log(0.01), math.log(0.15)))),
            support_pressure_mpa=float(rng.uniform(8.0, 30.0)),
            support_stiffness_mpa_per_mm=float(rng.uniform(0.05, 0.4)),
            barometric_mean_hpa=float(rng.uniform(960.0, 1060.0)),
            crew_size=int(rng.integers(6, 15)),
        )
