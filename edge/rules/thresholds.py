"""The statutory threshold engine: a pure, deterministic function of the reading sequence.

It runs as a plain synchronous call on the reading path, so nothing can drop, delay or override it, and it
reads time only from the readings (``t_mono`` for delays and rates, ``t_wall`` for records). It reports the
*process* state of each condition; latching until reset is the alarm manager's job (``latch`` says which).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from edge.readings import Quality, QualityReason, Reading
from edge.rules.signals import ConditionChange, Direction, Priority, SignalClass
from edge.rules.units import UnitConversionError, convert, format_limit, format_value

log = logging.getLogger(__name__)

MALFUNCTION = "malfunction"  # reserved condition name of every point


class RuleDefinitionError(ValueError):
    """A threshold, rate or point rule that cannot be evaluated safely."""


def _check_name(name: str, what: str) -> None:
    if not name or ":" in name or name != name.strip():
        raise RuleDefinitionError(f"{what} name {name!r} must be non-empty, without ':' or outer spaces")
    if name == MALFUNCTION:
        raise RuleDefinitionError(f"{what} name {MALFUNCTION!r} is reserved for the sensor fault condition")


def _check_finite(value: float, what: str) -> None:
    if not math.isfinite(value):
        raise RuleDefinitionError(f"{what} must be a finite number, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Threshold:
    """One level of one point.

    HIGH activates at ``value >= limit`` (``value > limit`` when ``inclusive`` is False) and clears only when
    ``value < clear_limit``; LOW mirrors it. The deadband is on the clear side only, so a statutory limit is
    never delayed by it. Delays are measured on reading timestamps; statutory defaults are zero.
    """

    name: str
    signal: SignalClass
    direction: Direction
    limit: float
    clear_limit: float
    on_delay_s: float = 0.0
    off_delay_s: float = 0.0
    inclusive: bool = True  # "1.0 % or more" (75.323) vs "shall not exceed 0.5 %" (75.321)
    priority: Priority
    action: str
    source: str
    outputs: tuple[str, ...]
    latch: bool

    def __post_init__(self) -> None:
        _check_name(self.name, "threshold")
        if self.signal not in (SignalClass.ALERT, SignalClass.ALARM):
            raise RuleDefinitionError(
                f"threshold {self.name!r}: signal must be alert or alarm, got {self.signal.value!r} "
                "(malfunction is automatic; warnings come from ML, never from statutory rules)"
            )
        _check_finite(self.limit, f"threshold {self.name!r} limit")
        _check_finite(self.clear_limit, f"threshold {self.name!r} clear_limit")
        if self.direction is Direction.HIGH and self.clear_limit > self.limit:
            raise RuleDefinitionError(
                f"threshold {self.name!r}: a high limit clears below its limit, so clear_limit "
                f"{self.clear_limit} must be <= limit {self.limit}"
            )
        if self.direction is Direction.LOW and self.clear_limit < self.limit:
            raise RuleDefinitionError(
                f"threshold {self.name!r}: a low limit clears above its limit, so clear_limit "
                f"{self.clear_limit} must be >= limit {self.limit}"
            )
        for delay_name, delay in (("on_delay_s", self.on_delay_s), ("off_delay_s", self.off_delay_s)):
            if not (math.isfinite(delay) and delay >= 0):
                raise RuleDefinitionError(f"threshold {self.name!r}: {delay_name} must be >= 0, got {delay}")

    def trips(self, value: float) -> bool:
        """True when ``value`` is past the activation limit."""
        if self.direction is Direction.HIGH:
            return value >= self.limit if self.inclusive else value > self.limit
        return value <= self.limit if self.inclusive else value < self.limit

    def restores(self, value: float) -> bool:
        """True when ``value`` is back past the clear limit."""
        if self.direction is Direction.HIGH:
            return value < self.clear_limit
        return value > self.clear_limit


@dataclass(frozen=True, slots=True, kw_only=True)
class RateOfRise:
    """Activates while the value rises faster than ``limit_per_min`` over the last ``window_s`` seconds.

    The rate is the change between the oldest and newest usable sample inside the window, per minute; it is
    only judged once those samples span at least half the window, so two close samples cannot trip it.
    """

    name: str = "rate_of_rise"
    signal: SignalClass
    limit_per_min: float
    window_s: float
    priority: Priority
    action: str
    source: str
    outputs: tuple[str, ...]
    latch: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name, "rate")
        if self.signal not in (SignalClass.ALERT, SignalClass.ALARM):
            raise RuleDefinitionError(f"rate {self.name!r}: signal must be alert or alarm")
        if not (math.isfinite(self.limit_per_min) and self.limit_per_min > 0):
            raise RuleDefinitionError(f"rate {self.name!r}: limit_per_min must be > 0")
        if not (math.isfinite(self.window_s) and self.window_s > 0):
            raise RuleDefinitionError(f"rate {self.name!r}: window_s must be > 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class PointRules:
    """All statutory rules of one configured point, with limits in ``unit``."""

    point_id: str
    label: str  # e.g. "Methane"
    location: str  # e.g. "tailgate MM-12"
    unit: str  # canonical unit of the limits, e.g. "%"
    thresholds: tuple[Threshold, ...]
    rates: tuple[RateOfRise, ...] = ()
    malfunction_outputs: tuple[str, ...] = ()  # fail-safe, e.g. ("power_trip",) per 30 CFR 27.21(f)
    malfunction_priority: Priority = Priority.HIGH
    malfunction_source: str = "30 CFR 75.351 malfunction signal [R]"
    # Volume percent at 100 %LEL of the measured gas; None refuses %LEL readings (not a methane rule).
    lel_vol_percent: float | None = None

    def __post_init__(self) -> None:
        if not self.point_id or ":" in self.point_id:
            raise RuleDefinitionError(f"point id {self.point_id!r} must be non-empty and without ':'")
        names = [t.name for t in self.thresholds] + [r.name for r in self.rates]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise RuleDefinitionError(f"point {self.point_id!r}: duplicate condition names {duplicates}")
        if self.lel_vol_percent is not None and not (math.isfinite(self.lel_vol_percent) and self.lel_vol_percent > 0):
            raise RuleDefinitionError(f"point {self.point_id!r}: lel_vol_percent must be > 0")


# Why a BAD reading is a malfunction, in words, and what the crew should do about it.
_REASON_TEXT: dict[QualityReason, tuple[str, str]] = {
    QualityReason.NONE: ("no usable value", "check the transmitter and its wiring"),
    QualityReason.COMM_LOSS: ("no answer", "check the transmitter and its wiring"),
    QualityReason.DEVICE_EXCEPTION: ("device refused the request", "check the device address and registers"),
    QualityReason.STALE: ("no fresh value", "check the transmitter and its wiring"),
    QualityReason.STUCK: ("value not changing", "bump-test the sensor with calibration gas"),
    QualityReason.FROZEN: ("heartbeat stopped", "restart the transmitter and check its wiring"),
    QualityReason.OUT_OF_RANGE: (
        "outside the measuring range",
        "test the atmosphere with a hand-held detector",
    ),
    QualityReason.FAULT: ("transmitter reports a fault", "repair or replace the sensor"),
    QualityReason.INHIBIT: ("inhibited for maintenance or calibration", "return the sensor to service"),
    QualityReason.WARM_UP: ("warming up", "wait for the warm-up to finish"),
    QualityReason.WARNING: ("transmitter warning", "check the transmitter"),
    QualityReason.DECODE_ERROR: ("registers could not be decoded", "check the register map and data type"),
    QualityReason.PARSE_ERROR: ("line did not match the parser", "check the serial settings and parser"),
}


@dataclass(slots=True)
class _ThresholdState:
    active: bool = False
    pending_since: float | None = None  # trip condition seen since (on-delay running)
    clearing_since: float | None = None  # restore condition seen since (off-delay running)
    activation: ConditionChange | None = None


@dataclass(slots=True)
class _RateState:
    samples: deque[tuple[float, float]] = field(default_factory=deque)
    active: bool = False
    activation: ConditionChange | None = None


@dataclass(slots=True)
class _PointState:
    rules: PointRules
    thresholds: list[_ThresholdState]
    rates: list[_RateState]
    malfunction: ConditionChange | None = None
    last_t_mono: float | None = None


class RuleEngine:
    """Evaluates readings against the statutory rules of their points and reports condition changes."""

    def __init__(self, rules: Iterable[PointRules]) -> None:
        self._points: dict[str, _PointState] = {}
        for point in rules:
            if point.point_id in self._points:
                raise RuleDefinitionError(f"point {point.point_id!r} has rules defined twice")
            self._points[point.point_id] = _PointState(
                rules=point,
                thresholds=[_ThresholdState() for _ in point.thresholds],
                rates=[_RateState() for _ in point.rates],
            )

    @property
    def point_ids(self) -> tuple[str, ...]:
        return tuple(self._points)

    def evaluate(self, reading: Reading) -> list[ConditionChange]:
        """Changes (activations and clears) caused by ``reading``; ``[]`` for a point without rules."""
        state = self._points.get(reading.point_id)
        if state is None:
            return []
        now = reading.t_mono
        if state.last_t_mono is not None and now < state.last_t_mono:
            log.warning(
                "point %s: reading at t_mono %.3f is older than the previous one (%.3f); delays and rate "
                "window restarted",
                reading.point_id,
                now,
                state.last_t_mono,
            )
            self._restart_timing(state)
        state.last_t_mono = now

        value = self._canonical_value(state.rules, reading)
        if isinstance(value, str):
            return self._enter_malfunction(state, reading, value)
        changes: list[ConditionChange] = []
        if state.malfunction is not None:
            changes.append(self._malfunction_change(state, reading, active=False, reason=""))
            state.malfunction = None
        changes.extend(self._evaluate_thresholds(state, reading, value))
        changes.extend(self._evaluate_rates(state, reading, value))
        return changes

    def active_conditions(self) -> list[ConditionChange]:
        """The activation record of every condition active now, by point then condition order."""
        active: list[ConditionChange] = []
        for state in self._points.values():
            if state.malfunction is not None:
                active.append(state.malfunction)
            active.extend(t.activation for t in state.thresholds if t.active and t.activation is not None)
            active.extend(r.activation for r in state.rates if r.active and r.activation is not None)
        return active

    # -- malfunction -------------------------------------------------------------------------------------

    @staticmethod
    def _canonical_value(rules: PointRules, reading: Reading) -> float | str:
        """The reading's value in the rules' unit, or why it cannot drive a threshold decision."""
        if not reading.usable or reading.value is None:
            explanation, action = _REASON_TEXT.get(reading.reason, _REASON_TEXT[QualityReason.NONE])
            if reading.detail:
                explanation = f"{explanation}; {reading.detail}"
            reason = reading.reason.value if reading.reason is not QualityReason.NONE else Quality.BAD.value
            return f"{reason} ({explanation}): {action}"
        if not math.isfinite(reading.value):
            # NaN compares False with every limit and would silently clear an alarm.
            return f"value {reading.value!r} is not a number: check the register map and data type"
        try:
            return convert(reading.value, reading.unit, rules.unit, lel_vol_percent=rules.lel_vol_percent)
        except UnitConversionError as error:
            return f"{error}: correct the point's unit or its rule in the configuration"

    def _enter_malfunction(self, state: _PointState, reading: Reading, reason: str) -> list[ConditionChange]:
        # Threshold states are held: a dead sensor never clears an alarm. Running delays restart after
        # recovery because the outage cannot prove that a condition persisted or stayed away.
        for threshold_state in state.thresholds:
            threshold_state.pending_since = None
            threshold_state.clearing_since = None
        if state.malfunction is not None:
            return []
        change = self._malfunction_change(state, reading, active=True, reason=reason)
        state.malfunction = change
        return [change]

    @staticmethod
    def _malfunction_change(state: _PointState, reading: Reading, *, active: bool, reason: str) -> ConditionChange:
        rules = state.rules
        if active:
            message = f"{rules.label} sensor at {rules.location} malfunction: {reason}"
        else:
            message = f"{rules.label} sensor at {rules.location} back in service"
        return ConditionChange(
            condition_id=f"{rules.point_id}:{MALFUNCTION}",
            point_id=rules.point_id,
            signal=SignalClass.MALFUNCTION,
            priority=rules.malfunction_priority,
            active=active,
            statutory=True,
            # A fail-safe trip stays until the sensor is repaired and the trip reset by a person.
            latch=bool(rules.malfunction_outputs),
            value=None,
            limit=None,
            unit=rules.unit,
            message=message,
            action=reason.rpartition(": ")[2] if active else "",
            source=rules.malfunction_source,
            outputs=rules.malfunction_outputs,
            t_mono=reading.t_mono,
            t_wall=reading.t_wall,
        )

    @staticmethod
    def _restart_timing(state: _PointState) -> None:
        for threshold_state in state.thresholds:
            threshold_state.pending_since = None
            threshold_state.clearing_since = None
        for rate_state in state.rates:
            rate_state.samples.clear()

    # -- thresholds --------------------------------------------------------------------------------------

    def _evaluate_thresholds(self, state: _PointState, reading: Reading, value: float) -> list[ConditionChange]:
        changes: list[ConditionChange] = []
        now = reading.t_mono
        for threshold, tstate in zip(state.rules.thresholds, state.thresholds, strict=True):
            if not tstate.active:
                tstate.clearing_since = None
                if not threshold.trips(value):
                    tstate.pending_since = None
                    continue
                if tstate.pending_since is None:
                    tstate.pending_since = now
                if now - tstate.pending_since < threshold.on_delay_s:
                    continue
                tstate.active, tstate.pending_since = True, None
                change = self._threshold_change(state.rules, threshold, reading, value, active=True)
                tstate.activation = change
                changes.append(change)
            else:
                tstate.pending_since = None
                if not threshold.restores(value):
                    tstate.clearing_since = None
                    continue
                if tstate.clearing_since is None:
                    tstate.clearing_since = now
                if now - tstate.clearing_since < threshold.off_delay_s:
                    continue
                tstate.active, tstate.clearing_since, tstate.activation = False, None, None
                changes.append(self._threshold_change(state.rules, threshold, reading, value, active=False))
        return changes

    @staticmethod
    def _threshold_change(
        rules: PointRules, threshold: Threshold, reading: Reading, value: float, *, active: bool
    ) -> ConditionChange:
        unit = rules.unit
        shown = f"{rules.label} {format_value(value, unit)} {unit} at {rules.location}"
        high = threshold.direction is Direction.HIGH
        if active:
            verb = "exceeds" if high else "is below"
            message = f"{shown} {verb} {format_limit(threshold.limit, unit)} {unit}: {threshold.action}"
        else:
            verb = "is back below" if high else "is back above"
            message = f"{shown} {verb} {format_limit(threshold.clear_limit, unit)} {unit}"
        return ConditionChange(
            condition_id=f"{rules.point_id}:{threshold.name}",
            point_id=rules.point_id,
            signal=threshold.signal,
            priority=threshold.priority,
            active=active,
            statutory=True,
            latch=threshold.latch,
            value=value,
            limit=threshold.limit if active else threshold.clear_limit,
            unit=unit,
            message=message,
            action=threshold.action,
            source=threshold.source,
            outputs=threshold.outputs,
            t_mono=reading.t_mono,
            t_wall=reading.t_wall,
        )

    # -- rate of rise ------------------------------------------------------------------------------------

    def _evaluate_rates(self, state: _PointState, reading: Reading, value: float) -> list[ConditionChange]:
        changes: list[ConditionChange] = []
        now = reading.t_mono
        for rate, rstate in zip(state.rules.rates, state.rates, strict=True):
            samples = rstate.samples
            samples.append((now, value))
            while samples[0][0] < now - rate.window_s:
                samples.popleft()
            (t_old, v_old), (t_new, v_new) = samples[0], samples[-1]
            span_s = t_new - t_old
            if len(samples) < 2 or span_s < rate.window_s / 2:
                continue  # not enough history to judge: hold the current state
            per_min = (v_new - v_old) / span_s * 60.0
            rising = per_min >= rate.limit_per_min
            if rising == rstate.active:
                continue
            change = self._rate_change(state.rules, rate, reading, per_min, active=rising)
            rstate.active = rising
            rstate.activation = change if rising else None
            changes.append(change)
        return changes

    @staticmethod
    def _rate_change(
        rules: PointRules, rate: RateOfRise, reading: Reading, per_min: float, *, active: bool
    ) -> ConditionChange:
        unit = f"{rules.unit}/min"
        shown = f"{format_value(per_min, rules.unit)} {unit}"
        limit = f"{format_limit(rate.limit_per_min, rules.unit)} {unit}"
        if active:
            message = f"{rules.label} rising {shown} at {rules.location} exceeds {limit}: {rate.action}"
        else:
            message = f"{rules.label} rising {shown} at {rules.location} is back below {limit}"
        return ConditionChange(
            condition_id=f"{rules.point_id}:{rate.name}",
            point_id=rules.point_id,
            signal=rate.signal,
            priority=rate.priority,
            active=active,
            statutory=True,
            latch=rate.latch,
            value=per_min,
            limit=rate.limit_per_min,
            unit=unit,
            message=message,
            action=rate.action,
            source=rate.source,
            outputs=rate.outputs,
            t_mono=reading.t_mono,
            t_wall=reading.t_wall,
        )
