"""`minegate doctor` against real things: a pseudo-terminal as the serial port, a missing port, a copy of the shipped
location model with a corrupted file, the simulator's relay module answering a coil read and then gone, DTN keys
made by keygen, and the command line's JSON and exit code."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.clock import FakeClock
from edge.config.resolve import load_config
from edge.doctor import (
    Finding,
    Status,
    _emmc_wear,
    check_clock,
    check_dtn_keys,
    check_model_dir,
    check_relay_modules,
    check_serial_ports,
    exit_code,
    render,
)
from edge.dtn.keys import generate

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _write_config(tmp_path: Path, *, serial_port: str, tcp_port: int, extra: str = "") -> Path:
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"""gateway:
  id: gw-doc
  jurisdiction: us_msha_coal
  data_dir: data
  publish: null
  control: tcp://127.0.0.1:{_free_port()}
buses:
  - {{id: rs485-1, type: rtu, port: {serial_port}, baudrate: 19200, parity: N, timeout: 200ms}}
  - {{id: lan, type: tcp, host: 127.0.0.1, port: {tcp_port}, timeout: 300ms}}
devices:
  - id: ch4
    bus: rs485-1
    unit: 1
    profile: honeywell_xnx
    location: face
    points:
      gas: {{id: ch4_face, unit: "%", range: [0, 5], rule: methane_working_place}}
  - {{id: relays, bus: lan, unit: 3, profile: generic_relay8, location: power centre}}
outputs:
  siren: {{device: relays, coil: 0}}
  power_trip: {{device: relays, coil: 2, fail_safe: true}}
{extra}""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def pty_port(tmp_path: Path) -> Iterator[Path]:
    """A real pseudo-terminal, linked where a config names its RS-485 adapter."""
    controller, terminal = os.openpty()
    link = tmp_path / "ttyRS485"
    link.symlink_to(os.ttyname(terminal))
    yield link
    os.close(terminal)
    os.close(controller)


def _by_check(findings: list[Finding], prefix: str) -> list[Finding]:
    return [f for f in findings if f.check.startswith(prefix)]


def test_a_present_pty_port_is_ok_and_a_missing_one_fails_with_the_fix(tmp_path: Path, pty_port: Path) -> None:
    spec = load_config(_write_config(tmp_path, serial_port=str(pty_port), tcp_port=1)).spec
    [present] = check_serial_ports(spec)
    assert present.status is Status.OK, present
    assert "readable/writable" in present.detail

    spec = load_config(_write_config(tmp_path, serial_port=str(tmp_path / "ttyUSB9"), tcp_port=1)).spec
    [missing] = check_serial_ports(spec)
    assert missing.status is Status.FAIL
    assert "does not exist" in missing.detail
    assert "plug the RS-485 adapter in" in missing.fix


def test_a_corrupted_model_file_is_named_with_the_fix(tmp_path: Path) -> None:
    copy = tmp_path / "models" / "localization"
    shutil.copytree(REPO / "models" / "localization", copy, ignore=shutil.ignore_patterns("*.pt", "*.npz"))
    findings = check_model_dir("localization", copy, configured=True)
    assert [f.status for f in findings] == [Status.OK], render(findings)
    assert "reference check pass" in findings[0].detail

    int8 = copy / "ours_w20_h1_int8.onnx"
    int8.write_bytes(int8.read_bytes()[:-64] + b"\0" * 64)  # same size, different bytes: a flipped SD-card block
    findings = check_model_dir("localization", copy, configured=True)
    [corrupt] = [f for f in findings if f.status is Status.FAIL]
    assert corrupt.check == "model localization ours_w20_h1_int8.onnx"
    assert "differs from the manifest" in corrupt.detail
    assert "install.sh" in corrupt.fix
    # The gateway still has a checked file to run (the int8 TFLite file): the model loads, the corrupt one is named.
    assert any(f.status is Status.OK and "int8.tflite" in f.detail for f in findings), render(findings)
    assert exit_code(findings) == 1


