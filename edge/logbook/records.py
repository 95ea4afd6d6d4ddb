"""What a log entry may contain, checked the same way whichever door it came in by (CLI, folder, ZeroMQ).

Every refusal is a ``LogInputError`` naming the field, the value and what is allowed, so the person who wrote the
line can fix it; nothing is ever truncated or guessed silently.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass

from edge.hazard.contract import TEXT_MAX_CHARS, LogKind

__all__ = [
    "FIELDS",
    "EntryFields",
    "LogInputError",
    "parse_bool",
    "parse_kind",
    "parse_time",
    "record_fields",
    "validate_alarm",
    "validate_tag",
    "validate_text",
]

# The fields a CSV header, a JSON line or a ZeroMQ request may carry ("t" and "time" are the same field).
FIELDS = ("text", "time", "t", "kind", "equipment", "location", "incident", "alarm")
KINDS = ", ".join(k.value for k in LogKind)
EARLIEST_T_S = 946_684_800.0  # 2000-01-01: anything before is a unit mistake (ms, or a date typed wrong)
FUTURE_SLACK_S = 86_400.0  # a gateway clock a day behind a writer's is plausible; later than that is not
TAG_MAX_CHARS = 64
_ALLOWED_TIME = "epoch seconds or ISO-8601 (2026-03-02T06:15:00Z; without a zone: the gateway's local time)"
_MISSING = object()


class LogInputError(ValueError):
    """A log entry refused; ``str()`` is the whole message: where, field, value, problem, what is allowed."""

    def __init__(
        self, field: str, problem: str, *, value: object = _MISSING, allowed: str = "", where: str = ""
    ) -> None:
        self.field = field
        self.problem = problem
        self.value = value
        self.allowed = allowed
        self.where = where
        got = "" if value is _MISSING else f" (got {_shorten(value)})"
        hint = f"; allowed: {allowed}" if allowed else ""
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}field '{field}' {problem}{got}{hint}")

    def at(self, where: str) -> LogInputError:
        """The same error placed in a file, line or request."""
        return LogInputError(self.field, self.problem, value=self.value, allowed=self.allowed, where=where)


def _shorten(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}...{text[-12:]} ({len(str(value))} characters)"


@dataclass(frozen=True, slots=True)
class EntryFields:
    """A validated entry before it is stored; ``None`` means "not given": the store fills in now / the tags."""

    text: str
    kind: LogKind = LogKind.OPERATION
    t_s: float | None = None
    equipment: str | None = None
    location: str | None = None
    incident: bool = False
    related_alarm: str | None = None


def validate_text(text: object) -> str:
    if not isinstance(text, str):
        raise LogInputError("text", "must be text", value=text, allowed=f"1-{TEXT_MAX_CHARS} characters on one line")
    stripped = text.strip()
    if not stripped:
        raise LogInputError("text", "is empty", allowed=f"1-{TEXT_MAX_CHARS} characters on one line")
    if len(stripped) > TEXT_MAX_CHARS:
        raise LogInputError(
            "text",
            f"is {len(stripped)} characters long",
            value=stripped,
            allowed=f"at most {TEXT_MAX_CHARS} characters: split it into several entries",
        )
    bad = next((c for c in stripped if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise LogInputError(
            "text", f"contains the control character {bad!r}", value=stripped, allowed="one line of printable text"
        )
    return stripped


def parse_kind(value: object) -> LogKind:
    if isinstance(value, str):
        try:
            return LogKind(value.strip().lower())
        except ValueError:
            pass
    raise LogInputError("kind", "is not a log kind", value=value, allowed=KINDS)


def parse_time(value: object, *, now_wall: float, field: str = "time") -> float:
    """Epoch seconds (number or numeric string) or ISO-8601; between 2000 and a day after ``now_wall``."""
    t_s: float
    if isinstance(value, bool):
        raise LogInputError(field, "is not a time", value=value, allowed=_ALLOWED_TIME)
    if isinstance(value, int | float):
        t_s = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            t_s = float(text)
        except ValueError:
            try:
                parsed = dt.datetime.fromisoformat(text.replace("z", "Z"))
            except ValueError:
                raise LogInputError(field, "is not a time", value=value, allowed=_ALLOWED_TIME) from None
            t_s = parsed.timestamp()  # a naive time is the gateway's local time
    else:
        raise LogInputError(field, "is not a time", value=value, allowed=_ALLOWED_TIME)
    if not math.isfinite(t_s) or t_s < EARLIEST_T_S:
        raise LogInputError(field, "is before 2000-01-01 (milliseconds instead of seconds?)", value=value)
    if t_s > now_wall + FUTURE_SLACK_S:
        now = dt.datetime.fromtimestamp(now_wall, dt.UTC).isoformat(timespec="seconds")
        raise LogInputError(field, f"is more than a day after the gateway's clock ({now})", value=value)
    return t_s


def parse_bool(value: object, *, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("true", "yes", "y", "1"):
            return True
        if word in ("false", "no", "n", "0", ""):
            return False
    raise LogInputError(field, "is not yes/no", value=value, allowed="true/false, yes/no, 1/0")


def validate_tag(value: object, *, field: str) -> str:
    if not isinstance(value, str) or len(value.strip()) > TAG_MAX_CHARS:
        raise LogInputError(field, "is not a short name", value=value, allowed=f"text of at most {TAG_MAX_CHARS}")
    return value.strip()


def validate_alarm(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value.strip()) > 200:
        raise LogInputError(
            "alarm", "is not an alarm id", value=value, allowed="the alarm/warning id (as `minegate alarms list`)"
        )
    return value.strip() or None


def record_fields(record: Mapping[str, object], *, now_wall: float, default_kind: LogKind) -> EntryFields:
    """A CSV row, a JSON line or a ZeroMQ request as checked fields. Unknown keys are refused (a misspelt
    "txt" would otherwise lose the text); empty optional values count as not given."""
    unknown = [key for key in record if key not in FIELDS]
    if unknown:
        raise LogInputError(str(unknown[0]), "is not a log entry field", allowed=", ".join(FIELDS))
    if "t" in record and "time" in record:
        raise LogInputError("t", "and 'time' are the same field; give one", value=record["t"])

    def given(key: str) -> object | None:
        value = record.get(key)
        return None if value is None or (isinstance(value, str) and not value.strip()) else value

    if "text" not in record:
        raise LogInputError("text", "is missing", allowed=f"1-{TEXT_MAX_CHARS} characters on one line")
    kind_value = given("kind")
    time_key = "t" if "t" in record else "time"
    time_value = given(time_key)
    equipment = given("equipment")
    location = given("location")
    incident = given("incident")
    return EntryFields(
        text=validate_text(record["text"]),
        kind=default_kind if kind_value is None else parse_kind(kind_value),
        t_s=None if time_value is None else parse_time(time_value, now_wall=now_wall, field=time_key),
        equipment=None if equipment is None else validate_tag(equipment, field="equipment"),
        location=None if location is None else validate_tag(location, field="location"),
        incident=False if incident is None else parse_bool(incident, field="incident"),
        related_alarm=validate_alarm(given("alarm")),
    )
