"""A real Mosquitto broker (Debian package ``mosquitto``) on loopback for the DTN sink tests.

Each broker gets a generated config in the test's tmp_path, a free port on 127.0.0.1, no persistence, and can be
killed (SIGKILL, as a crash) and started again on the same port. Tests skip when the package is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
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
    """A free port below the kernel's ephemeral range.

    Not one the kernel hands out (bind to port 0): a client retrying a broker that is down can be given that very
    port as its own source port and connect to itself (TCP simultaneous open) -- it then holds the port, the
    broker cannot start ("Address already in use"), and the client reads its own CONNECT. Seen in these tests.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(10000, max(low, 10001))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port found in 10000..{low}")


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
            # Forward every message to the subscriber at once instead of holding it (beyond 20 unacknowledged)
            # in the broker's RAM: a SIGKILLed broker without persistence loses what it holds after it sent
            # PUBACK, which is the broker's guarantee to lose, not the sink's. (A production broker runs with
            # persistence and its consumers with persistent sessions.)
            "max_inflight_messages 0\n"
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
    """A real MQTT consumer (as SCADA would run): subscribes with QoS 1 and records (topic, JSON) pairs.

    Messages are recorded as paho hands them over (through aiomqtt's ``queue_type`` hook), not by iterating
    ``client.messages``: that iterator raises as soon as the connection drops and would leave messages that had
    already arrived unread -- a broker crash in a test would then look like lost messages.
    """

    def __init__(self, port: int, topic: str = "minegate/#") -> None:
        self.port = port
        self.topic = topic
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._arrived = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._watch: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Subscriber:
        subscriber = self

        class Recording(asyncio.Queue[aiomqtt.Message]):
            def put_nowait(self, item: aiomqtt.Message) -> None:
                subscriber._record(item)

        self._client = aiomqtt.Client(
            "127.0.0.1", self.port, identifier=f"test-sub-{id(self)}", timeout=10, queue_type=Recording
        )
        await self._client.__aenter__()
        await self._client.subscribe(self.topic, qos=1)
        self._watch = asyncio.create_task(self._watch_connection(self._client), name="test-subscriber-watch")
        return self

    async def _watch_connection(self, client: aiomqtt.Client) -> None:
        # Yields nothing (the queue above records instead); raises when the connection drops, which also
        # collects aiomqtt's disconnect error instead of leaving it as "never retrieved".
        with contextlib.suppress(aiomqtt.MqttError):
            async for _ in client.messages:
                pass

    async def __aexit__(self, *exc: object) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await within(self._client.__aexit__(None, None, None), 5)

    def _record(self, message: aiomqtt.Message) -> None:
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
                with contextlib.suppress(TimeoutError):
                    await within(self._arrived.wait(), 0.2)


async def eventually(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    """Poll a status counter until ``condition`` holds; the failure names what did not happen."""
    deadline = time.monotonic() + timeout_s
    for _ in itertools.count():
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.005)
