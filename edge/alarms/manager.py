"""ISA-18.2 alarm state machine: acknowledge, latch/reset, shelving, chatter and flood handling, outputs.

The manager is synchronous and pure apart from the injected clock: every call returns the events it caused
(one per transition, each with a new ``seq``) and the caller journals and publishes them. It never writes
an output itself; ``desired_outputs()`` says which outputs the alarms want on right now.

Statutory alarms are never shelved and never suppressed by chatter or flood handling: only their siren is
silenced by acknowledgement, as for every alarm.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from edge.alarms.events import FLOOD_ALARM_ID, AlarmEvent, AlarmState, Transition
from edge.clock import Clock
from edge.rules.signals import ConditionChange, Priority, SignalClass

log = logging.getLogger(__name__)

SYSTEM_USER = "system"
DEFAULT_MAX_SHELVE_S = 8 * 3600.0  # one shift: a shelved alarm must come back before the next crew


class AlarmCommandError(Exception):
    """An operator command (ack, reset, shelve) that cannot be carried out; the message says why."""


class UnknownAlarmError(AlarmCommandError):
    def __init__(self, alarm_id: str, known: Iterable[str]) -> None:
        self.alarm_id = alarm_id
        self.known = sorted(known)
        listing = ", ".join(self.known) if self.known else "none yet"
        super().__init__(f"unknown alarm {alarm_id!r}; known alarms: {listing}")


class ShelvingRefused(AlarmCommandError):
    pass


class ResetRefused(AlarmCommandError):
    pass


@dataclass(slots=True)
class _Alarm:
    """Live state of one alarm.

    ``last`` is the newest *journaled* event; ``attributes`` carries the newest descriptive fields (value,
    priority, outputs, ...) from the rule engine, which repeat-state changes update without journaling.
    """

    last: AlarmEvent
    attributes: AlarmEvent
    active: bool
    acknowledged: bool
    latched: bool
    shelved_until_mono: float | None = None
    shelve_expires_wall: float | None = None
    chattering: bool = False
    activations_mono: deque[float] = field(default_factory=deque)

    @property
    def state(self) -> AlarmState:
        return AlarmState.of(active=self.active, acknowledged=self.acknowledged)

    @property
    def shelved(self) -> bool:
        return self.shelved_until_mono is not None


class AlarmManager:
    def __init__(
        self,
        *,
        clock: Clock,
        chatter_count: int = 3,
        chatter_window_s: float = 60.0,
        flood_on_count: int = 10,
        flood_off_count: int = 5,
        flood_window_s: float = 600.0,
        silence_on_ack: frozenset[str] = frozenset({"siren"}),
        start_seq: int = 0,
        max_shelve_s: float = DEFAULT_MAX_SHELVE_S,
    ) -> None:
        if chatter_count < 2:
            raise ValueError(f"chatter_count must be >= 2 (one activation is no chatter), got {chatter_count}")
        if not 0 < flood_off_count <= flood_on_count:
            raise ValueError(
                f"need 0 < flood_off_count <= flood_on_count, got off={flood_off_count} on={flood_on_count}"
            )
        if chatter_window_s <= 0 or flood_window_s <= 0 or max_shelve_s <= 0:
            raise ValueError("chatter_window_s, flood_window_s and max_shelve_s must be positive")
        if start_seq < 0:
            raise ValueError(f"start_seq must be >= 0, got {start_seq}")
        self._clock = clock
        self._chatter_count = chatter_count
        self._chatter_window_s = chatter_window_s
        self._flood_on_count = flood_on_count
        self._flood_off_count = flood_off_count
        self._flood_window_s = flood_window_s
        self._silence_on_ack = silence_on_ack
        self._max_shelve_s = max_shelve_s
        self._seq = start_seq
        self._alarms: dict[str, _Alarm] = {}
        self._flood_activations_mono: deque[float] = deque()
        self._flood_active = False

    # ----------------------------------------------------------------------------------------- properties
    @property
    def flood_active(self) -> bool:
        return self._flood_active

    @property
    def last_seq(self) -> int:
        """The seq of the newest event produced or restored (0 when none)."""
        return self._seq

    # ---------------------------------------------------------------------------------------- rule input
    def apply(self, change: ConditionChange) -> list[AlarmEvent]:
        """Feed one condition change; returns the transitions it caused (none for a repeated state)."""
        now = self._clock.monotonic()
        alarm = self._alarms.get(change.condition_id)
        if alarm is None:
            if not change.active:
                return []  # a condition that was never active has nothing to report
            seed = self._seed_event(change)
            alarm = _Alarm(last=seed, attributes=seed, active=False, acknowledged=True, latched=False)
            self._alarms[change.condition_id] = alarm

        alarm.attributes = _with_attributes(alarm.attributes, change)
        events: list[AlarmEvent] = []
        if change.statutory and alarm.shelved:
            # The condition became statutory (profile change) while shelved: statutory alarms cannot be.
            alarm.shelved_until_mono = alarm.shelve_expires_wall = None
            events.append(self._emit(alarm, Transition.UNSHELVED, change, user=SYSTEM_USER, note="statutory alarm"))

        if change.active and alarm.active and change.priority < alarm.last.priority:
            # Same condition, more urgent (a bare-headed worker walks under unsupported roof): an operator who
            # acknowledged the milder alarm must see this, so it is journaled and wants a new acknowledgement.
            alarm.acknowledged = False
            events.append(self._emit(alarm, Transition.ESCALATED, change))
            return events
        if change.active == alarm.active:
            return events  # same state again: value updates are not transitions and are not journaled

        if change.active:
            alarm.active = True
            alarm.acknowledged = False
            alarm.latched = alarm.latched or change.latch
            events.append(self._emit(alarm, Transition.ACTIVATED, change))
            events.extend(self._count_activation(alarm, change, now))
        else:
            alarm.active = False
            events.append(self._emit(alarm, Transition.CLEARED, change))
        return events

    # ----------------------------------------------------------------------------------- operator actions
    def acknowledge(self, alarm_id: str | None, *, user: str, now_mono: float | None = None) -> list[AlarmEvent]:
        """Acknowledge one alarm, or every unacknowledged alarm when ``alarm_id`` is None."""
        targets = self._targets(alarm_id)
        events: list[AlarmEvent] = []
        for alarm in targets:
            if alarm.acknowledged:
                continue
            alarm.acknowledged = True
            events.append(self._emit(alarm, Transition.ACKNOWLEDGED, None, user=user, now_mono=now_mono))
        if events:
            acked = ", ".join(e.alarm_id for e in events)
            log.info("%s acknowledged %d alarm(s): %s", user, len(events), acked)
        return events

    def reset(self, alarm_id: str | None, *, user: str) -> list[AlarmEvent]:
        """Clear the latch of alarms whose condition has cleared.

        With an id, a still-active condition raises ``ResetRefused``; with None, every latched alarm whose
        condition has cleared is reset and still-active ones are left latched.
        """
        if alarm_id is not None:
            alarm = self._get(alarm_id)
            if alarm.latched and alarm.active:
                now = alarm.attributes
                raise ResetRefused(
                    f"alarm {alarm_id!r} cannot be reset: its condition is still active "
                    f"(value {now.value} {now.unit}, limit {now.limit}); "
                    "reset is possible once the condition has cleared"
                )
            targets = [alarm]
        else:
            targets = list(self._alarms.values())
        events: list[AlarmEvent] = []
        for alarm in targets:
            if not alarm.latched or alarm.active:
                continue
            alarm.latched = False
            events.append(self._emit(alarm, Transition.RESET, None, user=user))
            log.info("%s reset latched alarm %s", user, alarm.attributes.alarm_id)
        return events

    def shelve(self, alarm_id: str, *, duration_s: float, user: str, reason: str) -> list[AlarmEvent]:
        """Shelve a non-statutory alarm for ``duration_s``; shelving again restarts the period."""
        alarm = self._get(alarm_id)
        if alarm.attributes.statutory:
            raise ShelvingRefused(
                f"alarm {alarm_id!r} cannot be shelved: statutory alarms cannot be shelved, "
                "suppressed or delayed by operators"
            )
        if not reason.strip():
            raise ShelvingRefused(f"alarm {alarm_id!r} not shelved: a reason is required for the journal")
        if not user.strip():
            raise ShelvingRefused(f"alarm {alarm_id!r} not shelved: the user shelving it must be named")
        if not 0 < duration_s <= self._max_shelve_s:
            raise ShelvingRefused(
                f"alarm {alarm_id!r} not shelved: duration must be > 0 s and at most "
                f"{self._max_shelve_s:.0f} s ({self._max_shelve_s / 3600:g} h), got {duration_s:g} s"
            )
        alarm.shelved_until_mono = self._clock.monotonic() + duration_s
        alarm.shelve_expires_wall = self._clock.wall() + duration_s
        log.info("%s shelved alarm %s for %.0f s: %s", user, alarm_id, duration_s, reason)
        return [self._emit(alarm, Transition.SHELVED, None, user=user, note=reason)]

    def unshelve(self, alarm_id: str, *, user: str) -> list[AlarmEvent]:
        alarm = self._get(alarm_id)
        if not alarm.shelved:
            return []
        alarm.shelved_until_mono = alarm.shelve_expires_wall = None
        log.info("%s unshelved alarm %s", user, alarm_id)
        return [self._emit(alarm, Transition.UNSHELVED, None, user=user)]

    # ------------------------------------------------------------------------------------------- timers
    def tick(self) -> list[AlarmEvent]:
        """Expire shelving, chatter and flood windows. Call about once a second."""
        now = self._clock.monotonic()
        events: list[AlarmEvent] = []
        for alarm in self._alarms.values():
            if alarm.shelved_until_mono is not None and now >= alarm.shelved_until_mono:
                alarm.shelved_until_mono = alarm.shelve_expires_wall = None
                events.append(self._emit(alarm, Transition.UNSHELVED, None, user=SYSTEM_USER, note="shelving expired"))
            _drop_older(alarm.activations_mono, now - self._chatter_window_s)
            if alarm.chattering and not alarm.activations_mono:
                alarm.chattering = False
                events.append(
                    self._emit(
                        alarm,
                        Transition.CHATTER_OFF,
                        None,
                        user=SYSTEM_USER,
                        note=f"no activation for {self._chatter_window_s:g} s",
                    )
                )
        _drop_older(self._flood_activations_mono, now - self._flood_window_s)
        count = len(self._flood_activations_mono)
        if self._flood_active and count < self._flood_off_count:
            self._flood_active = False
            log.warning("alarm flood over: %d activations in %.0f s", count, self._flood_window_s)
            events.append(self._flood_event(Transition.FLOOD_OFF, count, now, self._clock.wall()))
        return events

    # ------------------------------------------------------------------------------------------- outputs
    def desired_outputs(self) -> frozenset[str]:
        """Outputs the alarms want on: active or latched alarms, minus shelved/chattering/flood-suppressed
        non-statutory ones; ``silence_on_ack`` outputs only while unacknowledged."""
        wanted: set[str] = set()
        for alarm in self._alarms.values():
            if not (alarm.active or alarm.latched):
                continue
            if not alarm.attributes.statutory and (
                alarm.shelved or alarm.chattering or (self._flood_active and alarm.attributes.priority > Priority.HIGH)
            ):
                continue
            outputs = set(alarm.attributes.outputs)
            if alarm.acknowledged:
                outputs -= self._silence_on_ack
            wanted |= outputs
        return frozenset(wanted)

    def snapshot(self) -> list[AlarmEvent]:
        """The newest event of every alarm that is not normal or is still latched, ordered by seq."""
        return sorted(
            (a.last for a in self._alarms.values() if a.state is not AlarmState.NORMAL or a.latched),
            key=lambda e: e.seq,
        )

    # ------------------------------------------------------------------------------------------ restart
    def restore(self, events: Iterable[AlarmEvent]) -> None:
        """Rebuild alarm states from journaled events (oldest first) after a restart; emits nothing.

        Call once on a fresh manager, before the first ``apply``. Activation windows (chatter, flood) are
        not rebuilt because monotonic times do not survive a reboot: flags set in the journal stay set
        until a ``tick`` finds the window quiet. A shelve keeps its remaining wall-clock time, capped at
        ``max_shelve_s``.
        """
        if self._alarms or self._flood_active:
            raise RuntimeError("restore() must be called on a fresh AlarmManager, before any apply()")
        now_mono, now_wall = self._clock.monotonic(), self._clock.wall()
        for event in events:
            self._seq = max(self._seq, event.seq)
            if event.alarm_id == FLOOD_ALARM_ID:
                self._flood_active = event.transition is Transition.FLOOD_ON
                continue
            alarm = _Alarm(
                last=event,
                attributes=event,
                active=event.state.condition_active,
                acknowledged=event.state.acknowledged,
                latched=event.latched,
                chattering=event.chattering,
            )
            if event.shelved:
                remaining = (event.shelve_expires_wall or now_wall) - now_wall
                alarm.shelved_until_mono = now_mono + min(max(remaining, 0.0), self._max_shelve_s)
                alarm.shelve_expires_wall = event.shelve_expires_wall
            self._alarms[event.alarm_id] = alarm

    # ---------------------------------------------------------------------------------------- internals
    def _get(self, alarm_id: str) -> _Alarm:
        alarm = self._alarms.get(alarm_id)
        if alarm is None:
            raise UnknownAlarmError(alarm_id, self._alarms)
        return alarm

    def _targets(self, alarm_id: str | None) -> list[_Alarm]:
        return list(self._alarms.values()) if alarm_id is None else [self._get(alarm_id)]

    def _count_activation(self, alarm: _Alarm, change: ConditionChange, now: float) -> list[AlarmEvent]:
        events: list[AlarmEvent] = []
        alarm.activations_mono.append(now)
        _drop_older(alarm.activations_mono, now - self._chatter_window_s)
        if not alarm.chattering and len(alarm.activations_mono) >= self._chatter_count:
            alarm.chattering = True
            note = f"{len(alarm.activations_mono)} activations in {self._chatter_window_s:g} s"
            log.warning("alarm %s is chattering: %s", alarm.attributes.alarm_id, note)
            events.append(self._emit(alarm, Transition.CHATTER_ON, change, user=SYSTEM_USER, note=note))

        self._flood_activations_mono.append(now)
        _drop_older(self._flood_activations_mono, now - self._flood_window_s)
        count = len(self._flood_activations_mono)
        if not self._flood_active and count > self._flood_on_count:
            self._flood_active = True
            log.warning(
                "alarm flood: %d activations in %.0f s; MEDIUM/LOW outputs suppressed",
                count,
                self._flood_window_s,
            )
            events.append(self._flood_event(Transition.FLOOD_ON, count, change.t_mono, change.t_wall))
        return events

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _emit(
        self,
        alarm: _Alarm,
        transition: Transition,
        change: ConditionChange | None,
        *,
        user: str = "",
        note: str = "",
        now_mono: float | None = None,
    ) -> AlarmEvent:
        base = alarm.attributes
        if change is not None:
            t_mono, t_wall = change.t_mono, change.t_wall
        else:
            t_mono = self._clock.monotonic() if now_mono is None else now_mono
            t_wall = self._clock.wall()
        event = AlarmEvent(
            seq=self._next_seq(),
            alarm_id=base.alarm_id,
            source=base.source,
            signal=base.signal,
            priority=base.priority,
            state=alarm.state,
            latched=alarm.latched,
            shelved=alarm.shelved,
            transition=transition,
            value=base.value,
            limit=base.limit,
            unit=base.unit,
            message=base.message,
            action=base.action,
            statutory=base.statutory,
            outputs=base.outputs,
            user=user,
            note=note,
            t_wall=t_wall,
            t_mono=t_mono,
            chattering=alarm.chattering,
            shelve_expires_wall=alarm.shelve_expires_wall,
        )
        alarm.last = event
        return event

    def _flood_event(self, transition: Transition, count: int, t_mono: float, t_wall: float) -> AlarmEvent:
        return AlarmEvent(
            seq=self._next_seq(),
            alarm_id=FLOOD_ALARM_ID,
            source="alarm_manager",
            signal=SignalClass.ALERT,
            priority=Priority.HIGH,
            state=AlarmState.NORMAL,
            latched=False,
            shelved=False,
            transition=transition,
            value=float(count),
            limit=float(self._flood_on_count if transition is Transition.FLOOD_ON else self._flood_off_count),
            unit="activations",
            message=(
                "alarm flood: MEDIUM and LOW priority outputs suppressed"
                if transition is Transition.FLOOD_ON
                else "alarm flood over: all outputs restored"
            ),
            action="",
            statutory=False,
            outputs=(),
            user=SYSTEM_USER,
            note=f"{count} activations in {self._flood_window_s:g} s",
            t_wall=t_wall,
            t_mono=t_mono,
        )

    def _seed_event(self, change: ConditionChange) -> AlarmEvent:
        """Attributes of a first-seen alarm; never journaled (seq 0), replaced by its first real event."""
        return AlarmEvent(
            seq=0,
            alarm_id=change.condition_id,
            source=change.point_id,
            signal=change.signal,
            priority=change.priority,
            state=AlarmState.NORMAL,
            latched=False,
            shelved=False,
            transition=Transition.CLEARED,
            value=change.value,
            limit=change.limit,
            unit=change.unit,
            message=change.message,
            action=change.action,
            statutory=change.statutory,
            outputs=change.outputs,
            user="",
            note="",
            t_wall=change.t_wall,
            t_mono=change.t_mono,
        )


def _with_attributes(event: AlarmEvent, change: ConditionChange) -> AlarmEvent:
    """``event`` with the descriptive attributes (priority, value, outputs, ...) of the newest change."""
    return replace(
        event,
        source=change.point_id,
        signal=change.signal,
        priority=change.priority,
        value=change.value,
        limit=change.limit,
        unit=change.unit,
        message=change.message,
        action=change.action,
        statutory=change.statutory,
        outputs=change.outputs,
    )


def _drop_older(times: deque[float], cutoff: float) -> None:
    while times and times[0] <= cutoff:
        times.popleft()
