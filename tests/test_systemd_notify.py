"""sd_notify against a real AF_UNIX datagram socket bound in tmp_path (and in the abstract namespace)."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.systemd import SystemdNotifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(2.0)
    yield sock, path
    sock.close()


def received(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_ready_watchdog_stopping_arrive_as_datagrams(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    notifier.ready()
    notifier.ready("3 buses, 7 devices")
    notifier.watchdog()
    notifier.stopping()
    assert [received(sock) for _ in range(4)] == [
        "READY=1",
        "READY=1\nSTATUS=3 buses, 7 devices",
        "WATCHDOG=1",
        "STOPPING=1",
    ]
    notifier.close()
    assert not notifier.enabled
    notifier.ready()  # after close: silently nothing
    sock.settimeout(0.05)
    with pytest.raises(TimeoutError):
        sock.recv(4096)


def test_abstract_namespace_address() -> None:
    # '@name' is systemd's spelling of a Linux abstract socket ("\0name"): no file on disk.
    name = f"minegate-test-{os.getpid()}-{id(object())}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2.0)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": "@" + name})
        notifier.ready()
        assert received(sock) == "READY=1"
        notifier.close()


def test_not_under_systemd_is_harmless() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert notifier.watchdog_interval_s is None
    notifier.ready()
    notifier.watchdog()
    notifier.close()


def test_vanished_socket_logs_a_warning_instead_of_raising(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    with caplog.at_level(logging.WARNING, logger="edge.systemd"):
        notifier.watchdog()
    assert "sd_notify 'WATCHDOG=1' failed" in caplog.text
    notifier.close()


@pytest.mark.parametrize(
    ("usec", "interval"),
    [("30000000", 15.0), ("1000000", 0.5), ("1", 5e-7), ("0", None), ("", None), ("abc", None), ("-5", None)],
)
def test_watchdog_interval_is_half_of_watchdog_usec(usec: str, interval: float | None) -> None:
    notifier = SystemdNotifier({"WATCHDOG_USEC": usec})
    assert notifier.watchdog_interval_s == interval


def test_reads_the_process_environment_by_default(
    listener: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, path = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    notifier = SystemdNotifier()
    assert notifier.watchdog_interval_s == 2.0
    notifier.stopping()
    assert received(sock) == "STOPPING=1"
    notifier.close()
