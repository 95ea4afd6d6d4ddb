"""The gateway as a real process (`python -m edge run`), against `python -m edge sim` in another process.

What only a process boundary can show: the alarm journal surviving ``kill -9``, standing alarms coming back
in a new process, and the relays left in their safe state when systemd stops the service with SIGTERM.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from integration_support import (
    COILS,
    METHANE_ALARM,
    METHANE_ALERT,
    RELAYS,
    STARTUP_DEADLINE_S,
    integrity,
    journal_rows,
    processes,
    run_cli,
    simulator_ready,
    wait_until_sync,
    write_section_config,
)

from edge.config.resolve import load_config
from edge.sim.coil_log import CoilWrite, read_coil_log

pytestmark = pytest.mark.integration

# methane_buildup at 10x: the fan stops at 1 s, the 1.0 % alert comes at about 2.9 s and the 1.5 % alarm at
# about 5.1 s of simulator time, methane is back under 1.0 % by about 12 s.
TIME_SCALE = "10"
SIGTERM_EXIT_DEADLINE_S = 8.0  # the gateway allows itself 5 s to confirm the safe state


def coil_states(path: Path) -> dict[str, list[CoilWrite]]:
    writes = read_coil_log(path) if path.exists() else []
    return {name: [w for w in writes if w.device_id == RELAYS and w.coil == coil] for name, coil in COILS.items()}


def test_journal_survives_kill_9_and_alarm_stands_after_restart(tmp_path: Path) -> None:
    config = write_section_config(tmp_path, field_kind="tcp")
    loaded = load_config(config.path)
    cfg = str(config.path)
    with processes(tmp_path) as procs:
        sim = procs.start(
            "sim", "sim", cfg, "--scenario", "methane_buildup", "--time-scale", TIME_SCALE, "--duration", "inf"
        )
        wait_until_sync(
            lambda: simulator_ready(loaded) or sim.poll() is not None, what="simulator", timeout_s=STARTUP_DEADLINE_S
        )
        assert sim.poll() is None, procs.log_of(sim)
        gateway = procs.start("gateway-1", "run", cfg)

        def alarm_journaled() -> list[dict[str, object]] | None:
            assert gateway.poll() is None, procs.log_of(gateway)
            rows = journal_rows(config.journal)
            activated = [r for r in rows if r["alarm_id"] == METHANE_ALARM and r["transition"] == "activated"]
            return rows if activated else None

        before_kill = wait_until_sync(alarm_journaled, what="methane alarm in the journal", timeout_s=30.0)
        gateway.send_signal(signal.SIGKILL)
        assert gateway.wait(timeout=5) == -signal.SIGKILL

        # The file a power cut or kill -9 leaves behind is intact and holds everything committed before.
        assert integrity(config.journal) == "ok"
        after_kill = journal_rows(config.journal)
        assert [r["seq"] for r in after_kill[: len(before_kill)]] == [r["seq"] for r in before_kill]
        transitions = {(r["alarm_id"], r["transition"]) for r in after_kill}
        assert (METHANE_ALERT, "activated") in transitions
        assert (METHANE_ALARM, "activated") in transitions
        seqs = [int(str(r["seq"])) for r in after_kill]
        assert seqs == sorted(set(seqs)), "seqs are unique and ordered"

        # A new gateway process brings the latched alarm back; the operator sees it with `alarms list`.
        restarted = procs.start("gateway-2", "run", cfg)

        def listed() -> str | None:
            assert restarted.poll() is None, procs.log_of(restarted)
            result = run_cli("alarms", "list", cfg, "--timeout", "1", cwd=tmp_path)
            return result.stdout if result.returncode == 0 else None

        listing = wait_until_sync(listed, what="`minegate alarms list` answering", timeout_s=STARTUP_DEADLINE_S)
        alarm_lines = [line for line in listing.splitlines() if METHANE_ALARM in line]
        assert alarm_lines, listing
        assert "LATCHED" in alarm_lines[0], listing

        # The restarted gateway keeps journaling after the killed one's last seq (never reusing one).
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(timeout=SIGTERM_EXIT_DEADLINE_S) == 0, procs.log_of(restarted)
        final = journal_rows(config.journal)
        assert integrity(config.journal) == "ok"
        assert [r["seq"] for r in final[: len(after_kill)]] == [r["seq"] for r in after_kill]
        assert "Traceback" not in procs.log_of(restarted), procs.log_of(restarted)


def test_sigterm_leaves_every_output_coil_safe(tmp_path: Path) -> None:
    config = write_section_config(tmp_path, field_kind="rtu")  # the gas transmitter on a pty, as in the demo
    loaded = load_config(config.path)
    cfg = str(config.path)
    coil_log = tmp_path / "coils.jsonl"
    with processes(tmp_path) as procs:
        sim = procs.start(
            "sim", "sim", cfg, "--scenario", "normal_shift", "--duration", "inf", "--coil-log", str(coil_log)
        )
        wait_until_sync(
            lambda: simulator_ready(loaded) or sim.poll() is not None, what="simulator", timeout_s=STARTUP_DEADLINE_S
        )
        assert sim.poll() is None, procs.log_of(sim)
        gateway = procs.start("gateway", "run", cfg)

        def energized() -> bool:
            assert gateway.poll() is None, procs.log_of(gateway)
            states = coil_states(coil_log)
            return all(states[name] and states[name][-1].value for name in ("power_trip", "heartbeat"))

        # Running normally: the fail-safe relays are held energized (so a False at the end means something).
        wait_until_sync(energized, what="power_trip and heartbeat energized", timeout_s=STARTUP_DEADLINE_S)
        status = run_cli("status", cfg, "--json", cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        assert '"quality": "good"' in status.stdout

        stopped_at = time.time()
        gateway.send_signal(signal.SIGTERM)
        try:
            code = gateway.wait(timeout=SIGTERM_EXIT_DEADLINE_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"gateway still running {SIGTERM_EXIT_DEADLINE_S} s after SIGTERM:\n{procs.log_of(gateway)}")
        took = time.time() - stopped_at
        print(f"\ngateway exited {code} {took * 1000:.0f} ms after SIGTERM")  # noqa: T201 - shutdown time, for the record
        assert code == 0, procs.log_of(gateway)

        # The simulator outlives the gateway, so its coil log shows what the relay module was left with.
        states = coil_states(coil_log)
        for name, writes in states.items():
            assert writes, f"{name}: never written"
            last = writes[-1]
            assert last.value is False, f"{name} (coil {COILS[name]}) left {last.value} after SIGTERM"
            assert last.t_wall >= stopped_at - 0.05, f"{name}: the safe-state write must come from the shutdown"
        assert "could not confirm the safe state" not in procs.log_of(gateway)
