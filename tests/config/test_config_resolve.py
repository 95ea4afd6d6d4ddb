"""load_config: profile merging, addresses, scaling, rule binding and every cross-reference check."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_text import HEAD, issues, load, one_issue, write

from edge.config.issues import ConfigError
from edge.config.resolve import load_config
from edge.modbus.codec import DataType
from edge.modbus.planner import Table

# Lines 1..12: five schema mistakes of different kinds (plus the missing unit they imply).
SCHEMA_MISTAKES = """\
gateway: {id: gw, jurisdiction: us_msha_coal}
buses:
  - id: rs485
    type: rtu
    port: /dev/ttyUSB0
    baudrate: 19201
    parity: X
    timout: 300ms
  - {id: lan, type: tpc, host: h}
devices:
  - {id: d1, bus: rs485, unit: 300, profile: honeywell_xnx}
  - {id: d2, bus: rs485, unit: 2, profile: honeywell_xnx, poll: 2 parsecs}
"""


def test_every_schema_mistake_is_reported_at_once_with_line_path_and_hint(tmp_path: Path) -> None:
    found = [(i.line, i.path, i.suggestion) for i in issues(tmp_path, SCHEMA_MISTAKES)]
    assert found == [
        (6, ("buses", 0, "baudrate"), None),
        (7, ("buses", 0, "parity"), None),
        (8, ("buses", 0, "timout"), "timeout"),
        (9, ("buses", 1, "type"), "tcp"),
        (11, ("devices", 0, "unit"), None),
        (12, ("devices", 1, "poll"), None),
    ]
    rendered = [i.render() for i in issues(tmp_path, SCHEMA_MISTAKES)]
    assert rendered[0].endswith("allowed: 1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200 (got 19201)")
    assert rendered[1].endswith("value not allowed (got 'X'); allowed: N, E, O")
    assert "unknown key; allowed: backoff, backoff_max, baudrate" in rendered[2]
    assert rendered[3].endswith("unknown 'type' (got 'tpc'); allowed: rtu, tcp; did you mean 'tcp'?")


def test_missing_required_key_points_at_its_parent(tmp_path: Path) -> None:
    issue = one_issue(tmp_path, HEAD + "  - {id: d, bus: lan, profile: honeywell_xnx}\n")
    assert (issue.line, issue.path, issue.message) == (6, ("devices", 0, "unit"), "required key is missing")


def test_bad_identifier_names_the_allowed_form(tmp_path: Path) -> None:
    issue = one_issue(tmp_path, HEAD + "  - {id: 3d, bus: lan, unit: 1, profile: honeywell_xnx}\n")
    assert issue.path == ("devices", 0, "id")
    assert "starts with a letter" in issue.allowed


# Lines 1..5 are HEAD. Eleven resolution mistakes, each on a known line.
REFERENCE_MISTAKES = (
    HEAD
    + """\
  - id: a
    bus: rs458
    unit: 1
    profile: honeywell_xnx
  - id: b
    bus: lan
    unit: 2
    profile: honeywel_midas
  - id: c
    bus: lan
    unit: 3
    profile: honeywell_xnx
    points:
      gas: {unit: "%", rule: methane_working_plac}
  - id: d
    bus: lan
    unit: 3
    profile: honeywell_xnx
    points:
      gas: {id: a.gas, unit: "°C", rule: methane_working_place}
      extra: {register: "40020"}
  - id: e
    bus: lan
    unit: 5
    profile: honeywell_xnx
    points:
      gas:
        unit: "%"
        rule: methane_working_place
        limits:
          - {threshold: alarm, limit: 2.0}
  - {id: relays, bus: lan, unit: 6, profile: generic_relay8}
outputs:
  siren: {device: relays, coil: 0}
  beacon: {device: relays, coil: 0}
  power_trip: {device: relay, coil: 2, fail_safe: true}
