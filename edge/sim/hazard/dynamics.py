"""Vectorised building blocks: first-order (box-model) responses and mean-reverting random processes.

Every physical process in this package is either a well-mixed box or a lag: ``dx/dt = (target - x) / tau``.
With the inputs held constant over each sample (the usual zero-order hold of a 1 s scan) the exact step is
``x[n+1] = target[n] + (x[n] - target[n]) * exp(-dt / tau[n])``, a linear recurrence. ``first_order`` solves it in
blocks with cumulative products so a day at 1 s costs a few milliseconds instead of a Python loop.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]

_BLOCK = 100
# exp(-5) per step over 100 steps keeps the block's cumulative product above ~1e-217 (no underflow); a time
# constant under 0.2 s is below the 1 s scan anyway, and such a lag is indistinguishable from none.
_MIN_DECAY = float(np.exp(-5.0))


def linear_recurrence(decay: F64, drive: F64, x0: float) -> F64:
    """``x[0] = x0``, ``x[n+1] = decay[n] * x[n] + drive[n]``; returns ``x[0..n-1]`` (same length as the inputs)."""
    n = decay.shape[0]
    if drive.shape[0] != n:
        raise ValueError(f"decay and drive must have the same length, got {n} and {drive.shape[0]}")
    if n == 0:
        return np.zeros(0)
    blocks = -(-n // _BLOCK)
    pad = blocks * _BLOCK - n
    a = np.concatenate([np.clip(decay, _MIN_DECAY, 1.0), np.ones(pad)]).reshape(blocks, _BLOCK)
    b = np.concatenate([drive, np.zeros(pad)]).reshape(blocks, _BLOCK)
    # Inside a block, with P[k] = a[0]...a[k-1]: x[k] = P[k] * (x_start + sum_{i<k} b[i] / P[i+1]).
    p_after = np.cumprod(a, axis=1)  # P[i+1]
    p_before = np.concatenate([np.ones((blocks, 1)), p_after[:, :-1]], axis=1)  # P[k]
    partial = np.cumsum(b / p_after, axis=1)
    partial_before = np.concatenate([np.zeros((blocks, 1)), partial[:, :-1]], axis=1)
    starts = np.empty(blocks)
    x = x0
    for j in range(blocks):  # one step per block: ~900 for a day at 1 s
        starts[j] = x
        x = p_after[j, -1] * (x + partial[j, -1])
    out = p_before * (starts[:, None] + partial_before)
    result: F64 = out.reshape(-1)[:n]
    return result


def first_order(target: F64, tau_s: F64 | float, x0: float, dt_s: float = 1.0) -> F64:
    """The lagged response of ``x`` to ``target`` with time constant ``tau_s`` (scalar or per sample)."""
    tau = np.broadcast_to(np.asarray(tau_s, dtype=np.float64), target.shape)
    decay = np.exp(-dt_s / np.maximum(tau, 1e-9))
    return linear_recurrence(decay, (1.0 - decay) * target, x0)


def ornstein_uhlenbeck(rng: np.random.Generator, n: int, *, sigma: float, tau_s: float, dt_s: float = 1.0) -> F64:
    """A stationary mean-zero process with standard deviation ``sigma`` and correlation time ``tau_s``."""
    decay = float(np.exp(-dt_s / tau_s))
    innovations = rng.normal(0.0, sigma * np.sqrt(1.0 - decay * decay), n)
    x0 = float(rng.normal(0.0, sigma))
    return linear_recurrence(np.full(n, decay), innovations, x0)


def smooth_noise(rng: np.random.Generator, n: int, *, sigma: float, period_s: float) -> F64:
    """Cheap low-frequency noise: Gaussian knots every ``period_s`` seconds, linearly interpolated."""
    knots = int(n / period_s) + 2
    values = rng.normal(0.0, sigma, knots)
    result: F64 = np.interp(np.arange(n) / period_s, np.arange(knots), values)
    return result


def intervals_to_mask(n: int, starts: F64, durations: F64) -> NDArray[np.bool_]:
    """A boolean mask of length ``n`` that is True inside each ``[start, start + duration)`` (seconds = samples)."""
    delta = np.zeros(n + 1, dtype=np.int64)
    lo = np.clip(np.floor(starts).astype(np.int64), 0, n)
    hi = np.clip(np.floor(starts + durations).astype(np.int64), 0, n)
    np.add.at(delta, lo, 1)
    np.add.at(delta, hi, -1)
    mask: NDArray[np.bool_] = np.cumsum(delta[:n]) > 0
    return mask


def poisson_times(rng: np.random.Generator, rate_per_s: float, duration_s: float) -> F64:
    """Event times of a homogeneous Poisson process on ``[0, duration_s)``."""
    count = int(rng.poisson(rate_per_s * duration_s))
    times: F64 = np.sort(rng.uniform(0.0, duration_s, count))
    return times
