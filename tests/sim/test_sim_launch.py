"""``minegate sim``'s entry point: plays a scenario, links RTU ports, stops cleanly on SIGTERM."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from sim_fixtures import free_tcp_port, section_spec

from edge.config.resolved import GatewaySpec
from edge.sim.coil_log import read_coil_log
from edge.sim.launch import EXIT_CONFIG, EXIT_OK, pty_links_for, run_simulator, wire_framings

SIM_TESTS = Path(__file__).resolve().parent
REPO = SIM_TESTS.parents[1]


def _spec_with_rtu_port(port: str) -> GatewaySpec:
    return section_spec(tcp_port=free_tcp_port(), rtu_port=port)


def test_rtu_ports_become_links_except_hardware(tmp_path: Path) -> None:
    assert pty_links_for(_spec_with_rtu_port(str(tmp_path / "tty-belt"))) == {"belt": tmp_path / "tty-belt"}
    assert pty_links_for(_spec_with_rtu_port("/dev/ttyUSB0")) == {}
    assert pty_links_for(_spec_with_rtu_port("")) == {}


def test_wire_framing_uses_each_bus_framing_at_the_given_rate() -> None:
    spec = _spec_with_rtu_port("")
    spec = dataclasses.replace(spec, buses=tuple(dataclasses.replace(b, stop_bits=2) for b in spec.buses))
    framings = wire_framings(spec, 9600)
    assert framings is not None
    assert set(framings) == {"belt"}
    assert framings["belt"].baudrate == 9600
    assert framings["belt"].bits_per_char == 11  # 8N2 as configured
    assert wire_framings(spec, None) is None


def test_plays_the_scenario_for_the_duration_and_cleans_up(tmp_path: Path) -> None:
    link = tmp_path / "tty-belt"
    coil_log = tmp_path / "coils.jsonl"
    started = time.monotonic()
    code = run_simulator(
        _spec_with_rtu_port(str(link)),
        scenario_name="methane_buildup",
        time_scale=50.0,
        duration_s=0.5,
        coil_log=coil_log,
    )
    assert code == EXIT_OK
    assert time.monotonic() - started < 5.0
    assert not link.exists()
    assert read_coil_log(coil_log) == []


def test_unknown_scenario_is_a_configuration_error() -> None:
    assert run_simulator(_spec_with_rtu_port(""), scenario_name="no_such_story") == EXIT_CONFIG


def test_missing_replay_data_is_a_configuration_error(tmp_path: Path) -> None:
    code = run_simulator(_spec_with_rtu_port(""), scenario_name="mine_air_replay", data_path=tmp_path / "absent.csv")
    assert code == EXIT_CONFIG


def test_sigterm_stops_a_forever_run_and_removes_the_link(tmp_path: Path) -> None:
    link = tmp_path / "tty-belt"
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(SIM_TESTS)!r})
        from sim_fixtures import free_tcp_port, section_spec
        from edge.sim.launch import run_simulator
        spec = section_spec(tcp_port=free_tcp_port(), rtu_port={str(link)!r})
        sys.exit(run_simulator(spec, scenario_name="normal_shift", duration_s=float("inf")))
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO)
    try:
        deadline = time.monotonic() + 10.0
        while not link.is_symlink():
            assert process.poll() is None, f"simulator exited early with {process.returncode}"
            assert time.monotonic() < deadline, "the simulator did not link its RTU port within 10 s"
            time.sleep(0.05)
        assert os.readlink(link).startswith("/dev/pts/")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10.0) == EXIT_OK
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not link.exists()