acknowledge: {device: relais, input: 0}
"""
)


def test_every_reference_mistake_is_reported_at_once(tmp_path: Path) -> None:
    found = [(i.line, i.path, i.suggestion) for i in issues(tmp_path, REFERENCE_MISTAKES)]
    assert found == [
        (7, ("devices", 0, "bus"), "rs485"),  # unknown bus
        (13, ("devices", 1, "profile"), "honeywell_midas"),  # unknown profile
        (19, ("devices", 2, "points", "gas", "rule"), "methane_working_place"),  # unknown rule
        (22, ("devices", 3, "unit"), None),  # unit id 3 twice on bus lan
        (25, ("devices", 3, "points", "gas", "unit"), None),  # methane rule on a °C point
        (25, ("devices", 3, "points", "gas", "id"), None),  # point id a.gas already used by device a
        (26, ("devices", 3, "points", "extra"), None),  # new point without a type
        (35, ("devices", 4, "points", "gas", "limits"), None),  # loosened without override_reason
        (40, ("outputs", "beacon", "coil"), None),  # two outputs on one coil
        (41, ("outputs", "power_trip", "device"), "relays"),
        (42, ("acknowledge", "device"), "relays"),
    ]
    text = "\n".join(i.render() for i in issues(tmp_path, REFERENCE_MISTAKES))
    assert "unit id 3 is already used on bus 'lan' by device 'c' (devices[2])" in text
    assert "unit '°C' cannot be compared with limit unit '%'" in text
    assert "coil 0 of 'relays' is already output 'siren'" in text
    assert "limit 2 is less protective than the statutory 1.5" in text
    assert "override_reason" in text


def test_same_unit_id_on_different_buses_is_fine(tmp_path: Path) -> None:
    text = HEAD + (
        "  - {id: a, bus: lan, unit: 1, profile: honeywell_xnx}\n"
        "  - {id: b, bus: rs485, unit: 1, profile: honeywell_xnx}\n"
    )
    assert len(load(tmp_path, text).spec.devices) == 2


def test_default_point_ids_collide_only_through_explicit_ids(tmp_path: Path) -> None:
    text = HEAD + (
        "  - {id: a, bus: lan, unit: 1, profile: draeger_polytron_8000}\n"
        "  - {id: b, bus: lan, unit: 2, profile: draeger_polytron_8000, points: {gas: {id: a.gas}}}\n"
    )
    issue = one_issue(tmp_path, text)
    assert (issue.line, issue.path, issue.value) == (7, ("devices", 1, "points", "gas", "id"), "a.gas")


# ---- rules -----------------------------------------------------------------------------------------

LOOSENED = (
    HEAD
    + """\
  - id: mm12
    bus: rs485
    unit: 3
    profile: honeywell_xnx
    location: tailgate
    points:
      gas:
        id: ch4
        unit: "%"
        rule: methane_working_place
        limits:
          - {threshold: alarm, limit: 1.8, on_delay: 2s}
          - {threshold: alert, limit: 0.8}
