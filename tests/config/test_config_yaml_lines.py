"""The YAML loader: line of every key, duplicate keys, merge keys, syntax errors, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.config.issues import ConfigError, ConfigIssue
from edge.config.yaml_lines import load_yaml, parse_yaml

DOC = """\
gateway:
  id: gw
  site: "x"
buses:
  - id: a
    type: tcp
  - id: b
    type: rtu
    port: /dev/ttyS0
"""


def test_lines_of_keys_and_list_items() -> None:
    data, lines = parse_yaml(DOC, "f.yaml")
    assert data["buses"][1]["port"] == "/dev/ttyS0"
    assert lines.line_of(("gateway",)) == 1
    assert lines.line_of(("gateway", "site")) == 3
    assert lines.line_of(("buses", 0)) == 5
    assert lines.line_of(("buses", 1, "type")) == 8
    assert lines.line_of(("buses", 1, "port")) == 9
    # A missing key has no line of its own: the nearest existing parent is shown instead.
    assert lines.line_of(("buses", 1, "baudrate")) == 7
    assert lines.line_of(("nothing", "here")) == 1  # the document root


def test_duplicate_keys_are_all_reported_with_their_lines() -> None:
    text = "a: 1\nb:\n  c: 1\n  c: 2\na: 3\n"
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, "f.yaml")
    found = [(i.line, i.path) for i in info.value.issues]
    assert found == [(4, ("b", "c")), (5, ("a",))]
    assert "key appears twice" in info.value.issues[0].message


def test_merge_keys_are_not_duplicates_and_explicit_keys_win() -> None:
    text = "base: &b {register: '30001', type: uint16}\nch2: {<<: *b, register: '30002'}\n"
    data, lines = parse_yaml(text, "f.yaml")
    assert data["ch2"] == {"register": "30002", "type": "uint16"}
    assert lines.line_of(("ch2", "register")) == 2


def test_duplicate_after_merge_is_still_a_duplicate() -> None:
    text = "base: &b {x: 1}\nc:\n  <<: *b\n  y: 1\n  y: 2\n"
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, "f.yaml")
    assert [(i.line, i.path) for i in info.value.issues] == [(5, ("c", "y"))]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("a: 1\nb: [1, 2\n", 3, "YAML syntax"),
        ("a: 1\n  b: 2\n", 2, "YAML syntax"),
        ("a:\n  b: !foo x\n", 2, "constructor"),
        ("a: 1\nb: !!int abc\n", 2, "cannot read"),
        ("a: 1\nb: {<<: 1}\n", 2, "merging"),
        ("a: 1\n? [x]\n: y\n", 2, "plain value"),
        ("x: 1\nlist: &l [1, *l]\n", 2, "alias refers"),
        ("a: 1\nb: \x07\n", 2, "U+0007"),
    ],
)
def test_bad_yaml_is_a_config_error_with_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, "f.yaml")
    (issue,) = info.value.issues
    assert issue.line == line
    assert fragment in issue.message
    assert issue.render().startswith(f"f.yaml:{line}: error: ")


def test_empty_document_is_an_empty_mapping() -> None:
    assert parse_yaml("# nothing\n", "f.yaml")[0] == {}


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_yaml(tmp_path / "absent.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"site: K\xf6ln\n")
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_yaml(bad)


_YAMLISH = st.text(alphabet=st.sampled_from(list("ab:-[]{},&*!<>|'\"#?%@ \n\t01.x\x07")), max_size=60)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=60), _YAMLISH))
def test_loader_never_crashes_with_anything_but_config_error(text: str) -> None:
    # Arbitrary text plus text built from YAML's own punctuation (anchors, aliases, tags, merges).
    found: list[ConfigIssue] = []
    try:
        parse_yaml(text, "f.yaml")
    except ConfigError as exc:
        found = exc.issues
        assert found
    assert all(i.file == "f.yaml" for i in found)
