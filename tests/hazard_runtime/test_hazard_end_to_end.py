"""End to end: a simulated fan stop produces an early warning before the statutory methane alarm.

The simulated mine runs as its own process (``minegate sim``, real Modbus TCP devices) playing the
``hazard_fan_stop`` scenario -- a generated auxiliary-fan stop, 40 story minutes of normal operation first -- 60x
faster than real time; the real gateway runs here on ``deploy/examples/hazard-demo.yaml`` with ``hazard.time_scale``
60 and the shipped ``models/hazard`` model. The test passes when ``hazard.gas_accumulation`` (WARNING, LOW) is
activated before ``ch4_face3:alarm`` (the statutory 1.5 % alarm) and prints the lead time.

``MINEGATE_E2E_HAZARD_MODEL=<dir>`` runs it on another model directory (e.g. a candidate export).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq.asyncio

from edge.alarms.events import AlarmEvent, Transition
from edge.app import Gateway
from edge.clock import SystemClock
from edge.config.resolve import LoadedConfig, load_config
from edge.inference.manifest import load_manifest
from edge.sim.hazard_playback import DEFAULT_LEAD_IN_S

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "deploy" / "examples" / "hazard-demo.yaml"
TIME_SCALE = 60.0
WARNING_ID = "hazard.gas_accumulation"
STATUTORY_ID = "ch4_face3:alarm"
STARTUP_MARGIN_S = 300.0  # story seconds the two processes may take to start (5 s wall at 60x)


class RecordingGateway(Gateway):
    def __init__(self, loaded: LoadedConfig, context: zmq.asyncio.Context) -> None:
        self.events: list[AlarmEvent] = []
        super().__init__(loaded, clock=SystemClock(), zmq_context=context)

    def _after_alarm_events(self, events: list[AlarmEvent]) -> None:
        self.events += events
        super()._after_alarm_events(events)

    def first(self, alarm_id: str) -> AlarmEvent | None:
        return next((e for e in self.events if e.alarm_id == alarm_id and e.transition is Transition.ACTIVATED), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp_path: Path, model_dir: Path, port: int) -> Path:
    text = DEMO.read_text()
    for old, new in (
        ("model_dir: ../../models/hazard", f"model_dir: {model_dir}"),
        ("time_scale: 30 ", f"time_scale: {TIME_SCALE:g} "),
        ("data_dir: ../../var/hazard-demo", f"data_dir: {tmp_path / 'data'}"),
        ("publish: tcp://127.0.0.1:5621", "publish: null"),
        ("control: tcp://127.0.0.1:5622", f"control: ipc://{tmp_path / 'control'}"),
        ("port: 15030", f"port: {port}"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "hazard-e2e.yaml"
    path.write_text(text)
    return path


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.mark.timeout(180)
async def test_fan_stop_warns_before_the_statutory_methane_alarm(tmp_path: Path) -> None:
    model_dir = Path(os.environ.get("MINEGATE_E2E_HAZARD_MODEL", REPO / "models" / "hazard"))
    if not (model_dir / "manifest.json").is_file():
        pytest.skip(f"{model_dir} has no manifest.json yet: the hazard model (models/hazard) is not exported")
    min_history = float(load_manifest(model_dir).parameters.get("min_history_s", 0.0))
    assert min_history + STARTUP_MARGIN_S <= DEFAULT_LEAD_IN_S, (
        f"the playback starts {DEFAULT_LEAD_IN_S} story s before the fan stop; the model wants {min_history} s of "
        "history plus the start-up margin"
    )
    port = free_port()
    config = write_config(tmp_path, model_dir, port)
    loaded = load_config(config)
    log = (tmp_path / "sim.log").open("wb")
    sim = subprocess.Popen(  # noqa: ASYNC220  (started once; waited for with a bounded poll below)
        [
            sys.executable,
            "-m",
            "edge",
            "sim",
            str(config),
            "--scenario",
            "hazard_fan_stop",
            "--time-scale",
            f"{TIME_SCALE:g}",
            "--duration",
            "170",
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    context = zmq.asyncio.Context()
    stop = asyncio.Event()
    runner: asyncio.Task[None] | None = None
    try:
        deadline = time.monotonic() + 20.0
        while not port_open(port):
            assert sim.poll() is None, (tmp_path / "sim.log").read_text()
            assert time.monotonic() < deadline, "simulated mine did not open its Modbus port"
            await asyncio.sleep(0.05)
        started = time.monotonic()
        gateway = RecordingGateway(loaded, context)
        assert gateway.hazard is not None, gateway.task_faults
        runner = asyncio.create_task(gateway.run(stop))
        # The fan stops DEFAULT_LEAD_IN_S story seconds in; the alarm follows within a few story minutes.
        limit = DEFAULT_LEAD_IN_S / TIME_SCALE + 60.0
        while gateway.first(STATUTORY_ID) is None:
            assert not runner.done(), runner.exception()
            assert time.monotonic() - started < limit, (
                f"no statutory alarm within {limit:.0f} s; hazard status {gateway.hazard.status()}"
            )
            await asyncio.sleep(0.05)
        statutory = gateway.first(STATUTORY_ID)
        warning = gateway.first(WARNING_ID)
        assert statutory is not None
        status = gateway.hazard.status()
        assert warning is not None, f"no early warning before the statutory alarm; hazard status {status}"
        lead_wall = statutory.t_mono - warning.t_mono
        print(  # noqa: T201  (the lead time is the figure this test reports)
            f"\nearly warning {lead_wall:.1f} s wall = {lead_wall * TIME_SCALE / 60:.1f} story min before the "
            f"statutory alarm ({status['decisions']} decisions, last {status['last_decision_s']:.3f} s)\n"
            f"  {warning.message}"
        )
        assert warning.signal.value == "warning"
        assert warning.priority.name == "LOW"
        assert not warning.statutory
        assert lead_wall > 0, "the warning must come before the statutory alarm"
        # the simulated mine reports every mapped transmitter: the warning came at the intact thresholds, not at a
        # dead channel's lower ones
        assert status["deciding_without"] == [], status
        assert status["model_dir"].endswith("models/hazard"), status  # the configured full-section model
    finally:
        stop.set()
        if runner is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(15.0):
                    await runner
        context.destroy(linger=0)
        if sim.poll() is None:
            sim.send_signal(signal.SIGTERM)
            try:
                sim.wait(timeout=10)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.wait()
        log.close()
