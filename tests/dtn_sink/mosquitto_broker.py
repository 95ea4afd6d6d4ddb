"""A real Mosquitto broker (Debian package ``mosquitto``) on loopback for the DTN sink tests.

Each broker gets a generated config in the test's tmp_path, a free port on 127.0.0.1, no persistence, and can be
killed (SIGKILL, as a crash) and started again on the same port. Tests skip when the package is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from edge.aio import within

MISSING = "install the Debian package mosquitto (apt-get install mosquitto)"


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


def require_mosquitto() -> str:
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip(MISSING)
    return binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class MosquittoBroker:
    def __init__(self, binary: str, workdir: Path, port: int | None = None) -> None:
        self.binary = binary
        self.port = port if port is not None else free_port()
        self.workdir = workdir
        self.config = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            # A slow test subscriber must not have QoS 1 messages dropped by the default per-client limit.
            "max_queued_messages 100000\n"
            "log_dest stderr\n"
            "log_type error\n"
            "log_type warning\n"
            "log_type notice\n"
        )
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 10.0) -> None:
        if self.running:
            raise RuntimeError("broker already running")
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [self.binary, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.starts += 1
        deadline = time.monotonic() + timeout_s
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited with {self._process.returncode} on port {self.port}:\n{self.log.read_text()}"
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto did not accept connections on port {self.port} in {timeout_s} s")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: a crash, with no goodbye to the clients."""
        self._stop(signal.SIGKILL)

    def stop(self) -> None:
        self._stop(signal.SIGTERM)

    def _stop(self, sig: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class Subscriber:
    """A real MQTT consumer (as SCADA would run): subscribes with QoS 1 and collects (topic, JSON) pairs."""

    def __init__(self, port: int, topic: str = "minegate/#") -> None:
        self.port = port
        self.topic = topic
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    async def __aenter__(self) -> Subscriber:
        self._client = aiomqtt.Client("127.0.0.1", self.port, identifier=f"test-sub-{id(self)}", timeout=10)
        await self._client.__aenter__()
        await self._client.subscribe(self.topic, qos=1)
        self._task = asyncio.create_task(self._collect(self._client), name="test-subscriber")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await within(self._client.__aexit__(None, None, None), 5)

    async def _collect(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            assert isinstance(payload, bytes)
            self.received.append((str(message.topic), json.loads(payload)))
            self._arrived.set()

    def ids(self) -> list[str]:
        return [str(body["id"]) for _, body in self.received]

    async def wait_for(self, done: Callable[[Subscriber], bool], timeout_s: float = 20.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not done(self):
                self._arrived.clear()
                if self._task is not None and self._task.done():
                    self._task.result()  # the subscriber's connection died: say why
                    raise AssertionError("subscriber stopped")
                with contextlib.suppress(TimeoutError):
                    await within(self._arrived.wait(), 0.2)
