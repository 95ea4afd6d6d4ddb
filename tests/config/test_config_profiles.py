"""The built-in device profiles: each loads, refers only to its own points, resolves and plans legal reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_text import HEAD, load, write

from edge.config.issues import ConfigError
from edge.config.resolve import BUILTIN_PROFILES, load_profiles
from edge.modbus.planner import Table
from edge.plan_report import device_plan

EXPECTED = {
    "draeger_polytron_8000",
    "generic_ai8_4_20ma",
    "generic_relay8",
    "honeywell_midas",
    "honeywell_xnx",
    "msa_ultima_x",
    "oldham_itrans2",
}

# What a device must list for profiles that read only listed points.
LISTED = {
    "generic_ai8_4_20ma": "{ch1: {range: [0, 5], unit: '%'}}",
    "generic_relay8": "{relay1: {}}",
}

# Documented anchors from the manuals the profiles cite (README / profile comments).
KNOWN_REGISTERS = [
    ("honeywell_xnx", "gas", Table.HOLDING, 2),  # 40003
    ("honeywell_midas", "status", Table.HOLDING, 0),  # 40001
    ("draeger_polytron_8000", "gas", Table.HOLDING, 506),  # 40507
    ("msa_ultima_x", "status", Table.HOLDING, 200),  # base+201
    ("oldham_itrans2", "gas", Table.HOLDING, 101),  # 40102
    ("generic_ai8_4_20ma", "ch8", Table.INPUT, 7),  # 30008
    ("generic_relay8", "input1", Table.DISCRETE_INPUT, 0),  # 10001
]


def test_every_builtin_profile_loads() -> None:
    profiles = load_profiles([BUILTIN_PROFILES])
    assert set(profiles) == EXPECTED
    for name, loaded in profiles.items():
        assert loaded.model.manual, f"{name} cites no manual"
        assert loaded.lines.file.endswith(f"{name}.yaml")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_quality_conditions_and_heartbeat_name_existing_points(name: str) -> None:
    profile = load_profiles([BUILTIN_PROFILES])[name].model
    refs = [c.point for c in profile.quality] + ([profile.heartbeat.point] if profile.heartbeat else [])
    for ref in refs:
        assert ref in profile.points, f"{name}: {ref!r} is not a point"
        # Status registers must be diagnostics: they are read and published, never given rules.
        assert profile.points[ref].diagnostic, f"{name}: {ref!r} should be diagnostic"


@pytest.mark.parametrize(("name", "point", "table", "address"), KNOWN_REGISTERS)
def test_profile_register_anchors(name: str, point: str, table: Table, address: int, tmp_path: Path) -> None:
    text = HEAD + f"  - {{id: d, bus: lan, unit: 1, profile: {name}, points: {LISTED.get(name, '{}')}}}\n"
    if name == "generic_ai8_4_20ma":
        text = text.replace("{ch1: {range: [0, 5], unit: '%'}}", "{ch8: {range: [0, 5]}}")
    if name == "generic_relay8":
        text = text.replace("{relay1: {}}", "{input1: {}}")
    spec = load(tmp_path, text).spec.device("d").point(point)
    assert (spec.table, spec.address) == (table, address)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("bus", ["lan", "rs485"])
def test_profile_resolves_and_plans_reads_within_protocol_limits(name: str, bus: str, tmp_path: Path) -> None:
    text = HEAD + f"  - {{id: d, bus: {bus}, unit: 9, profile: {name}, points: {LISTED.get(name, '{}')}}}\n"
    device = load(tmp_path, text).spec.device("d")
    assert device.points
    plan = device_plan(device)
    served = {span.key for req in plan for span in req.spans}
    assert served == {p.name for p in device.points}
    for req in plan:
        limit = req.table.protocol_read_limit
        assert 1 <= req.count <= min(limit, device.max_registers if not req.table.is_bit_table else limit)
        assert req.address + req.count <= 65536
        for span in req.spans:
            assert req.address <= span.address
            assert span.address + span.count <= req.address + req.count
    # Every status/heartbeat point a quality condition reads is actually polled.
    needed = {c.point for c in device.quality_conditions} | {device.heartbeat_point} - {None}
    assert needed <= {p.name for p in device.points}


def _broken_profile_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "profiles"
    directory.mkdir()
    write(
        directory,
        """\
        name: acme_gas
        title: Acme
        manual: none
        points:
          gas: {register: "40001", type: float32}
          status: {register: "40003"}
          flags: {type: uint16}
        quality:
          - {point: statuss, bit: 1, reason: fault}
        heartbeat: {point: beat}
        """,
        "acme_gas.yaml",
    )
    write(directory, "name: other\ntitle: t\nmanual: m\npoints: {}\n", "renamed.yaml")
    return directory


def test_broken_site_profile_reports_every_problem_with_lines(tmp_path: Path) -> None:
    directory = _broken_profile_dir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_profiles([directory])
    found = sorted((Path(i.file).name, i.line, i.path, i.suggestion) for i in info.value.issues)
    assert found == [
        ("acme_gas.yaml", 6, ("points", "status", "type"), None),
        ("acme_gas.yaml", 7, ("points", "flags"), None),
        ("acme_gas.yaml", 9, ("quality", 0, "point"), "status"),
        ("acme_gas.yaml", 10, ("heartbeat", "point"), None),
        ("renamed.yaml", 1, ("name",), None),
    ]


def test_missing_profiles_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="profiles directory does not exist"):
        load_profiles([tmp_path / "nope"])


def test_site_profile_directory_is_relative_to_the_config_and_overrides_builtin(tmp_path: Path) -> None:
    site = tmp_path / "site-profiles"
    site.mkdir()
    # Same name as a built-in: the site's copy (another gas register) wins.
    write(
        site,
        'name: draeger_polytron_8000\ntitle: t\nmanual: m\npoints:\n  gas: {register: "40101", type: float32}\n',
        "draeger_polytron_8000.yaml",
    )
    text = HEAD.replace("data_dir: var}", "data_dir: var, profiles_dir: site-profiles}")
    text += "  - {id: d, bus: lan, unit: 1, profile: draeger_polytron_8000}\n"
    assert load(tmp_path, text).spec.device("d").point("gas").address == 100
