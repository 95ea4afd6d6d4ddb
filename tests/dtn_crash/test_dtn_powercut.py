"""The power-cut simulation is honest: it loses exactly what was not fsynced, where copying files after kill -9
loses nothing. The DTN store keeps every bundle it acknowledged through it."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks._common import python_env
from benchmarks.powercut import ShimUnavailable, build_shim, restore, shim_env
from edge.clock import SystemClock
from edge.dtn.bundle import BundleId
from edge.dtn.store import BundleStore

CHILD = Path(__file__).resolve().parent / "powercut_child.py"


def _rows(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM t").fetchone()[0])
    except sqlite3.OperationalError:  # the table itself was never synced
        return 0
    finally:
        conn.close()


def _stored(path: Path, durable: bool) -> set[BundleId]:
    store = BundleStore(path, node_id="pc", capacity_bytes=1 << 24, clock=SystemClock(), durable=durable)
    try:
        return store.ids()
    finally:
        store.close()


def test_a_power_cut_discards_unsynced_writes_and_nothing_acknowledged(tmp_path: Path) -> None:
    try:
        library = build_shim(tmp_path / "shim")
    except ShimUnavailable as exc:
        pytest.skip(str(exc))
    data, undo = tmp_path / "data", tmp_path / "undo"
    env = {**python_env(), **shim_env(library, data, undo)}
    child = subprocess.Popen([sys.executable, str(CHILD), str(data)], stdout=subprocess.PIPE, env=env, text=True)
    assert child.stdout is not None
    acked: dict[str, list[str]] = {"off": [], "full": [], "durable": [], "volatile": []}
    for line in child.stdout:
        if line.strip() == "done":
            break
        name, value = line.split()
        acked[name].append(value)
    child.send_signal(signal.SIGKILL)
    child.wait()

    # What copying the files after kill -9 would show: every write, synced or not, is still there.
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    assert _rows(copy / "off.sqlite") == 200
    assert len(_stored(copy / "volatile.sqlite", durable=False)) == 200

    restored = restore(data, undo)
    assert restored.writes > 0
    assert _rows(data / "full.sqlite") == 200  # synchronous=FULL: every commit synced
    assert _rows(data / "off.sqlite") == 0  # synchronous=OFF: never synced, all gone
    durable_ids = {BundleId.parse(text) for text in acked["durable"]}
    assert len(durable_ids) == 200
    assert durable_ids <= _stored(data / "durable.sqlite", durable=True)  # every acknowledged bundle survives
    assert len(_stored(data / "volatile.sqlite", durable=False)) < 200  # durability off: acknowledged, then lost
