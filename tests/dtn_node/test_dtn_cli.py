"""`minegate dtn keygen|node|sink|status` as a user runs them: processes, a real Mosquitto broker, a real MQTT
subscriber. A bundle put into a relay node reaches the broker as JSON on minegate/<source>/<kind>."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest
from dtn_node_fixtures import node_body, socket_dir, write_node_file

from edge.control import ControlError, request

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _minegate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args],
        check=False,
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _spawn(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "dtn", *args],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def mosquitto(workdir: Path) -> Iterator[int]:
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None)
    if binary is None:
        pytest.skip("install the Debian package mosquitto (apt-get install mosquitto)")
    port = _free_port()
    config = workdir / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n", encoding="utf-8")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            assert time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_ready(endpoint: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        with contextlib.suppress(ControlError):
            if request(endpoint, {"cmd": "dtn_status"}, timeout_s=0.5).get("ok"):
                return
    raise AssertionError(f"no node answering at {endpoint}")


async def test_keygen_node_sink_and_status_commands_end_to_end(tmp_path: Path) -> None:
    keygen = _minegate("dtn", "keygen", "--dir", "keys", "g1", "sink", cwd=tmp_path)
    assert keygen.returncode == 0, keygen.stderr
    assert "g1: secret keys/g1.key" in keygen.stdout
    again = _minegate("dtn", "keygen", "--dir", "keys", "g1", cwd=tmp_path)
    assert again.returncode == 2
    assert "already exists; pass --force" in again.stderr

    with socket_dir() as sockets, mosquitto(tmp_path) as port:
        sink_body = node_body("sink", sockets, role="surface", peers=[{"id": "g1"}])
        sink_body["sink"] = {"delivery_log": True}
        write_node_file(tmp_path / "sink.yaml", sink_body)
        g1_body = node_body("g1", sockets, hops=1, peers=[{"id": "sink", "endpoint": f"ipc://{sockets}/sink.sock"}])
        write_node_file(tmp_path / "g1.yaml", g1_body)
        bad = _minegate("dtn", "sink", "--config", "g1.yaml", cwd=tmp_path)
        assert bad.returncode == 2
        assert "`minegate dtn sink` runs a surface node" in bad.stderr

        processes = [
            _spawn(*args, cwd=tmp_path)
            for args in (
                ("sink", "--config", "sink.yaml", "--mqtt", f"mqtt://127.0.0.1:{port}"),
                ("node", "--config", "g1.yaml"),
            )
        ]
        try:
            for name, process in zip(("sink", "g1"), processes, strict=True):
                await asyncio.to_thread(_wait_ready, f"ipc://{sockets}/{name}.ctl", process)
            async with aiomqtt.Client("127.0.0.1", port) as client:
                await client.subscribe("minegate/#", qos=1)
                reply = await asyncio.to_thread(
                    request,
                    f"ipc://{sockets}/g1.ctl",
                    {
                        "cmd": "dtn_inject",
                        "bundles": [{"priority": "alarm", "kind": "alarm", "body": {"methane": 1.6}}],
                    },
                )
                bundle_id, accept = reply["results"][0]
                assert accept == "stored"
                async with asyncio.timeout(20):
                    message = await anext(aiter(client.messages))
            assert str(message.topic) == "minegate/g1/alarm"
            assert isinstance(message.payload, bytes)
            body = json.loads(message.payload)
            assert (body["id"], body["priority"], body["payload"]) == (bundle_id, "alarm", {"methane": 1.6})

            status = await asyncio.to_thread(_minegate, "dtn", "status", "sink.yaml", cwd=tmp_path)
            assert status.returncode == 0, status.stderr
            assert "DTN node sink (surface" in status.stdout
            assert "mqtt_connected True" in status.stdout
            as_json = await asyncio.to_thread(_minegate, "dtn", "status", "--json", "g1.yaml", cwd=tmp_path)
            assert json.loads(as_json.stdout)["contacts"][0]["acked"] == 1
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                output, _ = process.communicate(timeout=30)
                assert process.returncode == 0, output
    down = _minegate("dtn", "status", "g1.yaml", "--timeout", "0.5", cwd=tmp_path)
    assert down.returncode == 1
    assert "no answer" in down.stderr


def test_sim_passes_every_argument_to_the_simulation(tmp_path: Path) -> None:
    shown = _minegate("dtn", "sim", "--help", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "--policies" in shown.stdout  # the simulation's own help, not the wrapper's
