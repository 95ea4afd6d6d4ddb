"""Hand-written log entries in the words and shorthand people write, none of them a generator template.

Each hazard entry is labelled with the hazard type and the equipment role that a retrieved past case must share
(see ``LabelledEntry.case``); bait and routine ones test that a model does not fire on a hazard's words. They name
sites that no generated layout uses (belt drive 7, fan AF-9, faces like "No. 3 entry") or none at all, and use
abbreviations, typos and reordering. Written once, before any encoder was measured on them, and not tuned after.
"""

from __future__ import annotations

from export.text.logdata import Label, LabelledEntry

_ROWS: tuple[tuple[str, Label, str, str], ...] = (
    # equipment fault, belt drive
    ("brg temp high BD2", "hazard", "equipment_fault", "belt_drive"),
    ("belt drive 2 bearing running hot", "hazard", "equipment_fault", "belt_drive"),
    ("BD-7 gearbox whining, getting louder", "hazard", "equipment_fault", "belt_drive"),
    ("drive bearing on main belt very noisy", "hazard", "equipment_fault", "belt_drive"),
    ("belt drive 7 vibrating bad, tripped out on vib", "hazard", "equipment_fault", "belt_drive"),
    ("bearnig on belt drive 4 grinding", "hazard", "equipment_fault", "belt_drive"),
    ("hot bearing at the belt head drive, too hot to hold a hand on", "hazard", "equipment_fault", "belt_drive"),
    # equipment fault, fan
    ("aux fan AF-9 rough running, vibration up", "hazard", "equipment_fault", "fan"),
    ("fan AF-9 bearing hot", "hazard", "equipment_fault", "fan"),
    ("auxilary fan making grinding noise", "hazard", "equipment_fault", "fan"),
    ("AF9 tripped high vib, isolated and tagged out", "hazard", "equipment_fault", "fan"),
    # gas accumulation
    ("aux fan down at face, sparky on the way", "hazard", "gas_accumulation", "fan"),
    ("fan AF-9 off, no air at the face", "hazard", "gas_accumulation", "fan"),
    ("vent curtain ripped at No. 3 entry, fixed", "hazard", "gas_accumulation", ""),
    ("brattice torn at the face", "hazard", "gas_accumulation", ""),
    ("CH4 feeder in roof at face, handheld reading up", "hazard", "gas_accumulation", ""),
    ("gas building up on the handheld while cutting", "hazard", "gas_accumulation", ""),
    ("ventilation door left open, shut it", "hazard", "gas_accumulation", ""),
    ("face bumping and coal spitting, drill holes gassing", "hazard", "gas_accumulation", ""),
    ("outburst at the face, crew pulled out", "hazard", "gas_accumulation", ""),
    ("baro dropping quickly, checked return", "hazard", "gas_accumulation", ""),
    # fire
    ("burning rubber smell in belt road near xcut 5", "hazard", "fire", "belt_drive"),
    ("smoke haze along the belt near drive 7", "hazard", "fire", "belt_drive"),
    ("belt rubbing on structure at xc 4, mistracking", "hazard", "fire", "belt_drive"),
    # strata
    ("roof taking weight at 2 right, dribbling", "hazard", "strata", ""),
    ("top cracking and popping near the last open crosscut", "hazard", "strata", ""),
    ("roof working, small pieces falling at face", "hazard", "strata", ""),
    # people
    ("two men without hardhats at the face, spoken to", "hazard", "people", ""),
    ("miner walked under unsupported top, stopped him", "hazard", "people", ""),
    ("guy without helmet near the miner", "hazard", "people", ""),
    # bait: a hazard's words about something fixed or harmless
    ("BD2 brg noisy, greased it, quiet now", "bait", "", ""),
    ("fan AF-9 rough on start up, ran smooth after", "bait", "", ""),
    ("hot rubber smell at xcut 5 was a stuck idler, changed it", "bait", "", ""),
    ("roof working after the cut, bolted up, all stable", "bait", "", ""),
    ("handheld showed 0.8 % CH4 while cutting, cleared with curtain", "bait", "", ""),
    # routine
    ("greased belt drive bearings", "routine", "", ""),
    ("changed bits on the miner", "routine", "", ""),
    ("rock dusted the belt road", "routine", "", ""),
    ("pre shift exam done, no hazards, CH4 0.2", "routine", "", ""),
    ("replaced 3 idlers at xcut 6", "routine", "", ""),
)

PARAPHRASES: tuple[LabelledEntry, ...] = tuple(
    LabelledEntry(text, label, hazard, "", equipment, -1) for text, label, hazard, equipment in _ROWS
)
