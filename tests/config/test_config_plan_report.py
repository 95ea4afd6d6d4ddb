"""render_plan and bus_load: what `minegate check` prints."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_text import HEAD, load

from edge.plan_report import BUS_LOAD_WARN, bus_load, render_plan

PLAN = HEAD + (
    "  - id: mm12\n    bus: rs485\n    unit: 3\n    profile: honeywell_xnx\n    location: tailgate\n"
    "    points: {gas: {id: ch4, unit: '%', rule: methane_working_place}}\n"
    "  - {id: r, bus: lan, unit: 1, profile: generic_relay8, points: {input1: {}}}\n"
    "outputs:\n  power_trip: {device: r, coil: 2, fail_safe: true}\n"
    "acknowledge: {device: r, input: 0}\n"
)


def test_render_plan_lists_buses_devices_points_reads_rules_and_outputs(tmp_path: Path) -> None:
    text = render_plan(load(tmp_path, PLAN))
    assert f"journal: {tmp_path}/var/alarms.sqlite" in text
    assert "bus rs485: Modbus RTU /dev/ttyUSB0 19200 8E1, timeout 300 ms, retries 1" in text
    assert "bus lan: Modbus TCP 127.0.0.1:1502" in text
    assert "rule methane_working_place: alert >= 1 %, alarm >= 1.5 %" in text
    # The XNX's eight points in one planned read: holding 2..16.
    assert "read FC03 holding 2..16 (15) -> gas, fault_number, status" in text
    assert "read FC02 discrete_input 0..0 (1) -> input1" in text
    assert "power_trip  device r coil 2 fail-safe (energized = normal)" in text
    assert "acknowledge button: device r input 0" in text
    assert "estimated load" in text
    assert "WARNING" not in text
    # Rules drive siren and beacon, which are not configured: the warnings are printed too.
    assert "warning: devices[0].points.gas.rule: a rule drives output 'siren'" in text


def test_bus_load_counts_requests_and_warns_when_busy(tmp_path: Path) -> None:
    # Eight Midas heads polled every 100 ms at 1200 baud cannot fit: the estimate must say so.
    slow = HEAD.replace("baudrate: 19200}", "baudrate: 1200}")
    for unit in range(1, 9):
        slow += f"  - {{id: m{unit}, bus: rs485, unit: {unit}, profile: honeywell_midas, poll: 100ms}}\n"
    loaded = load(tmp_path, slow)
    spec = loaded.spec
    load_ = bus_load(spec.bus("rs485"), spec.devices_on("rs485"))
    assert load_.planned_requests == 8  # 40001..40016 in one read per head (gaps within max_gap 8)
    assert load_.naive_requests == 8 * 8
    assert load_.planned_cycle_s < load_.naive_cycle_s
    assert load_.load > BUS_LOAD_WARN
    assert load_.load == pytest.approx(load_.planned_cycle_s / 0.1)
    assert "WARNING: bus rs485 is" in render_plan(loaded)
