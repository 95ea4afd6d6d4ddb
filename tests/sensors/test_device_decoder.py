"""DeviceDecoder: planning, decoding, loop faults, status conditions and the heartbeat."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pytest

from edge.config.resolved import ConditionKind, DeviceSpec, PointSpec, QualityCondition
from edge.modbus.codec import DataType, encode_value
from edge.modbus.planner import ReadRequest, Table
from edge.readings import Quality, QualityReason, Reading
from edge.sensors.device_decoder import DeviceDecoder


def _point(name: str, table: Table, address: int, data_type: DataType, **kwargs: object) -> PointSpec:
    return PointSpec(
        point_id=f"xnx1.{name}",
        device_id="xnx1",
        name=name,
        label=name,
        location="tailgate MM-12",
        table=table,
        address=address,
        data_type=data_type,
        **kwargs,  # type: ignore[arg-type]
    )


CONDITIONS = (
    QualityCondition("status", ConditionKind.BIT_SET, Quality.BAD, QualityReason.FAULT, bit=6, message="fault"),
    QualityCondition(
        "state",
        ConditionKind.IN_SET,
        Quality.BAD,
        QualityReason.INHIBIT,
        values=(3, 12, 13),
        message="inhibit",
    ),
    QualityCondition("state", ConditionKind.EQUALS, Quality.UNCERTAIN, QualityReason.WARM_UP, values=(2,)),
    QualityCondition("fault_no", ConditionKind.IN_RANGE, Quality.UNCERTAIN, QualityReason.WARNING, low=1, high=999),
)


def _device(**kwargs: object) -> DeviceSpec:
    points = (
        _point("gas", Table.HOLDING, 2, DataType.FLOAT32, unit="%LEL"),
        _point("fault_no", Table.HOLDING, 4, DataType.INT16, diagnostic=True),
        _point("status", Table.HOLDING, 5, DataType.UINT16, diagnostic=True),
        _point("state", Table.HOLDING, 6, DataType.UINT16, diagnostic=True),
        _point("heartbeat", Table.HOLDING, 7, DataType.UINT16, diagnostic=True),
        _point(
            "loop",
            Table.INPUT,
            36,
            DataType.FLOAT32,
            unit="%LEL",
            scale=6.25,
            offset=-25.0,
            raw_fault_below=3.6,
            raw_fault_above=21.0,
        ),
        _point("fan", Table.DISCRETE_INPUT, 3, DataType.BOOL),
    )
    defaults: dict[str, object] = {
        "device_id": "xnx1",
        "bus_id": "bus1",
        "unit_id": 1,
        "profile": "honeywell_xnx",
        "location": "tailgate MM-12",
        "poll_interval_s": 1.0,
        "points": points,
        "quality_conditions": CONDITIONS,
    }
    defaults.update(kwargs)
    return DeviceSpec(**defaults)  # type: ignore[arg-type]


class Registers:
    """A device's register contents, answered per planned request as the bus would."""

    def __init__(self) -> None:
        self.values: dict[Table, dict[int, int]] = {table: {} for table in Table}
        self.set_float(Table.HOLDING, 2, 12.5)
        self.set(Table.HOLDING, 6, 1)  # monitoring
        self.set_float(Table.INPUT, 36, 6.0)  # 6 mA -> 12.5 %LEL

    def set(self, table: Table, address: int, value: int) -> None:
        self.values[table][address] = value

    def set_float(self, table: Table, address: int, value: float) -> None:
        for index, word in enumerate(encode_value(value, DataType.FLOAT32)):
            self.values[table][address + index] = word

    def blocks(self, requests: Sequence[ReadRequest]) -> Mapping[ReadRequest, Sequence[int] | Sequence[bool]]:
        out: dict[ReadRequest, Sequence[int] | Sequence[bool]] = {}
        for request in requests:
            words = [self.values[request.table].get(address, 0) for address in range(request.address, request.end)]
            out[request] = [bool(word) for word in words] if request.table.is_bit_table else words
        return out


def _by_name(readings: list[Reading]) -> dict[str, Reading]:
    return {reading.point_id.split(".", 1)[1]: reading for reading in readings}


def _decode(decoder: DeviceDecoder, registers: Registers, t_mono: float = 10.0) -> dict[str, Reading]:
    return _by_name(decoder.decode(registers.blocks(decoder.requests), t_mono, 1_767_225_600.0 + t_mono))


def test_plan_merges_nearby_registers_per_table() -> None:
    decoder = DeviceDecoder(_device())
    assert [(r.table, r.address, r.count) for r in decoder.requests] == [
        (Table.DISCRETE_INPUT, 3, 1),
        (Table.HOLDING, 2, 6),
        (Table.INPUT, 36, 2),
    ]
    assert len(DeviceDecoder(_device(max_gap=0)).requests) == 3
    # gas (2..3) and status registers (4..7) are adjacent; max_registers 4 forces a split.
    assert len(DeviceDecoder(_device(max_registers=4)).requests) == 4


def test_healthy_transmitter_reads_good_scaled_values() -> None:
    registers = Registers()
    registers.set(Table.DISCRETE_INPUT, 3, 1)
    readings = _decode(DeviceDecoder(_device()), registers)
    assert readings["gas"].quality is Quality.GOOD
    assert readings["gas"].value == pytest.approx(12.5)
    assert readings["gas"].unit == "%LEL"
    assert readings["loop"].value == pytest.approx(12.5)
    assert readings["fan"].value == 1.0
    assert readings["state"].value == 1.0
    assert all(reading.quality is Quality.GOOD for reading in readings.values())


