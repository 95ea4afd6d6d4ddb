"""The logbook inside a running gateway: an entry through the endpoint and one through the folder reach
``Gateway.logbook.recent()``; ``minegate log`` (a real subprocess) writes and searches the same file meanwhile."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.app import ADVISORY_TASKS, Gateway
from edge.clock import SystemClock
from edge.config.issues import ConfigError
from edge.config.resolve import load_config
from edge.logbook.endpoint import send_entry
from edge.logbook.service import open_logbook_encoder

REPO = Path(__file__).resolve().parents[2]


async def _until(predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s")
        await asyncio.sleep(0.05)


def _config(tmp_path: Path, logbook: str) -> Path:
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"""gateway:
  id: gw-log
  jurisdiction: us_msha_coal
  data_dir: data
  publish: null
  control: ipc://{tmp_path}/control.sock
logbook:
{logbook}
""",
        encoding="utf-8",
    )
    return path


def _minegate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", *args],
        check=False,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_entries_through_the_endpoint_the_folder_and_the_cli_reach_recent(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/logbook.sock"
    config = _config(
        tmp_path,
        f"""  watch_dir: in
  poll: 100ms
  endpoint: {endpoint}
  encoder: hashed
  vocabulary:
    equipment: {{"main belt": BD-1}}""",
    )
    gateway = Gateway(load_config(config), clock=SystemClock())
    assert gateway.logbook is not None
    assert gateway.logbook.path == tmp_path / "data" / "logbook.sqlite"
    stop = asyncio.Event()
    run = asyncio.create_task(gateway.run(stop))
    try:
        reply = await asyncio.to_thread(
            send_entry, endpoint, {"text": "main belt tripped on high vibration, locked out", "incident": True}
        )
        assert reply["ok"] is True, reply
        (tmp_path / "in" / "shift.txt").write_text("AF-1 running rough after restart\n", encoding="utf-8")
        await _until(lambda: len(gateway.logbook.recent(0.0)) == 2 if gateway.logbook else False)

        added = await asyncio.to_thread(
            _minegate, "log", "add", "greased bearings on main belt", "--kind", "maintenance", "--config", str(config)
        )
        assert added.returncode == 0, added.stderr
        similar = await asyncio.to_thread(
            _minegate, "log", "similar", "main belt vibration trip", "-k", "2", "--config", str(config)
        )
        assert similar.returncode == 0, similar.stderr
        status = gateway.status()["logbook"]
        entries = [(e.text, e.equipment) for e in gateway.logbook.recent(0.0)]
    finally:
        stop.set()
        await run
    assert entries == [
        ("main belt tripped on high vibration, locked out", "BD-1"),
        ("AF-1 running rough after restart", "AF-1"),
        ("greased bearings on main belt", "BD-1"),  # the CLI used the config's site vocabulary too
    ]
    best = similar.stdout.splitlines()[1]
    assert "main belt tripped on high vibration" in best
    assert "INCIDENT" in best
    assert status["entries"] == 3
    assert status["endpoint"]["accepted"] == 1
    assert status["folder"]["added"] == 1
    assert status["encoder"].startswith("hashed-ngram")
    assert "logbook" in ADVISORY_TASKS
    assert gateway.safety_functions_ok()


def test_the_cli_refuses_a_long_entry_with_its_length_and_stores_nothing(tmp_path: Path) -> None:
    done = _minegate("log", "add", "z" * 161, "--data-dir", str(tmp_path))
    assert done.returncode == 2
    assert "161 characters" in done.stderr
    assert "at most 160" in done.stderr
    listed = _minegate("log", "list", "--data-dir", str(tmp_path))
    assert listed.stdout.strip() == "no entries"


def test_an_endpoint_off_the_gateway_is_refused_by_the_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must stay on the gateway"):
        load_config(_config(tmp_path, "  endpoint: tcp://0.0.0.0:5610"))


def test_a_missing_model_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no manifest\.json"):
        load_config(_config(tmp_path, "  encoder: models/nothing-here"))


def test_a_minilm_directory_without_its_onnx_file_falls_back_to_the_hashed_encoder(tmp_path: Path) -> None:
    (tmp_path / "minilm").mkdir()
    (tmp_path / "minilm" / "manifest.json").write_text("{}", encoding="utf-8")
    encoder, reason = open_logbook_encoder(str(tmp_path / "minilm"))
    assert encoder.name.startswith("hashed-ngram")
    assert reason is not None
    assert "make models" in reason
