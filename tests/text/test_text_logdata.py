"""The labelled log entries used to measure the encoders follow the generator's wording."""

from __future__ import annotations

from edge.hazard.contract import HAZARD_TYPES
from export.text.logdata import BAIT_PATTERNS, LABELS, dataset, unique
from export.text.paraphrases import PARAPHRASES


def test_every_bait_template_of_the_generator_still_occurs() -> None:
    entries = dataset(range(6), seed=3, days=20.0, hazard_rounds=1)
    bait = [e.text for e in entries if e.label == "bait"]
    for pattern in BAIT_PATTERNS:
        assert any(pattern.match(text) for text in bait), f"no generated entry matches {pattern.pattern}"


def test_hazard_entries_cover_every_hazard_type_and_name_their_equipment() -> None:
    entries = unique(dataset(range(2), seed=3, days=1.0, hazard_rounds=1))
    hazards = {e.hazard for e in entries if e.label == "hazard"}
    assert hazards == {h.value for h in HAZARD_TYPES}
    assert {e.equipment for e in entries if e.label == "hazard"} == {"belt_drive", "fan", ""}
    assert all(e.hazard == "" for e in entries if e.label != "hazard")


def test_same_seed_same_entries() -> None:
    assert dataset([4], seed=9, days=1.0) == dataset([4], seed=9, days=1.0)


def test_paraphrases_are_labelled_and_not_generator_text() -> None:
    generated = {e.text for e in dataset(range(8), seed=1, days=8.0, hazard_rounds=2)}
    for p in PARAPHRASES:
        assert p.label in LABELS
        assert (p.hazard != "") == (p.label == "hazard")
        assert p.text not in generated
