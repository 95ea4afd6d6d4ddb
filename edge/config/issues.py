"""Configuration problems as people need them: file, line, field path, bad value, what is allowed."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

PathPart = str | int


def format_path(path: Iterable[PathPart]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(top level)"


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    file: str
    line: int | None  # 1-based
    path: tuple[PathPart, ...]
    message: str
    value: object = None
    has_value: bool = False
    allowed: str = ""
    suggestion: str | None = None
    severity: str = "error"  # "error" or "warning"

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        text = f"{where}: {self.severity}: {format_path(self.path)}: {self.message}"
        if self.has_value:
            shown = repr(self.value)
            text += f" (got {shown[:80]}{'...' if len(shown) > 80 else ''})"
        if self.allowed:
            text += f"; allowed: {self.allowed}"
        if self.suggestion:
            text += f"; did you mean {self.suggestion!r}?"
        return text


class ConfigError(Exception):
    """Raised with every problem found, not just the first."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.file, i.line or 0))
        super().__init__("\n".join(i.render() for i in self.issues))
