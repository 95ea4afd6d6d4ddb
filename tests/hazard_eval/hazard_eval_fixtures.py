"""Hand-made inputs for the hazard evaluation tests: events, warnings, tracks and synthetic episodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from edge.hazard.contract import CAMERA_FIELDS, CHANNEL_INDEX, CHANNEL_NAMES, HAZARD_TYPES, HazardType
from edge.sim.hazard.episode import Episode, HazardEvent
from export.hazard.warnings import RECOMMENDED_ACTIONS, DecisionTrack, HazardWarning

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
GAS = HazardType.GAS_ACCUMULATION
FIRE = HazardType.FIRE


def event(
    onset: float,
    deadline: float | None,
    end: float,
    hazard: HazardType = GAS,
    kind: str = "fan_stop",
) -> HazardEvent:
    return HazardEvent(
        hazard=hazard,
        kind=kind,
        onset_s=onset,
        end_s=end,
        location="f1",
        deadline_s=deadline,
        deadline_rule="ch4_face:alarm",
        crossings={},
    )


def warning(t: float, end: float | None = None, hazard: HazardType = GAS) -> HazardWarning:
    return HazardWarning(
        t_s=t,
        end_s=t + 60.0 if end is None else end,
        hazard=hazard,
        channel="ch4_face",
        time_to_threshold_s=None,
        score=1.0,
        evidence=(),
        action=RECOMMENDED_ACTIONS[hazard],
    )


def track(
    active_seconds: list[tuple[int, int]],
    n: int = 3600,
    hazard: HazardType = GAS,
    channel: str = "ch4_face",
    period: int = 1,
) -> DecisionTrack:
    """A track on a ``period`` s grid over ``n`` s, active on the given [start, stop) second ranges."""
    t = np.arange(0, n, period, dtype=np.float64)
    active = np.zeros(t.shape[0], dtype=bool)
    for start, stop in active_seconds:
        active[(t >= start) & (t < stop)] = True
    ttt = np.where(active, 600.0 - t % 600.0, np.nan)
    return DecisionTrack(hazard, channel, t, active, active.astype(np.float64), ttt, evidence=((channel, 1.0),))


def synthetic_episode(
    n: int,
    *,
    ch4: NDArray[np.float64] | None = None,
    events: list[HazardEvent] | None = None,
    episode_id: str = "toy",
    seed: int = 0,
    layout_seed: int = 0,
) -> Episode:
    """An episode with quiet, plausible values on every channel, ``ch4`` on the face methane channel, a camera
    that sees nobody, no logs."""
    base = {
        "ch4_face": 0.3,
        "ch4_return": 0.3,
        "airflow_face": 2.0,
        "o2_face": 20.9,
        "co_belt": 2.0,
        "smoke_belt": 0.001,
        "temp_belt": 22.0,
        "vib_fan": 1.0,
        "bearing_temp_fan": 40.0,
        "vib_belt_drive": 2.0,
        "bearing_temp_belt_drive": 40.0,
        "roof_convergence": 5.0,
        "rock_pressure": 20.0,
        "barometric_pressure": 1000.0,
    }
    sensors = np.empty((n, len(CHANNEL_NAMES)), dtype=np.float32)
    for name, value in base.items():
        sensors[:, CHANNEL_INDEX[name]] = value
    if ch4 is not None:
        sensors[:, CHANNEL_INDEX["ch4_face"]] = ch4
    camera_t = np.arange(0.0, float(n), 2.0)
    camera = np.zeros((camera_t.shape[0], len(CAMERA_FIELDS)), dtype=np.float32)
    camera[:, -1] = 1.0  # camera health
    return Episode(
        episode_id=episode_id,
        kind="normal" if not events else f"{events[0].hazard.value}/{events[0].kind}",
        seed=seed,
        layout_seed=layout_seed,
        index=0,
        jurisdiction="us_msha_coal",
        start_tod_s=0.0,
        sensor_t=np.arange(n, dtype=np.float64),
        sensors=sensors,
        sensors_clean=sensors.copy(),
        fault_code=np.zeros((n, len(CHANNEL_NAMES)), dtype=np.int8),
        camera_t=camera_t,
        camera=camera,
        camera_valid=np.ones(camera_t.shape[0], dtype=bool),
        camera_truth=np.zeros((camera_t.shape[0], 3), dtype=np.float32),
        hazard_active=np.zeros((n, len(HAZARD_TYPES)), dtype=bool),
        events=events or [],
        crossings={},
        logs=[],
        site={"co_ambient_ppm": 2.0},
        generator={},
    )
