"""systemd notification (sd_notify): READY, WATCHDOG, STOPPING. Harmless when not under systemd."""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class SystemdNotifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = environ if environ is not None else dict(os.environ)
        self._address = env.get("NOTIFY_SOCKET", "")
        watchdog_usec = env.get("WATCHDOG_USEC", "")
        # systemd recommends pinging at half the configured watchdog interval.
        self.watchdog_interval_s: float | None = (
            int(watchdog_usec) / 2e6 if watchdog_usec.isdigit() and int(watchdog_usec) > 0 else None
        )
        self._socket: socket.socket | None = None
        if self._address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def notify(self, message: str) -> None:
        if self._socket is None:
            return
        address = self._address
        if address.startswith("@"):  # abstract namespace socket
            address = "\0" + address[1:]
        try:
            self._socket.sendto(message.encode(), address)
        except OSError as exc:
            log.warning("sd_notify %r failed: %s", message, exc)

    def ready(self, status: str = "") -> None:
        self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
