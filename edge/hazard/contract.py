"""The feature contract of the multimodal hazard early-warning task (issue 5; camera/text producers: issue 6).

Three modalities, each at its own rate, all time-stamped in seconds on one clock:

* **Sensors** (``SENSOR_CHANNELS``): one value per channel per second (``SENSOR_PERIOD_S``), in the canonical unit
  of the channel; a missing value is NaN (comm loss, transmitter fault), never a silent 0. Channels are named by
  their *role in a section* (``ch4_face``, ``co_belt``...), not by a site's point ids, so one model serves any
  mine; a site maps its configured points onto these roles.
* **Camera features** (``CAMERA_FIELDS``): one row per analysed frame at 0.2-1 Hz (``CAMERA_RATE_HZ``), produced by
  the camera pipeline from detector output (never pixels). ``camera_valid`` is False for a frame the camera did
  not deliver or could not analyse (camera down, lens obscured); its feature values are then NaN and must be
  ignored (modality masking).
* **Text entries** (``LogEntry``): sporadic operation / maintenance / examination log lines with the equipment and
  location they name, e.g. ``"bearing noisy on belt drive BD-2"``.

Model inputs at decision time ``t`` (the windows end at ``t`` inclusive, nothing after ``t`` may be used):

* sensors: the last ``SENSOR_WINDOW_S`` seconds, shape ``(SENSOR_WINDOW_S, len(SENSOR_CHANNELS))``, float32, NaN
  where missing;
* camera: ``CAMERA_WINDOW_TOKENS`` tokens of ``CAMERA_TOKEN_S`` seconds each; a token is the mean of the valid
  frames in its span (``CAMERA_FIELDS`` order) plus the fraction of valid frames; a token with no valid frame is
  masked;
* text: the newest ``TEXT_MAX_ENTRIES`` entries of the last ``TEXT_WINDOW_S`` seconds, each with its age in
  seconds; none is a valid input (masked modality).

``edge.hazard.features`` cuts exactly these inputs from the streams; use it rather than re-implementing them.

Outputs (heads): hazard identification (multi-label over ``HazardType``), the risk that a statutory threshold is
crossed within each of ``RISK_HORIZONS_S``, and the face methane forecast at ``FORECAST_HORIZONS_S``.

Which threshold counts as "statutory" is not re-typed here: ``statutory_rules`` returns the rule templates of the
gateway's own rule layer (``edge.rules.jurisdictions``) for the channels that have one. Channels without a
statutory value (vibration, bearing temperature, smoke, strata) carry a documented *reference* limit
(``REFERENCE_LIMITS``) so that events on them can still be timed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from edge.rules.jurisdictions import RuleTemplate, template

CONTRACT_VERSION = 1


class HazardType(enum.StrEnum):
    """The hazard classes of the identification head (multi-label: several may be active at once)."""

    GAS_ACCUMULATION = "gas_accumulation"
    FIRE = "fire"
    EQUIPMENT_FAULT = "equipment_fault"
    STRATA = "strata"
    PEOPLE = "people"  # persons without hard hats or inside a hazard zone (camera)


HAZARD_TYPES: tuple[HazardType, ...] = tuple(HazardType)


@dataclass(frozen=True, slots=True)
class SensorChannel:
    name: str
    quantity: str
    unit: str
    location_role: str  # where in a section it sits; the layout names the actual place
    low: float  # plausible measuring range of the transmitter (values outside are faults)
    high: float
    description: str


SENSOR_CHANNELS: tuple[SensorChannel, ...] = (
    SensorChannel("ch4_face", "methane", "%vol", "face", 0.0, 5.0, "methane at the working face (inby the miner)"),
    SensorChannel("ch4_return", "methane", "%vol", "return", 0.0, 5.0, "methane in the section return split"),
    SensorChannel(
        "airflow_face", "air_velocity", "m/s", "face", 0.0, 15.0, "mean air velocity at the last open crosscut"
    ),
    SensorChannel("o2_face", "oxygen", "%vol", "face", 0.0, 25.0, "oxygen at the face"),
    SensorChannel(
        "co_belt", "carbon_monoxide", "ppm", "belt", 0.0, 500.0, "CO in the belt entry, downwind of the drive"
    ),
    SensorChannel("smoke_belt", "smoke_optical_density", "1/m", "belt", 0.0, 0.5, "smoke optical density per metre"),
    SensorChannel("temp_belt", "temperature", "°C", "belt", -10.0, 150.0, "air temperature at the belt CO sensor"),
    SensorChannel("vib_fan", "vibration_velocity", "mm/s", "fan", 0.0, 50.0, "auxiliary fan bearing housing, RMS"),
    SensorChannel("bearing_temp_fan", "temperature", "°C", "fan", -10.0, 200.0, "auxiliary fan bearing temperature"),
    SensorChannel("vib_belt_drive", "vibration_velocity", "mm/s", "belt_drive", 0.0, 50.0, "belt drive bearing, RMS"),
    SensorChannel("bearing_temp_belt_drive", "temperature", "°C", "belt_drive", -10.0, 200.0, "belt drive bearing"),
    SensorChannel("roof_convergence", "displacement", "mm", "roof", 0.0, 500.0, "roof-to-floor convergence since set"),
    SensorChannel("rock_pressure", "pressure", "MPa", "roof", 0.0, 60.0, "support leg / stress-cell pressure"),
    SensorChannel("barometric_pressure", "pressure", "hPa", "section", 800.0, 1200.0, "barometric pressure"),
)
CHANNEL_NAMES: tuple[str, ...] = tuple(c.name for c in SENSOR_CHANNELS)
CHANNEL_INDEX: Mapping[str, int] = {name: i for i, name in enumerate(CHANNEL_NAMES)}

SENSOR_PERIOD_S = 1.0
SENSOR_WINDOW_S = 1800  # 30 min at 1 s: long enough to see a slow trend begin, short enough for a Pi
CAMERA_RATE_HZ: tuple[float, float] = (0.2, 1.0)  # a camera analyses one frame every 1-5 s


class CameraField(enum.StrEnum):
    PERSONS_SEEN = "persons_seen"  # persons detected in the frame
    BARE_HEADS = "bare_heads"  # heads without a hard hat (the violation class of the helmet detector)
    PERSONS_IN_ZONE = "persons_in_zone"  # persons inside the configured hazard-zone polygon
    MOTION_LEVEL = "motion_level"  # fraction of the frame that changed, 0-1 (machines running, people moving)
    CAMERA_HEALTH = "camera_health"  # 0-1: image quality (dust on the lens, low light); 1 = clean


CAMERA_FIELDS: tuple[CameraField, ...] = tuple(CameraField)
CAMERA_TOKEN_S = 60
CAMERA_WINDOW_TOKENS = 30  # the same 30 min as the sensor window

TEXT_WINDOW_S = 8 * 3600  # one shift of log entries
TEXT_MAX_ENTRIES = 8
TEXT_MAX_CHARS = 160


class LogKind(enum.StrEnum):
    OPERATION = "operation"  # shift and production events (fan restarted, door closed, belt stopped)
    MAINTENANCE = "maintenance"  # work on equipment and its findings
    EXAMINATION = "examination"  # pre-shift / on-shift examinations


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One log line as the text pipeline delivers it: when, what was written, about which equipment, where."""

    t_s: float
    text: str
    equipment: str  # "" when the entry names none
    location: str
    kind: LogKind

    def __post_init__(self) -> None:
        if len(self.text) > TEXT_MAX_CHARS:
            raise ValueError(f"log entry text is {len(self.text)} characters; at most {TEXT_MAX_CHARS} are allowed")


