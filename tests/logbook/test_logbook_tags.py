"""Tagging: the equipment and place a line names, from the simulator's own wording and hand-written lines."""

from __future__ import annotations

import re

import pytest

from edge.logbook.tags import Tagger
from export.text.logdata import dataset, unique


@pytest.mark.parametrize(
    ("text", "equipment", "location"),
    [
        ("belt drive 2 bearing hot", "BD-2", ""),
        ("bearing noisy on BD-2", "BD-2", ""),
        ("bd2 tripped in panel 4", "BD-2", "panel 4"),
        ("belt drive BD-3 running rough", "BD-3", ""),
        ("aux fan 1 running rough", "AF-1", ""),
        ("auxiliary fan AF-3 stopped, electrician called", "AF-3", ""),
        ("CM-3 cutter motor hot at face 3", "CM-3", "face 3"),
        ("changed cutter bits on continuous miner", "CM", ""),
        ("smell of burning rubber near XC 12", "", "XC 12"),
        ("haze at x-cut 7", "", "XC 7"),
        ("door at crosscut 12 found open", "", "XC 12"),
        ("water on the floor in entry 2", "", "entry 2"),
        ("barometer falling fast, return checked", "", "return"),
        ("cracking noise in roof near e2c5", "", "entry 2 XC 5"),
        ("pre-shift examination f2: no hazards observed, CH4 0.3 %", "", "face 2"),
        # neither gas readings nor a sensor tag are machines; a gas feeder is not a feeder breaker
        ("CH4 1.2 % at tailgate MM-12", "", "tailgate"),
        ("gas feeder from roof at f2", "", "face 2"),
        ("CO 5 ppm, all normal", "", ""),
        # the first named wins
        ("BD-2 guard off, AF-1 fine, near XC 4 and entry 3", "BD-2", "XC 4"),
    ],
)
def test_hand_written_lines(text: str, equipment: str, location: str) -> None:
    tags = Tagger().tag(text)
    assert (tags.equipment, tags.location) == (equipment, location)


def test_the_site_vocabulary_maps_local_names_and_wins_over_a_pattern_at_the_same_place() -> None:
    tagger = Tagger({"Big Bertha": "CM-1", "main belt": "BD-1"}, {"old shaft": "shaft 1", "the return": "return 2"})
    assert tagger.tag("Big  Bertha cutting at face 3").equipment == "CM-1"
    assert tagger.tag("main belt stopped near the old shaft").location == "shaft 1"
    assert tagger.tag("main belt stopped").equipment == "BD-1"
    assert tagger.tag("checked the return").location == "return 2"
    assert tagger.tag("Big Bertha's cutter motor").equipment == "CM-1"
    assert tagger.tag("big berthas").equipment == ""  # whole words only


def test_a_vocabulary_entry_without_a_tag_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        Tagger({"Big Bertha": " "})


def test_every_simulated_line_naming_a_belt_drive_or_fan_gets_its_tag() -> None:
    entries = unique(dataset(range(3), seed=3, days=1.0, hazard_rounds=1))
    tagger = Tagger()
    checked = 0
    for entry in entries:
        tags = tagger.tag(entry.text)
        belt = re.search(r"belt drive (\d+)", entry.text)
        fan = re.search(r"auxiliary fan AF-(\d+)", entry.text)
        face = re.search(r"\bf(\d+)\b", entry.text)
        if belt:
            assert tags.equipment == f"BD-{belt.group(1)}", entry.text
        if fan:
            assert tags.equipment == f"AF-{fan.group(1)}", entry.text
        if face and not re.search(r"e\d+c\d+|crosscut", entry.text):
            assert tags.location == f"face {face.group(1)}", entry.text
        checked += bool(belt or fan or face)
        # same text, same tags: the tagger holds no state
        assert tagger.tag(entry.text) == tags
    assert checked > 20