"""
)


def test_loosening_without_reason_is_an_error_naming_the_line(tmp_path: Path) -> None:
    issue = one_issue(tmp_path, LOOSENED)
    assert issue.line == 16
    assert issue.path == ("devices", 0, "points", "gas", "limits")
    assert "limit 1.8 is less protective than the statutory 1.5" in issue.message
    assert "on_delay_s 2 is less protective than the statutory 0" in issue.message


def test_loosening_with_reason_is_accepted_and_recorded(tmp_path: Path) -> None:
    text = LOOSENED.replace(
        '        unit: "%"\n', '        unit: "%"\n        override_reason: MSHA petition 2024-17\n'
    )
    loaded = load(tmp_path, text)
    records = {(r.threshold, r.field): r for r in loaded.overrides}
    # The tightened alert limit drags its clear limit down with it (0.8 clears at 0.8).
    assert set(records) == {("alarm", "limit"), ("alarm", "on_delay_s"), ("alert", "limit"), ("alert", "clear_limit")}
    assert records["alarm", "limit"].loosens is True
    assert records["alarm", "limit"].reason == "MSHA petition 2024-17"
    assert (records["alarm", "limit"].statutory_value, records["alarm", "limit"].site_value) == (1.5, 1.8)
    assert records["alert", "limit"].loosens is False  # 0.8 alarms earlier: a tightening
    (rules,) = loaded.rules
    assert rules.point_id == "ch4"
    assert {t.name: t.limit for t in rules.thresholds} == {"alert": 0.8, "alarm": 1.8}
    assert loaded.spec.device("mm12").point("gas").override_reason == "MSHA petition 2024-17"


def test_tightening_needs_no_reason(tmp_path: Path) -> None:
    text = LOOSENED.replace("limit: 1.8, on_delay: 2s", "limit: 1.2")
    loaded = load(tmp_path, text)
    assert loaded.overrides
    assert not any(r.loosens for r in loaded.overrides)


@pytest.mark.parametrize(
    ("profile", "point", "fragment"),
    [
        ("honeywell_xnx", "gas: {unit: '°C', rule: methane_working_place}", "unit '°C' cannot be compared with '%'"),
        ("honeywell_xnx", "gas: {rule: co_toxic}", "%LEL is only converted for rules that state their LEL basis"),
        ("generic_ai8_4_20ma", "ch1: {range: [0, 25], rule: oxygen}", "the point has no unit; rule 'oxygen'"),
    ],
)
def test_incompatible_unit_for_a_rule(profile: str, point: str, fragment: str, tmp_path: Path) -> None:
    issue = one_issue(tmp_path, HEAD + f"  - {{id: d, bus: lan, unit: 1, profile: {profile}, points: {{{point}}}}}\n")
    assert issue.line == 6
    assert issue.path[:3] == ("devices", 0, "points")
    assert issue.path[-1] == "unit"
    assert fragment in issue.message.replace("with limit unit", "with")


def test_lel_and_ppm_points_bind_to_percent_rules(tmp_path: Path) -> None:
    text = HEAD + (
        "  - {id: a, bus: lan, unit: 1, profile: honeywell_xnx, points: {gas: {rule: methane_return_split}}}\n"
        "  - {id: b, bus: lan, unit: 2, profile: honeywell_midas, points: {gas: {rule: co_belt, "
        "rule_parameters: {ambient: 3}}}}\n"
    )
    loaded = load(tmp_path, text)
    co = next(r for r in loaded.rules if r.point_id == "b.gas")
    assert {t.name: t.limit for t in co.thresholds} == {"alert": 8.0, "alarm": 13.0}


def test_limits_without_rule_and_unknown_threshold(tmp_path: Path) -> None:
    text = HEAD + (
        "  - id: a\n    bus: lan\n    unit: 1\n    profile: honeywell_xnx\n    points:\n"
        "      gas: {limits: [{threshold: alarm, limit: 1}]}\n"  # line 11
        "  - id: b\n    bus: lan\n    unit: 2\n    profile: honeywell_xnx\n    points:\n"
        "      gas: {unit: '%', rule: oxygen, limits: [{threshold: alrm, limit: 20}]}\n"  # line 17
    )
    found = [(i.line, i.path, i.message) for i in issues(tmp_path, text)]
    assert found[0][:2] == (11, ("devices", 0, "points", "gas", "limits"))
    assert "need a 'rule'" in found[0][2]
    assert found[1][:2] == (17, ("devices", 1, "points", "gas", "limits"))
    assert "no threshold 'alrm'" in found[1][2]


def test_unknown_jurisdiction_with_suggestion(tmp_path: Path) -> None:
    issue = one_issue(tmp_path, "gateway: {id: gw, jurisdiction: us_msha_cola}\n")
    assert (issue.line, issue.path, issue.suggestion) == (1, ("gateway", "jurisdiction"), "us_msha_coal")


def test_rule_driving_an_unconfigured_output_is_a_warning(tmp_path: Path) -> None:
    text = HEAD + "  - {id: d, bus: lan, unit: 1, profile: honeywell_xnx, points: {gas: {unit: '%', rule: oxygen}}}\n"
    loaded = load(tmp_path, text)
    warned = {w.message.split("'")[1] for w in loaded.warnings}
    assert warned == {"siren", "beacon"}
    assert all(w.severity == "warning" and w.line == 6 for w in loaded.warnings)


def test_power_trip_not_fail_safe_is_a_warning(tmp_path: Path) -> None:
    text = HEAD + (
        "  - {id: r, bus: lan, unit: 1, profile: generic_relay8}\noutputs:\n  power_trip: {device: r, coil: 2}\n"
    )
    (warning,) = load(tmp_path, text).warnings
    assert (warning.line, warning.path) == (8, ("outputs", "power_trip", "fail_safe"))


# ---- profile merging, addresses and scaling -------------------------------------------------------


def test_raw_range_maps_4_20_ma_onto_the_engineering_range(tmp_path: Path) -> None:
    text = (
        HEAD
        + "  - {id: ai, bus: lan, unit: 1, profile: generic_ai8_4_20ma, points: {ch1: {range: [0, 5], unit: '%'}}}\n"
    )
    point = load(tmp_path, text).spec.device("ai").point("ch1")
    # 12000 µA is mid-scale of 4000..20000 µA: 2.5 % on a 0..5 % head.
    assert 12000 * point.scale + point.offset == pytest.approx(2.5)
    assert 4000 * point.scale + point.offset == pytest.approx(0.0)
    assert 20000 * point.scale + point.offset == pytest.approx(5.0)
    assert (point.raw_fault_below, point.raw_fault_above) == (3600, 21000)
    assert (point.table, point.address, point.data_type) == (Table.INPUT, 0, DataType.UINT16)


def test_raw_range_without_range_is_an_error(tmp_path: Path) -> None:
    issue = one_issue(
        tmp_path, HEAD + "  - {id: ai, bus: lan, unit: 1, profile: generic_ai8_4_20ma, points: {ch2: {}}}\n"
    )
    assert (issue.line, issue.path) == (6, ("devices", 0, "points", "ch2"))
    assert "'raw_range' needs the engineering 'range'" in issue.message


def test_device_scale_replaces_the_profile_raw_range(tmp_path: Path) -> None:
    text = HEAD + (
        "  - {id: ai, bus: lan, unit: 1, profile: generic_ai8_4_20ma, points: {ch1: {range: [0, 10], scale: 0.001}}}\n"
    )
    point = load(tmp_path, text).spec.device("ai").point("ch1")
    assert (point.scale, point.offset) == (0.001, 0.0)


def test_register_offset_shifts_every_profile_address(tmp_path: Path) -> None:
    text = HEAD + "  - {id: u, bus: lan, unit: 1, profile: msa_ultima_x, register_offset: 1000}\n"
    device = load(tmp_path, text).spec.device("u")
    assert {p.name: p.address for p in device.points} == {
        "status": 1200,
        "fault_bits": 1201,
        "gas": 1206,
        "units_code": 1212,
        "temperature": 1216,
    }


def test_register_offset_past_the_address_space_is_refused(tmp_path: Path) -> None:
    text = HEAD + "  - {id: u, bus: lan, unit: 1, profile: draeger_polytron_8000, register_offset: 65030}\n"
    issue = one_issue(tmp_path, text)
    assert issue.path == ("devices", 0, "points", "gas")
    assert "runs past the last Modbus address 65535" in issue.message


def test_device_overrides_profile_fields(tmp_path: Path) -> None:
    text = HEAD + (
        "  - id: x\n    bus: lan\n    unit: 1\n    profile: honeywell_xnx\n    location: belt 2\n    points:\n"
        "      gas: {register: '40101', type: int16, scale: 0.01, unit: ppm, label: CO, word_order: little,"
        " location: drive end, stale_after: 10s, stuck_after: 10min}\n"
    )
    device = load(tmp_path, text).spec.device("x")
    gas = device.point("gas")
    assert (gas.table, gas.address, gas.data_type, gas.scale) == (Table.HOLDING, 100, DataType.INT16, 0.01)
    assert (gas.unit, gas.label, gas.location, gas.word_order.value) == ("ppm", "CO", "drive end", "little")
    assert (gas.stale_after_s, gas.stuck_after_s) == (10.0, 600.0)
    assert gas.measuring_range == (0, 100)  # not overridden: kept from the profile
    assert device.point("status").location == "belt 2"


def test_msa_point_moved_with_register_drops_profile_table_address(tmp_path: Path) -> None:
    # The profile gives table+address; a device 'register' replaces both instead of conflicting.
    text = HEAD + "  - {id: u, bus: lan, unit: 1, profile: msa_ultima_x, points: {gas: {register: '30010'}}}\n"
    gas = load(tmp_path, text).spec.device("u").point("gas")
    assert (gas.table, gas.address, gas.data_type) == (Table.INPUT, 9, DataType.FLOAT32)


def test_new_point_with_register_and_type_is_added(tmp_path: Path) -> None:
    text = HEAD + (
        "  - id: x\n    bus: lan\n    unit: 1\n    profile: draeger_polytron_8000\n    points:\n"
        "      status: {register: '40020', type: uint16, diagnostic: true}\n"
        "      fault: {table: holding, address: 20, type: bits, bit: 3, diagnostic: true}\n"
    )
    device = load(tmp_path, text).spec.device("x")
    assert [p.name for p in device.points] == ["gas", "status", "fault"]
    assert (device.point("status").address, device.point("fault").bit) == (19, 3)


@pytest.mark.parametrize(
    ("point", "path_end"),
    [
        ("statuss: {type: uint16}", ("points", "statuss")),  # no register
        ("statuss: {register: '40020'}", ("points", "statuss")),  # no type
    ],
)
def test_new_point_needs_register_and_type(point: str, path_end: tuple[str, ...], tmp_path: Path) -> None:
    text = HEAD + f"  - id: x\n    bus: lan\n    unit: 1\n    profile: honeywell_midas\n    points:\n      {point}\n"
    issue = one_issue(tmp_path, text)
    assert (issue.line, issue.path) == (11, ("devices", 0, *path_end))
    assert "to add a new point give 'register'" in issue.message
    assert issue.suggestion == "status"


@pytest.mark.parametrize(
    ("point", "fragment"),
    [
        ("gas: {type: bool}", "does not fit table 'holding'"),
        ("gas: {register: '00005'}", "does not fit table 'coil'"),
        ("new: {table: holding, address: 3, type: bits}", "type 'bits' needs 'bit'"),
    ],
)
def test_type_must_fit_the_table(point: str, fragment: str, tmp_path: Path) -> None:
    text = HEAD + f"  - {{id: x, bus: lan, unit: 1, profile: draeger_polytron_8000, points: {{{point}}}}}\n"
    assert fragment in one_issue(tmp_path, text).message


def test_poll_all_points_false_reads_only_listed_points(tmp_path: Path) -> None:
    text = HEAD + "  - {id: r, bus: lan, unit: 1, profile: generic_relay8, points: {input3: {}, relay2: {}}}\n"
    device = load(tmp_path, text).spec.device("r")
    assert [p.name for p in device.points] == ["input3", "relay2"]


def test_poll_all_points_false_still_reads_status_and_heartbeat(tmp_path: Path) -> None:
    # A site I/O profile that reads only listed channels but has a status word and a heartbeat:
    # those must be polled even though the device does not list them, or the conditions never fire.
    site = tmp_path / "profiles"
    site.mkdir()
    write(
        site,
        """\
        name: site_ai
        title: t
        manual: m
        poll_all_points: false
        points:
          ch1: {register: "30001", type: uint16}
          ch2: {register: "30002", type: uint16}
          status: {register: "30010", type: uint16, diagnostic: true}
          beat: {register: "30011", type: uint16, diagnostic: true}
          spare: {register: "30012", type: uint16}
        quality:
          - {point: status, bit: 0, reason: fault}
        heartbeat: {point: beat, timeout: 5s}
        """,
        "site_ai.yaml",
    )
    text = HEAD.replace("data_dir: var}", "data_dir: var, profiles_dir: profiles}")
    text += "  - {id: m, bus: lan, unit: 1, profile: site_ai, points: {ch2: {}}}\n"
    device = load(tmp_path, text).spec.device("m")
    assert [p.name for p in device.points] == ["ch2", "status", "beat"]
    assert device.heartbeat_point == "beat"
    assert device.heartbeat_timeout_s == 5.0


def test_poll_all_points_true_reads_every_profile_point(tmp_path: Path) -> None:
    device = load(tmp_path, HEAD + "  - {id: x, bus: lan, unit: 1, profile: honeywell_midas}\n").spec.device("x")
    assert len(device.points) == 8
    assert device.point("heartbeat").bit == 11


def test_quality_conditions_are_resolved(tmp_path: Path) -> None:
    device = load(tmp_path, HEAD + "  - {id: x, bus: lan, unit: 1, profile: honeywell_midas}\n").spec.device("x")
    warm_up = next(c for c in device.quality_conditions if c.reason.value == "warm_up")
    assert warm_up.matches(0x0800)  # state 0 with only the heartbeat bit set
    assert not warm_up.matches(0x0801)
    fault = next(c for c in device.quality_conditions if c.reason.value == "fault")
    assert fault.matches(0x0020)
    assert not fault.matches(0x0010)


def test_default_stale_after_follows_poll_and_bus_timeout(tmp_path: Path) -> None:
    # 3 polls of 2 s plus (retries 1 + 1) * 300 ms timeout.
    text = HEAD.replace("baudrate: 19200}", "baudrate: 19200, timeout: 300ms}")
    text += "  - {id: x, bus: rs485, unit: 1, profile: draeger_polytron_8000, poll: 2s}\n"
    device = load(tmp_path, text).spec.device("x")
    assert device.poll_interval_s == 2.0
    assert device.point("gas").stale_after_s == pytest.approx(6.6)


# ---- paths -----------------------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_dir = tmp_path / "etc" / "minegate"
    config_dir.mkdir(parents=True)
    text = """\
    gateway: {id: gw, jurisdiction: cn_coal, data_dir: ../../var/journal}
    buses:
      - {id: a, type: rtu, port: ../../dev/tty-link}
      - {id: b, type: rtu, port: /dev/ttyUSB0}
      - {id: c, type: rtu, port: "rfc2217://10.0.0.5:4000"}
    """
    path = write(config_dir, text)
    # Start from somewhere else entirely: the result must not depend on the working directory.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    spec = load_config(path).spec
    assert spec.data_dir == str(tmp_path / "var" / "journal")
    assert [b.port for b in spec.buses] == [
        str(tmp_path / "dev" / "tty-link"),
        "/dev/ttyUSB0",
        "rfc2217://10.0.0.5:4000",
    ]
    assert spec.source_file == str(path)


def test_absolute_data_dir_is_kept(tmp_path: Path) -> None:
    spec = load(tmp_path, f"gateway: {{id: gw, jurisdiction: us_msha_coal, data_dir: {tmp_path}/data}}\n").spec
    assert spec.data_dir == f"{tmp_path}/data"


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.yaml")


def test_demo_config_loads() -> None:
    loaded = load_config(Path(__file__).resolve().parents[2] / "deploy" / "examples" / "demo-mine.yaml")
    assert {o.name for o in loaded.spec.outputs} == {"siren", "beacon", "power_trip", "heartbeat"}
    assert not loaded.warnings
