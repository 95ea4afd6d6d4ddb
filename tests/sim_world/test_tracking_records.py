"""Tracking records and gateway contacts: noise statistics, true labels, paused speed, contacts within range."""

from __future__ import annotations

import numpy as np
import pytest

from edge.sim.mine_layout import default_layout
from edge.sim.mobility import Activity, MobilityParams, Trajectory, simulate_days
from edge.sim.tracking import SensorNoise, gateway_contacts, sample_records

LAYOUT = default_layout()
T0 = 1_767_603_600.0  # 2026-01-05T09:00:00Z


def _walk_north_then_pause() -> Trajectory:
    """Along entry 1 from crosscut 0 to crosscut 20 at 1.2 m/s, then a one-hour task."""
    x = LAYOUT.nodes["e1c0"].x
    walk_s = 600.0 / 1.2
    return Trajectory(
        miner_id="m001",
        role="worker",
        day_index=0,
        t=np.array([T0, T0 + walk_s, T0 + walk_s + 3600.0]),
        x=np.array([x, x, x]),
        y=np.array([0.0, 600.0, 600.0]),
        activity=np.array([Activity.MOVING, Activity.TASK], dtype=np.int8),
        final_node="e1c20",
    )


def test_noise_statistics_and_true_labels() -> None:
    noise = SensorNoise(speed_sd_mps=0.1, direction_sd_deg=10.0, position_sd_m=2.0)
    tr = _walk_north_then_pause()
    records = sample_records([tr], LAYOUT, rng=np.random.default_rng(0), period_s=1.0, noise=noise)
    true_x, true_y, _, _, activity = tr.sample(records.t)
    moving = activity == Activity.MOVING
    assert moving.sum() > 400
    speed_error = records.speed[moving] - 1.2
    assert abs(speed_error.mean()) < 0.02
    assert 0.08 < speed_error.std() < 0.12
    direction_error = (records.direction_deg + 180.0) % 360.0 - 180.0  # heading is north (0 degrees)
    assert abs(direction_error.mean()) < 1.5
    assert 8.5 < direction_error.std() < 11.5
    assert np.all((records.direction_deg >= 0) & (records.direction_deg < 360))
    position_error = np.concatenate([records.x - true_x, records.y - true_y])
    assert 1.8 < position_error.std() < 2.2
    # The label is the pillar of the true position, whatever the noise.
    assert list(records.pillar_ids()) == [LAYOUT.pillar_at(a, b) for a, b in zip(true_x, true_y, strict=True)]
    # Standing still reports exactly zero speed.
    assert np.all(records.speed[~moving] == 0.0)


def test_records_are_on_the_period_grid_within_the_trajectory() -> None:
    tr = _walk_north_then_pause()
    records = sample_records([tr], LAYOUT, rng=np.random.default_rng(1), period_s=5.0)
    assert np.all(records.t % 5.0 == 0)
    assert records.t[0] >= tr.t[0]
    assert records.t[-1] <= tr.t[-1]
    assert np.all(np.diff(records.t) == 5.0)
    assert set(records.role.tolist()) == {"worker"}
    assert set(records.miner.tolist()) == {"m001"}


def test_without_noise_records_are_the_truth() -> None:
    tr = _walk_north_then_pause()
    records = sample_records([tr], LAYOUT, rng=np.random.default_rng(2), period_s=10.0, noise=SensorNoise(0, 0, 0))
    x, y, speed, heading, _ = tr.sample(records.t)
    np.testing.assert_allclose(records.x, x)
    np.testing.assert_allclose(records.y, y)
    np.testing.assert_allclose(records.speed, speed)
    np.testing.assert_allclose(records.direction_deg, heading)


def test_bad_noise_and_period_are_refused() -> None:
    with pytest.raises(ValueError, match="position_sd_m"):
        SensorNoise(position_sd_m=-1.0)
    with pytest.raises(ValueError, match="period_s"):
        sample_records([], LAYOUT, rng=np.random.default_rng(0), period_s=0.0)


def test_contacts_only_while_in_radio_range() -> None:
    trajectories = simulate_days(LAYOUT, MobilityParams(nodes=6), seed=4, days=1)
    contacts = gateway_contacts(trajectories, LAYOUT, step_s=1.0)
    assert contacts
    by_miner = {tr.miner_id: tr for tr in trajectories}
    gateway_index = {g.id: k for k, g in enumerate(LAYOUT.gateways)}
    for contact in contacts:
        tr = by_miner[contact.miner_id]
        assert contact.t_start <= contact.t_end
        inside = np.arange(contact.t_start, contact.t_end + 0.5, 1.0)
        x, y, *_ = tr.sample(inside)
        assert LAYOUT.gateway_coverage(x, y)[:, gateway_index[contact.gateway_id]].all()
        after = contact.t_end + 1.0
        if after <= tr.t[-1]:  # the contact ended because the miner left coverage
            x, y, *_ = tr.sample(np.array([after]))
            assert not LAYOUT.gateway_coverage(x, y)[0, gateway_index[contact.gateway_id]]
    # Every in-range moment is inside some contact (spot check).
    tr = trajectories[0]
    times = np.arange(np.ceil(tr.t[0]), tr.t[-1], 97.0)
    x, y, *_ = tr.sample(times)
    heard = LAYOUT.gateway_coverage(x, y)
    mine = [c for c in contacts if c.miner_id == tr.miner_id]
    for k, t in enumerate(times):
        for g in np.flatnonzero(heard[k]):
            gateway_id = LAYOUT.gateways[g].id
            assert any(c.gateway_id == gateway_id and c.t_start <= t <= c.t_end for c in mine)
