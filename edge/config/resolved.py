"""The resolved gateway plan: what the runtime, the simulator and ``minegate check`` work from.

The YAML schema (``schema.py``) is shaped for the people who write it: profiles referenced by name,
overrides per device, units as strings. Resolution (``resolve.py``) turns it into these flat, immutable
records with every default applied, so runtime code never re-derives configuration.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from edge.camera.config import CamerasSection
from edge.dtn.config import NodeSpec
from edge.hazard.config import HazardSection
from edge.logbook.config import LogbookSection
from edge.modbus.codec import ByteOrder, DataType, WordOrder, register_count
from edge.modbus.planner import Table
from edge.readings import Quality, QualityReason
from edge.status_page.config import StatusPageSection


class BusKind(enum.StrEnum):
    RTU = "rtu"
    TCP = "tcp"


class ConditionKind(enum.StrEnum):
    BIT_SET = "bit_set"
    EQUALS = "equals"
    IN_SET = "in"
    IN_RANGE = "range"


@dataclass(frozen=True, slots=True)
class PointSpec:
    """One value read from one device."""

    point_id: str  # unique across the gateway, used by rules, alarms, logs
    device_id: str
    name: str  # name within the device profile, e.g. "gas", "ch1"
    label: str  # what it measures, for people: "Methane"
    location: str  # where, for people: "tailgate MM-12"
    table: Table
    address: int  # 0-based
    data_type: DataType
    word_order: WordOrder = WordOrder.BIG
    byte_order: ByteOrder = ByteOrder.BIG
    bit: int | None = None
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    measuring_range: tuple[float, float] | None = None  # engineering units; outside -> out_of_range
    raw_fault_below: float | None = None  # raw value below this is a loop fault (e.g. < 3.6 mA, NAMUR NE43)
    raw_fault_above: float | None = None
    diagnostic: bool = False  # status/heartbeat registers: read and published, never given quality rules
    stale_after_s: float = 3.0
    stuck_after_s: float | None = None
    rule: str | None = None
    rule_parameters: Mapping[str, float] = field(default_factory=dict)
    rule_overrides: tuple[Mapping[str, object], ...] = ()
    override_reason: str | None = None

    @property
    def count(self) -> int:
        return register_count(self.data_type)


@dataclass(frozen=True, slots=True)
class QualityCondition:
    """A device status condition that degrades the quality of the device's measured points."""

    point: str  # profile point name of the status register
    kind: ConditionKind
    quality: Quality
    reason: QualityReason
    bit: int | None = None
    values: tuple[int, ...] = ()
    low: float | None = None
    high: float | None = None
    mask: int | None = None  # applied to the raw value before equals/in/range (bit fields)
    message: str = ""

    def matches(self, raw: float) -> bool:
        if self.kind is ConditionKind.BIT_SET:
            return self.bit is not None and (int(raw) >> self.bit) & 1 == 1
        if self.mask is not None:
            raw = int(raw) & self.mask
        if self.kind is ConditionKind.EQUALS or self.kind is ConditionKind.IN_SET:
            return int(raw) in self.values
        low = self.low if self.low is not None else float("-inf")
        high = self.high if self.high is not None else float("inf")
        return low <= raw <= high


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    device_id: str
    bus_id: str
    unit_id: int
    profile: str
    location: str
    poll_interval_s: float
    points: tuple[PointSpec, ...]
    quality_conditions: tuple[QualityCondition, ...] = ()
    heartbeat_point: str | None = None
    heartbeat_timeout_s: float = 15.0
    max_gap: int = 8
    max_registers: int = 125

    def point(self, name: str) -> PointSpec:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(f"device {self.device_id!r} has no point {name!r}")


@dataclass(frozen=True, slots=True)
class BusSpec:
    bus_id: str
    kind: BusKind
    timeout_s: float
    retries: int
    backoff_s: float  # first reconnect/back-off delay, doubled per failure up to backoff_max_s
    backoff_max_s: float
    # RTU
    port: str = ""
    baudrate: int = 19200
    data_bits: int = 8
    parity: str = "E"
    stop_bits: int = 1
    turnaround_s: float = 0.005
    # TCP
    host: str = ""
    tcp_port: int = 502


@dataclass(frozen=True, slots=True)
class LinePointSpec:
    """A value taken from a named group of an ASCII instrument's line parser."""

    point_id: str
    group: str
    label: str
    location: str
    unit: str
    scale: float = 1.0
    offset: float = 0.0
    measuring_range: tuple[float, float] | None = None
    stale_after_s: float = 5.0
    stuck_after_s: float | None = None
    rule: str | None = None
    rule_parameters: Mapping[str, float] = field(default_factory=dict)
    rule_overrides: tuple[Mapping[str, object], ...] = ()
    override_reason: str | None = None


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """An ASCII serial instrument that prints one line per measurement."""

    instrument_id: str
    port: str  # a device path or a pyserial URL (socket://host:port, loop://)
    baudrate: int
    data_bits: int
    parity: str
    stop_bits: int
    pattern: str  # regular expression with named groups
    encoding: str
    line_terminator: str
    poll_command: str | None  # sent before each read when the instrument needs asking
    poll_interval_s: float
    points: tuple[LinePointSpec, ...]


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """A relay driven through a Modbus coil.

    ``fail_safe`` relays are held energized in the normal state and drop out to signal (power trip,
    heartbeat): a dead gateway, a cut cable and a tripped condition all look the same to the field.
    """

    name: str
    device_id: str
    coil: int  # 0-based coil address
    fail_safe: bool = False
    verify: bool = True  # read the coil back after writing


@dataclass(frozen=True, slots=True)
class AckInputSpec:
    device_id: str
    table: Table  # DISCRETE_INPUT or COIL
    address: int


@dataclass(frozen=True, slots=True)
class AlarmSettings:
    chatter_count: int = 3
    chatter_window_s: float = 60.0
    flood_on_count: int = 10
    flood_off_count: int = 5
    flood_window_s: float = 600.0
    heartbeat_period_s: float = 1.0


@dataclass(frozen=True, slots=True)
class LocalizationSpec:
    model_dir: str  # absolute
    source_endpoint: str
    period_s: float
    threads: int
    file: str | None


@dataclass(frozen=True, slots=True)
class GatewaySpec:
    gateway_id: str
    site: str
    jurisdiction: str
    data_dir: str
    publish_endpoint: str | None
    control_endpoint: str
    buses: tuple[BusSpec, ...]
    devices: tuple[DeviceSpec, ...]
    instruments: tuple[InstrumentSpec, ...]
    outputs: tuple[OutputSpec, ...]
    ack_input: AckInputSpec | None
    alarms: AlarmSettings
    source_file: str = ""
    localization: LocalizationSpec | None = None
    dtn: NodeSpec | None = None  # the gateway's own DTN node (edge.dtn)
    cameras: CamerasSection | None = None  # paths made absolute (detector model_dir, replayed video files)
    logbook: LogbookSection | None = None  # paths made absolute, default file and encoder filled in
    hazard: HazardSection | None = None  # paths made absolute; the camera filled in when there is only one
    status_page: StatusPageSection | None = None  # paths made absolute, the map's layout filled in

    def bus(self, bus_id: str) -> BusSpec:
        for b in self.buses:
            if b.bus_id == bus_id:
                return b
        raise KeyError(bus_id)

    def device(self, device_id: str) -> DeviceSpec:
        for d in self.devices:
            if d.device_id == device_id:
                return d
        raise KeyError(device_id)

    def devices_on(self, bus_id: str) -> tuple[DeviceSpec, ...]:
        return tuple(d for d in self.devices if d.bus_id == bus_id)
