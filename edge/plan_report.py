"""What ``minegate check`` prints: buses, devices, points, the Modbus requests per cycle, bus load."""

from __future__ import annotations

from dataclasses import dataclass

from edge.config.resolve import LoadedConfig
from edge.config.resolved import BusKind, BusSpec, DeviceSpec
from edge.modbus.planner import PlannerLimits, ReadRequest, RegisterSpan, plan_one_per_span, plan_reads
from edge.modbus.wire_time import SerialFraming, cycle_time_s

BUS_LOAD_WARN = 0.70


def device_spans(device: DeviceSpec) -> list[RegisterSpan]:
    return [RegisterSpan(p.name, p.table, p.address, p.count) for p in device.points]


def device_plan(device: DeviceSpec) -> list[ReadRequest]:
    limits = PlannerLimits(max_registers=device.max_registers, max_gap=device.max_gap)
    return plan_reads(device_spans(device), limits)


def framing_of(bus: BusSpec) -> SerialFraming:
    return SerialFraming(baudrate=bus.baudrate, data_bits=bus.data_bits, parity=bus.parity, stop_bits=bus.stop_bits)


@dataclass(frozen=True, slots=True)
class BusLoad:
    bus_id: str
    planned_requests: int
    naive_requests: int
    planned_cycle_s: float  # wire time of one poll of every device, planned reads
    naive_cycle_s: float  # same with one read per point
    load: float  # fraction of bus time used at the configured poll intervals (planned)
    naive_load: float


def bus_load(bus: BusSpec, devices: tuple[DeviceSpec, ...]) -> BusLoad:
    framing = framing_of(bus)
    planned_total = naive_total = 0.0
    planned_n = naive_n = 0
    load = naive_load = 0.0
    for device in devices:
        planned = device_plan(device)
        naive = plan_one_per_span(device_spans(device))
        t_planned = cycle_time_s(planned, framing, turnaround_s=bus.turnaround_s) if planned else 0.0
        t_naive = cycle_time_s(naive, framing, turnaround_s=bus.turnaround_s) if naive else 0.0
        planned_total += t_planned
        naive_total += t_naive
        planned_n += len(planned)
        naive_n += len(naive)
        load += t_planned / device.poll_interval_s
        naive_load += t_naive / device.poll_interval_s
    return BusLoad(bus.bus_id, planned_n, naive_n, planned_total, naive_total, load, naive_load)


def render_plan(loaded: LoadedConfig) -> str:
    spec = loaded.spec
    lines: list[str] = [
        f"gateway {spec.gateway_id} ({spec.site or 'no site name'}), jurisdiction {spec.jurisdiction}",
        f"  journal: {spec.data_dir}/alarms.sqlite; publish: {spec.publish_endpoint or 'off'}; "
        f"control: {spec.control_endpoint}",
    ]
    rules_by_point = {r.point_id: r for r in loaded.rules}
    for bus in spec.buses:
        devices = spec.devices_on(bus.bus_id)
        if bus.kind is BusKind.RTU:
            lines.append(
                f"\nbus {bus.bus_id}: Modbus RTU {bus.port} {bus.baudrate} {bus.data_bits}{bus.parity}{bus.stop_bits}, "
                f"timeout {bus.timeout_s * 1000:.0f} ms, retries {bus.retries}"
            )
        else:
            lines.append(
                f"\nbus {bus.bus_id}: Modbus TCP {bus.host}:{bus.tcp_port}, timeout {bus.timeout_s * 1000:.0f} ms, "
                f"retries {bus.retries}"
            )
        for device in devices:
            lines.append(
                f"  device {device.device_id}: unit {device.unit_id}, profile {device.profile}, "
                f"poll {device.poll_interval_s:g} s, {device.location or 'no location'}"
            )
            for p in device.points:
                rule = rules_by_point.get(p.point_id)
                rule_text = ""
                if rule is not None:
                    limits = ", ".join(
                        f"{t.signal.value} {'>=' if t.direction.value == 'high' else '<'} {t.limit:g} {rule.unit}"
                        for t in rule.thresholds
                    )
                    rule_text = f"  rule {p.rule}: {limits}"
                kind = "diag" if p.diagnostic else "point"
                bit = f" bit {p.bit}" if p.bit is not None else ""
                lines.append(
                    f"    {kind} {p.point_id:<28} {p.table.value:<14} {p.address:>5} {p.data_type.value}{bit}"
                    f" {p.unit}{rule_text}"
                )
            for req in device_plan(device):
                names = ", ".join(s.key for s in req.spans)
                lines.append(
                    f"    read FC{req.function_code:02d} {req.table.value} {req.address}..{req.address + req.count - 1}"
                    f" ({req.count}) -> {names}"
                )
        if bus.kind is BusKind.RTU and devices:
            load = bus_load(bus, devices)
            lines.append(
                f"  bus time per cycle: {load.planned_cycle_s * 1000:.1f} ms in {load.planned_requests} requests "
                f"(one read per point: {load.naive_cycle_s * 1000:.1f} ms in {load.naive_requests}); "
                f"estimated load {load.load:.0%}"
            )
            if load.load > BUS_LOAD_WARN:
                lines.append(
                    f"  WARNING: bus {bus.bus_id} is {load.load:.0%} busy (above {BUS_LOAD_WARN:.0%}): raise the "
                    "baud rate, lengthen poll intervals, or split the devices over two buses"
                )
    for ins in spec.instruments:
        lines.append(
            f"\ninstrument {ins.instrument_id}: {ins.port} {ins.baudrate} baud, every {ins.poll_interval_s:g} s"
        )
        for lp in ins.points:
            lines.append(
                f"    point {lp.point_id:<28} group {lp.group} {lp.unit}" + (f" rule {lp.rule}" if lp.rule else "")
            )
    if spec.outputs:
        lines.append("\noutputs:")
        for out in spec.outputs:
            lines.append(
                f"  {out.name:<11} device {out.device_id} coil {out.coil}"
                + (" fail-safe (energized = normal)" if out.fail_safe else "")
            )
    if spec.ack_input is not None:
        lines.append(f"acknowledge button: device {spec.ack_input.device_id} input {spec.ack_input.address}")
    for record in loaded.overrides:
        lines.append(f"site override: {record.describe()}")
    for warning in loaded.warnings:
        lines.append(warning.render())
    return "\n".join(lines)
