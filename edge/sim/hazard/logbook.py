"""Operation, maintenance and examination log entries: routine ones and those that hazards give rise to.

Routine entries (all episodes): the pre-shift examination before each shift (30 CFR 75.360 asks for one within 3 h
before a shift) with the examiner's hand-held methane reading, an on-shift examination in production shifts
(75.362), belt start/stop, and 2-6 maintenance entries a day -- a third of which use the very words of a hazard
about something that was found harmless or fixed ("bearing noisy on belt drive 2, greased, noise gone"): a model
must not fire on a word.

Hazard entries are written with a probability and a delay (people notice a smell or a noise some time after it
starts, sometimes never; some are written only after the event, e.g. a door found open and closed), so text
sometimes helps early, sometimes late and sometimes not at all.
"""

from __future__ import annotations

import numpy as np

from edge.hazard.contract import LogEntry, LogKind
from edge.sim.hazard.dynamics import F64, poisson_times
from edge.sim.hazard.operations import DAY_S, Operations
from edge.sim.hazard.site import SiteParams


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


class LogWriter:
    """Collects entries for one episode of ``n`` seconds; entries outside ``[0, n)`` are dropped."""

    def __init__(self, rng: np.random.Generator, site: SiteParams, n: int) -> None:
        self.rng = rng
        self.site = site
        self.n = n
        self.entries: list[LogEntry] = []

    def add(self, t_s: float, text: str, *, equipment: str = "", location: str = "", kind: LogKind) -> None:
        if 0.0 <= t_s < self.n:
            self.entries.append(LogEntry(float(t_s), text, equipment, location or self.site.face, kind))

    def maybe(
        self, probability: float, t_s: float, text: str, *, equipment: str = "", location: str = "", kind: LogKind
    ) -> None:
        if self.rng.random() < probability:
            self.add(t_s, text, equipment=equipment, location=location, kind=kind)

    def sorted_entries(self) -> list[LogEntry]:
        return sorted(self.entries, key=lambda e: e.t_s)

    # -- routine -------------------------------------------------------------------------------------------

    def routine(self, ops: Operations, ch4_face: F64) -> None:
        rng, site = self.rng, self.site
        shift_starts = np.flatnonzero(np.diff(ops.shift) != 0) + 1
        for start in shift_starts:
            exam = float(start) - rng.uniform(10.0, 60.0) * 60.0
            reading = float(ch4_face[int(np.clip(exam, 0, self.n - 1))]) + rng.normal(0.0, 0.05)
            self.add(
                exam,
                f"pre-shift examination {site.face}: no hazards observed, CH4 {max(reading, 0.0):.1f} %",
                location=site.face,
                kind=LogKind.EXAMINATION,
            )
            if int(ops.shift[start]) in (0, 1):
                self.add(
                    float(start) + rng.uniform(3.0, 5.0) * 3600.0,
                    _pick(rng, ("on-shift examination: ventilation and roof normal", "on-shift exam done, no hazards")),
                    location=site.face,
                    kind=LogKind.EXAMINATION,
                )
        transitions = np.flatnonzero(np.diff(ops.belt_running.astype(np.int8)))
        for index in transitions:
            started = bool(ops.belt_running[index + 1])
            self.add(
                float(index + 1),
                f"{site.belt_drive} {'started' if started else 'stopped for belt work'}",
                equipment=site.belt_drive,
                location=site.belt_drive_location,
                kind=LogKind.OPERATION,
            )
        crosscut = f"crosscut {int(rng.integers(1, 10))}"
        routine = (
            (f"greased bearings on {site.belt_drive}", site.belt_drive, site.belt_drive_location),
            ("changed cutter bits on continuous miner", "continuous miner", site.face),
            (f"rock dusted belt entry to {crosscut}", "", site.co_sensor_location),
            (f"checked {site.fan}, running normal", site.fan, site.face),
            (f"replaced two idlers at {crosscut}", site.belt_drive, site.co_sensor_location),
            (f"advanced line curtain at {site.face}", "", site.face),
            ("cleaned spillage at belt tail", site.belt_drive, site.co_sensor_location),
            (f"noise on {site.belt_drive} checked, guard bolt tightened", site.belt_drive, site.belt_drive_location),
            (f"{site.fan} vibration checked with handheld meter, OK", site.fan, site.face),
            (f"door at {site.doors[0]} adjusted, closes properly", "", site.doors[0]),
            (f"roof bolted at {site.face}, conditions normal", "", site.face),
            (f"small rib sloughing at {crosscut}, scaled down", "", site.roof_sensor_location),
            # The words of a hazard about something that was not one (found and fixed, or harmless):
            (f"bearing noisy on {site.belt_drive}, greased, noise gone", site.belt_drive, site.belt_drive_location),
            (f"{site.fan} running rough after restart, settled", site.fan, site.face),
            (f"smell of hot rubber near {crosscut}: seized idler replaced", site.belt_drive, site.co_sensor_location),
            (f"roof working at {site.roof_sensor_location} after cut, bolted, stable", "", site.roof_sensor_location),
            (f"methane 0.8 % on handheld at {site.face} during cut, cleared", "", site.face),
        )
        for t in poisson_times(rng, rng.uniform(2.0, 6.0) / DAY_S, float(self.n)):
            text, equipment, location = routine[int(rng.integers(len(routine)))]
            self.add(float(t), text, equipment=equipment, location=location, kind=LogKind.MAINTENANCE)
        for t in ops.fan_blip_starts_s:
            self.maybe(
                0.6,
                float(t) + rng.uniform(1.0, 10.0) * 60.0,
                f"{site.fan} tripped on power dip, restarted",
                equipment=site.fan,
                kind=LogKind.OPERATION,
            )
        for t in ops.door_open_starts_s:
            door = _pick(rng, site.doors)
            self.maybe(0.1, float(t), f"door at {door} opened for scoop", location=door, kind=LogKind.OPERATION)

    # -- hazards -------------------------------------------------------------------------------------------

    def gas(self, kind: str, onset_s: float, end_s: float, parameters: dict[str, object]) -> None:
        rng, site = self.rng, self.site
        op, mt = LogKind.OPERATION, LogKind.MAINTENANCE
        if kind == "fan_stop":
            self.maybe(
                0.5,
                onset_s + rng.uniform(1.0, 20.0) * 60.0,
                f"{site.fan} stopped, electrician called",
                equipment=site.fan,
                kind=op,
            )
            if parameters.get("restarted"):
                self.maybe(0.8, end_s, f"{site.fan} restarted", equipment=site.fan, kind=op)
        elif kind == "door_open":
            door = _pick(rng, site.doors)
            self.maybe(0.7, end_s, f"door at {door} found open, closed it", location=door, kind=op)
        elif kind == "ventilation_decay":
            text = _pick(rng, (f"line curtain torn at {site.face}, repaired", f"brattice damaged near {site.face}"))
            self.maybe(0.4, onset_s + rng.uniform(10.0, 120.0) * 60.0, text, kind=mt)
        elif kind == "make_increase":
            text = _pick(
                rng, (f"gas feeder from roof at {site.face}", f"more gas on handheld while cutting {site.face}")
            )
            self.maybe(0.5, onset_s + rng.uniform(5.0, 60.0) * 60.0, text, kind=op)
        elif kind == "outburst":
            if parameters.get("precursor"):
                text = _pick(rng, (f"coal bumping and spitting at {site.face}", f"drill hole gassing at {site.face}"))
                self.maybe(0.3, onset_s - rng.uniform(2.0, 10.0) * 60.0, text, kind=op)
            self.maybe(
                0.9, onset_s + rng.uniform(2.0, 10.0) * 60.0, f"gas outburst at {site.face}, men withdrawn", kind=op
            )
        elif kind == "goaf_surge":
            self.maybe(
                0.3,
                onset_s + rng.uniform(30.0, 60.0) * 60.0,
                "barometer falling fast, return checked",
                location=site.face,
                kind=op,
            )

    def fire(self, source: str, onset_s: float, growth_tau_s: float) -> None:
        rng, site = self.rng, self.site
        crosscut = f"crosscut {int(rng.integers(1, 10))}"
        if source == "belt_smoulder":
            self.maybe(
                0.3,
                onset_s - rng.uniform(0.0, 120.0) * 60.0,
                f"belt misaligned, rubbing at {crosscut}",
                equipment=site.belt_drive,
                location=site.co_sensor_location,
                kind=LogKind.MAINTENANCE,
            )
        text = _pick(rng, (f"smell of burning rubber near {crosscut}", f"haze in belt entry near {site.belt_drive}"))
        self.maybe(
            0.4,
            onset_s + rng.uniform(0.5, 2.0) * growth_tau_s,
            text,
            equipment=site.belt_drive,
            location=site.co_sensor_location,
            kind=LogKind.OPERATION,
        )

    def equipment(self, machine: str, onset_s: float, tau_s: float) -> None:
        rng, site = self.rng, self.site
        name = site.belt_drive if machine == "belt_drive" else site.fan
        location = site.belt_drive_location if machine == "belt_drive" else site.face
        first = _pick(rng, (f"bearing noisy on {name}", f"{name} running rough", f"grinding noise at {name}"))
        self.maybe(
            0.6,
            onset_s + rng.uniform(0.3, 1.5) * tau_s,
            first,
            equipment=name,
            location=location,
            kind=LogKind.MAINTENANCE,
        )
        self.maybe(
            0.3,
            onset_s + rng.uniform(1.0, 2.5) * tau_s,
            f"{name} bearing hot to touch, reported",
            equipment=name,
            location=location,
            kind=LogKind.MAINTENANCE,
        )

    def trip(self, machine: str, trip_s: float) -> None:
        site = self.site
        name = site.belt_drive if machine == "belt_drive" else site.fan
        location = site.belt_drive_location if machine == "belt_drive" else site.face
        self.maybe(
            0.9,
            trip_s + self.rng.uniform(1.0, 15.0) * 60.0,
            f"{name} tripped on high vibration, locked out",
            equipment=name,
            location=location,
            kind=LogKind.OPERATION,
        )

    def strata(self, onset_s: float, lead_s: float) -> None:
        rng, site = self.rng, self.site
        where = site.roof_sensor_location
        self.maybe(
            0.5,
            onset_s + rng.uniform(0.2, 0.8) * lead_s,
            f"roof working at {where}, dribbling",
            location=where,
            kind=LogKind.EXAMINATION,
        )
        self.maybe(
            0.4,
            onset_s + rng.uniform(0.5, 0.95) * lead_s,
            f"cracking noise in roof near {where}",
            location=where,
            kind=LogKind.OPERATION,
        )

    def people(self, onset_s: float, end_s: float) -> None:
        rng, site = self.rng, self.site
        self.maybe(
            0.3,
            rng.uniform(onset_s, end_s),
            f"men seen without hard hats at {site.face}, told",
            kind=LogKind.EXAMINATION,
        )
        self.maybe(
            0.3,
            rng.uniform(onset_s, end_s),
            f"person under unsupported roof at {site.face}, stopped",
            kind=LogKind.EXAMINATION,
        )
