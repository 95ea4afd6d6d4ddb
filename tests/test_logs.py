"""Logging: journald priority prefixes under systemd, UTC timestamps elsewhere."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest

from edge.logs import configure_logging


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    pymodbus_level = logging.getLogger("pymodbus").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("pymodbus").setLevel(pymodbus_level)


def emit_all(stream: io.StringIO) -> list[str]:
    log = logging.getLogger("edge.test")
    log.debug("d key=1")
    log.info("poll_ok device=mm12")
    log.warning("w")
    log.error("e")
    log.critical("c")
    return stream.getvalue().splitlines()


def test_journald_prefix_when_journal_stream_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    stream = io.StringIO()
    configure_logging("debug", stream=stream)
    assert emit_all(stream) == [
        "<7>edge.test: d key=1",
        "<6>edge.test: poll_ok device=mm12",
        "<4>edge.test: w",
        "<3>edge.test: e",
        "<2>edge.test: c",
    ]


def test_console_lines_carry_a_utc_timestamp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    stream = io.StringIO()
    configure_logging("warning", stream=stream)
    lines = emit_all(stream)
    assert len(lines) == 3  # debug and info are below the level
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING edge\.test: w$")
    assert pattern.match(lines[0]), lines[0]
    assert not lines[0].startswith("<")


def test_configure_replaces_handlers_and_quietens_pymodbus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "8:1")
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", stream=first)
    configure_logging("INFO", stream=second)  # reconfiguring must not log twice
    logging.getLogger("pymodbus.client").error("timeout")  # reported once by the bus owner instead
    logging.getLogger("edge.x").info("once")
    assert first.getvalue() == ""
    assert second.getvalue() == "<6>edge.x: once\n"