def test_the_relay_module_answers_from_the_simulator_and_fails_when_it_is_gone(tmp_path: Path, pty_port: Path) -> None:
    tcp_port = _free_port()
    config = _write_config(tmp_path, serial_port=str(pty_port), tcp_port=tcp_port)
    spec = load_config(config).spec
    [absent] = check_relay_modules(spec, timeout_s=0.3)
    assert absent.status is Status.FAIL
    assert "does not answer a coil read" in absent.detail
    assert "IP address" in absent.fix

    # The simulator serves the TCP bus's devices on loopback (the RTU bus is linked at its own pty, not ours).
    (tmp_path / "sim").mkdir()
    sim_config = _write_config(tmp_path / "sim", serial_port=str(tmp_path / "sim" / "tty"), tcp_port=tcp_port)
    process = subprocess.Popen(
        [sys.executable, "-m", "edge", "sim", str(sim_config), "--scenario", "normal_shift", "--duration", "30"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20.0
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", tcp_port)) == 0:
                    break
            assert process.poll() is None, f"simulator exited with {process.returncode}"
            assert time.monotonic() < deadline, "the simulator did not listen within 20 s"
            time.sleep(0.1)
        [answering] = check_relay_modules(spec, timeout_s=1.0)
        assert answering.status is Status.OK, answering
        assert "answers: coils 0-2" in answering.detail
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_dtn_keys_present_then_missing(tmp_path: Path, pty_port: Path) -> None:
    keys = tmp_path / "keys"
    for node in ("gw-doc", "sink"):
        generate(keys, node)
    dtn = """dtn:
  role: fixed
  hops_to_surface: 1
  keys_dir: keys
  listen: tcp://127.0.0.1:0
  peers:
    - {id: sink, endpoint: "tcp://127.0.0.1:7000"}
"""
    spec = load_config(_write_config(tmp_path, serial_port=str(pty_port), tcp_port=1, extra=dtn)).spec
    [ok] = check_dtn_keys(spec)
    assert ok.status is Status.OK, ok
    (keys / "sink.pub").unlink()
    [missing] = check_dtn_keys(spec)
    assert missing.status is Status.FAIL
    assert "sink" in missing.detail
    assert "minegate dtn keygen" in missing.fix


def test_a_clock_that_was_never_set_fails() -> None:
    finding = check_clock(FakeClock(start_wall=86_400.0))
    assert finding.status is Status.FAIL
    assert "1970-01-02" in finding.detail
    assert "date -u -s" in finding.fix


def test_sd_card_wear_registers(tmp_path: Path) -> None:
    device = tmp_path / "mmcblk0" / "device"
    device.mkdir(parents=True)
    assert _emmc_wear(tmp_path / "mmcblk0") is None  # most SD cards report nothing
    (device / "life_time").write_text("0x09 0x02\n", encoding="ascii")
    (device / "pre_eol_info").write_text("0x01\n", encoding="ascii")
    status, detail = _emmc_wear(tmp_path / "mmcblk0") or (Status.SKIP, "")
    assert status is Status.WARN
    assert "80-90 % of rated write life used" in detail
    (device / "pre_eol_info").write_text("0x03\n", encoding="ascii")
    assert (_emmc_wear(tmp_path / "mmcblk0") or (Status.SKIP, ""))[0] is Status.FAIL


def test_the_command_line_reports_json_and_exits_non_zero_on_failure(tmp_path: Path) -> None:
    config = _write_config(tmp_path, serial_port=str(tmp_path / "ttyUSB7"), tcp_port=_free_port())
    result = subprocess.run(
        [sys.executable, "-m", "edge", "doctor", str(config), "--json", "--no-models", "--relay-timeout", "0.3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    by_check = {f["check"]: f for f in report["findings"]}
    assert by_check["config"]["status"] == "OK"
    assert by_check["serial rs485-1"]["status"] == "FAIL"
    assert by_check["relay module relays"]["status"] == "FAIL"
    assert {"clock", "disk"} <= set(by_check)
    assert all(f["fix"] for f in report["findings"] if f["status"] == "FAIL")

    bad = tmp_path / "bad.yaml"
    bad.write_text("gateway: {id: x, jurisdiction: nowhere}\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "edge", "doctor", str(bad), "--no-models"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout.startswith("FAIL  config")
    assert "minegate check" in result.stdout
