"""Helpers for config tests: write YAML text to a real file and load it, collecting the ConfigError."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from edge.config.issues import ConfigError, ConfigIssue
from edge.config.resolve import LoadedConfig, load_config

# A gateway section and one bus of each kind: most tests append devices to this. Lines 1-5.
HEAD = """\
gateway: {id: gw, jurisdiction: us_msha_coal, data_dir: var}
buses:
  - {id: lan, type: tcp, host: 127.0.0.1, port: 1502}
  - {id: rs485, type: rtu, port: /dev/ttyUSB0, baudrate: 19200}
devices:
"""


def write(tmp_path: Path, text: str, name: str = "gw.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> LoadedConfig:
    return load_config(write(tmp_path, text))


def issues(tmp_path: Path, text: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return info.value.issues


def one_issue(tmp_path: Path, text: str) -> ConfigIssue:
    found = issues(tmp_path, text)
    assert len(found) == 1, "\n".join(i.render() for i in found)
    return found[0]
