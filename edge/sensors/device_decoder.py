"""Turn one device's poll answer into readings, applying the device's own view of its health.

A transmitter tells us when its number is not a measurement: a status register in fault or inhibit, a
4-20 mA loop below 3.6 mA, a heartbeat counter that stopped moving. Every such case yields ``BAD`` (the
value may be kept for diagnostics), never a ``GOOD`` zero that a rule would take for clean air.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from edge.config.resolved import DeviceSpec, PointSpec, QualityCondition
from edge.modbus.codec import CodecError, apply_scaling, decode_registers
from edge.modbus.planner import PlannerLimits, ReadRequest, RegisterSpan, plan_reads
from edge.readings import Quality, QualityReason, Reading

# NAMUR NE43 puts loop faults below 3.6 mA (3.8 mA signals under-range) and above 21 mA. A raw fault
# limit inside these bands means the raw value is a loop current in mA, and the detail can say so.
_LOOP_LOW_FAULT_BAND_MA = (3.0, 4.0)
_LOOP_HIGH_FAULT_BAND_MA = (20.5, 22.5)

_QUALITY_RANK = {Quality.GOOD: 0, Quality.UNCERTAIN: 1, Quality.BAD: 2}


@dataclass(frozen=True, slots=True)
class _Verdict:
    quality: Quality
    reason: QualityReason
    detail: str


def _format_number(value: float) -> str:
    return f"{value:.2f}" if abs(value) < 1000 else f"{value:g}"


def _fault_detail(raw: float, limit: float, *, below: bool) -> str:
    if below and _LOOP_LOW_FAULT_BAND_MA[0] <= limit <= _LOOP_LOW_FAULT_BAND_MA[1]:
        return f"loop current {raw:.2f} mA below {limit:g} mA: open circuit or failed transmitter"
    if not below and _LOOP_HIGH_FAULT_BAND_MA[0] <= limit <= _LOOP_HIGH_FAULT_BAND_MA[1]:
        return f"loop current {raw:.2f} mA above {limit:g} mA: short circuit or failed transmitter"
    return f"raw value {_format_number(raw)} {'below' if below else 'above'} {limit:g}"


class DeviceDecoder:
    """The read plan of one device and the decoding of its answers. Keeps heartbeat state between polls."""

    def __init__(self, device: DeviceSpec) -> None:
        self.device = device
        self._spans = {
            point.name: RegisterSpan(point.name, point.table, point.address, point.count) for point in device.points
        }
        self.requests: list[ReadRequest] = plan_reads(
            self._spans.values(),
            PlannerLimits(max_gap=device.max_gap, max_registers=device.max_registers),
        )
        self._request_of: dict[str, ReadRequest] = {
            span.key: request for request in self.requests for span in request.spans
        }
        for condition in device.quality_conditions:
            device.point(condition.point)  # fail at start-up, with the device named, not mid-poll
        if device.heartbeat_point is not None:
            device.point(device.heartbeat_point)
        self._heartbeat_raw: float | None = None
        self._heartbeat_changed_mono = 0.0

    def decode(
        self,
        blocks: Mapping[ReadRequest, Sequence[int] | Sequence[bool]],
        t_mono: float,
        t_wall: float,
    ) -> list[Reading]:
        """Readings for every point of the device, in configuration order, from one poll's answers."""
        raws: dict[str, float | _Verdict] = {point.name: self._raw_value(point, blocks) for point in self.device.points}
        device_verdict = self._device_verdict(raws, t_mono)
        return [self._reading(point, raws[point.name], device_verdict, t_mono, t_wall) for point in self.device.points]

    def comm_failure(self, reason: QualityReason, detail: str, t_mono: float, t_wall: float) -> list[Reading]:
        """BAD readings without a value for every point, when the device could not be read."""
        return [
            Reading(point.point_id, t_mono, t_wall, None, point.unit, Quality.BAD, reason, detail)
            for point in self.device.points
        ]

    # -- decoding ---------------------------------------------------------------------------------------

    def _raw_value(
        self, point: PointSpec, blocks: Mapping[ReadRequest, Sequence[int] | Sequence[bool]]
    ) -> float | _Verdict:
        """The decoded raw value, or the verdict explaining why there is none."""
        span = self._spans[point.name]
        request = self._request_of[point.name]
        block = blocks.get(request)
        if block is None:
            return _Verdict(
                Quality.BAD,
                QualityReason.COMM_LOSS,
                f"no answer for {request.table.value} {request.address}+{request.count}",
            )
        offset = request.offset_of(span)
        words = [int(word) for word in block[offset : offset + span.count]]
        try:
            raw = decode_registers(
                words,
                point.data_type,
                word_order=point.word_order,
                byte_order=point.byte_order,
                bit=point.bit,
            )
        except CodecError as exc:
            return _Verdict(Quality.BAD, QualityReason.DECODE_ERROR, f"{point.name}: {exc}")
        value = float(raw)
        if not math.isfinite(value):
            return _Verdict(Quality.BAD, QualityReason.DECODE_ERROR, f"{point.name}: raw value is {value!r}")
        return value

    def _device_verdict(self, raws: Mapping[str, float | _Verdict], t_mono: float) -> _Verdict | None:
        """What the device's status and heartbeat say about all its measured points; None when healthy."""
        bad: _Verdict | None = None
        uncertain: _Verdict | None = None
        for condition in self.device.quality_conditions:
            raw = raws[condition.point]
            if isinstance(raw, _Verdict):
                # Status unreadable: we cannot tell inhibit from normal, so nothing measured is trustworthy.
                bad = bad or _Verdict(Quality.BAD, raw.reason, f"status {condition.point!r} unreadable: {raw.detail}")
                continue
            if condition.quality is Quality.GOOD or not condition.matches(raw):
                continue
            verdict = _Verdict(condition.quality, condition.reason, self._condition_detail(condition, raw))
            if condition.quality is Quality.BAD:
                bad = bad or verdict
            else:
                uncertain = uncertain or verdict
        frozen = self._heartbeat_verdict(raws, t_mono)
        return bad or frozen or uncertain

    @staticmethod
    def _condition_detail(condition: QualityCondition, raw: float) -> str:
        state = f"status {condition.point!r} = {int(raw)}"
        if condition.bit is not None:
            state += f" (bit {condition.bit} set)"
        return f"{state}: {condition.message}" if condition.message else f"{state}: {condition.reason.value}"

    def _heartbeat_verdict(self, raws: Mapping[str, float | _Verdict], t_mono: float) -> _Verdict | None:
        name = self.device.heartbeat_point
        if name is None:
            return None
        raw = raws[name]
        if isinstance(raw, _Verdict):
            return None  # an undecodable heartbeat neither proves life nor death; the point itself shows BAD
        if self._heartbeat_raw is None or raw != self._heartbeat_raw:
            self._heartbeat_raw = raw
            self._heartbeat_changed_mono = t_mono
            return None
        unchanged_s = t_mono - self._heartbeat_changed_mono
        if unchanged_s < self.device.heartbeat_timeout_s:
            return None
        return _Verdict(
            Quality.BAD,
            QualityReason.FROZEN,
            f"heartbeat {name!r} stuck at {raw:g} for {unchanged_s:.1f} s "
            f"(limit {self.device.heartbeat_timeout_s:g} s): transmitter frozen",
        )

    def _reading(
        self,
        point: PointSpec,
        raw: float | _Verdict,
        device_verdict: _Verdict | None,
        t_mono: float,
        t_wall: float,
    ) -> Reading:
        if isinstance(raw, _Verdict):
            return Reading(point.point_id, t_mono, t_wall, None, point.unit, raw.quality, raw.reason, raw.detail)
        value = apply_scaling(raw, scale=point.scale, offset=point.offset)
        if point.diagnostic:
            return Reading(point.point_id, t_mono, t_wall, value, point.unit, Quality.GOOD)
        own = self._own_verdict(point, raw)
        verdicts = [verdict for verdict in (own, device_verdict) if verdict is not None]
        if not verdicts:
            return Reading(point.point_id, t_mono, t_wall, value, point.unit, Quality.GOOD)
        # Worst quality wins; on a tie the point's own fault is the more specific explanation.
        worst = max(verdicts, key=lambda verdict: _QUALITY_RANK[verdict.quality])
        # The value is kept for diagnostics only: BAD quality forbids using it.
        return Reading(point.point_id, t_mono, t_wall, value, point.unit, worst.quality, worst.reason, worst.detail)

    @staticmethod
    def _own_verdict(point: PointSpec, raw: float) -> _Verdict | None:
        if point.raw_fault_below is not None and raw < point.raw_fault_below:
            return _Verdict(Quality.BAD, QualityReason.FAULT, _fault_detail(raw, point.raw_fault_below, below=True))
        if point.raw_fault_above is not None and raw > point.raw_fault_above:
            return _Verdict(Quality.BAD, QualityReason.FAULT, _fault_detail(raw, point.raw_fault_above, below=False))
        return None
