"""Raw values of a device's status registers, derived from its quality conditions.

The simulator knows no vendor: to show a transmitter in fault, inhibit or warm-up it reads the same
``QualityCondition`` records the gateway evaluates, and writes each status point a raw value that makes the
condition for that reason match. In the healthy state it writes a raw value that matches no condition at all.
"""

from __future__ import annotations

from edge.config.resolved import ConditionKind, DeviceSpec, QualityCondition
from edge.modbus.codec import DataType
from edge.readings import QualityReason
from edge.sim.states import DeviceState

REASON_FOR_STATE: dict[DeviceState, QualityReason] = {
    DeviceState.FAULT: QualityReason.FAULT,
    DeviceState.INHIBIT: QualityReason.INHIBIT,
    DeviceState.WARM_UP: QualityReason.WARM_UP,
}

_ONE_BIT_TYPES = (DataType.BITS, DataType.BOOL)
_HEALTHY_SEARCH_LIMIT = 0x10000  # every 16-bit status word; wider registers are searched over the same span


class StatusDerivationError(ValueError):
    """A device's quality conditions cannot be satisfied (or avoided) by any raw value."""


def status_point_names(spec: DeviceSpec) -> tuple[str, ...]:
    """Profile names of the points that the device's quality conditions read, in first-use order."""
    return tuple(dict.fromkeys(condition.point for condition in spec.quality_conditions))


def healthy_raw(spec: DeviceSpec, point_name: str) -> int:
    """The smallest non-negative raw value of ``point_name`` that matches none of the device's conditions."""
    conditions = [c for c in spec.quality_conditions if c.point == point_name]
    limit = 2 if spec.point(point_name).data_type in _ONE_BIT_TYPES else _HEALTHY_SEARCH_LIMIT
    for raw in range(limit):
        if not any(condition.matches(raw) for condition in conditions):
            return raw
    raise StatusDerivationError(
        f"device {spec.device_id!r}: every raw value of status point {point_name!r} tried matches one of its "
        "quality conditions, so the device could never be shown healthy; check the profile's conditions"
    )


def raw_matching(condition: QualityCondition, healthy: int) -> float:
    """A raw value for which ``condition`` matches, starting from the healthy raw value of the same point.

    Bits outside the condition's bit or mask keep their healthy state, as on a device whose status word
    packs several fields (Midas: state in bits 0-3, fault field in bits 4-5, heartbeat in bit 11).
    """
    if condition.kind is ConditionKind.BIT_SET and condition.bit is not None:
        raw: float = healthy | (1 << condition.bit)
    elif condition.kind in (ConditionKind.EQUALS, ConditionKind.IN_SET) and condition.values:
        raw = _within_mask(condition, healthy, condition.values[0])
    elif condition.kind is ConditionKind.IN_RANGE:
        bound = condition.low if condition.low is not None else condition.high
        raw = healthy if bound is None else _within_mask(condition, healthy, bound)
    else:
        raw = healthy
    if not condition.matches(raw):
        raise StatusDerivationError(
            f"quality condition on point {condition.point!r} ({condition.kind.value}, reason "
            f"{condition.reason.value}) cannot be made to match: no bit, value or bound of it fits the register"
        )
    return raw


def _within_mask(condition: QualityCondition, healthy: int, wanted: float) -> float:
    if condition.mask is None:
        return wanted
    return (healthy & ~condition.mask) | (int(wanted) & condition.mask)


def reasons_available(spec: DeviceSpec) -> frozenset[QualityReason]:
    """The quality reasons the device's status registers can signal."""
    return frozenset(condition.reason for condition in spec.quality_conditions)


def status_raws(spec: DeviceSpec, state: DeviceState) -> dict[str, float]:
    """Raw value per status point name for ``state``.

    Every point that has a condition with the state's reason gets a value matching the first such
    condition (e.g. both the fault-number register and the fault bit of an XNX); the other status points
    stay healthy. States without a reason (online, offline, frozen) give healthy values everywhere.
    """
    raws: dict[str, float] = {name: healthy_raw(spec, name) for name in status_point_names(spec)}
    reason = REASON_FOR_STATE.get(state)
    if reason is None:
        return raws
    signalled: set[str] = set()
    for condition in spec.quality_conditions:
        if condition.reason is reason and condition.point not in signalled:
            raws[condition.point] = raw_matching(condition, int(raws[condition.point]))
            signalled.add(condition.point)
    return raws