@pytest.mark.parametrize(
    ("register", "value", "quality", "reason", "detail"),
    [
        (5, 1 << 6, Quality.BAD, QualityReason.FAULT, "fault"),
        (6, 3, Quality.BAD, QualityReason.INHIBIT, "inhibit"),
        (6, 12, Quality.BAD, QualityReason.INHIBIT, "= 12"),
        (6, 2, Quality.UNCERTAIN, QualityReason.WARM_UP, "warm_up"),
        (4, 17, Quality.UNCERTAIN, QualityReason.WARNING, "= 17"),
    ],
)
def test_status_conditions_degrade_every_measured_point(
    register: int, value: int, quality: Quality, reason: QualityReason, detail: str
) -> None:
    registers = Registers()
    registers.set(Table.HOLDING, register, value)
    readings = _decode(DeviceDecoder(_device()), registers)
    for name in ("gas", "loop", "fan"):
        assert readings[name].quality is quality, name
        assert readings[name].reason is reason
        assert detail in readings[name].detail
    assert readings["status"].quality is Quality.GOOD  # diagnostics are what they are


def test_fault_or_inhibit_is_never_good_and_worst_condition_wins() -> None:
    registers = Registers()
    registers.set(Table.HOLDING, 6, 2)  # warm-up: uncertain
    registers.set(Table.HOLDING, 5, 1 << 6)  # fault: bad, must win
    readings = _decode(DeviceDecoder(_device()), registers)
    assert readings["gas"].quality is Quality.BAD
    assert readings["gas"].reason is QualityReason.FAULT
    assert not readings["gas"].usable
    assert readings["gas"].value == pytest.approx(12.5)  # kept for diagnostics only


@pytest.mark.parametrize(
    ("milliamps", "detail"),
    [
        (1.2, "loop current 1.20 mA below 3.6 mA: open circuit or failed transmitter"),
        (22.0, "loop current 22.00 mA above 21 mA: short circuit or failed transmitter"),
    ],
)
def test_loop_current_outside_namur_band_is_a_fault(milliamps: float, detail: str) -> None:
    registers = Registers()
    registers.set_float(Table.INPUT, 36, milliamps)
    readings = _decode(DeviceDecoder(_device()), registers)
    assert readings["loop"].quality is Quality.BAD
    assert readings["loop"].reason is QualityReason.FAULT
    assert readings["loop"].detail == detail
    assert readings["gas"].quality is Quality.GOOD


def test_generic_raw_fault_wording() -> None:
    device = _device(
        points=(_point("level", Table.HOLDING, 0, DataType.INT16, raw_fault_below=-100),),
        quality_conditions=(),
    )
    decoder = DeviceDecoder(device)
    registers = Registers()
    registers.set(Table.HOLDING, 0, encode_value(-200, DataType.INT16)[0])
    readings = _decode(decoder, registers)
    assert readings["level"].detail == "raw value -200.00 below -100"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_value_is_a_decode_error(bad: float) -> None:
    registers = Registers()
    registers.set_float(Table.HOLDING, 2, bad)
    readings = _decode(DeviceDecoder(_device()), registers)
    assert readings["gas"].quality is Quality.BAD
    assert readings["gas"].reason is QualityReason.DECODE_ERROR
    assert readings["gas"].value is None


def test_frozen_heartbeat_makes_measured_points_bad() -> None:
    decoder = DeviceDecoder(_device(heartbeat_point="heartbeat", heartbeat_timeout_s=15.0))
    registers = Registers()
    registers.set(Table.HOLDING, 7, 41)
    assert _decode(decoder, registers, t_mono=0.0)["gas"].quality is Quality.GOOD
    assert _decode(decoder, registers, t_mono=14.9)["gas"].quality is Quality.GOOD
    frozen = _decode(decoder, registers, t_mono=15.0)
    assert frozen["gas"].quality is Quality.BAD
    assert frozen["gas"].reason is QualityReason.FROZEN
    assert frozen["loop"].reason is QualityReason.FROZEN
    assert frozen["heartbeat"].quality is Quality.GOOD
    assert "heartbeat 'heartbeat' stuck at 41" in frozen["gas"].detail
    registers.set(Table.HOLDING, 7, 42)  # it ticks again
    assert _decode(decoder, registers, t_mono=16.0)["gas"].quality is Quality.GOOD


def test_comm_failure_covers_every_point_without_value() -> None:
    decoder = DeviceDecoder(_device())
    readings = decoder.comm_failure(QualityReason.COMM_LOSS, "no answer", 1.0, 2.0)
    assert len(readings) == len(_device().points)
    assert all(r.quality is Quality.BAD and r.value is None and r.detail == "no answer" for r in readings)


def test_unknown_status_point_fails_at_construction() -> None:
    condition = QualityCondition("nope", ConditionKind.EQUALS, Quality.BAD, QualityReason.FAULT, values=(1,))
    with pytest.raises(KeyError, match="nope"):
        DeviceDecoder(_device(quality_conditions=(condition,)))
