"""Labelled log entries from the hazard scenario generator's own log writer, for measuring text encoders.

``edge.sim.hazard.logbook.LogWriter`` writes the entries of an episode but does not say which of its methods wrote
which entry. ``_TaggingWriter`` is that writer with two changes for this purpose only: every entry is tagged with
the hazard (type, kind, equipment role) of the call that wrote it, and hazard entries are always written (the
generator writes each with a probability; here we want every template variant, not its base rate). Routine
entries come from ``LogWriter.routine`` over a simulated stretch of normal operation; the ones that use a
hazard's words about something harmless ("bait") are told apart by the templates named in ``BAIT_PATTERNS``
(the generator's own list of them, after its comment "the words of a hazard about something that was not one").
A test checks that every pattern still occurs, so a change of the generator's wording shows up there.

Sites differ in their names (belt drive number, fan AF-n, face and node ids, crosscut numbers), so splitting by
layout seed gives held-out entries whose names were never seen; their templates were, which is why the
hand-written paraphrases (``export.text.paraphrases``) are the real test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from edge.hazard.contract import HazardType, LogKind
from edge.sim.hazard.logbook import LogWriter
from edge.sim.hazard.operations import DAY_S, simulate_operations
from edge.sim.hazard.site import SiteParams, layout_params_for_seed
from edge.sim.mine_layout import MineLayout

Label = Literal["routine", "bait", "hazard"]
LABELS: tuple[Label, ...] = ("routine", "bait", "hazard")

# The generator's routine entries that use a hazard's words (logbook.LogWriter.routine, after "The words of a
# hazard about something that was not one").
BAIT_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"^bearing noisy on .+, greased, noise gone$"),
    re.compile(r"^.+ running rough after restart, settled$"),
    re.compile(r"^smell of hot rubber near .+: seized idler replaced$"),
    re.compile(r"^roof working at .+ after cut, bolted, stable$"),
    re.compile(r"^methane 0\.8 % on handheld at .+ during cut, cleared$"),
)


@dataclass(frozen=True, slots=True)
class LabelledEntry:
    text: str
    label: Label
    hazard: str  # HazardType value, "" unless label == "hazard"
    kind: str  # the generator's hazard kind ("fan_stop", "belt_smoulder", "bearing", ...), "" unless a hazard
    equipment: str  # "belt_drive", "fan" or "": the role of the equipment the entry names, whatever its site name
    layout_seed: int

    @property
    def case(self) -> tuple[str, str]:
        """What a retrieved past entry must share with a query to count as relevant: hazard type and equipment."""
        return (self.hazard, self.equipment)


class _TaggingWriter(LogWriter):
    def __init__(self, rng: np.random.Generator, site: SiteParams, n: int) -> None:
        super().__init__(rng, site, n)
        self.tag: tuple[str, str] = ("", "")
        self.tagged: list[tuple[str, str, str, str]] = []  # text, equipment name, hazard, kind

    def add(self, t_s: float, text: str, *, equipment: str = "", location: str = "", kind: LogKind) -> None:
        before = len(self.entries)
        super().add(t_s, text, equipment=equipment, location=location, kind=kind)
        if len(self.entries) > before:
            self.tagged.append((text, equipment, *self.tag))

    def maybe(
        self, probability: float, t_s: float, text: str, *, equipment: str = "", location: str = "", kind: LogKind
    ) -> None:
        # Hazard entries always; routine ones (fan trips on power dips, doors opened) keep their probability.
        if self.tag[0]:
            self.add(t_s, text, equipment=equipment, location=location, kind=kind)
        else:
            super().maybe(probability, t_s, text, equipment=equipment, location=location, kind=kind)


def _role(site: SiteParams, equipment: str) -> str:
    if equipment == site.belt_drive:
        return "belt_drive"
    if equipment == site.fan:
        return "fan"
    return ""


def _hazard_calls(writer: _TaggingWriter, rng: np.random.Generator, n: int) -> None:
    """One call per hazard kind the log writer knows, at mid-episode, each tagged with its hazard."""
    mid = n / 2.0
    gas = HazardType.GAS_ACCUMULATION.value
    for kind, parameters in (
        ("fan_stop", {"restarted": True}),
        ("door_open", {}),
        ("ventilation_decay", {}),
        ("make_increase", {}),
        ("outburst", {"precursor": True}),
        ("goaf_surge", {}),
    ):
        writer.tag = (gas, kind)
        writer.gas(kind, mid, mid + 3600.0, dict(parameters))
    writer.tag = (HazardType.FIRE.value, "belt_smoulder")
    writer.fire("belt_smoulder", mid, float(rng.uniform(600.0, 3600.0)))
    for machine in ("belt_drive", "fan"):
        writer.tag = (HazardType.EQUIPMENT_FAULT.value, f"{machine}_degradation")
        writer.equipment(machine, mid, float(rng.uniform(1800.0, 7200.0)))
        writer.tag = (HazardType.EQUIPMENT_FAULT.value, f"{machine}_trip")
        writer.trip(machine, mid)
    writer.tag = (HazardType.STRATA.value, "roof")
    writer.strata(mid, float(rng.uniform(1800.0, 7200.0)))
    writer.tag = (HazardType.PEOPLE.value, "violation")
    writer.people(mid, mid + 1800.0)
    writer.tag = ("", "")


def site_entries(layout_seed: int, seed: int, *, days: float = 2.0, hazard_rounds: int = 3) -> list[LabelledEntry]:
    """Routine entries of ``days`` of normal operation and ``hazard_rounds`` rounds of every hazard's entries at
    mine ``layout_seed``; ``seed`` draws everything else."""
    layout = MineLayout(layout_params_for_seed(layout_seed))
    site = SiteParams.draw(layout, layout_seed)
    rng = np.random.default_rng(np.random.SeedSequence([seed, layout_seed, 0x7E47]))
    n = int(days * DAY_S)
    ops = simulate_operations(rng, site, n, float(rng.uniform(0.0, DAY_S)))
    ch4_face = np.full(n, site.face_background_vol_percent)
    writer = _TaggingWriter(rng, site, n)
    writer.routine(ops, ch4_face)
    for _ in range(hazard_rounds):
        _hazard_calls(writer, rng, n)
    out: list[LabelledEntry] = []
    for text, equipment, hazard, kind in writer.tagged:
        label: Label = "hazard" if hazard else ("bait" if any(p.match(text) for p in BAIT_PATTERNS) else "routine")
        out.append(LabelledEntry(text, label, hazard, kind, _role(site, equipment), layout_seed))
    return out


def dataset(
    layout_seeds: Iterable[int], seed: int, *, days: float = 2.0, hazard_rounds: int = 3
) -> list[LabelledEntry]:
    return [e for ls in layout_seeds for e in site_entries(ls, seed, days=days, hazard_rounds=hazard_rounds)]


def unique(entries: Sequence[LabelledEntry]) -> list[LabelledEntry]:
    """One entry per distinct (text, label, hazard, equipment): a repeated routine line is one case, not many."""
    seen: set[tuple[str, str, str, str]] = set()
    out: list[LabelledEntry] = []
    for e in entries:
        key = (e.text, e.label, e.hazard, e.equipment)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out
