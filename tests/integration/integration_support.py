"""Shared machinery of the end-to-end tests: a small mine section as YAML, the simulated mine and the gateway
run together in one event loop, subprocess helpers, and condition polling with deadlines.

Every test writes its own config into ``tmp_path`` with free TCP ports, so the tests run in parallel with
each other and with a ``make demo`` on the same machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import msgpack

from edge.alarms.events import AlarmEvent
from edge.app import Gateway
from edge.clock import SystemClock
from edge.config.resolve import LoadedConfig, load_config
from edge.config.resolved import GatewaySpec
from edge.readings import Reading
from edge.sim.coil_log import CoilWrite
from edge.sim.launch import pty_links_for
from edge.sim.runner import SimulatedMine
from edge.sim.scenario_base import BaselineScenario

T = TypeVar("T")

PYTHON = sys.executable
REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO_ROOT / "deploy" / "examples" / "demo-mine.yaml"

# The section every test runs: a methane transmitter (XNX) and a CO transmitter (Midas) share the "field"
# bus (TCP or RS-485 over a pty), the relay module sits on the plant LAN, as in the demo mine.
METHANE = "ch4_mm12"
CO = "co_pump1"
METHANE_ALERT = f"{METHANE}:alert"
METHANE_ALARM = f"{METHANE}:alarm"
METHANE_MALFUNCTION = f"{METHANE}:malfunction"
RELAYS = "relays"
COILS = {"siren": 0, "beacon": 1, "power_trip": 2, "heartbeat": 7}
FAIL_SAFE = frozenset({"power_trip", "heartbeat"})

# Short polls keep the tests fast; the bounds below are derived from these, not guessed.
POLL_S = 0.25
TIMEOUT_S = 0.3
RETRIES = 1

# Canonical (%vol) methane levels, far enough from the 1.0 % alert / 1.5 % alarm / 1.0 % clear limits that
# the simulator's +-0.02 noise never decides a test.
METHANE_CLEAN = 0.3
METHANE_ALERT_LEVEL = 1.25
METHANE_ALARM_LEVEL = 2.0

# Generous but bounded: a loaded CI machine may stall a few hundred ms, never tens of seconds.
STARTUP_DEADLINE_S = 20.0
STEP_DEADLINE_S = 10.0

BusKindName = Literal["tcp", "rtu"]


def free_port() -> int:
    """A TCP port nobody listens on right now (bind to port 0 and let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class SectionConfig:
    path: Path
    text: str
    field_kind: BusKindName
    control_endpoint: str
    publish_endpoint: str

    @property
    def data_dir(self) -> Path:
        return self.path.parent / "data"

    @property
    def journal(self) -> Path:
        return self.data_dir / "alarms.sqlite"

    def line_of(self, needle: str) -> int:
        """1-based line number of the first line containing ``needle``."""
        for number, line in enumerate(self.text.splitlines(), start=1):
            if needle in line:
                return number
        raise AssertionError(f"{needle!r} is not in the config")


def write_section_config(directory: Path, *, field_kind: BusKindName, name: str = "section.yaml") -> SectionConfig:
    """Write the test section's YAML into ``directory`` with free ports; RTU ports live in ``directory``."""
    control = f"tcp://127.0.0.1:{free_port()}"
    publish = f"tcp://127.0.0.1:{free_port()}"
    if field_kind == "rtu":
        # Ptys carry no parity, so the bus runs 8N1; the simulator links the pty at this relative path.
        field_bus = f"""  - id: field
    type: rtu
    port: tty-field
    baudrate: 19200
    parity: N
    timeout: {TIMEOUT_S * 1000:.0f}ms
    retries: {RETRIES}
    backoff: 500ms"""
    else:
        field_bus = f"""  - id: field
    type: tcp
    host: 127.0.0.1
    port: {free_port()}
    timeout: {TIMEOUT_S * 1000:.0f}ms
    retries: {RETRIES}
    backoff: 500ms"""
    text = f"""# minegate integration test section ({field_kind} field bus)
gateway:
  id: gw-it
  site: integration test section
  jurisdiction: us_msha_coal
  data_dir: data
  publish: {publish}
  control: {control}

buses:
{field_bus}
  - id: lan
    type: tcp
    host: 127.0.0.1
    port: {free_port()}
    timeout: 300ms
    retries: 1
    backoff: 500ms

devices:
  - id: mm12
    bus: field
    unit: 3
    profile: honeywell_xnx
    location: tailgate MM-12
    poll: {POLL_S * 1000:.0f}ms
    points:
      gas: {{id: {METHANE}, label: Methane, unit: "%", range: [0, 5], rule: methane_working_place}}
  - id: pump1
    bus: field
    unit: 1
    profile: honeywell_midas
    location: pump station
    poll: {POLL_S * 1000:.0f}ms
    points:
      gas: {{id: {CO}, label: Carbon monoxide, unit: ppm, range: [0, 200], rule: co_toxic}}
  - id: {RELAYS}
    bus: lan
    unit: 4
    profile: generic_relay8
    location: section power centre

outputs:
  siren: {{device: {RELAYS}, coil: {COILS["siren"]}}}
  beacon: {{device: {RELAYS}, coil: {COILS["beacon"]}}}
  power_trip: {{device: {RELAYS}, coil: {COILS["power_trip"]}, fail_safe: true}}
  heartbeat: {{device: {RELAYS}, coil: {COILS["heartbeat"]}, fail_safe: true}}

alarms:
  heartbeat_period: 500ms
"""
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return SectionConfig(path, text, field_kind, control, publish)


class ScriptedSection(BaselineScenario):
    """Ambient air with seeded noise; a test sets a point's canonical value (``%vol`` methane) at will.

    Driving values directly instead of playing ``methane_buildup`` makes each step happen when the test
    says, so no test waits for a story to unfold.
    """

    def __init__(self, spec: GatewaySpec) -> None:
        super().__init__("scripted", spec, seed=7, time_scale=1.0, nominal_duration_s=3600.0)
        self.levels: dict[str, float] = {}

    def _shape_values(self, t: float, canonical: dict[str, float]) -> None:
        for point_id, level in self.levels.items():
            canonical[point_id] = level + self.field.noise(point_id, t)


class RecordingGateway(Gateway):
    """The real gateway, also keeping every reading the bus owners deliver (the sink is bound at init)."""

    def __init__(self, loaded: LoadedConfig) -> None:
        self.readings: list[Reading] = []
        super().__init__(loaded, clock=SystemClock())

    def on_reading(self, reading: Reading) -> None:
        super().on_reading(reading)
        self.readings.append(self.latest[reading.point_id])  # as health-checked, i.e. what the rules saw


@dataclass
class Site:
    config: SectionConfig
    loaded: LoadedConfig
    mine: SimulatedMine
    scenario: ScriptedSection
    gateway: RecordingGateway
    marks: dict[str, float] = field(default_factory=dict)

    def set_methane(self, vol_percent: float) -> None:
        self.scenario.levels[METHANE] = vol_percent
        # Apply now rather than at the runner's next 10 Hz update, so measured delays start here.
        self.mine.update(self.mine.elapsed_s())

    def standing(self) -> dict[str, AlarmEvent]:
        return {event.alarm_id: event for event in self.gateway.alarms.snapshot()}

    def coil_writes(self, output: str) -> list[CoilWrite]:
        return [w for w in self.mine.coil_log.entries(RELAYS) if w.coil == COILS[output]]

    def last_coil(self, output: str) -> bool | None:
        writes = self.coil_writes(output)
        return writes[-1].value if writes else None


@contextlib.asynccontextmanager
async def running_site(config: SectionConfig) -> AsyncIterator[Site]:
    """The simulated mine and the gateway for ``config`` in this event loop, stopped cleanly afterwards."""
    loaded = load_config(config.path)
    scenario = ScriptedSection(loaded.spec)
    scenario.levels[METHANE] = METHANE_CLEAN
    mine = SimulatedMine(loaded.spec, scenario, clock=SystemClock(), pty_links=pty_links_for(loaded.spec))
    await mine.start()
    mine_task = asyncio.create_task(mine.run(), name="simulated-mine")
    gateway: RecordingGateway | None = None
    gateway_task: asyncio.Task[None] | None = None
    stop = asyncio.Event()
    try:
        gateway = RecordingGateway(loaded)
        gateway_task = asyncio.create_task(gateway.run(stop), name="gateway")
        yield Site(config, loaded, mine, scenario, gateway)
    finally:
        stop.set()
        try:
            if gateway_task is not None:
                async with asyncio.timeout(15.0):
                    await gateway_task  # re-raises whatever the gateway died of
        finally:
            mine_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await mine_task
            await mine.stop()


async def wait_until(
    condition: Callable[[], T | None], *, what: str, timeout_s: float = STEP_DEADLINE_S, interval_s: float = 0.02
) -> T:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout_s:g} s")
        await asyncio.sleep(interval_s)


