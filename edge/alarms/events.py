"""The alarm event: one ISA-18.2 transition of one alarm, as journaled, published and sent to the surface.

Every event carries the *complete* state of its alarm after the transition (state, latched, shelved,
chattering, shelve expiry), so the newest event of an alarm is enough to rebuild it after a restart.
``to_dict`` / ``from_dict`` use msgpack-friendly primitives only (str, int, float, bool, None, list).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from edge.rules.signals import Priority, SignalClass

# Flood start/end is a property of the whole alarm system, not of one alarm; its events use this id.
FLOOD_ALARM_ID = "alarm_flood"


class AlarmState(enum.StrEnum):
    NORMAL = "normal"
    UNACK = "active_unacknowledged"
    ACKED = "active_acknowledged"
    RTN_UNACK = "returned_unacknowledged"

    @property
    def condition_active(self) -> bool:
        return self in (AlarmState.UNACK, AlarmState.ACKED)

    @property
    def acknowledged(self) -> bool:
        return self in (AlarmState.ACKED, AlarmState.NORMAL)

    @classmethod
    def of(cls, *, active: bool, acknowledged: bool) -> AlarmState:
        if active:
            return cls.ACKED if acknowledged else cls.UNACK
        return cls.NORMAL if acknowledged else cls.RTN_UNACK


class Transition(enum.StrEnum):
    ACTIVATED = "activated"
    CLEARED = "cleared"
    ESCALATED = "escalated"  # an active alarm became more urgent: annunciated again, needs a new acknowledgement
    ACKNOWLEDGED = "acknowledged"
    RESET = "reset"
    SHELVED = "shelved"
    UNSHELVED = "unshelved"
    CHATTER_ON = "chatter_on"
    CHATTER_OFF = "chatter_off"
    FLOOD_ON = "flood_on"
    FLOOD_OFF = "flood_off"


class EventDecodeError(ValueError):
    """A stored or received event dict does not describe a valid ``AlarmEvent``."""


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """One transition. ``seq`` is assigned by the alarm manager and never reused, also across restarts."""

    seq: int
    alarm_id: str  # the rule's condition_id, or FLOOD_ALARM_ID
    source: str  # the point_id the condition is about
    signal: SignalClass
    priority: Priority
    state: AlarmState
    latched: bool  # still waiting for an explicit reset
    shelved: bool
    transition: Transition
    value: float | None
    limit: float | None
    unit: str
    message: str
    action: str
    statutory: bool
    outputs: tuple[str, ...]
    user: str  # who acknowledged / shelved / reset; "" for automatic, "system" for timers
    note: str  # shelving reason, refusal cause, flood counts
    t_wall: float
    t_mono: float
    chattering: bool = False
    shelve_expires_wall: float | None = None  # UTC epoch seconds; set while shelved

    def to_dict(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "alarm_id": self.alarm_id,
            "source": self.source,
            "signal": self.signal.value,
            "priority": int(self.priority),
            "state": self.state.value,
            "latched": self.latched,
            "shelved": self.shelved,
            "transition": self.transition.value,
            "value": self.value,
            "limit": self.limit,
            "unit": self.unit,
            "message": self.message,
            "action": self.action,
            "statutory": self.statutory,
            "outputs": list(self.outputs),
            "user": self.user,
            "note": self.note,
            "t_wall": self.t_wall,
            "t_mono": self.t_mono,
            "chattering": self.chattering,
            "shelve_expires_wall": self.shelve_expires_wall,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> AlarmEvent:
        """Rebuild an event; raises ``EventDecodeError`` naming the field when the dict is malformed."""
        try:
            outputs = d["outputs"]
            if not isinstance(outputs, list | tuple) or not all(isinstance(o, str) for o in outputs):
                raise EventDecodeError(f"field 'outputs' must be a list of str, got {outputs!r}")
            return cls(
                seq=_int(d, "seq"),
                alarm_id=_str(d, "alarm_id"),
                source=_str(d, "source"),
                signal=SignalClass(_str(d, "signal")),
                priority=Priority(_int(d, "priority")),
                state=AlarmState(_str(d, "state")),
                latched=_bool(d, "latched"),
                shelved=_bool(d, "shelved"),
                transition=Transition(_str(d, "transition")),
                value=_opt_float(d, "value"),
                limit=_opt_float(d, "limit"),
                unit=_str(d, "unit"),
                message=_str(d, "message"),
                action=_str(d, "action"),
                statutory=_bool(d, "statutory"),
                outputs=tuple(str(o) for o in outputs),
                user=_str(d, "user"),
                note=_str(d, "note"),
                t_wall=_float(d, "t_wall"),
                t_mono=_float(d, "t_mono"),
                chattering=_bool(d, "chattering"),
                shelve_expires_wall=_opt_float(d, "shelve_expires_wall"),
            )
        except KeyError as exc:
            raise EventDecodeError(f"alarm event is missing field {exc.args[0]!r}") from exc
        except EventDecodeError:
            raise
        except ValueError as exc:  # an enum value outside its set
            raise EventDecodeError(f"alarm event has an invalid value: {exc}") from exc


def _str(d: Mapping[str, object], key: str) -> str:
    v = d[key]
    if not isinstance(v, str):
        raise EventDecodeError(f"field {key!r} must be str, got {type(v).__name__}")
    return v


def _bool(d: Mapping[str, object], key: str) -> bool:
    v = d[key]
    if not isinstance(v, bool):
        raise EventDecodeError(f"field {key!r} must be bool, got {type(v).__name__}")
    return v


def _int(d: Mapping[str, object], key: str) -> int:
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise EventDecodeError(f"field {key!r} must be int, got {type(v).__name__}")
    return v


def _float(d: Mapping[str, object], key: str) -> float:
    v = d[key]
    # msgpack and JSON may hand back a whole-number float as int; bool is never a number here.
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise EventDecodeError(f"field {key!r} must be a number, got {type(v).__name__}")
    return float(v)


def _opt_float(d: Mapping[str, object], key: str) -> float | None:
    return None if d[key] is None else _float(d, key)
