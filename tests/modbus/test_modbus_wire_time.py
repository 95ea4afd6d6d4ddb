"""Wire-time tests: figures worked out by hand from the Modbus serial line spec, and plan comparisons."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.modbus.planner import (
    PlannerLimits,
    ReadRequest,
    RegisterSpan,
    Table,
    plan_one_per_span,
    plan_reads,
)
from edge.modbus.wire_time import (
    SerialFraming,
    bus_load,
    cycle_time_s,
    request_frame_bytes,
    response_frame_bytes,
    transaction_time_s,
    write_coil_frames_bytes,
)

RTU_19200_8E1 = SerialFraming(baudrate=19200, parity="E")


def read(table: Table, address: int, count: int) -> ReadRequest:
    return ReadRequest(table, address, count, (RegisterSpan("p", table, address, count),))


# --- framing ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("framing", "bits"),
    [
        (SerialFraming(9600, parity="E"), 11),
        (SerialFraming(9600, parity="O"), 11),
        (SerialFraming(9600, parity="N", stop_bits=2), 11),
        (SerialFraming(9600), 10),  # 8N1: common in the field although the spec wants 11 bits
        (SerialFraming(9600, data_bits=7, parity="E"), 10),
    ],
)
def test_bits_per_char(framing: SerialFraming, bits: int) -> None:
    assert framing.bits_per_char == bits


def test_char_time_19200_8e1() -> None:
    assert RTU_19200_8E1.char_time_s == pytest.approx(572.9167e-6, rel=1e-6)  # 11 / 19200


def test_silent_interval_scales_up_to_19200_baud() -> None:
    assert SerialFraming(9600, parity="E").silent_interval_s == pytest.approx(0.0040104167, rel=1e-7)
    assert RTU_19200_8E1.silent_interval_s == pytest.approx(0.0020052083, rel=1e-7)  # 3.5 * 11 / 19200
    assert SerialFraming(9600, parity="E").inter_char_timeout_s == pytest.approx(0.0017187500, rel=1e-7)


@pytest.mark.parametrize("baudrate", [38400, 57600, 115200])
def test_silent_interval_is_fixed_above_19200_baud(baudrate: int) -> None:
    framing = SerialFraming(baudrate, parity="E")
    assert framing.silent_interval_s == 0.00175
    assert framing.inter_char_timeout_s == 0.00075


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"baudrate": 0}, "baudrate 0"),
        ({"baudrate": 9600, "parity": "X"}, "parity 'X'"),
        ({"baudrate": 9600, "data_bits": 9}, "data_bits 9"),
        ({"baudrate": 9600, "stop_bits": 3}, "stop_bits 3"),
    ],
)
def test_framing_validation(kwargs: dict[str, int | str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SerialFraming(**kwargs)  # type: ignore[arg-type]  # a dict of mixed settings, as a config loader has


# --- frame sizes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "count", "response"),
    [
        (Table.HOLDING, 10, 25),  # 1 + 1 + 1 + 20 + 2
        (Table.INPUT, 1, 7),
        (Table.HOLDING, 125, 255),  # the largest register read still fits the 256-byte RTU frame
        (Table.COIL, 1, 6),
        (Table.COIL, 8, 6),
        (Table.DISCRETE_INPUT, 9, 7),
        (Table.COIL, 16, 7),
        (Table.COIL, 2000, 255),
    ],
)
def test_frame_sizes(table: Table, count: int, response: int) -> None:
    request = read(table, 0, count)
    assert request_frame_bytes(request) == 8
    assert response_frame_bytes(request) == response


def test_write_coil_frames() -> None:
    assert write_coil_frames_bytes() == (8, 8)


# --- transaction, cycle and load figures ----------------------------------------------------------------


def test_ten_register_read_at_19200_8e1() -> None:
    # 33 chars * 11/19200 = 0.01890625; 2 silent intervals = 0.00401042; turnaround 0.005
    request = read(Table.HOLDING, 0, 10)
    assert transaction_time_s(request, RTU_19200_8E1) == pytest.approx(0.0279166667, rel=1e-7)
    assert transaction_time_s(request, RTU_19200_8E1, turnaround_s=0.0) == pytest.approx(0.0229166667, rel=1e-7)


def test_ten_register_read_at_38400_8n1() -> None:
    # 33 chars * 10/38400 = 0.00859375; 2 * 1.75 ms = 0.0035; turnaround 0.005
    request = read(Table.HOLDING, 0, 10)
    assert transaction_time_s(request, SerialFraming(38400)) == pytest.approx(0.01709375, rel=1e-9)


def test_cycle_time_sums_transactions() -> None:
    # 1-register read: 15 chars * 11/19200 = 0.00859375 + 0.00401042 + 0.005 = 0.01760417
    requests = [read(Table.HOLDING, 0, 10), read(Table.INPUT, 0, 1)]
    assert cycle_time_s(requests, RTU_19200_8E1) == pytest.approx(0.0279166667 + 0.0176041667, rel=1e-7)
    assert cycle_time_s([], RTU_19200_8E1) == 0.0


def test_bus_load_sums_device_fractions() -> None:
    devices = {
        "ultima": ([read(Table.HOLDING, 0, 10)], 1.0),  # 0.02791667 / 1 s
        "pt495": ([read(Table.HOLDING, 0, 1), read(Table.HOLDING, 6, 1)], 0.5),  # 0.03520833 / 0.5 s
    }
    assert bus_load(devices, RTU_19200_8E1) == pytest.approx(0.0983333333, rel=1e-7)


def test_bus_load_rejects_bad_poll_interval() -> None:
    with pytest.raises(ValueError, match="device 'pt495': poll interval 0"):
        bus_load({"pt495": ([read(Table.HOLDING, 0, 1)], 0.0)}, RTU_19200_8E1)


def test_negative_turnaround_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"turnaround_s -0\.001"):
        transaction_time_s(read(Table.HOLDING, 0, 1), RTU_19200_8E1, turnaround_s=-0.001)


# --- properties -----------------------------------------------------------------------------------------

framings = st.builds(
    SerialFraming,
    baudrate=st.sampled_from([1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200]),
    parity=st.sampled_from(["N", "E", "O"]),
    stop_bits=st.sampled_from([1, 2]),
)


@given(framings, st.sampled_from(Table), st.integers(1, 124), st.floats(0.0, 0.1))
def test_reading_more_never_takes_less_time(
    framing: SerialFraming, table: Table, count: int, turnaround_s: float
) -> None:
    shorter = transaction_time_s(read(table, 0, count), framing, turnaround_s=turnaround_s)
    longer = transaction_time_s(read(table, 0, count + 1), framing, turnaround_s=turnaround_s)
    assert longer >= shorter


@st.composite
def point_maps(draw: st.DrawFn) -> list[RegisterSpan]:
    count = draw(st.integers(1, 30))
    return [
        RegisterSpan(f"p{index}", draw(st.sampled_from(Table)), draw(st.integers(0, 200)), draw(st.integers(1, 4)))
        for index in range(count)
    ]


@given(point_maps(), framings, st.floats(0.0, 0.1))
def test_default_plan_never_costs_more_bus_time_than_one_read_per_point(
    spans: list[RegisterSpan], framing: SerialFraming, turnaround_s: float
) -> None:
    # With max_gap 8 a merge reads at most 16 extra bytes but saves a 13-byte frame overhead and two silent
    # intervals of at least 3.5 characters each, so merging must never lengthen the cycle.
    planned = cycle_time_s(plan_reads(spans, PlannerLimits()), framing, turnaround_s=turnaround_s)
    naive = cycle_time_s(plan_one_per_span(spans), framing, turnaround_s=turnaround_s)
    assert planned <= naive + 1e-12
