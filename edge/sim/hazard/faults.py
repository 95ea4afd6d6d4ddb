"""The sensor model: noise, resolution, range, and faults (dropout, stuck, drift, spikes) with their ground truth.

Noise and resolution per channel (``SENSOR_NOISE``) are typical of AMS transmitters: methane heads resolve
0.01 %vol, belt CO sensors 1 ppm, extensometers/telltale readers 0.1 mm; vibration RMS readings scatter ~6 % from
one reading to the next. Values outside the transmitter's range (``SensorChannel.low/high``) saturate at it.

Fault rates are per channel per day (``FaultRates``; no public statistics exist for AMS channel faults, so these
are engineering assumptions, scaled together by ``scale``):

* dropout (comm loss, the value is NaN): 0.5/day, log-normal length median 60 s, 5 s-4 h;
* stuck (a frozen reading, e.g. a blocked sinter or a hung transmitter): 0.05/day, median 30 min, 5 min-6 h;
* drift (calibration drift; AQ 1029 recalibrates catalytic heads every 15 days, 75.351 every 31 days): 20 % of
  channels drift by up to ~2 SD of ``SENSOR_NOISE.drift_per_day`` per day, started 0-3 days before the episode;
* spikes (EMI on a 4-20 mA loop, a knocked head): 0.5/day, 1-3 samples, 5-80 % of the span, mostly upward.

``fault_code`` records the truth per sample: 0 none, 1 dropout, 2 stuck, 3 drift, 4 spike (highest wins).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge.hazard.contract import SENSOR_CHANNELS
from edge.sim.hazard.dynamics import F64, intervals_to_mask, poisson_times

DAY_S = 86_400.0


class FaultCode:
    NONE = 0
    DROPOUT = 1
    STUCK = 2
    DRIFT = 3
    SPIKE = 4


FAULT_NAMES = {
    FaultCode.NONE: "none",
    FaultCode.DROPOUT: "dropout",
    FaultCode.STUCK: "stuck",
    FaultCode.DRIFT: "drift",
    FaultCode.SPIKE: "spike",
}


@dataclass(frozen=True)
class ChannelNoise:
    sd: float  # additive, in the channel's unit
    relative_sd: float  # multiplicative (log-normal sigma)
    resolution: float
    drift_per_day: float  # SD of the drift rate


SENSOR_NOISE: dict[str, ChannelNoise] = {
    "ch4_face": ChannelNoise(0.01, 0.0, 0.01, 0.05),
    "ch4_return": ChannelNoise(0.01, 0.0, 0.01, 0.05),
    "airflow_face": ChannelNoise(0.02, 0.03, 0.01, 0.02),
    "o2_face": ChannelNoise(0.03, 0.0, 0.01, 0.05),  # 75.320(b) allows +-0.5 % accuracy; short-term noise is less
    "co_belt": ChannelNoise(0.4, 0.0, 1.0, 1.0),
    "smoke_belt": ChannelNoise(0.001, 0.0, 0.001, 0.001),
    "temp_belt": ChannelNoise(0.05, 0.0, 0.1, 0.2),
    "vib_fan": ChannelNoise(0.02, 0.06, 0.01, 0.05),
    "bearing_temp_fan": ChannelNoise(0.2, 0.0, 0.1, 0.3),
    "vib_belt_drive": ChannelNoise(0.02, 0.06, 0.01, 0.05),
    "bearing_temp_belt_drive": ChannelNoise(0.2, 0.0, 0.1, 0.3),
    "roof_convergence": ChannelNoise(0.05, 0.0, 0.1, 0.0),
    "rock_pressure": ChannelNoise(0.05, 0.0, 0.1, 0.1),
    "barometric_pressure": ChannelNoise(0.05, 0.0, 0.1, 0.0),
}


@dataclass(frozen=True)
class FaultRates:
    dropout_per_day: float = 0.5
    stuck_per_day: float = 0.05
    drift_probability: float = 0.2
    spikes_per_day: float = 0.5
    scale: float = 1.0  # multiplies every rate (0 = perfect sensors)

    def __post_init__(self) -> None:
        for name in ("dropout_per_day", "stuck_per_day", "drift_probability", "spikes_per_day", "scale"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"FaultRates.{name} must be a finite number >= 0, got {value!r}")
        if self.drift_probability * self.scale > 1:
            raise ValueError(
                f"FaultRates.drift_probability x scale must be <= 1, got {self.drift_probability} x {self.scale}"
            )


@dataclass(frozen=True)
class Observed:
    values: NDArray[np.float32]  # (n, channels)
    fault_code: NDArray[np.int8]


def _lognormal_lengths(rng: np.random.Generator, count: int, median: float, lo: float, hi: float) -> F64:
    lengths: F64 = np.clip(rng.lognormal(np.log(median), 1.0, count), lo, hi)
    return lengths


def observe(
    rng: np.random.Generator,
    clean: F64,
    rates: FaultRates,
    *,
    forced_dropout_from: dict[int, int] | None = None,
) -> Observed:
    """What the transmitters report for the ``clean`` (n, channels) signals. ``forced_dropout_from`` maps a channel
    index to the sample from which it is dead (an instrument destroyed by a roof fall)."""
    n, channels = clean.shape
    if channels != len(SENSOR_CHANNELS):
        raise ValueError(f"clean signals have {channels} channels; the contract has {len(SENSOR_CHANNELS)}")
    values = np.empty((n, channels), dtype=np.float32)
    codes = np.zeros((n, channels), dtype=np.int8)
    t = np.arange(n, dtype=np.float64)
    duration = float(n)
    for c, channel in enumerate(SENSOR_CHANNELS):
        noise = SENSOR_NOISE[channel.name]
        code = codes[:, c]
        x = clean[:, c].astype(np.float64)
        if noise.drift_per_day > 0 and rng.random() < rates.drift_probability * rates.scale:
            rate = float(rng.normal(0.0, noise.drift_per_day * 2.0)) / DAY_S
            start = float(rng.uniform(-3 * DAY_S, duration))
            drifting = t >= start
            x = x + np.where(drifting, rate * (t - start), 0.0)
            code[drifting] = FaultCode.DRIFT
        if noise.relative_sd > 0:
            x = x * rng.lognormal(0.0, noise.relative_sd, n)
        x = x + rng.normal(0.0, noise.sd, n)
        x = np.round(x / noise.resolution) * noise.resolution
        x = np.clip(x, channel.low, channel.high)

        for start in poisson_times(rng, rates.stuck_per_day * rates.scale / DAY_S, duration):
            lo = int(start)
            hi = min(n, lo + int(_lognormal_lengths(rng, 1, 1800.0, 300.0, 6 * 3600.0)[0]))
            x[lo:hi] = x[lo]
            code[lo:hi] = FaultCode.STUCK

        span = channel.high - channel.low
        for start in poisson_times(rng, rates.spikes_per_day * rates.scale / DAY_S, duration):
            lo = int(start)
            hi = min(n, lo + int(rng.integers(1, 4)))
            sign = 1.0 if rng.random() < 0.8 else -1.0
            x[lo:hi] = np.clip(x[lo:hi] + sign * rng.uniform(0.05, 0.8) * span, channel.low, channel.high)
            code[lo:hi] = FaultCode.SPIKE

        starts = poisson_times(rng, rates.dropout_per_day * rates.scale / DAY_S, duration)
        lengths = _lognormal_lengths(rng, starts.shape[0], 60.0, 5.0, 4 * 3600.0)
        dead = intervals_to_mask(n, starts, lengths)
        if forced_dropout_from and c in forced_dropout_from:
            dead[forced_dropout_from[c] :] = True
        x[dead] = np.nan
        code[dead] = FaultCode.DROPOUT
        values[:, c] = x
    return Observed(values, codes)
