"""Which equipment and which place a log line names: deterministic patterns plus a site's own vocabulary.

Technicians write the same machine many ways ("BD-2", "BD2", "belt drive 2", "belt drive BD-2"), so every form is
mapped to one canonical tag: equipment as ``PREFIX-N`` (``BD-2``, ``AF-1``, ``CM-3``), or the bare prefix when the
line names the machine without a number ("changed cutter bits on continuous miner" -> ``CM``); places as
``face 3``, ``XC 12``, ``entry 2``, ``panel 4``, ``entry 2 XC 5`` (the simulator's node ids ``e2c5``), ``return``,
``belt entry``, ``tailgate``, ``headgate``. A site vocabulary (``logbook.vocabulary`` in the config) maps the
names the site uses ("Big Bertha", "the old shaft") to its canonical equipment or location.

When a line names several, the first in the text wins (a vocabulary name over a pattern at the same position,
then the longer match): "bearing hot on BD-2 near XC 4" is ``BD-2`` at ``XC 4``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["EQUIPMENT_KINDS", "Tagger", "Tags"]

# prefix -> (display name, the spelled-out names people write for it)
EQUIPMENT_KINDS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "BD": ("belt drive", (r"belt\s+drive", r"belt\s+drv", r"conveyor\s+drive")),
    "AF": ("auxiliary fan", (r"aux(?:iliary|\.)?\s+fan", r"booster\s+fan")),
    "MF": ("main fan", (r"main\s+fan",)),
    "CM": ("continuous miner", (r"continuous\s+miner", r"cont\.?\s+miner")),
    "SC": ("shuttle car", (r"shuttle\s+car",)),
    "RB": ("roof bolter", (r"roof\s+bolter", r"bolter")),
    "SH": ("shearer", (r"shearer",)),
    "FB": ("feeder breaker", (r"feeder\s+breaker",)),  # a bare "feeder" is also a gas feeder
    "SM": ("scoop", (r"scoop",)),
    "PU": ("pump", (r"(?:water\s+)?pump",)),
}

_NUMBER = r"(?:no\.?\s*|number\s+|#\s*)?(\d{1,3})"


@dataclass(frozen=True, slots=True)
class Tags:
    equipment: str  # "" when the line names none
    location: str


@dataclass(frozen=True, slots=True)
class _Match:
    start: int
    end: int
    value: str
    vocabulary: bool


def _words(phrase: str) -> re.Pattern[str]:
    """A vocabulary phrase matched case-insensitively as whole words, any run of spaces between its words."""
    body = r"\s+".join(re.escape(word) for word in phrase.split())
    return re.compile(rf"(?<![\w-]){body}(?![\w-])", re.IGNORECASE)


def _numbered_tag(prefix: str) -> Callable[[re.Match[str]], str]:
    return lambda m: f"{prefix}-{int(m.group(1) or m.group(2))}"


def _bare_tag(prefix: str) -> Callable[[re.Match[str]], str]:
    return lambda _: prefix


def _equipment_patterns() -> list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]]:
    patterns: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = []
    prefixes = "|".join(EQUIPMENT_KINDS)
    # A tag id: "BD-2", "BD2", "BD 2", "bd-2". The prefix list is closed so that "CH4", "CO 5" or a sensor tag
    # such as "MM-12" is never taken for a machine.
    tag = re.compile(rf"(?<![\w-])({prefixes})[-\s]?(\d{{1,3}})(?![\w-])", re.IGNORECASE)
    patterns.append((tag, lambda m: f"{m.group(1).upper()}-{int(m.group(2))}"))
    for prefix, (_, names) in EQUIPMENT_KINDS.items():
        spelled = "|".join(names)
        # "belt drive 2", "belt drive BD-2", "belt drive no. 2"; without a number the kind alone ("BD").
        numbered = re.compile(
            rf"(?<![\w-])(?:{spelled})\s+(?:{prefix}[-\s]?(\d{{1,3}})|{_NUMBER})(?![\w-])", re.IGNORECASE
        )
        patterns.append((numbered, _numbered_tag(prefix)))
        bare = re.compile(rf"(?<![\w-])(?:{spelled})(?![\w-])", re.IGNORECASE)
        patterns.append((bare, _bare_tag(prefix)))
    return patterns


def _location_patterns() -> list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]]:
    def n(m: re.Match[str], group: int = 1) -> int:
        return int(m.group(group))

    table: list[tuple[str, Callable[[re.Match[str]], str]]] = [
        # the simulator's intersection ids: entry 2, crosscut 5
        (r"e(\d{1,2})c(\d{1,3})", lambda m: f"entry {n(m)} XC {n(m, 2)}"),
        (rf"(?:working\s+)?face\s+{_NUMBER}", lambda m: f"face {n(m)}"),
        (r"f(\d{1,2})", lambda m: f"face {n(m)}"),  # the simulator's face ids
        (rf"(?:x-?cut|crosscut|cross-cut|xc)[-\s]?{_NUMBER}", lambda m: f"XC {n(m)}"),
        (rf"entry\s+{_NUMBER}", lambda m: f"entry {n(m)}"),
        (rf"panel\s+{_NUMBER}", lambda m: f"panel {n(m)}"),
        (r"belt\s+(?:entry|road|roadway|tail|head)", lambda m: "belt entry"),
        (r"(?:the\s+)?return(?:\s+(?:entry|split|airway))?", lambda m: "return"),
        (r"tail\s*gate", lambda m: "tailgate"),
        (r"main\s*gate|head\s*gate", lambda m: "headgate"),
        (r"(?:working\s+)?face", lambda m: "face"),
    ]
    return [(re.compile(rf"(?<![\w-]){p}(?![\w-])", re.IGNORECASE), f) for p, f in table]


_EQUIPMENT = _equipment_patterns()
_LOCATIONS = _location_patterns()


class Tagger:
    """Tags a log line; ``equipment_names``/``location_names`` are the site vocabulary (name -> canonical tag)."""

    def __init__(
        self, equipment_names: Mapping[str, str] | None = None, location_names: Mapping[str, str] | None = None
    ) -> None:
        self._equipment_vocabulary = self._compile("equipment", equipment_names or {})
        self._location_vocabulary = self._compile("location", location_names or {})

    @staticmethod
    def _compile(what: str, names: Mapping[str, str]) -> list[tuple[re.Pattern[str], str]]:
        compiled = []
        for name, canonical in names.items():
            if not name.strip() or not canonical.strip():
                raise ValueError(
                    f"site vocabulary ({what}): {name!r} -> {canonical!r}: both the name and the tag must be "
                    "non-empty text"
                )
            compiled.append((_words(name), canonical.strip()))
        return compiled

    def tag(self, text: str) -> Tags:
        return Tags(
            equipment=self._first(text, self._equipment_vocabulary, _EQUIPMENT),
            location=self._first(text, self._location_vocabulary, _LOCATIONS),
        )

    @staticmethod
    def _first(
        text: str,
        vocabulary: list[tuple[re.Pattern[str], str]],
        patterns: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]],
    ) -> str:
        matches = [_Match(m.start(), m.end(), canonical, True) for p, canonical in vocabulary for m in p.finditer(text)]
        matches += [_Match(m.start(), m.end(), value(m), False) for p, value in patterns for m in p.finditer(text)]
        if not matches:
            return ""
        best = min(matches, key=lambda m: (m.start, not m.vocabulary, -(m.end - m.start)))
        return best.value

    @staticmethod
    def describe(equipment: str) -> str:
        """The equipment tag with its kind spelled out ("BD-2" -> "belt drive BD-2"), for the retrieval text."""
        prefix = equipment.split("-", 1)[0]
        kind = EQUIPMENT_KINDS.get(prefix)
        if kind is None:
            return equipment
        return kind[0] if equipment == prefix else f"{kind[0]} {equipment}"
