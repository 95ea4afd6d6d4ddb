"""Crash and partition test: 5 gateways and a surface sink as separate processes on loopback, SIGKILLed at random
moments and at the dangerous points of store and transfer, partitioned and restarted; every acknowledged bundle
reaches the sink exactly once, and alarms overtake bulk. A few iterations here; ``python -m benchmarks.dtn_crash``
runs 200+ and prints the figures.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks.dtn_crash import CrashSettings, run


def test_acknowledged_bundles_reach_the_sink_exactly_once_through_kills_and_partitions(tmp_path: Path) -> None:
    # Every second kill of a gateway is a power cut (its unsynced writes discarded) where the shim can be built.
    power_cuts = shutil.which("cc") is not None or shutil.which("gcc") is not None
    settings = CrashSettings(
        kills=8,
        power_cut_every=2 if power_cuts else 0,
        partition_every=4,
        clean_restart_every=5,
        kill_at={"stored": 0.002, "custody": 0.002, "removed": 0.002},
        settle_timeout_s=40.0,
        hol_bulk=500,
        seed=7,
    )
    report = run(tmp_path, settings)
    assert report.iterations == 8
    if power_cuts:
        assert report.power_cuts >= 1
    assert report.partitions == 2
    assert report.acknowledged > 200
    assert report.acknowledged_alarms > 5
    assert report.lost == []
    assert report.duplicates == []
    assert report.delivered == report.acknowledged

    # Alarms ahead of bulk. Flowing chain: an alarm injected after 500 bulk at the far end overtakes most of
    # them (only what had already reached the last hops goes first).
    flowing = report.hol["flowing"]
    assert flowing["alarm_delivered"]
    assert flowing["bulk_delivered"] == 500
    assert flowing["share_before_alarm"] < 0.5
    # Cut and restored: with the bulk held along the cut chain and the alarm behind it, the alarm goes first.
    restored = report.hol["cut_and_restored"]
    assert restored["alarm_delivered"]
    assert restored["bulk_before_alarm"] <= restored["bulk_held_nearer_surface"]
    assert restored["bulk_before_alarm"] == 0
