"""``HazardScenarioGenerator``: seeded episodes of a section's life, normal or with one hazard, and their truth.

Every episode starts from normal operation at a random time of day (shifts, cutting cycles, belt, door openings,
fan blips, diesel, barometric tide, sensor faults) and a hazard episode adds one hazard of one kind at an onset
drawn in ``GeneratorParams.onset_window_s``. The same ``(seed, layout_seed, index)`` always gives the same episode;
``layout_seed`` selects the mine (geometry and site constants), ``seed`` the scenario stream, so held-out seeds and
held-out layouts are separate axes of an evaluation.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edge.hazard.contract import (
    BELT_DRIVE_ZONES,
    CHANNEL_INDEX,
    CHANNEL_NAMES,
    FAN_ZONES,
    HAZARD_TYPES,
    JURISDICTIONS,
    HazardType,
    VibrationZones,
    statutory_rules,
)
from edge.sim.hazard.dynamics import F64, first_order
from edge.sim.hazard.episode import Episode, HazardEvent
from edge.sim.hazard.equipment import Degradation, degradation_event, simulate_machine
from edge.sim.hazard.faults import FaultRates, observe
from edge.sim.hazard.fire import FireEffect, fire_event
from edge.sim.hazard.ground_truth import all_crossings, first_at_or_after
from edge.sim.hazard.logbook import LogWriter
from edge.sim.hazard.operations import DAY_S, Operations, simulate_operations
from edge.sim.hazard.people import ViolationEvent, simulate_camera, violation_event
from edge.sim.hazard.site import SiteParams, layout_params_for_seed
from edge.sim.hazard.strata import StrataEvent, simulate_strata, strata_event
from edge.sim.hazard.ventilation import GasEffect, gas_event, simulate_ventilation
from edge.sim.mine_layout import LayoutParams, MineLayout

GENERATOR_VERSION = "1.0"

# Kinds of each hazard and how often each is drawn.
HAZARD_KINDS: dict[HazardType, tuple[tuple[str, float], ...]] = {
    HazardType.GAS_ACCUMULATION: (
        ("fan_stop", 0.25),
        ("door_open", 0.20),
        ("ventilation_decay", 0.15),
        ("make_increase", 0.20),
        ("outburst", 0.10),
        ("goaf_surge", 0.10),
    ),
    HazardType.FIRE: (("belt_smoulder", 0.6), ("drive_bearing", 0.4)),
    HazardType.EQUIPMENT_FAULT: (("fan", 0.5), ("belt_drive", 0.5)),
    HazardType.STRATA: (("fall", 0.65), ("stabilises", 0.35)),
    HazardType.PEOPLE: (("violation", 1.0),),
}

_NORMAL_STREAM = 1
_HAZARD_STREAM = 2
_MIX_STREAM = 3


@dataclass(frozen=True)
class GeneratorParams:
    hazard_episode_s: int = 6 * 3600
    normal_day_s: int = 24 * 3600
    onset_window_s: tuple[float, float] = (3600.0, 9000.0)  # leaves >= 1 h of normal context before the onset
    normal_fraction: float = 0.3  # share of normal days drawn by ``episode(index)``
    hazard_weights: tuple[tuple[HazardType, float], ...] = tuple((h, 1.0) for h in HAZARD_TYPES)
    faults: FaultRates = field(default_factory=FaultRates)

    def __post_init__(self) -> None:
        for name in ("hazard_episode_s", "normal_day_s"):
            value = getattr(self, name)
            if not 3600 <= value <= 7 * 86_400:
                raise ValueError(f"GeneratorParams.{name} must be between 3600 s and 7 days, got {value}")
        lo, hi = self.onset_window_s
        if not (0 <= lo <= hi < self.hazard_episode_s):
            raise ValueError(
                f"GeneratorParams.onset_window_s must satisfy 0 <= start <= end < hazard_episode_s "
                f"({self.hazard_episode_s}), got {self.onset_window_s}"
            )
        if not 0 <= self.normal_fraction <= 1:
            raise ValueError(f"GeneratorParams.normal_fraction must be in [0, 1], got {self.normal_fraction}")
        if (
            not self.hazard_weights
            or any(w < 0 for _, w in self.hazard_weights)
            or sum(w for _, w in self.hazard_weights) <= 0
        ):
            raise ValueError("GeneratorParams.hazard_weights must be non-negative with a positive sum")

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["hazard_weights"] = [[h.value, w] for h, w in self.hazard_weights]
        return document


@dataclass
class _Hazards:
    """What the drawn hazard does, handed from the draw to the physics and to the truth."""

    gas: list[GasEffect] = field(default_factory=list)
    fire: FireEffect | None = None
    degradation: Degradation | None = None
    strata: StrataEvent | None = None
    violation: ViolationEvent | None = None
    records: list[tuple[HazardType, str, float, float, str, dict[str, Any]]] = field(default_factory=list)


class HazardScenarioGenerator:
    """Episodes for one mine (``layout_seed``) and one scenario stream (``seed``)."""

    def __init__(
        self,
        *,
        seed: int,
        layout_seed: int = 0,
        jurisdiction: str = "us_msha_coal",
        params: GeneratorParams | None = None,
        layout_params: LayoutParams | None = None,
    ) -> None:
        """``layout_params`` overrides the geometry that ``layout_seed`` would give (the site constants are still
        drawn from ``layout_seed``), e.g. to generate for a real mine's layout."""
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if jurisdiction not in JURISDICTIONS:
            raise ValueError(f"jurisdiction {jurisdiction!r} is not supported; allowed: {', '.join(JURISDICTIONS)}")
        self.seed = seed
        self.layout_seed = layout_seed
        self.jurisdiction = jurisdiction
        self.params = params or GeneratorParams()
        self.layout = MineLayout(layout_params or layout_params_for_seed(layout_seed))
        self.site = SiteParams.draw(self.layout, layout_seed)
        self.rules = statutory_rules(jurisdiction, co_ambient_ppm=self.site.co_ambient_ppm)

    # -- public ------------------------------------------------------------------------------------------

    def normal_day(self, index: int) -> Episode:
        """A gateway-day of normal operation (``params.normal_day_s``) with no hazard."""
        rng = self._rng(_NORMAL_STREAM, index)
        return self._build(rng, index, self.params.normal_day_s, None, "")

    def hazard_episode(self, index: int, hazard: HazardType | None = None, kind: str | None = None) -> Episode:
        """An episode with one hazard (drawn by weight when ``hazard`` is None, its kind when ``kind`` is None)."""
        # A hazard or kind asked for by name gets its own stream, so "fire #3" and "strata #3" are unrelated.
        tag = zlib.crc32(f"{hazard.value if hazard else ''}/{kind or ''}".encode())
        rng = self._rng(_HAZARD_STREAM, index, tag)
        if hazard is None:
            names = [h for h, _ in self.params.hazard_weights]
            weights = np.array([w for _, w in self.params.hazard_weights])
            hazard = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        kinds = HAZARD_KINDS[hazard]
        if kind is None:
            probabilities = np.array([w for _, w in kinds])
            kind = kinds[int(rng.choice(len(kinds), p=probabilities / probabilities.sum()))][0]
        elif kind not in (k for k, _ in kinds):
            raise ValueError(f"hazard {hazard.value!r} has no kind {kind!r}; allowed: {', '.join(k for k, _ in kinds)}")
        return self._build(rng, index, self.params.hazard_episode_s, hazard, kind)

    def episode(self, index: int) -> Episode:
        """A normal day with probability ``params.normal_fraction``, otherwise a hazard episode."""
        if self._rng(_MIX_STREAM, index).random() < self.params.normal_fraction:
            return self.normal_day(index)
        return self.hazard_episode(index)

    def episodes(self, count: int) -> Iterator[Episode]:
        for index in range(count):
            yield self.episode(index)

    def describe(self) -> dict[str, Any]:
        return {
            "version": GENERATOR_VERSION,
            "seed": self.seed,
            "layout_seed": self.layout_seed,
            "jurisdiction": self.jurisdiction,
            "params": self.params.to_dict(),
            "layout_params": asdict(self.layout.params),
        }

    # -- composition -------------------------------------------------------------------------------------

    def _rng(self, stream: int, index: int, tag: int = 0) -> np.random.Generator:
        if index < 0:
            raise ValueError(f"episode index must be >= 0, got {index}")
        return np.random.default_rng(np.random.SeedSequence([self.seed, self.layout_seed, stream, index, tag]))

    def _build(self, rng: np.random.Generator, index: int, n: int, hazard: HazardType | None, kind: str) -> Episode:
        site = self.site
        start_tod = float(rng.uniform(0.0, DAY_S))
        ops = simulate_operations(rng, site, n, start_tod)
        hazards = _Hazards()
        if hazard is not None:
            self._draw_hazard(rng, ops, n, hazard, kind, hazards=hazards)

        clean = np.zeros((n, len(CHANNEL_NAMES)))
        column = CHANNEL_INDEX
        trips = self._machines(rng, ops, hazards, clean)
        if trips.get("fan") is not None:
            # The vibration protection stopped the auxiliary fan: for the face that is a fan stop (a standby fan
            # may be switched in, which the drawn restart stands for).
            trip = float(trips["fan"] or 0.0)
            effect = gas_event(rng, site, ops, "fan_stop", onset_s=trip, n=n)
            effect.parameters["cause"] = "vibration_trip"
            hazards.gas.append(effect)
            hazards.records.append(
                (HazardType.GAS_ACCUMULATION, "fan_stop", trip, effect.end_s, site.face, effect.parameters)
            )
        vent = simulate_ventilation(rng, site, ops, hazards.gas, start_tod)
        clean[:, column["ch4_face"]] = vent.ch4_face
        clean[:, column["ch4_return"]] = vent.ch4_return
        clean[:, column["airflow_face"]] = vent.airflow_face
        clean[:, column["o2_face"]] = vent.o2_face
        clean[:, column["barometric_pressure"]] = vent.barometer_hpa
        self._belt_entry(rng, ops, start_tod, hazards.fire, clean)
        strata = simulate_strata(rng, site, ops, hazards.strata)
        clean[:, column["roof_convergence"]] = strata.convergence_mm
        clean[:, column["rock_pressure"]] = strata.rock_pressure_mpa

        forced: dict[int, int] = {}
        if hazards.strata is not None and hazards.strata.fall_s is not None and hazards.strata.sensor_destroyed:
            fall = int(hazards.strata.fall_s) + 1
            forced = {column["roof_convergence"]: fall, column["rock_pressure"]: fall}
        observed = observe(rng, clean, self.params.faults, forced_dropout_from=forced)
        camera = simulate_camera(rng, site, ops, hazards.violation)

        writer = LogWriter(rng, site, n)
        writer.routine(ops, vent.ch4_face)
        self._hazard_logs(writer, hazards)
        for machine, trip_s in trips.items():
            if trip_s is not None:
                writer.trip(machine, trip_s)

        crossings = all_crossings(clean, self.rules)
        events, active = self._truth(n, hazards, crossings)
        label = "normal" if hazard is None else f"{hazard.value}/{kind}"
        return Episode(
            # The kind is part of the id: episodes of one index but different requested kinds are different
            # episodes (caches and file names are keyed by the id).
            episode_id=(
                f"s{self.seed}-l{self.layout_seed}-n{index:05d}"
                if hazard is None
                else f"s{self.seed}-l{self.layout_seed}-h{index:05d}-{hazard.value}-{kind}"
            ),
            kind=label,
            seed=self.seed,
            layout_seed=self.layout_seed,
            index=index,
            jurisdiction=self.jurisdiction,
            start_tod_s=start_tod,
            sensor_t=np.arange(n, dtype=np.float64),
            sensors=observed.values,
            sensors_clean=clean.astype(np.float32),
            fault_code=observed.fault_code,
            camera_t=camera.t_s,
            camera=camera.features,
            camera_valid=camera.valid,
            camera_truth=camera.truth,
            hazard_active=active,
            events=events,
            crossings=crossings,
            logs=writer.sorted_entries(),
            site=site.to_dict(),
            generator=self.describe(),
        )

    def _draw_hazard(
        self, rng: np.random.Generator, ops: Operations, n: int, hazard: HazardType, kind: str, *, hazards: _Hazards
    ) -> None:
        site = self.site
        onset = float(rng.uniform(*self.params.onset_window_s))
        if hazard is HazardType.GAS_ACCUMULATION:
            if kind == "outburst":
                # Outbursts are triggered by cutting: take a cut that starts in the window when there is one.
                lo, hi = self.params.onset_window_s
                cuts = ops.cut_starts_s[(ops.cut_starts_s >= lo) & (ops.cut_starts_s <= hi)]
                if cuts.shape[0]:
                    onset = float(rng.choice(cuts)) + float(rng.uniform(60.0, 900.0))
            effect = gas_event(rng, site, ops, kind, onset_s=onset, n=n)
            hazards.gas.append(effect)
            location = site.return_sensor_location if kind == "goaf_surge" else site.face
            hazards.records.append((hazard, kind, onset, effect.end_s, location, effect.parameters))
        elif hazard is HazardType.FIRE:
            fire_onset = onset
            distance = float(rng.uniform(30.0, 300.0))
            if kind == "drive_bearing":
                degradation = degradation_event(rng, "belt_drive", BELT_DRIVE_ZONES, onset, n, severe=True)
                hazards.degradation = degradation
                hazards.records.append(
                    (
                        HazardType.EQUIPMENT_FAULT,
                        "belt_drive",
                        onset,
                        float(n),
                        site.belt_drive_location,
                        degradation.parameters,
                    )
                )
                fire_onset = onset + float(degradation.parameters["tau_s"]) * float(rng.uniform(0.7, 1.5))
                distance = site.belt_source_to_sensor_m
            fire = fire_event(
                rng,
                kind,
                fire_onset,
                n,
                belt_air_m3s=site.belt_airflow_m3s,
                distance_m=distance,
                velocity_ms=site.belt_air_velocity_ms,
            )
            hazards.fire = fire
            parameters = {**fire.parameters, "distance_to_sensor_m": distance}
            hazards.records.append((hazard, kind, fire_onset, fire.end_s, site.co_sensor_location, parameters))
        elif hazard is HazardType.EQUIPMENT_FAULT:
            zones = FAN_ZONES if kind == "fan" else BELT_DRIVE_ZONES
            degradation = degradation_event(rng, kind, zones, onset, n)
            hazards.degradation = degradation
            location = site.face if kind == "fan" else site.belt_drive_location
            hazards.records.append((hazard, kind, onset, degradation.end_s, location, degradation.parameters))
        elif hazard is HazardType.STRATA:
            event = strata_event(rng, site, kind, onset, n)
            hazards.strata = event
            parameters = {**event.parameters, "fall_s": event.fall_s, "sensor_destroyed": event.sensor_destroyed}
            hazards.records.append((hazard, kind, onset, event.end_s, site.roof_sensor_location, parameters))
        else:
            violation = violation_event(rng, onset, n)
            hazards.violation = violation
            hazards.records.append((hazard, kind, onset, violation.end_s, site.face, violation.parameters))

    def _belt_entry(
        self, rng: np.random.Generator, ops: Operations, start_tod: float, fire: FireEffect | None, clean: F64
    ) -> None:
        site = self.site
        n = clean.shape[0]
        co = site.co_ambient_ppm + ops.diesel_co_ppm
        # Coal dust from a loaded belt scatters light in a smoke sensor: a real source of nuisance readings.
        smoke = 0.003 * float(rng.uniform(0.5, 2.0)) * ops.belt_load
        tod = (start_tod + np.arange(n)) % DAY_S
        # Intake air carries a damped echo of the surface day (a few tenths of a degree at the section).
        temperature = site.air_temperature_c + 0.4 * np.sin(2 * math.pi * (tod / DAY_S - 0.3))
        # The drive's motors and gearbox (~2 % losses of a few hundred kW) warm the belt air by a few tenths of a
        # degree, with the airway's thermal lag of about half an hour.
        temperature = temperature + first_order(ops.belt_running.astype(np.float64) * 0.3, 1800.0, 0.3)
        if fire is not None:
            co = co + fire.co_ppm
            smoke = smoke + fire.smoke_od_per_m
            temperature = temperature + fire.temperature_rise_c
        clean[:, CHANNEL_INDEX["co_belt"]] = co
        clean[:, CHANNEL_INDEX["smoke_belt"]] = smoke
        clean[:, CHANNEL_INDEX["temp_belt"]] = temperature

    def _machines(
        self, rng: np.random.Generator, ops: Operations, hazards: _Hazards, clean: F64
    ) -> dict[str, float | None]:
        """Fills the vibration and bearing channels; returns when each machine's protection tripped it."""
        site = self.site
        n = clean.shape[0]
        t = np.arange(n)
        fan_running = ops.fan_blip_factor > 0.5
        for effect in hazards.gas:
            if effect.kind == "fan_stop":
                fan_running &= ~((t >= effect.onset_s) & (t < effect.end_s))
        degradation = hazards.degradation
        trips: dict[str, float | None] = {}
        machines: tuple[tuple[str, VibrationZones, Any, F64, float], ...] = (
            ("fan", FAN_ZONES, fan_running, np.ones(n), 0.0),
            ("belt_drive", BELT_DRIVE_ZONES, ops.belt_running, ops.belt_load, 0.5),
        )
        for machine, zones, running, load, share in machines:
            signals = simulate_machine(
                rng,
                zones,
                running,
                load,
                site.air_temperature_c,
                load_share=share,
                degradation=degradation if degradation is not None and degradation.machine == machine else None,
            )
            clean[:, CHANNEL_INDEX[f"vib_{machine}"]] = signals.vibration_mm_s
            clean[:, CHANNEL_INDEX[f"bearing_temp_{machine}"]] = signals.bearing_temp_c
            trips[machine] = signals.trip_s
        return trips

    def _hazard_logs(self, writer: LogWriter, hazards: _Hazards) -> None:
        for effect in hazards.gas:
            writer.gas(effect.kind, effect.onset_s, effect.end_s, effect.parameters)
        if hazards.fire is not None:
            writer.fire(hazards.fire.source, hazards.fire.onset_s, float(hazards.fire.parameters["growth_tau_s"]))
        if hazards.degradation is not None:
            writer.equipment(
                hazards.degradation.machine, hazards.degradation.onset_s, float(hazards.degradation.parameters["tau_s"])
            )
        if hazards.strata is not None:
            writer.strata(hazards.strata.onset_s, float(hazards.strata.parameters["lead_s"]))
        if hazards.violation is not None:
            writer.people(hazards.violation.onset_s, hazards.violation.end_s)

    def _truth(
        self, n: int, hazards: _Hazards, crossings: dict[str, dict[str, list[float]]]
    ) -> tuple[list[HazardEvent], np.ndarray[Any, np.dtype[np.bool_]]]:
        active = np.zeros((n, len(HAZARD_TYPES)), dtype=bool)
        events: list[HazardEvent] = []
        for hazard, kind, onset, end, location, parameters in hazards.records:
            column = HAZARD_TYPES.index(hazard)
            channels = _EVENT_CHANNELS[hazard](kind)
            event_crossings = {
                ch: {level: first_at_or_after(times, onset) for level, times in crossings.get(ch, {}).items()}
                for ch in channels
            }
            deadline: float | None
            if hazard is HazardType.STRATA:
                deadline = hazards.strata.fall_s if hazards.strata is not None else None
                rule = "roof_convergence:fall"
                active[int(onset) : int(end), column] = True
            elif hazard is HazardType.PEOPLE:
                mask = hazards.violation.active if hazards.violation is not None else np.zeros(n, dtype=bool)
                active[:, column] |= mask
                first = np.flatnonzero(mask)
                deadline = float(first[0]) if first.shape[0] else None
                rule = "camera:violation"
            else:
                level = "zone_d" if hazard is HazardType.EQUIPMENT_FAULT else "alarm"
                candidates = [
                    (time, f"{ch}:{level}")
                    for ch in channels
                    if (time := event_crossings[ch].get(level)) is not None and _is_deadline_channel(hazard, ch)
                ]
                deadline, rule = min(candidates) if candidates else (None, f"{'|'.join(channels)}:{level}")
                active[int(onset) : int(end), column] = True
            events.append(
                HazardEvent(
                    hazard=hazard,
                    kind=kind,
                    onset_s=onset,
                    end_s=end,
                    location=location,
                    deadline_s=deadline,
                    deadline_rule=rule,
                    crossings=event_crossings,
                    parameters=_jsonable(parameters),
                )
            )
        return events, active


def _gas_channels(_: str) -> tuple[str, ...]:
    return ("ch4_face", "ch4_return", "o2_face")


def _fire_channels(_: str) -> tuple[str, ...]:
    return ("co_belt", "smoke_belt")


def _equipment_channels(kind: str) -> tuple[str, ...]:
    return (f"vib_{kind}", f"bearing_temp_{kind}")


def _no_channels(_: str) -> tuple[str, ...]:
    return ()


_EVENT_CHANNELS = {
    HazardType.GAS_ACCUMULATION: _gas_channels,
    HazardType.FIRE: _fire_channels,
    HazardType.EQUIPMENT_FAULT: _equipment_channels,
    HazardType.STRATA: _no_channels,
    HazardType.PEOPLE: _no_channels,
}


def _is_deadline_channel(hazard: HazardType, channel: str) -> bool:
    # Fire is due at the statutory CO alarm; the smoke level is a recalled [R] value, kept as a crossing only.
    return not (hazard is HazardType.FIRE and channel == "smoke_belt")


def _jsonable(parameters: dict[str, Any]) -> dict[str, Any]:
    return {key: value.item() if isinstance(value, np.generic) else value for key, value in parameters.items()}
