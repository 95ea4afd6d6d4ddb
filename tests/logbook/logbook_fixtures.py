"""Shared pieces of the logbook tests: a store on a fake clock with the hashed encoder, and a small case base."""

from __future__ import annotations

from pathlib import Path

from edge.clock import FakeClock
from edge.hazard.contract import LogKind
from edge.logbook.store import LogStore
from edge.text import HashedNgramEncoder

# Past incidents (each linked to the warning it was about) among routine entries that share their words.
CASE_BASE: tuple[tuple[str, LogKind, str | None], ...] = (
    ("BD-2 bearing hot to touch, reported", LogKind.MAINTENANCE, "hazard.equipment_fault.bd2"),
    ("auxiliary fan AF-1 stopped, electrician called", LogKind.OPERATION, "ch4_face:alert"),
    ("smell of burning rubber near crosscut 4", LogKind.OPERATION, "co_belt:alarm"),
    ("cracking noise in roof near e2c5", LogKind.OPERATION, "hazard.strata"),
    ("gas outburst at f2, men withdrawn", LogKind.OPERATION, "ch4_face:alarm"),
)
ROUTINE: tuple[str, ...] = (
    "greased bearings on belt drive 2",
    "checked auxiliary fan AF-1, running normal",
    "rock dusted belt entry to crosscut 4",
    "roof bolted at f2, conditions normal",
    "pre-shift examination f2: no hazards observed, CH4 0.2 %",
    "changed cutter bits on continuous miner",
)


def hashed_store(path: Path, clock: FakeClock | None = None) -> LogStore:
    return LogStore.open(path, encoder=HashedNgramEncoder(), clock=clock or FakeClock())


def fill_case_base(store: LogStore, clock: FakeClock) -> None:
    for text in ROUTINE:
        clock.advance(600)
        store.add(text, kind=LogKind.MAINTENANCE)
    for text, kind, alarm in CASE_BASE:
        clock.advance(600)
        store.add(text, kind=kind, related_alarm=alarm, incident=True)
