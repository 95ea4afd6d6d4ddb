"""Windows: one miner, one shift, no gap per window; targets `horizon` records ahead; no leakage in PAPER."""

from __future__ import annotations

import numpy as np
import pytest
from loctrain_fixtures import PERIOD_S, SynthRecords, synth_records

from edge.localization.features import (
    FeatureSet,
    WindowSet,
    build_windows,
    raw_feature_mask,
)
from edge.sim.mine_layout import LayoutParams, MineLayout


def _sorted_track(rec: SynthRecords) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """miner -> (t, pillar index) sorted by time, for checking windows against the raw records."""
    out = {}
    for m in np.unique(rec.miner):
        rows = np.flatnonzero(rec.miner == m)
        rows = rows[np.argsort(rec.t[rows])]
        out[str(m)] = (rec.t[rows], rec.pillar[rows])
    return out


@pytest.mark.parametrize("features", list(FeatureSet))
@pytest.mark.parametrize("horizon", [1, 3])
def test_windows_stay_in_one_miner_shift_and_segment(features: FeatureSet, horizon: int) -> None:
    rec = synth_records(miners=3, shifts=2, steps=120, gap_miner=0)
    L = 8
    ws = build_windows(rec, window=L, horizon=horizon, features=features)
    tracks = _sorted_track(rec)
    assert ws.X.shape[:2] == (len(ws), L)
    assert ws.X.dtype == np.float32
    n_checked = 0
    for i in range(len(ws)):
        t, pillar = tracks[ws.miner_ids[ws.miner[i]]]
        e = int(np.searchsorted(t, ws.t_last[i]))
        assert t[e] == ws.t_last[i]
        span = t[e - L + 1 : e + horizon + 1]
        assert span.size == L + horizon  # the whole window and its target exist in this miner's track
        # no gap anywhere from the first record to the target, and one UTC day (shift)
        assert np.all(np.diff(span) <= 3 * PERIOD_S)
        assert len({int(v // 86_400) for v in span}) == 1
        # target: the pillar `horizon` records after the last one; last_pillar: the last record's
        assert ws.y[i] == pillar[e + horizon]
        assert ws.last_pillar[i] == pillar[e]
        n_checked += 1
    # every gap-free stretch of >= L + horizon records yields windows: 3 miners x 2 shifts, miner 0 split once
    per_track = 120 - L - horizon + 1
    gap_lo = 120 // 3  # records before the hole in miner 0's first shift
    gap_hi = 120 - gap_lo - 10
    expected = 5 * per_track + (gap_lo - L - horizon + 1) + (gap_hi - L - horizon + 1)
    assert n_checked == expected


def test_stride_keeps_every_nth_window_and_subset_is_consistent() -> None:
    rec = synth_records(miners=2, shifts=1, steps=100, gap_miner=None)
    full = build_windows(rec, window=5, features=FeatureSet.PAPER)
    strided = build_windows(rec, window=5, features=FeatureSet.PAPER, stride=4)
    assert len(strided) == sum((np.sum(full.miner == m) + 3) // 4 for m in np.unique(full.miner))
    assert set(strided.t_last.tolist()) <= set(full.t_last.tolist())
    sub = full.subset(np.array([3, 1]))
    assert isinstance(sub, WindowSet)
    assert len(sub) == 2
    assert np.array_equal(sub.X[0], full.X[3])
    assert sub.y[1] == full.y[1]
    assert sub.labels == full.labels


def test_paper_features_carry_no_pillar_or_position() -> None:
    """Leakage guard: the paper's inputs are speed, direction and time only. Two recordings that differ only
    in where the miner is (x, y, pillar) give identical PAPER windows."""
    rec = synth_records(miners=2, shifts=1, steps=60, gap_miner=None)
    moved = SynthRecords(
        miner=rec.miner,
        role=rec.role,
        t=rec.t,
        speed=rec.speed,
        direction_deg=rec.direction_deg,
        x=rec.x + 1000.0,
        y=rec.y + 500.0,
        pillar=(rec.pillar + 3) % len(rec.pillar_labels),
        pillar_labels=rec.pillar_labels,
    )
    a = build_windows(rec, window=6, features=FeatureSet.PAPER)
    b = build_windows(moved, window=6, features=FeatureSet.PAPER)
    assert a.feature_names == ["speed", "direction_deg", "hour_of_day"]
    assert np.array_equal(a.X, b.X)
    assert not np.array_equal(a.y, b.y)
    # hour of day: the synthetic shifts start at 09:00 UTC
    assert 9.0 <= float(a.X[..., 2].min()) < 9.1


def test_extended_features_with_layout_use_geometry_and_contacts() -> None:
    layout = MineLayout(LayoutParams(entries=4, crosscuts=6, refuge_crosscuts_outby=2))  # 3 x 5 = 15 pillars
    rng = np.random.default_rng(1)
    n = 15
    t = 1_750_032_000.0 + PERIOD_S * np.arange(n)
    # walk north along entry 1 at 2 m/s from crosscut 0 to 140 m: the pillar changes every 30 m
    y = 2.0 * PERIOD_S * np.arange(n, dtype=np.float64)
    x = np.full(n, 24.0)
    pillar = layout.pillar_index_at(x, y)

    class Rec:
        pass

    rec = Rec()
    rec.miner = np.array(["a"] * n)  # type: ignore[attr-defined]
    rec.role = np.array(["worker"] * n)  # type: ignore[attr-defined]
    rec.t = t  # type: ignore[attr-defined]
    rec.speed = np.full(n, 2.0) + rng.normal(0, 0.01, n)  # type: ignore[attr-defined]
    rec.direction_deg = np.zeros(n)  # type: ignore[attr-defined]
    rec.x, rec.y = x, y  # type: ignore[attr-defined]
    rec.pillar = pillar  # type: ignore[attr-defined]
    rec.pillar_labels = list(layout.pillar_ids)  # type: ignore[attr-defined]

    class Contacts:
        miner = np.array(["a"])
        gateway = np.array([layout.gateways[0].id])
        t_start = np.array([t[0]])
        t_end = np.array([t[10]])

    ws = build_windows(rec, window=4, features=FeatureSet.EXTENDED, layout=layout, contacts=Contacts())  # type: ignore[arg-type]
    names = ws.feature_names
    assert ws.labels == layout.pillar_ids
    assert ws.pillar_xy is not None
    assert ws.pillar_xy.shape == (15, 2)
    for f in ("vx", "vy", "role_worker", "geo_pillar_x", "geo_pillar_y", "contact_since_s", "geo_gateway_x"):
        assert f in names
    raw = raw_feature_mask(names)
    assert raw[names.index("geo_pillar_x")]
    assert not raw[names.index("speed")]
    # the geometric encoding of the last step equals the last pillar's centre in pillar_xy units
    last = ws.X[:, -1, :]
    gx, gy = names.index("geo_pillar_x"), names.index("geo_pillar_y")
    assert np.allclose(last[:, [gx, gy]], ws.pillar_xy[ws.last_pillar], atol=1e-6)
    # heading north: vy is the speed, vx zero
    assert np.allclose(last[:, names.index("vy")], last[:, names.index("speed")], atol=1e-5)
    assert np.allclose(last[:, names.index("vx")], 0.0, atol=1e-5)
    # time since the contact ended grows after t[10] and is capped
    since = last[:, names.index("contact_since_s")]
    assert since.min() == 0.0
    assert since.max() <= 600.0
    # dead reckoning: after a change, the estimated offset from the new centre starts near the boundary
    dy = names.index("est_dy_m")
    changed_now = ws.X[:, -1, names.index("since_change_s")] == 0
    seen = ws.X[:, -1, names.index("change_seen")] == 1
    assert np.all(np.abs(ws.X[changed_now & seen, -1, dy] + 15.0) < 1e-3)


def test_labels_default_and_unknown_pillar_refused() -> None:
    rec = synth_records(miners=2, shifts=1, steps=40, gap_miner=None)
    ws = build_windows(rec, window=4, features=FeatureSet.PAPER)
    assert ws.labels == [f"p{i}" for i in range(1, 9)]  # natural order, not p1, p10, p2
    with pytest.raises(ValueError, match="not in the label list"):
        build_windows(rec, window=4, features=FeatureSet.PAPER, labels=["p1", "p2"])
