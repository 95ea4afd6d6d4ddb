"""The status page tests' machinery: the demo mine's config on free ports, the simulated mine with a scenario and
a crew plus the real gateway in this event loop, a small HTTP client, and a strict Prometheus text parser."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import secrets
import socket
import sqlite3
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgpack
import yaml
import zmq.asyncio

from edge.app import Gateway
from edge.clock import SystemClock
from edge.config.resolve import LoadedConfig, load_config
from edge.sim.crew import CrewParams, CrewPublisher
from edge.sim.launch import pty_links_for
from edge.sim.mine_layout import MineLayout
from edge.sim.runner import SimulatedMine
from edge.sim.scenarios import make_scenario

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO_ROOT / "deploy" / "examples" / "demo-mine.yaml"
LOCALIZATION_MODEL = REPO_ROOT / "models" / "localization"
METHANE = "ch4_tg_mm12"
METHANE_ALARM = f"{METHANE}:alarm"
STARTUP_DEADLINE_S = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class DemoConfig:
    path: Path
    port: int
    token: str | None
    token_file: Path | None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def journal(self) -> Path:
        return self.path.parent / "data" / "alarms.sqlite"


def write_demo_config(
    directory: Path, *, token: str | None = None, extra: Callable[[dict[str, Any]], None] | None = None
) -> DemoConfig:
    """deploy/examples/demo-mine.yaml (with its status_page section) on free ports, its files in ``directory``."""
    config = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    config["gateway"].update(
        data_dir="data", publish=f"tcp://127.0.0.1:{free_port()}", control=f"tcp://127.0.0.1:{free_port()}"
    )
    for bus in config["buses"]:
        if bus["type"] == "rtu":
            bus["port"] = f"tty-{bus['id']}"
        else:
            bus["port"] = free_port()
    config["localization"].update(
        model_dir=str(LOCALIZATION_MODEL), source=f"tcp://127.0.0.1:{free_port()}", period="1s"
    )
    port = free_port()
    config["status_page"]["listen"] = f"127.0.0.1:{port}"
    token_file = None
    if token is not None:
        token_file = directory / "status-page.token"
        token_file.write_text(token + "\n", encoding="utf-8")
        token_file.chmod(0o600)
        config["status_page"]["ack_token_file"] = token_file.name
    if extra is not None:
        extra(config)
    path = directory / "demo.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return DemoConfig(path, port, token, token_file)


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class DemoSite:
    config: DemoConfig
    loaded: LoadedConfig
    mine: SimulatedMine
    gateway: Gateway
    crew: CrewPublisher | None

    def standing(self) -> set[str]:
        return {e.alarm_id for e in self.gateway.alarms.snapshot()}


@contextlib.asynccontextmanager
async def running_demo(
    config: DemoConfig, *, scenario: str, time_scale: float, crew: int = 0
) -> AsyncIterator[DemoSite]:
    """The simulated demo mine playing ``scenario``, an optional crew, and the real gateway, in this loop."""
    loaded = load_config(config.path)
    spec = loaded.spec
    mine = SimulatedMine(
        spec,
        make_scenario(scenario, spec, seed=1, time_scale=time_scale),
        clock=SystemClock(),
        pty_links=pty_links_for(spec),
    )
    await mine.start()
    tasks = [asyncio.create_task(mine.run(), name="simulated-mine")]
    publisher: CrewPublisher | None = None
    if crew and spec.localization is not None:
        publisher = CrewPublisher(
            MineLayout.load(Path(spec.localization.model_dir) / "layout.json"),
            CrewParams(nodes=crew, seed=5, time_scale=1.0, backfill_s=200.0),
            context=zmq.asyncio.Context.instance(),
            endpoint=spec.localization.source_endpoint,
            clock=SystemClock(),
        )
        tasks.append(asyncio.create_task(publisher.run(), name="crew"))
    stop = asyncio.Event()
    gateway = Gateway(loaded, clock=SystemClock())
    gateway_task = asyncio.create_task(gateway.run(stop), name="gateway")
    try:
        assert gateway.status_page is not None, gateway.task_faults
        async with asyncio.timeout(10.0):
            await gateway.status_page.listening.wait()
        yield DemoSite(config, loaded, mine, gateway, publisher)
    finally:
        stop.set()
        try:
            async with asyncio.timeout(15.0):
                await gateway_task
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await mine.stop()


async def wait_until(condition: Callable[[], T | None], *, what: str, timeout_s: float = STARTUP_DEADLINE_S) -> T:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout_s:g} s")
        await asyncio.sleep(0.05)


# ---- HTTP ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def _fetch(url: str, method: str, headers: dict[str, str], body: bytes | None) -> Answer:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310 (http on loopback)
    try:
        with urllib.request.urlopen(request, timeout=10.0) as response:  # noqa: S310
            return Answer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


async def fetch(
    url: str, *, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None
) -> Answer:
    """One request from a worker thread, so the gateway in this loop keeps serving it."""
    return await asyncio.to_thread(_fetch, url, method, dict(headers or {}), body)


def journal_events(path: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    try:
        rows = conn.execute("SELECT body FROM alarm_events ORDER BY seq").fetchall()
    finally:
        conn.close()
    return [dict(msgpack.unpackb(row[0], raw=False)) for row in rows]


# ---- Prometheus text format (0.0.4) ----------------------------------------------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*"'
_SAMPLE = re.compile(rf"^(?P<name>{_NAME})(?:\{{(?P<labels>{_LABEL}(?:,{_LABEL})*)?\}})? (?P<value>\S+)$")
_LABEL_ITEM = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"')
_VALUE = re.compile(r"^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|NaN|[+-]Inf)$")


def _unescape(value: str) -> str:
    return re.sub(r'\\(["\\n])', lambda m: {'"': '"', "\\": "\\", "n": "\n"}[m[1]], value)


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


def parse_prometheus(text: str) -> dict[str, list[Sample]]:
    """Every family's samples; fails on anything the exposition format does not allow (including a family whose
    samples are split, a TYPE after its samples, or a duplicate series)."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    families: dict[str, list[Sample]] = {}
    types: dict[str, str] = {}
    helps: set[str] = set()
    closed: set[str] = set()
    current: str | None = None
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert re.fullmatch(_NAME, name), f"line {number}: bad metric name in HELP: {line!r}"
            assert name not in helps, f"line {number}: second HELP for {name}"
            helps.add(name)
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            assert len(parts) == 4, f"line {number}: malformed TYPE: {line!r}"
            name, kind = parts[2], parts[3]
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), f"line {number}: type {kind}"
            assert name not in types, f"line {number}: second TYPE for {name}"
            assert name not in families, f"line {number}: TYPE for {name} after its samples"
            types[name] = kind
            continue
        assert line, f"line {number}: empty line"
        assert not line.startswith("#"), f"line {number}: unexpected comment {line!r}"
        match = _SAMPLE.match(line)
        assert match is not None, f"line {number}: not a sample line: {line!r}"
        name = match["name"]
        assert _VALUE.match(match["value"]), f"line {number}: bad value {match['value']!r}"
        if name != current:
            assert name not in closed, f"line {number}: samples of {name} are not together"
            if current is not None:
                closed.add(current)
            current = name
        labels = {k: _unescape(v) for k, v in _LABEL_ITEM.findall(match["labels"] or "")}
        key = (name, tuple(sorted(labels.items())))
        assert key not in seen, f"line {number}: duplicate series {key}"
        seen.add(key)
        families.setdefault(name, []).append(Sample(labels, float(match["value"].replace("Inf", "inf"))))
    for name, samples in families.items():
        assert name in types, f"{name} has samples but no TYPE"
        if types[name] == "counter":
            assert name.endswith("_total"), f"counter {name} must end in _total"
            assert all(s.value >= 0 or math.isnan(s.value) for s in samples), f"negative counter {name}"
    return families
