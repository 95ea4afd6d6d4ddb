"""Structured, journald-friendly logging.

Under systemd (``JOURNAL_STREAM`` set) each line carries an ``<N>`` syslog priority prefix that journald
turns into the entry's priority, and no timestamp (journald adds its own). Elsewhere lines carry a UTC
timestamp. Messages are ``event key=value ...`` so they grep and parse.
"""

from __future__ import annotations

import logging
import os
import sys
import time

_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


class JournaldFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return f"<{_PRIORITY.get(record.levelno, 6)}>{record.name}: {text}"


class ConsoleFormatter(logging.Formatter):
    converter = staticmethod(time.gmtime)  # UTC: gateways underground keep no local time zone

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03dZ %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")


def configure_logging(level: str = "info", *, stream: object = None) -> None:
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(JournaldFormatter() if os.environ.get("JOURNAL_STREAM") else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # pymodbus logs every timeout at ERROR; our bus owner reports them once, with context.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
