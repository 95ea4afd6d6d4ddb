"""Normal gateway-days: excursions that look like precursors, yet (with the defaults) rarely a statutory alarm."""

from __future__ import annotations

import time

import numpy as np
from hazard_fixtures import generator, normal_day

from edge.sim.hazard.operations import simulate_operations

LAYOUTS = (0, 1, 2, 3)


def test_cutting_cycles_drive_face_methane_excursions() -> None:
    gen = generator(1)
    episode = normal_day(0, 1)
    ops = simulate_operations(np.random.default_rng(0), gen.site, 86_400, 6 * 3600.0)
    cuts = ops.cut_starts_s.shape[0]
    assert 8 <= cuts <= 40  # two production shifts of 15-45 min cuts
    methane = episode.channel("ch4_face", clean=True)
    background = float(np.percentile(methane, 10))
    rises = np.flatnonzero(np.diff((methane > background + 0.1).astype(np.int8)) == 1)
    assert rises.shape[0] >= 5


def test_normal_days_rarely_cross_the_statutory_alarm() -> None:
    alarms = alerts = 0
    days = 0
    for layout in LAYOUTS:
        for index in range(2):
            episode = normal_day(index, layout)
            days += 1
            alarms += sum(len(episode.crossings[ch]["alarm"]) for ch in ("ch4_face", "ch4_return", "co_belt"))
            alerts += sum(len(episode.crossings[ch]["alert"]) for ch in ("ch4_face", "ch4_return", "co_belt"))
            peak = float(np.max(episode.channel("ch4_face", clean=True)))
            assert peak > 0.3  # cutting does move the face methane
    assert alarms <= 1
    assert alerts <= 4 * days  # alerts happen (diesel CO, a gassy cut) but are not a daily flood


def test_door_openings_and_fan_blips_dip_the_face_air() -> None:
    episode = normal_day(2, 0)
    air = episode.channel("airflow_face", clean=True)
    median = float(np.median(air))
    assert float(np.min(air)) < 0.85 * median


def test_a_gateway_day_generates_quickly() -> None:
    # Real speed is in benchmarks/hazard_generate.py; this bound allows for a loaded 2-core CI box.
    start = time.process_time()
    generator(0).normal_day(99)
    assert time.process_time() - start < 10.0
