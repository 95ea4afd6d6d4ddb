"""The ventilation box model and the recurrence under it: exact against the ODE's closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.sim.hazard.dynamics import first_order, intervals_to_mask, linear_recurrence
from edge.sim.hazard.ventilation import box_model


def test_blocked_recurrence_equals_the_plain_loop() -> None:
    rng = np.random.default_rng(3)
    n = 12_345  # not a multiple of the block length
    decay = rng.uniform(0.0, 1.0, n)
    drive = rng.normal(0.0, 1.0, n)
    fast = linear_recurrence(decay, drive, 0.7)
    x, slow = 0.7, np.empty(n)
    for i in range(n):
        slow[i] = x
        x = max(decay[i], math.exp(-5.0)) * x + drive[i]
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)


def test_box_settles_at_make_over_air_plus_inflow() -> None:
    n = 20_000
    make, air, volume, inflow = 0.015, 5.0, 500.0, 0.0003
    c = box_model(np.full(n, make), np.full(n, air), volume, inflow, 0.0)
    assert c[-1] == pytest.approx(make / air + inflow, rel=1e-9)
    # First-order rise with time constant V/Q: 63.2 % of the way after tau.
    tau = int(volume / air)
    assert c[tau] == pytest.approx((make / air + inflow) * (1 - math.exp(-1)), rel=1e-9)


def test_fan_stop_raises_methane_at_the_rate_the_ode_gives() -> None:
    make, volume, design_air, residual = 0.012, 450.0, 4.0, 0.1
    steady = make / design_air
    stop = 3000
    n = stop + 20 * int(volume / (design_air * residual))  # 20 time constants after the stop
    air = np.where(np.arange(n) < stop, design_air, design_air * residual)
    c = box_model(np.full(n, make), air, volume, 0.0, steady)
    assert c[stop] == pytest.approx(steady, rel=1e-9)
    # dC/dt at the stop = (G - Q' C) / V
    expected_rate = (make - design_air * residual * steady) / volume
    measured = (c[stop + 10] - c[stop]) / 10
    assert measured == pytest.approx(expected_rate, rel=0.01)
    # and it heads for the new steady state G / Q'
    assert c[-1] == pytest.approx(make / (design_air * residual), rel=1e-6)


def test_first_order_follows_a_step_exactly() -> None:
    target = np.where(np.arange(1000) < 100, 0.0, 2.0)
    y = first_order(target, 50.0, 0.0)
    assert y[100] == 0.0
    assert y[150] == pytest.approx(2.0 * (1 - math.exp(-1)), rel=1e-12)


def test_interval_mask_is_half_open() -> None:
    mask = intervals_to_mask(10, np.array([2.0, 7.0]), np.array([3.0, 10.0]))
    assert mask.tolist() == [False, False, True, True, True, False, False, True, True, True]