RISK_HORIZONS_S: tuple[int, ...] = (300, 600, 900)
FORECAST_HORIZONS_S: tuple[int, ...] = (300, 600, 900)
FORECAST_CHANNEL = "ch4_face"

# Rule template per channel and jurisdiction: the names the gateway's configuration would use for these points.
_STATUTORY_TEMPLATES: Mapping[str, Mapping[str, str]] = {
    "us_msha_coal": {
        "ch4_face": "methane_working_place",
        "ch4_return": "methane_return_split",
        "o2_face": "oxygen",
        "co_belt": "co_belt",
    },
    "cn_coal": {
        "ch4_face": "methane_face_t1",
        "ch4_return": "methane_return_t2",
        "o2_face": "oxygen",
        "co_belt": "carbon_monoxide",
    },
}
JURISDICTIONS: tuple[str, ...] = tuple(_STATUTORY_TEMPLATES)
STATUTORY_CHANNELS: tuple[str, ...] = ("ch4_face", "ch4_return", "o2_face", "co_belt")


def statutory_rules(jurisdiction: str, *, co_ambient_ppm: float) -> dict[str, RuleTemplate]:
    """The rule layer's templates for the channels that have a statutory limit in ``jurisdiction``.

    ``co_ambient_ppm`` is the mine's recorded ambient CO (US belt CO limits are relative to it).
    """
    names = _STATUTORY_TEMPLATES.get(jurisdiction)
    if names is None:
        raise ValueError(
            f"jurisdiction {jurisdiction!r} has no hazard channel mapping; allowed: {', '.join(JURISDICTIONS)}"
        )
    rules: dict[str, RuleTemplate] = {}
    for channel, name in names.items():
        parameters = {"ambient": co_ambient_ppm} if (jurisdiction, name) == ("us_msha_coal", "co_belt") else None
        rules[channel] = template(jurisdiction, name, parameters=parameters)
    return rules


