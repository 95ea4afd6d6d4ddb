"""The camera feature stream: what a helmet / person detector reports per analysed frame, 0.2-1 Hz.

Truth first, then what the detector makes of it:

* Persons in view: Poisson counts, re-drawn every 45 s (people come and go), mean 20-50 % of the crew in a
  production shift, a quarter of that in the maintenance shift.
* Violations (only in ``people`` hazard events): bursts of 1-2 bare heads (30 s-10 min) and of 1-3 persons inside
  the hazard zone (unsupported roof, guarded belt drive area; 20 s-5 min) over a 20-90 min event.
* Camera health: dust settles on the lens while coal is cut (0.02-0.08 per hour), it is cleaned at most shift
  starts (70 %); outages (power, cable, blocked view) about once a day for a median 10 min, and 2 % of frames
  are dropped: those frames are ``valid = False`` with NaN features (masked modality).
* Detection: each true person is found with probability 0.6 + 0.35 * health; false person detections at
  0.05 + 0.3 * (1 - health) per frame; a hard hat is read as a bare head with probability
  0.005 + 0.05 * (1 - health)^2 per person (dust, low light, reflective stripes) and a person next to the zone
  is placed inside it with 0.003 + 0.02 * (1 - health): the false-warning bait of the camera modality. The helmet
  data in ../shared/data/helmet are surface scenes; underground detectors will do worse, not better.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge.hazard.contract import CAMERA_FIELDS, CAMERA_RATE_HZ
from edge.sim.hazard.dynamics import F64, intervals_to_mask, poisson_times
from edge.sim.hazard.operations import DAY_S, Operations
from edge.sim.hazard.site import SiteParams

F32 = NDArray[np.float32]


@dataclass
class ViolationEvent:
    onset_s: float
    end_s: float
    bare_head: NDArray[np.int64]  # true bare heads per second
    in_zone: NDArray[np.int64]  # true persons in the hazard zone per second
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> NDArray[np.bool_]:
        mask: NDArray[np.bool_] = (self.bare_head > 0) | (self.in_zone > 0)
        return mask


def violation_event(rng: np.random.Generator, onset_s: float, n: int) -> ViolationEvent:
    length = float(rng.uniform(20.0, 90.0)) * 60.0
    end = min(float(n), onset_s + length)
    bare = np.zeros(n, dtype=np.int64)
    zone = np.zeros(n, dtype=np.int64)
    bursts = 0
    for counts, lo, hi, most in ((bare, 30.0, 600.0, 2), (zone, 20.0, 300.0, 3)):
        for start in onset_s + poisson_times(rng, float(rng.uniform(2.0, 6.0)) / length, end - onset_s):
            duration = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
            counts[int(start) : int(min(end, start + duration))] += int(rng.integers(1, most + 1))
            bursts += 1
    if bursts == 0:  # an event always has at least one violation
        zone[int(onset_s) : int(min(end, onset_s + 60.0))] = 1
    return ViolationEvent(onset_s, end, bare, zone, {"length_s": length})


@dataclass(frozen=True)
class CameraStream:
    t_s: F64
    features: F32  # (frames, len(CAMERA_FIELDS)), NaN where not valid
    valid: NDArray[np.bool_]
    truth: F32  # (frames, 3): true persons, bare heads, persons in zone
    rate_hz: float


def simulate_camera(
    rng: np.random.Generator, site: SiteParams, ops: Operations, violation: ViolationEvent | None
) -> CameraStream:
    n = ops.shift.shape[0]
    rate = float(rng.uniform(*CAMERA_RATE_HZ))
    period = 1.0 / rate
    frames_t = np.arange(0.0, n - 1.0, period)
    frames_t = np.clip(frames_t + rng.uniform(-0.1, 0.1, frames_t.shape[0]) * period, 0.0, n - 1.0)
    frames_t.sort()
    idx = frames_t.astype(np.int64)

    view = float(rng.uniform(0.2, 0.5)) * site.crew_size
    mean = np.where(ops.production, view, np.where(ops.shift == 2, 0.25 * view, 0.1 * view))
    grid = np.arange(0, n, 45)
    counts = rng.poisson(mean[grid])
    persons = counts[idx // 45].astype(np.int64)
    bare_true = np.zeros_like(persons)
    zone_true = np.zeros_like(persons)
    if violation is not None:
        bare_true = violation.bare_head[idx]
        zone_true = violation.in_zone[idx]
        persons = np.maximum(persons, bare_true + zone_true)

    # Lens dust accumulates while cutting and is wiped at most shift starts.
    health_per_s = np.zeros(n)
    loss_rate = float(rng.uniform(0.02, 0.08)) / 3600.0
    shift_starts = np.flatnonzero(np.diff(ops.shift) != 0) + 1
    segments = np.concatenate([[0], shift_starts, [n]])
    level = float(rng.uniform(0.7, 1.0))
    for lo, hi in itertools.pairwise(segments):
        if lo > 0 and rng.random() < 0.7:
            level = float(rng.uniform(0.85, 1.0))
        dust = np.cumsum(ops.cutting[lo:hi]) * loss_rate
        health_per_s[lo:hi] = np.clip(level - dust, 0.05, 1.0)
        level = float(health_per_s[hi - 1])
    health = health_per_s[idx]

    p_detect = 0.6 + 0.35 * health
    seen = rng.binomial(persons, p_detect) + rng.poisson(0.05 + 0.3 * (1.0 - health))
    helmeted = np.maximum(persons - bare_true, 0)
    bare_seen = rng.binomial(bare_true, 0.9 * p_detect) + rng.binomial(helmeted, 0.005 + 0.05 * (1.0 - health) ** 2)
    outside = np.maximum(persons - zone_true, 0)
    zone_seen = rng.binomial(zone_true, p_detect) + rng.binomial(outside, 0.003 + 0.02 * (1.0 - health))
    running = ops.belt_running[idx].astype(np.float64)
    motion = (
        0.05
        + 0.35 * ops.cutting[idx]
        + 0.1 * running
        + 0.05 * np.minimum(persons, 5)
        + rng.normal(0.0, 0.03, idx.shape[0])
    ) * (0.5 + 0.5 * health)
    observed_health = np.clip(health + rng.normal(0.0, 0.02, idx.shape[0]), 0.0, 1.0)

    outage_starts = poisson_times(rng, 1.0 / DAY_S, float(n))
    outage_lengths = np.clip(rng.lognormal(np.log(600.0), 1.0, outage_starts.shape[0]), 60.0, 3 * 3600.0)
    down = intervals_to_mask(n, outage_starts, outage_lengths)[idx]
    valid = ~down & (rng.random(idx.shape[0]) >= 0.02)

    features = np.stack(
        [
            seen.astype(np.float64),
            bare_seen.astype(np.float64),
            zone_seen.astype(np.float64),
            np.clip(motion, 0.0, 1.0),
            observed_health,
        ],
        axis=1,
    ).astype(np.float32)
    if features.shape[1] != len(CAMERA_FIELDS):
        raise AssertionError("camera feature columns out of step with CAMERA_FIELDS")
    features[~valid] = np.nan
    truth = np.stack([persons, bare_true, zone_true], axis=1).astype(np.float32)
    return CameraStream(frames_t, features, valid, truth, rate)
