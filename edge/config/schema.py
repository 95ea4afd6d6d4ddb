"""The YAML schema electricians and technicians write, as pydantic models that forbid unknown keys.

Modbus addresses: a point gives either ``register: "40003"`` (the Modicon number printed in manuals,
1-based, whose leading digit names the table: 0 coil, 1 discrete input, 3 input register, 4 holding
register; 5- or 6-digit forms) or ``table:`` plus a 0-based ``address:``. Code works 0-based only.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.camera.config import CamerasSection
from edge.config.units import Baudrate, Duration
from edge.dtn.config import DtnSectionModel
from edge.hazard.config import HazardSection
from edge.logbook.config import LogbookSection
from edge.modbus.codec import ByteOrder, DataType, WordOrder
from edge.modbus.planner import Table
from edge.readings import Quality, QualityReason
from edge.status_page.config import StatusPageSection

Identifier = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$",
        description="letters, digits, '_', '-', '.'; starts with a letter; at most 64 characters",
    ),
]


class StrictModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, validate_by_name=True, validate_by_alias=True
    )


_MODICON = re.compile(r"^(?P<table>[0134])(?P<number>\d{4,5})$")
_TABLE_BY_DIGIT = {"0": Table.COIL, "1": Table.DISCRETE_INPUT, "3": Table.INPUT, "4": Table.HOLDING}


def parse_modicon(register: str) -> tuple[Table, int]:
    """``"40003"`` -> (HOLDING, 2); ``"300001"`` -> (INPUT, 0)."""
    match = _MODICON.match(register.strip())
    if match is None:
        raise ValueError(
            f"{register!r} is not a Modicon register number: write e.g. '40003' (holding register 3) or "
            "'30001' (input register 1), or use 'table:' with a 0-based 'address:'"
        )
    number = int(match["number"])
    if number < 1:
        raise ValueError(f"{register!r}: Modicon register numbers start at 1")
    if number > 65536:  # 6-digit form: 1..65536 maps onto the 16-bit address space 0..65535
        raise ValueError(f"{register!r}: Modicon register numbers end at 65536 (address 65535)")
    return _TABLE_BY_DIGIT[match["table"]], number - 1


class RegisterFields(StrictModel):
    """How one value is laid out in a device's registers. Every field is optional so that a device can
    override only what differs from its profile; resolution checks the merged result is complete."""

    # 'register' is the YAML key; the attribute is named 'modicon' because BaseModel owns 'register'.
    modicon: str | None = Field(
        None, alias="register", description="Modicon number as printed in the manual, e.g. '40003'"
    )
    table: Table | None = Field(None, description="register table when 'address' is used")
    address: int | None = Field(None, ge=0, le=65535, description="0-based address within 'table'")
    type: DataType | None = Field(None, description="how the register(s) encode the value")
    word_order: WordOrder | None = None
    byte_order: ByteOrder | None = None
    bit: int | None = Field(None, ge=0, le=15, description="bit number for type 'bits'")
    scale: float | None = Field(None, description="engineering value = raw * scale + offset")
    offset: float | None = None
    raw_range: tuple[float, float] | None = Field(
        None, description="raw values mapped linearly onto 'range' (e.g. 4000..20000 uA onto 0..5 %)"
    )
    range: tuple[float, float] | None = Field(None, description="measuring range in engineering units")
    raw_fault_below: float | None = Field(None, description="raw value below this is a loop fault")
    raw_fault_above: float | None = Field(None, description="raw value above this is a loop fault")
    unit: str | None = Field(None, max_length=16)
    label: str | None = Field(None, max_length=64, description="what is measured, e.g. 'Methane'")
    diagnostic: bool | None = Field(None, description="status/heartbeat register, not a measurement")
    stale_after: Duration | None = Field(None, description="no fresh value for this long -> bad (stale)")
    stuck_after: Duration | None = Field(None, description="identical value for this long -> uncertain")

    @field_validator("modicon", mode="before")
    @classmethod
    def _register_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    @model_validator(mode="after")
    def verify_register_or_address(self) -> RegisterFields:
        if self.modicon is not None:
            parse_modicon(self.modicon)
            if self.table is not None or self.address is not None:
                raise ValueError("give either 'register' (Modicon number) or 'table' + 'address', not both")
        if (self.table is None) != (self.address is None) and self.modicon is None:
            raise ValueError("'table' and 'address' go together (address is 0-based within the table)")
        if self.raw_range is not None and (self.scale is not None or self.offset is not None):
            raise ValueError("give either 'raw_range' + 'range' or 'scale'/'offset', not both")
        for name in ("raw_range", "range"):
            pair = getattr(self, name)
            if pair is not None and not pair[0] < pair[1]:
                raise ValueError(f"'{name}' must be [low, high] with low < high, got {list(pair)}")
        if self.type is DataType.BITS and self.modicon is not None and self.bit is None:
            raise ValueError("type 'bits' needs 'bit' (0..15)")
        return self


class ProfilePoint(RegisterFields):
    pass


class QualityConditionModel(StrictModel):
    """A status value that makes the device's measured points bad or uncertain."""

    point: str = Field(description="profile point holding the status value")
    bit: int | None = Field(None, ge=0, le=15)
    equals: int | None = None
    any_of: list[int] | None = Field(None, alias="in")
    range: tuple[float, float] | None = None
    mask: int | None = Field(None, ge=1, le=0xFFFF, description="applied before equals/in/range")
    quality: Literal[Quality.BAD, Quality.UNCERTAIN] = Quality.BAD
    reason: QualityReason
    message: str = ""

    @model_validator(mode="after")
    def verify_one_test(self) -> QualityConditionModel:
        given = [k for k in ("bit", "equals", "any_of", "range") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'bit', 'equals', 'in', 'range'")
        return self


class HeartbeatModel(StrictModel):
    point: str
    timeout: Duration = Field(15.0, gt=0, description="heartbeat unchanged this long -> device frozen")


class ProfileDefaults(StrictModel):
    word_order: WordOrder = WordOrder.BIG
    byte_order: ByteOrder = ByteOrder.BIG
    poll: Duration = Field(1.0, gt=0)
    max_gap: int = Field(8, ge=0, le=124)
    max_registers: int = Field(125, ge=1, le=125)


class DeviceProfileModel(StrictModel):
    name: Identifier
    title: str
    manual: str = Field(description="manual and revision the register map follows")
    notes: str = ""
    defaults: ProfileDefaults = ProfileDefaults()
    poll_all_points: bool = Field(
        True, description="false for generic I/O modules: only the points a device lists are read"
    )
    points: dict[str, ProfilePoint]
    quality: list[QualityConditionModel] = []
    heartbeat: HeartbeatModel | None = None


class LimitOverrideModel(StrictModel):
    threshold: str = Field(description="threshold of the rule template, e.g. 'alert' or 'alarm'")
    limit: float | None = None
    clear_limit: float | None = None
    on_delay: Duration | None = None
    extra_outputs: list[str] = []


class RuleBinding(StrictModel):
    rule: str | None = Field(None, description="statutory rule template of the jurisdiction")
    rule_parameters: dict[str, float] = Field(default_factory=dict, description="e.g. ambient: 3 (ppm)")
    limits: list[LimitOverrideModel] = []
    override_reason: str | None = Field(None, description="required to loosen a statutory value")


class PointOverride(RegisterFields, RuleBinding):
    id: Identifier | None = Field(None, description="gateway-wide point id (default device.point)")
    location: str | None = None


class RtuBusModel(StrictModel):
    id: Identifier
    type: Literal["rtu"]
    port: str = Field(min_length=1, description="serial device, e.g. /dev/ttyUSB0")
    baudrate: Baudrate = 19200
    data_bits: Literal[7, 8] = 8
    parity: Literal["N", "E", "O"] = "E"
    stop_bits: Literal[1, 2] = 1
    timeout: Duration = Field(0.3, gt=0, le=10)
    retries: int = Field(1, ge=0, le=5)
    backoff: Duration = Field(1.0, gt=0)
    backoff_max: Duration = Field(30.0, gt=0)
    turnaround: Duration = Field(0.005, ge=0, le=1, description="device reply delay used in bus-load estimate")


class TcpBusModel(StrictModel):
    id: Identifier
    type: Literal["tcp"]
    host: str = Field(min_length=1)
    port: int = Field(502, ge=1, le=65535)
    timeout: Duration = Field(1.0, gt=0, le=30)
    retries: int = Field(1, ge=0, le=5)
    backoff: Duration = Field(1.0, gt=0)
    backoff_max: Duration = Field(30.0, gt=0)


BusModel = Annotated[RtuBusModel | TcpBusModel, Field(discriminator="type")]


class DeviceModel(StrictModel):
    id: Identifier
    bus: str
    unit: int = Field(ge=1, le=247, description="Modbus unit (slave) id")
    profile: str
    location: str = ""
    poll: Duration | None = Field(None, gt=0, description="poll interval (default from the profile)")
    register_offset: int = Field(0, ge=0, le=65535, description="added to every profile address (MSA base)")
    max_gap: int | None = Field(None, ge=0, le=124)
    points: dict[str, PointOverride] = {}


class LinePointModel(RuleBinding):
    id: Identifier
    label: str | None = None
    unit: str = ""
    scale: float = 1.0
    offset: float = 0.0
    range: tuple[float, float] | None = None
    stale_after: Duration | None = None
    stuck_after: Duration | None = None


class InstrumentModel(StrictModel):
    id: Identifier
    port: str = Field(min_length=1, description="device path or pyserial URL (socket://host:port)")
    baudrate: Baudrate = 9600
    data_bits: Literal[7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stop_bits: Literal[1, 2] = 1
    pattern: str = Field(description="regular expression; each named group is a value")
    encoding: str = "ascii"
    terminator: str = "\n"
    poll_command: str | None = None
    poll: Duration = Field(1.0, gt=0)
    location: str = ""
    points: dict[str, LinePointModel]

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        if not compiled.groupindex:
            raise ValueError("the pattern has no named group: write e.g. 'V=(?P<velocity>[-0-9.]+)'")
        return value


class OutputModel(StrictModel):
    device: str
    coil: int = Field(ge=0, le=65535, description="0-based coil address")
    fail_safe: bool = Field(False, description="held energized normally; de-energizes to signal")
    verify: bool = True


class AcknowledgeModel(StrictModel):
    device: str
    input: int = Field(ge=0, le=65535, description="0-based discrete input of the ack button")


class AlarmSettingsModel(StrictModel):
    chatter_count: int = Field(3, ge=2)
    chatter_window: Duration = Field(60.0, gt=0)
    flood_on_count: int = Field(10, ge=2)
    flood_off_count: int = Field(5, ge=1)
    flood_window: Duration = Field(600.0, gt=0)
    heartbeat_period: Duration = Field(1.0, gt=0, le=60)


class GatewaySection(StrictModel):
    id: Identifier
    site: str = ""
    jurisdiction: str = Field(description="statutory rule profile, e.g. us_msha_coal or cn_coal")
    data_dir: str = Field("var/minegate", description="journal and state; relative to the config file")
    publish: str | None = Field("tcp://127.0.0.1:5601", description="local ZeroMQ PUB stream")
    control: str = Field("tcp://127.0.0.1:5602", description="local control socket used by the CLI")
    profiles_dir: str | None = Field(None, description="extra device profiles (*.yaml)")


class LocalizationModel(StrictModel):
    """Miner location prediction: a model directory from ``minegate-train localization`` and a record feed."""

    model_dir: str = Field(description="directory with manifest.json, the model files and layout.json")
    source: str = Field(description="ZeroMQ endpoint publishing movement/contact records (msgpack)")
    period: Duration = Field(5.0, gt=0, le=600, description="how often the location table is recomputed")
    threads: int = Field(1, ge=1, le=4, description="inference threads (1 leaves a core for the loop)")
    file: str | None = Field(None, description="model file to use (default: int8, else fp32)")


class ConfigModel(StrictModel):
    gateway: GatewaySection
    buses: list[BusModel] = []
    devices: list[DeviceModel] = []
    instruments: list[InstrumentModel] = []
    outputs: dict[str, OutputModel] = {}
    acknowledge: AcknowledgeModel | None = None
    alarms: AlarmSettingsModel = AlarmSettingsModel()
    localization: LocalizationModel | None = None
    dtn: DtnSectionModel | None = None
    cameras: CamerasSection | None = None
    logbook: LogbookSection | None = None
    hazard: HazardSection | None = None
    status_page: StatusPageSection | None = None
