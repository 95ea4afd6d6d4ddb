"""The sensor model: fault rates as configured, ground-truth codes that match what the values show."""

from __future__ import annotations

import numpy as np
import pytest

from edge.hazard.contract import CHANNEL_INDEX, SENSOR_CHANNELS
from edge.sim.hazard.faults import SENSOR_NOISE, FaultCode, FaultRates, observe

DAYS = 20


def _clean(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    clean = np.empty((n, len(SENSOR_CHANNELS)))
    for c, channel in enumerate(SENSOR_CHANNELS):
        middle = channel.low + 0.3 * (channel.high - channel.low)
        clean[:, c] = middle + 0.01 * (channel.high - channel.low) * np.sin(np.arange(n) / 600.0 + rng.uniform(0, 6))
    return clean


def _starts(code: np.ndarray, kind: int) -> int:
    flagged = code == kind
    return int(np.sum(flagged[1:] & ~flagged[:-1]) + flagged[0])


def test_fault_counts_follow_the_rates() -> None:
    n = DAYS * 86_400
    rates = FaultRates(dropout_per_day=2.0, stuck_per_day=1.0, spikes_per_day=3.0, drift_probability=0.0)
    observed = observe(np.random.default_rng(1), _clean(n), rates)
    channels = len(SENSOR_CHANNELS)
    dropouts = sum(_starts(observed.fault_code[:, c], FaultCode.DROPOUT) for c in range(channels))
    spikes = sum(_starts(observed.fault_code[:, c], FaultCode.SPIKE) for c in range(channels))
    # Poisson counts over 20 channel-days x 14 channels; overlapping intervals merge, so allow a margin below.
    assert dropouts == pytest.approx(2.0 * DAYS * channels, rel=0.2)
    assert spikes == pytest.approx(3.0 * DAYS * channels, rel=0.2)
    assert (observed.fault_code == FaultCode.STUCK).any()


def test_codes_match_the_values() -> None:
    n = 3 * 86_400
    clean = _clean(n)
    observed = observe(np.random.default_rng(2), clean, FaultRates(scale=3.0))
    values, codes = observed.values, observed.fault_code
    np.testing.assert_array_equal(np.isnan(values), codes == FaultCode.DROPOUT)
    for c in range(values.shape[1]):
        stuck = np.flatnonzero(codes[:, c] == FaultCode.STUCK)
        if stuck.shape[0] > 1:
            run = stuck[: np.argmax(np.diff(stuck) > 1) or stuck.shape[0]]
            assert np.unique(values[run, c]).shape[0] == 1
    healthy = codes == FaultCode.NONE
    for c, channel in enumerate(SENSOR_CHANNELS):
        noise = SENSOR_NOISE[channel.name]
        error = np.abs(values[healthy[:, c], c] - clean[healthy[:, c], c])
        if error.shape[0] == 0:
            continue  # drifting for the whole episode
        bound = 6 * noise.sd + noise.resolution + 6 * noise.relative_sd * np.abs(clean[:, c]).max()
        assert error.max() <= bound, channel.name


def test_zero_scale_means_perfect_transmitters() -> None:
    observed = observe(np.random.default_rng(3), _clean(86_400), FaultRates(scale=0.0))
    assert not observed.fault_code.any()
    assert np.isfinite(observed.values).all()


def test_a_destroyed_instrument_stays_dead() -> None:
    column = CHANNEL_INDEX["roof_convergence"]
    observed = observe(
        np.random.default_rng(4), _clean(10_000), FaultRates(scale=0.0), forced_dropout_from={column: 4000}
    )
    assert np.isnan(observed.values[4000:, column]).all()
    assert np.isfinite(observed.values[:4000, column]).all()


def test_bad_rates_are_named() -> None:
    with pytest.raises(ValueError, match="dropout_per_day must be a finite number >= 0"):
        FaultRates(dropout_per_day=-1.0)
