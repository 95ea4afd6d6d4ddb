"""A null-modem cable in software: two pseudo-terminals whose traffic is pumped across, optionally at RS-485 speed.

The simulated RTU server opens ``device_side``, the gateway opens ``gateway_side``. A pty pair alone would
connect only two ends of one terminal, so the bridge opens two pairs and copies bytes between their master
ends on the event loop. With a ``SerialFraming`` every chunk is held for the time its characters take on
the wire, one direction at a time as on a half-duplex RS-485 pair, so that what the request planner saves
shows up in bus time.

Ptys cannot keep parity settings (a second open with parity E fails with EINVAL): use parity N on them.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import tty
from collections.abc import Callable
from pathlib import Path

from edge.modbus.wire_time import SerialFraming

logger = logging.getLogger(__name__)

_READ_CHUNK = 4096
# A pty holds a few kilobytes; beyond this the far end is not reading and old bytes are dropped, as a
# serial port with nobody listening would lose them.
_MAX_PENDING_BYTES = 65536


class _Outbox:
    """Bytes waiting for a non-blocking master fd to accept them."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, name: str) -> None:
        self._loop = loop
        self._fd = fd
        self._name = name
        self._pending = bytearray()
        self._waiting_writable = False

    def send(self, data: bytes) -> None:
        self._pending += data
        if len(self._pending) > _MAX_PENDING_BYTES:
            dropped = len(self._pending) - _MAX_PENDING_BYTES
            del self._pending[:dropped]
            logger.warning("pty bridge %s: far end not reading, dropped %d bytes", self._name, dropped)
        self._flush()

    def _flush(self) -> None:
        while self._pending:
            try:
                written = os.write(self._fd, self._pending)
            except BlockingIOError:
                break
            except OSError as exc:
                logger.warning("pty bridge %s: write failed (%s), %d bytes lost", self._name, exc, len(self._pending))
                self._pending.clear()
                break
            del self._pending[:written]
        if self._pending and not self._waiting_writable:
            self._loop.add_writer(self._fd, self._flush)
            self._waiting_writable = True
        elif not self._pending and self._waiting_writable:
            self._loop.remove_writer(self._fd)
            self._waiting_writable = False

    def close(self) -> None:
        if self._waiting_writable:
            self._loop.remove_writer(self._fd)
            self._waiting_writable = False
        self._pending.clear()


class PtyBridge:
    """Two linked pseudo-terminals: ``device_side`` for the simulated server, ``gateway_side`` for the gateway."""

    def __init__(self, *, framing: SerialFraming | None = None, link_path: Path | None = None) -> None:
        self._framing = framing
        self._link_path = link_path
        self._fds: dict[str, int] = {}
        self._paths: dict[str, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outboxes: dict[str, _Outbox] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self._wire_free_at = 0.0
        self.bytes_to_device = 0
        self.bytes_to_gateway = 0

    @property
    def device_side(self) -> str:
        return self._path("device")

    @property
    def gateway_side(self) -> str:
        return self._path("gateway")

    @property
    def link_path(self) -> Path | None:
        return self._link_path

    @property
    def running(self) -> bool:
        return self._loop is not None

    def _path(self, side: str) -> str:
        if side not in self._paths:
            raise RuntimeError("the pty bridge is not started: await start() first")
        return self._paths[side]

    async def start(self) -> None:
        """Open both pty pairs (raw mode) and start pumping. Idempotent."""
        if self._loop is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            for side in ("device", "gateway"):
                master, slave = os.openpty()
                self._fds[f"{side}_master"] = master
                # The bridge keeps each slave open: with no slave open a master read fails with EIO, and
                # raw mode set here is what a program opening the path finds before it configures the port.
                self._fds[f"{side}_slave"] = slave
                tty.setraw(slave)
                os.set_blocking(master, False)
                self._paths[side] = os.ttyname(slave)
            self._link()
        except OSError:
            self._close_fds()
            raise
        self._loop = loop
        device_master, gateway_master = self._fds["device_master"], self._fds["gateway_master"]
        self._outboxes = {
            "to_device": _Outbox(loop, device_master, "gateway->device"),
            "to_gateway": _Outbox(loop, gateway_master, "device->gateway"),
        }
        loop.add_reader(gateway_master, self._pump, gateway_master, "to_device")
        loop.add_reader(device_master, self._pump, device_master, "to_gateway")
        logger.info(
            "pty bridge up: device side %s, gateway side %s%s",
            self.device_side,
            self.gateway_side,
            f" (wire time at {self._framing.baudrate} bit/s)" if self._framing else "",
        )

    async def stop(self) -> None:
        """Stop pumping, close every fd and remove the link. Idempotent."""
        loop, self._loop = self._loop, None
        if loop is not None:
            for side in ("device_master", "gateway_master"):
                loop.remove_reader(self._fds[side])
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for outbox in self._outboxes.values():
            outbox.close()
        self._outboxes.clear()
        self._close_fds()
        self._unlink()

    def _pump(self, source_fd: int, direction: str) -> None:
        try:
            data = os.read(source_fd, _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: the far program closed its end for a moment; nothing to read
                logger.warning("pty bridge: read failed on %s: %s", direction, exc)
            return
        if not data:
            return
        if direction == "to_device":
            self.bytes_to_device += len(data)
        else:
            self.bytes_to_gateway += len(data)
        if self._framing is None:
            self._deliver(direction, data)
            return
        loop = self._loop
        if loop is None:
            return
        # Half duplex: a chunk starts when the wire is free and occupies it for its characters' time.
        start = max(loop.time(), self._wire_free_at)
        self._wire_free_at = start + len(data) * self._framing.char_time_s
        self._schedule(loop, self._wire_free_at, lambda: self._deliver(direction, data))

    def _schedule(self, loop: asyncio.AbstractEventLoop, when: float, action: Callable[[], None]) -> None:
        def fire() -> None:
            self._timers.discard(handle)
            action()

        handle = loop.call_at(when, fire)
        self._timers.add(handle)

    def _deliver(self, direction: str, data: bytes) -> None:
        outbox = self._outboxes.get(direction)
        if outbox is not None:
            outbox.send(data)

    def _link(self) -> None:
        if self._link_path is None:
            return
        link = self._link_path
        if link.is_symlink():
            link.unlink()
        elif link.exists():
            raise FileExistsError(f"{link} exists and is not a symlink: refusing to replace it with the pty link")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(self._paths["gateway"])

    def _unlink(self) -> None:
        link = self._link_path
        if link is not None and link.is_symlink() and os.readlink(link) == self._paths.get("gateway"):
            link.unlink()

    def _close_fds(self) -> None:
        for fd in self._fds.values():
            try:
                os.close(fd)
            except OSError as exc:
                logger.debug("pty bridge: closing fd %d: %s", fd, exc)
        self._fds.clear()
