"""Per-task check-ins: systemd's WATCHDOG=1 is withheld while a critical task (bus owner, relay driver, alarm
journal) has been silent longer than its allowed silence, and comes back when it goes round again. A real
AF_UNIX datagram socket plays systemd's notify socket; time is a FakeClock."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq.asyncio

from edge.app import Gateway
from edge.clock import FakeClock
from edge.config.resolve import load_config
from edge.systemd import SystemdNotifier
from edge.watchdog import MARGIN_S, CriticalTask, bus_allowed_silence_s, overdue


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "gw.yaml"
    path.write_text(
        """gateway:
  id: gw-wd
  jurisdiction: us_msha_coal
  data_dir: data
  publish: null
  control: ipc://control.sock
buses:
  - {id: lan, type: tcp, host: 127.0.0.1, port: 1, timeout: 500ms, retries: 1, backoff_max: 20s}
devices:
  - {id: relays, bus: lan, unit: 3, profile: generic_relay8, location: power centre, poll: 2s}
outputs:
  heartbeat: {device: relays, coil: 7, fail_safe: true}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(0.2)
    yield sock, path
    sock.close()


def _drain(sock: socket.socket) -> list[str]:
    messages: list[str] = []
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except TimeoutError:
        return messages


def test_watchdog_is_withheld_while_a_critical_task_is_silent(
    tmp_path: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    clock = FakeClock()
    context = zmq.asyncio.Context()
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000"})
    gateway = Gateway(load_config(_config(tmp_path)), clock=clock, notifier=notifier, zmq_context=context)
    try:
        names = {task.name for task in gateway.critical_tasks}
        assert names == {"bus:lan", "relays", "alarm-journal"}
        gateway._feed_watchdog()
        assert _drain(sock) == ["WATCHDOG=1"]

        relay_limit = next(t.allowed_silence_s for t in gateway.critical_tasks if t.name == "relays")
        clock.advance(relay_limit - 1)
        gateway.buses["lan"].last_round_mono = clock.monotonic()  # the bus keeps going round
        gateway._feed_watchdog()
        assert _drain(sock) == ["WATCHDOG=1"]

        clock.advance(2)  # the relay driver is now past its allowed silence
        gateway.buses["lan"].last_round_mono = clock.monotonic()
        gateway._feed_watchdog()
        messages = _drain(sock)
        assert "WATCHDOG=1" not in messages
        assert len(messages) == 1
        assert messages[0].startswith("STATUS=hung task: relays silent for ")
        assert gateway.overdue_tasks()[0].startswith("relays silent")

        # A task the supervisor is restarting is its business, not the watchdog's.
        gateway.task_faults["relays"] = "RuntimeError: boom"
        gateway._feed_watchdog()
        assert _drain(sock) == ["STATUS=polling 1 devices", "WATCHDOG=1"]
        del gateway.task_faults["relays"]

        gateway.relays.last_round_mono = clock.monotonic()
        gateway._feed_watchdog()
        assert _drain(sock) == ["WATCHDOG=1"]
    finally:
        gateway.journal.close()
        notifier.close()
        context.destroy(linger=0)


def test_bus_allowance_covers_its_longest_sleep_and_a_worst_case_step(tmp_path: Path) -> None:
    spec = load_config(_config(tmp_path)).spec
    bus = spec.buses[0]
    devices = spec.devices_on("lan")
    allowed = bus_allowed_silence_s(bus, devices, commands=1)
    # backoff_max (20 s) beats the 2 s poll; each request may take timeout + guard, twice (one retry).
    assert allowed > 20.0 + MARGIN_S
    assert allowed < 20.0 + MARGIN_S + 60.0


def test_overdue_lists_only_silent_tasks_not_being_restarted() -> None:
    tasks = [CriticalTask("a", lambda: 100.0, 10.0), CriticalTask("b", lambda: 50.0, 10.0)]
    assert [o.name for o in overdue(tasks, 105.0)] == ["b"]
    assert overdue(tasks, 105.0, restarting={"b"}) == []
    assert overdue(tasks, 200.0)[0].describe() == "a silent for 100 s (allowed 10 s)"
