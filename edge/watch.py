"""A terminal view of a gateway's PUB stream: alarm transitions as they happen, readings every few seconds."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import msgpack
import zmq

_COLOURS = {
    "alarm": "\033[1;31m",
    "alert": "\033[1;33m",
    "malfunction": "\033[1;35m",
    "warning": "\033[36m",
    "good": "",
    "uncertain": "\033[33m",
    "bad": "\033[31m",
    "reset": "\033[0m",
    "dim": "\033[2m",
}


class Screen:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.colour = out.isatty() and os.environ.get("NO_COLOR") is None

    def paint(self, text: str, style: str) -> str:
        if not self.colour or not _COLOURS.get(style):
            return text
        return f"{_COLOURS[style]}{text}{_COLOURS['reset']}"

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def format_alarm(event: dict[str, Any], screen: Screen) -> str:
    stamp = time.strftime("%H:%M:%S", time.gmtime(float(event["t_wall"])))
    signal = str(event["signal"])
    transition = str(event["transition"]).upper()
    flags = " LATCHED" if event.get("latched") else ""
    head = screen.paint(f"{signal.upper():<11} {transition:<12}", signal if transition == "ACTIVATED" else "dim")
    return f"{stamp}Z {head} {event['alarm_id']:<34} [{event['state']}{flags}] {event['message']}"


def format_readings(
    latest: dict[str, dict[str, Any]], screen: Screen, *, all_points: bool, diagnostic: Callable[[str], bool]
) -> list[str]:
    rows = []
    for pid in sorted(latest):
        if not all_points and diagnostic(pid):
            continue
        r = latest[pid]
        value = "-" if r["value"] is None else f"{r['value']:.2f}"
        quality = r["quality"] + (f" ({r['reason']})" if r["reason"] else "")
        rows.append(f"    {pid:<24} {value:>8} {r['unit']:<5} {screen.paint(quality, r['quality'])}")
    return rows


def watch(
    endpoint: str,
    *,
    duration_s: float | None = None,
    all_points: bool = False,
    table_every_s: float = 5.0,
    out: TextIO | None = None,
    diagnostic: Callable[[str], bool] | None = None,
    on_alarm: Callable[[dict[str, Any]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, dict[str, Any]]:
    """Print until ``duration_s`` passes, ``should_stop()`` is true, or Ctrl-C; returns the last readings."""
    screen = Screen(out or sys.stdout)
    is_diagnostic = diagnostic or (lambda pid: "." in pid)
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.SUBSCRIBE, b"")
    socket.connect(endpoint)
    poller = zmq.Poller()
    poller.register(socket, zmq.POLLIN)
    latest: dict[str, dict[str, Any]] = {}
    start = time.monotonic()
    next_table = start + table_every_s
    try:
        while duration_s is None or time.monotonic() - start < duration_s:
            if should_stop is not None and should_stop():
                break
            if poller.poll(200):
                topic, body = socket.recv_multipart()
                message = msgpack.unpackb(body, raw=False)
                if topic.startswith(b"reading."):
                    latest[message["point_id"]] = message
                elif topic.startswith(b"alarm."):
                    screen.line(format_alarm(message, screen))
                    if on_alarm is not None:
                        on_alarm(message)
            if time.monotonic() >= next_table and latest:
                next_table = time.monotonic() + table_every_s
                screen.line(screen.paint(f"  readings at {time.strftime('%H:%M:%S', time.gmtime())}Z:", "dim"))
                for row in format_readings(latest, screen, all_points=all_points, diagnostic=is_diagnostic):
                    screen.line(row)
    except KeyboardInterrupt:
        pass
    finally:
        socket.close(linger=0)
    return latest
