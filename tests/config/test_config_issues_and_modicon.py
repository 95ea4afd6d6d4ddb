"""ConfigIssue rendering, "did you mean", and Modicon register numbers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from edge.config.issues import ConfigError, ConfigIssue, did_you_mean, format_path
from edge.config.schema import ProfilePoint, RegisterFields, parse_modicon
from edge.modbus.planner import Table


def test_render_has_file_line_path_value_allowed_and_suggestion() -> None:
    issue = ConfigIssue(
        "gw.yaml",
        17,
        ("devices", 1, "points", "gas", "rule"),
        "no rule of that name",
        value="methane_working_plac",
        has_value=True,
        allowed="methane_working_place, oxygen",
        suggestion="methane_working_place",
    )
    assert issue.render() == (
        "gw.yaml:17: error: devices[1].points.gas.rule: no rule of that name (got 'methane_working_plac'); "
        "allowed: methane_working_place, oxygen; did you mean 'methane_working_place'?"
    )


def test_render_without_line_or_value_and_as_warning() -> None:
    assert ConfigIssue("p", None, (), "profiles directory does not exist").render() == (
        "p: error: (top level): profiles directory does not exist"
    )
    warning = ConfigIssue("gw.yaml", 3, ("outputs", "siren"), "careful", severity="warning")
    assert warning.render() == "gw.yaml:3: warning: outputs.siren: careful"


def test_render_shows_a_falsy_value_when_it_has_one_and_truncates_long_ones() -> None:
    # has_value separates "the value was 0 / None" from "no value to show".
    assert "(got 0)" in ConfigIssue("f", 1, ("a",), "m", value=0, has_value=True).render()
    assert "(got None)" in ConfigIssue("f", 1, ("a",), "m", value=None, has_value=True).render()
    long = ConfigIssue("f", 1, ("a",), "m", value="x" * 200, has_value=True).render()
    assert "(got '" + "x" * 79 + "...)" in long


def test_format_path() -> None:
    assert format_path(("buses", 0, "baudrate")) == "buses[0].baudrate"
    assert format_path((0, "a")) == "[0].a"
    assert format_path(()) == "(top level)"


@pytest.mark.parametrize(
    ("word", "expected"),
    [("baudrte", "baudrate"), ("parit", "parity"), ("honeywel_xnx", "honeywell_xnx"), ("zzzz", None)],
)
def test_did_you_mean(word: str, expected: str | None) -> None:
    assert did_you_mean(word, ["baudrate", "parity", "port", "honeywell_xnx", "honeywell_midas"]) == expected


def test_config_error_sorts_issues_by_file_and_line_and_renders_all() -> None:
    err = ConfigError([ConfigIssue("b", 1, (), "x"), ConfigIssue("a", 9, (), "y"), ConfigIssue("a", None, (), "z")])
    assert [(i.file, i.line) for i in err.issues] == [("a", None), ("a", 9), ("b", 1)]
    assert str(err).count("\n") == 2


@pytest.mark.parametrize(
    ("register", "table", "address"),
    [
        ("00001", Table.COIL, 0),
        ("10001", Table.DISCRETE_INPUT, 0),
        ("30001", Table.INPUT, 0),
        ("40001", Table.HOLDING, 0),
        ("40003", Table.HOLDING, 2),
        ("49999", Table.HOLDING, 9998),
        ("000017", Table.COIL, 16),
        ("100010", Table.DISCRETE_INPUT, 9),
        ("300001", Table.INPUT, 0),
        ("400507", Table.HOLDING, 506),
        ("465536", Table.HOLDING, 65535),
        (" 40003 ", Table.HOLDING, 2),
    ],
)
def test_parse_modicon(register: str, table: Table, address: int) -> None:
    assert parse_modicon(register) == (table, address)


@pytest.mark.parametrize(
    ("register", "fragment"),
    [
        ("20001", "not a Modicon"),  # no table 2
        ("50001", "not a Modicon"),
        ("4001", "not a Modicon"),  # too short
        ("4000001", "not a Modicon"),  # too long
        ("4000a", "not a Modicon"),
        ("", "not a Modicon"),
        ("40000", "start at 1"),
        ("400000", "start at 1"),
        ("465537", "end at 65536"),
        ("499999", "end at 65536"),
    ],
)
def test_parse_modicon_errors(register: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_modicon(register)


def test_register_written_as_yaml_integer_is_accepted() -> None:
    # 'register: 40003' without quotes is an int in YAML; it means the same as "40003".
    assert ProfilePoint.model_validate({"register": 40003, "type": "uint16"}).modicon == "40003"


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"register": "40003", "table": "holding", "address": 2}, "not both"),
        ({"table": "holding"}, "go together"),
        ({"register": "40003", "raw_range": [4000, 20000], "scale": 2}, "not both"),
        ({"register": "40003", "range": [5, 0]}, "low < high"),
        ({"register": "40003", "type": "bits"}, "needs 'bit'"),
        ({"register": "40003", "colour": "red"}, "Extra inputs"),
        ({"register": "2"}, "not a Modicon"),
    ],
)
def test_register_fields_refuse_inconsistent_layouts(fields: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        RegisterFields.model_validate(fields)