@dataclass(frozen=True, slots=True)
class ReferenceLimit:
    """A non-statutory limit used to time events on channels the regulations give no number for."""

    channel: str
    name: str
    limit: float
    source: str
    on_delay_s: float = 0.0  # how long the value must stay past the limit before it counts


# ISO 10816 judges a machine by its steady running vibration; a run-up through resonances is not a zone change.
VIBRATION_ON_DELAY_S = 60.0


@dataclass(frozen=True, slots=True)
class VibrationZones:
    """ISO 10816-3 zone boundaries (broadband RMS velocity, mm/s) for one machine group and foundation."""

    group: str
    a_b: float
    b_c: float
    c_d: float
    source: str


# regulations.md 3.2: ISO 10816-3 group 2 (15-300 kW) rigid for the auxiliary fan (a 30-110 kW fan on a skid
# bolted to the floor); group 1 (> 300 kW) flexible for a belt drive (2 x 250 kW motors on a drive frame).
FAN_ZONES = VibrationZones("ISO 10816-3 group 2, rigid", 1.4, 2.8, 4.5, "ISO 10816-3 (regulations.md 3.2) [R]")
BELT_DRIVE_ZONES = VibrationZones(
    "ISO 10816-3 group 1, flexible", 3.5, 7.1, 11.0, "ISO 10816-3 (regulations.md 3.2) [R]"
)
BEARING_TEMP_ALARM_C = 85.0  # regulations.md 3.3: typical motor bearing RTD alarm [S, weak]; sites set their own

REFERENCE_LIMITS: tuple[ReferenceLimit, ...] = (
    ReferenceLimit("smoke_belt", "alarm", 0.022, "30 CFR 75.351 smoke alarm OD 0.022/m [R] (regulations.md 1.2)"),
    ReferenceLimit("vib_fan", "zone_c", FAN_ZONES.b_c, FAN_ZONES.source, VIBRATION_ON_DELAY_S),
    ReferenceLimit("vib_fan", "zone_d", FAN_ZONES.c_d, FAN_ZONES.source, VIBRATION_ON_DELAY_S),
    ReferenceLimit("vib_belt_drive", "zone_c", BELT_DRIVE_ZONES.b_c, BELT_DRIVE_ZONES.source, VIBRATION_ON_DELAY_S),
    ReferenceLimit("vib_belt_drive", "zone_d", BELT_DRIVE_ZONES.c_d, BELT_DRIVE_ZONES.source, VIBRATION_ON_DELAY_S),
    ReferenceLimit("bearing_temp_fan", "alarm", BEARING_TEMP_ALARM_C, "regulations.md 3.3 [S, weak]"),
    ReferenceLimit("bearing_temp_belt_drive", "alarm", BEARING_TEMP_ALARM_C, "regulations.md 3.3 [S, weak]"),
)
# Strata has no public trigger value (regulations.md 3.1: ship TARP triggers unset); its events are timed by the
# roof fall itself.