def wait_until_sync(
    condition: Callable[[], T | None], *, what: str, timeout_s: float = STEP_DEADLINE_S, interval_s: float = 0.05
) -> T:
    """``wait_until`` for tests that drive subprocesses and have no event loop."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout_s:g} s")
        time.sleep(interval_s)


async def gateway_started(site: Site) -> None:
    """Both transmitters report good readings and the relays hold their normal state on the module."""

    def ready() -> bool:
        latest = site.gateway.latest
        good = all(pid in latest and latest[pid].quality.value == "good" for pid in (METHANE, CO))
        energized = site.last_coil("power_trip") is True and site.last_coil("heartbeat") is True
        return good and energized and site.last_coil("siren") is False

    await wait_until(ready, what="good readings and energized power_trip/heartbeat coils", timeout_s=STARTUP_DEADLINE_S)


# ---- subprocesses ----------------------------------------------------------------------------------------


class Processes:
    """Subprocesses a test started; whatever is still running at teardown is killed by its own pid."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log_path = self._log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [PYTHON, "-m", "edge", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._log_dir,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self._started.append((process, log_path))
        return process

    def log_of(self, process: subprocess.Popen[bytes]) -> str:
        for started, path in self._started:
            if started is process:
                return path.read_text(encoding="utf-8", errors="replace")
        raise KeyError("not a process started here")

    def stop_all(self) -> None:
        for process, _ in reversed(self._started):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@contextlib.contextmanager
def processes(log_dir: Path) -> Iterator[Processes]:
    group = Processes(log_dir)
    try:
        yield group
    finally:
        group.stop_all()


def run_cli(*args: str, cwd: Path, timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
    """``python -m edge ARGS`` to completion, text output captured."""
    return subprocess.run(
        [PYTHON, "-m", "edge", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout_s,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def simulator_ready(loaded: LoadedConfig) -> bool:
    """Every TCP bus of ``loaded`` accepts connections and every RTU pty link exists."""
    for bus in loaded.spec.buses:
        if bus.kind.value == "rtu":
            if not Path(bus.port).exists():
                return False
        elif not port_open("127.0.0.1", bus.tcp_port):
            return False
    return True


def journal_rows(path: Path) -> list[dict[str, object]]:
    """Every journaled event, oldest first, read through a read-only connection (never recovers or writes)."""
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    try:
        rows = conn.execute("SELECT body FROM alarm_events ORDER BY seq").fetchall()
    except sqlite3.OperationalError:
        return []  # the gateway has not created the table yet
    finally:
        conn.close()
    return [dict(msgpack.unpackb(row[0], raw=False)) for row in rows]


def integrity(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()
