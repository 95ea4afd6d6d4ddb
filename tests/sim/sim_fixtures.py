"""Resolved specs of a small simulated section, built directly (the YAML loader is not under test here)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import SimDevice

from edge.config.resolved import (
    AlarmSettings,
    BusKind,
    BusSpec,
    ConditionKind,
    DeviceSpec,
    GatewaySpec,
    OutputSpec,
    PointSpec,
    QualityCondition,
)
from edge.modbus.codec import DataType
from edge.modbus.planner import Table
from edge.readings import Quality, QualityReason

CLIENT_TIMEOUT_S = 0.3
FACE = "tailgate MM-12"
BELT = "belt drive B-3"


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _holding(
    device_id: str,
    name: str,
    address: int,
    data_type: DataType,
    *,
    location: str,
    point_id: str = "",
    label: str = "",
    unit: str = "",
    measuring_range: tuple[float, float] | None = None,
    rule: str | None = None,
) -> PointSpec:
    """A measured holding-register point; without a ``label`` it is a diagnostic (status) register."""
    return PointSpec(
        point_id=point_id or f"{device_id}.{name}",
        device_id=device_id,
        name=name,
        label=label or name,
        location=location,
        table=Table.HOLDING,
        address=address,
        data_type=data_type,
        unit=unit,
        measuring_range=measuring_range,
        rule=rule,
        diagnostic=not label,
    )


def _status(device_id: str, name: str, address: int, data_type: DataType, location: str) -> PointSpec:
    return _holding(device_id, name, address, data_type, location=location)


def xnx_methane(device_id: str, *, bus_id: str, unit_id: int, point_id: str) -> DeviceSpec:
    """A Honeywell XNX as its profile resolves: float32 gas at 40003, status words, heartbeat counter."""
    return DeviceSpec(
        device_id=device_id,
        bus_id=bus_id,
        unit_id=unit_id,
        profile="honeywell_xnx",
        location=FACE,
        poll_interval_s=1.0,
        points=(
            _holding(
                device_id,
                "gas",
                2,
                DataType.FLOAT32,
                location=FACE,
                point_id=point_id,
                label="Methane",
                unit="%vol",
                measuring_range=(0.0, 5.0),
                rule="methane_working_place",
            ),
            _status(device_id, "fault_number", 4, DataType.INT16, FACE),
            _status(device_id, "status", 5, DataType.UINT16, FACE),
            _status(device_id, "state", 6, DataType.UINT16, FACE),
            _status(device_id, "heartbeat", 7, DataType.UINT16, FACE),
        ),
        quality_conditions=(
            QualityCondition("status", ConditionKind.BIT_SET, Quality.BAD, QualityReason.FAULT, bit=6),
            QualityCondition(
                "fault_number", ConditionKind.IN_RANGE, Quality.BAD, QualityReason.FAULT, low=1000, high=1999
            ),
            QualityCondition("state", ConditionKind.EQUALS, Quality.BAD, QualityReason.WARM_UP, values=(2,)),
            QualityCondition("state", ConditionKind.IN_SET, Quality.BAD, QualityReason.INHIBIT, values=(3, 12, 13)),
            QualityCondition("status", ConditionKind.BIT_SET, Quality.UNCERTAIN, QualityReason.WARNING, bit=4),
        ),
        heartbeat_point="heartbeat",
    )


def analog_module(device_id: str, *, bus_id: str, unit_id: int) -> DeviceSpec:
    """A 4-20 mA input module (microamps in input registers): airflow on ch1, air temperature on ch2."""

    def channel(number: int, point_id: str, label: str, unit: str, span: tuple[float, float]) -> PointSpec:
        scale = (span[1] - span[0]) / (20000 - 4000)
        return PointSpec(
            point_id=point_id,
            device_id=device_id,
            name=f"ch{number}",
            label=label,
            location=FACE,
            table=Table.INPUT,
            address=number - 1,
            data_type=DataType.UINT16,
            scale=scale,
            offset=span[0] - 4000 * scale,
            unit=unit,
            measuring_range=span,
            raw_fault_below=3600,
            raw_fault_above=21000,
        )

    return DeviceSpec(
        device_id=device_id,
        bus_id=bus_id,
        unit_id=unit_id,
        profile="generic_ai8_4_20ma",
        location=FACE,
        poll_interval_s=1.0,
        points=(
            channel(1, "face.airflow", "Air velocity", "m/s", (0.0, 10.0)),
            channel(2, "face.temperature", "Air temperature", "°C", (-20.0, 80.0)),
        ),
    )


def relay_module(device_id: str, *, bus_id: str, unit_id: int) -> DeviceSpec:
    points = tuple(
        PointSpec(
            point_id=f"{device_id}.relay{n + 1}",
            device_id=device_id,
            name=f"relay{n + 1}",
            label=f"Relay {n + 1}",
            location=FACE,
            table=Table.COIL,
            address=n,
            data_type=DataType.BOOL,
            diagnostic=True,
        )
        for n in range(8)
    )
    return DeviceSpec(
        device_id=device_id,
        bus_id=bus_id,
        unit_id=unit_id,
        profile="generic_relay8",
        location=FACE,
        poll_interval_s=1.0,
        points=points,
    )


def itrans_co(device_id: str, *, bus_id: str, unit_id: int) -> DeviceSpec:
    """An Oldham iTrans 2 reading CO as int16 tenths of a ppm."""
    return DeviceSpec(
        device_id=device_id,
        bus_id=bus_id,
        unit_id=unit_id,
        profile="oldham_itrans2",
        location=BELT,
        poll_interval_s=1.0,
        points=(
            PointSpec(
                point_id="belt.co",
                device_id=device_id,
                name="gas",
                label="Carbon monoxide",
                location=BELT,
                table=Table.HOLDING,
                address=101,
                data_type=DataType.INT16,
                scale=0.1,
                unit="ppm",
                measuring_range=(0.0, 500.0),
                rule="co_belt",
            ),
        ),
    )


def midas_o2(device_id: str, *, bus_id: str, unit_id: int) -> DeviceSpec:
    """A Honeywell Midas measuring oxygen: status word with a state field, fault bits and a heartbeat bit."""
    heartbeat = dataclasses.replace(_status(device_id, "heartbeat", 0, DataType.BITS, BELT), bit=11)
    return DeviceSpec(
        device_id=device_id,
        bus_id=bus_id,
        unit_id=unit_id,
        profile="honeywell_midas",
        location=BELT,
        poll_interval_s=1.0,
        points=(
            _holding(
                device_id,
                "gas",
                2,
                DataType.FLOAT32,
                location=BELT,
                label="Oxygen",
                unit="%vol",
                measuring_range=(0.0, 25.0),
                rule="oxygen",
            ),
            _status(device_id, "status", 0, DataType.UINT16, BELT),
            heartbeat,
        ),
        quality_conditions=(
            QualityCondition("status", ConditionKind.BIT_SET, Quality.BAD, QualityReason.FAULT, bit=5),
            QualityCondition("status", ConditionKind.BIT_SET, Quality.BAD, QualityReason.INHIBIT, bit=4),
            QualityCondition(
                "status", ConditionKind.EQUALS, Quality.BAD, QualityReason.WARM_UP, values=(0,), mask=0x000F
            ),
            QualityCondition(
                "status", ConditionKind.EQUALS, Quality.BAD, QualityReason.INHIBIT, values=(8,), mask=0x000F
            ),
        ),
        heartbeat_point="heartbeat",
    )


def section_spec(*, tcp_port: int, rtu_port: str = "") -> GatewaySpec:
    """A face on Modbus TCP (methane XNX, analog module, relay module) and a belt on RTU (CO, O2)."""
    face_bus = BusSpec(
        bus_id="face",
        kind=BusKind.TCP,
        timeout_s=0.5,
        retries=0,
        backoff_s=0.5,
        backoff_max_s=5.0,
        host="127.0.0.1",
        tcp_port=tcp_port,
    )
    belt_bus = BusSpec(
        bus_id="belt",
        kind=BusKind.RTU,
        timeout_s=0.5,
        retries=0,
        backoff_s=0.5,
        backoff_max_s=5.0,
        port=rtu_port,
        baudrate=19200,
        parity="N",
    )
    return GatewaySpec(
        gateway_id="gw-test",
        site="test mine",
        jurisdiction="us_msha_coal",
        data_dir="/tmp/minegate-test",
        publish_endpoint=None,
        control_endpoint="ipc:///tmp/minegate-test.ctl",
        buses=(face_bus, belt_bus),
        devices=(
            xnx_methane("xnx_face", bus_id="face", unit_id=1, point_id="face.methane"),
            analog_module("ai_face", bus_id="face", unit_id=5),
            relay_module("relays", bus_id="face", unit_id=10),
            itrans_co("co_belt", bus_id="belt", unit_id=2),
            midas_o2("o2_belt", bus_id="belt", unit_id=3),
        ),
        instruments=(),
        outputs=(
            OutputSpec(name="siren", device_id="relays", coil=0),
            OutputSpec(name="trip", device_id="relays", coil=3),
        ),
        ack_input=None,
        alarms=AlarmSettings(),
    )


@contextlib.asynccontextmanager
async def serving(records: list[SimDevice]) -> AsyncIterator[AsyncModbusTcpClient]:
    """A pymodbus TCP server for ``records`` on a free local port, and a connected client to it."""
    port = free_tcp_port()
    server = ModbusTcpServer(records, address=("127.0.0.1", port), ignore_missing_devices=True)
    await server.serve_forever(background=True)
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=CLIENT_TIMEOUT_S, retries=0)
    try:
        assert await client.connect(), f"could not connect to the test server on port {port}"
        yield client
    finally:
        client.close()
        shutdown = cast(Callable[[], Awaitable[None]], server.shutdown)
        await asyncio.wait_for(shutdown(), timeout=2.0)
