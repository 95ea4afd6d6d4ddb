"""Sliding windows over movement records: the model inputs of the localization task.

Shared by training (``export/``) and the gateway (``edge.localization.task``), so both compute the same
features: numpy only, no torch.

A window is ``L`` consecutive records of ONE miner within ONE shift; a window never spans a gap longer than
``GAP_PERIODS`` sampling periods (the track is split there, because what happened in the gap is unknown and
the window's time axis would lie). The target is the pillar ``horizon`` records after the window's last one.

Two feature sets:

- ``PAPER``: what the paper's model sees per step: speed (m/s), direction (degrees clockwise from north, as
  in the records) and time as *hour of day* (fractional hours of the mine's local clock: ``timezone``, UTC by
  default). The paper converted its seconds timestamp to hours of the (09:00-17:00) shift's clock, which is
  this. No pillar or
  position information of any kind (the leakage guard in the tests checks it).
- ``EXTENDED``: ours, everything the records allow: speed, sin/cos of direction, velocity components,
  hour of day, role one-hot, the last-known pillar of each step (its centre from the layout, so a model can
  generalise across pillars; a raw pillar index for a learned embedding when no layout is given), the
  dead-reckoned displacement since the miner last changed pillar, where the miner entered the current pillar
  (relative to its centre), time since that change, and with contact events the time since the last gateway
  contact and that gateway's position.

Columns whose name starts with ``geo_`` (layout coordinates scaled to about [0, 1] by one common factor, so
distances keep their aspect ratio) or equals ``pillar_idx`` are *raw*: training does not standardise them,
because the "ours" model reads them as coordinates / indices (see ``raw_feature_mask``).
"""

from __future__ import annotations

import datetime as dt
import enum
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from edge.sim.mine_layout import MineLayout

# A pause longer than this many median sampling periods splits a track (a dropped radio link, a shift end).
GAP_PERIODS = 3.0
# Times since an event are capped: beyond ten minutes "long ago" is all a model needs, and an uncapped
# feature would be dominated by a few huge values after standardisation.
TIME_CAP_S = 600.0
DAY_S = 86_400.0

RAW_PREFIX = "geo_"
PILLAR_INDEX_FEATURE = "pillar_idx"


def check_timezone(name: str) -> dt.tzinfo:
    """The mine's time zone by IANA name ("UTC", "Australia/Sydney", ...), or a ValueError saying what is allowed."""
    if name == "UTC":
        return dt.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as 'UTC', 'Australia/Sydney' or 'America/Denver' "
            "(the system's tz database, package tzdata)"
        ) from None


# Every UTC offset in use is a multiple of 15 minutes and changes on a quarter hour: one lookup per quarter
# hour of the data gives each record its offset, daylight saving included, without a per-record call.
_OFFSET_STEP_S = 900.0


def local_clock(t: NDArray[np.float64], timezone: str = "UTC") -> NDArray[np.float64]:
    """Epoch seconds as seconds on the mine's local wall clock (``mod DAY_S`` is the local time of day).

    Hour of day and shift days follow the local clock: a mine's 07:00 shift is 07:00 in its records whatever
    the offset, and a day shift is not cut in two at UTC midnight."""
    zone = check_timezone(timezone)
    if zone is dt.UTC or t.size == 0:
        return t
    buckets = np.floor(t / _OFFSET_STEP_S)
    unique, inverse = np.unique(buckets, return_inverse=True)
    offsets = np.array([_utc_offset_s(float(b) * _OFFSET_STEP_S, zone) for b in unique], dtype=np.float64)
    return np.asarray(t + offsets[inverse], dtype=np.float64)


def _utc_offset_s(epoch_s: float, zone: dt.tzinfo) -> float:
    offset = dt.datetime.fromtimestamp(epoch_s, tz=zone).utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


class FeatureSet(enum.StrEnum):
    PAPER = "paper"
    EXTENDED = "extended"


class RecordsLike(Protocol):
    """The columns ``build_windows`` needs (``export.localization.dataset.Records`` provides them)."""

    @property
    def miner(self) -> NDArray[Any]: ...  # (N,) miner ids (str or int)
    @property
    def role(self) -> NDArray[Any]: ...  # (N,) role names (str)
    @property
    def t(self) -> NDArray[np.float64]: ...  # (N,) epoch seconds
    @property
    def speed(self) -> NDArray[np.float64]: ...  # (N,) m/s
    @property
    def direction_deg(self) -> NDArray[np.float64]: ...  # (N,) clockwise from north
    @property
    def x(self) -> NDArray[np.float64]: ...  # (N,) metres, NaN when the file has none
    @property
    def y(self) -> NDArray[np.float64]: ...
    @property
    def pillar(self) -> NDArray[np.int64]: ...  # (N,) codes into pillar_labels
    @property
    def pillar_labels(self) -> list[str]: ...


class ContactsLike(Protocol):
    """Gateway contact events: one row per contact interval of a miner with a fixed gateway."""

    @property
    def miner(self) -> NDArray[Any]: ...
    @property
    def gateway(self) -> NDArray[Any]: ...
    @property
    def t_start(self) -> NDArray[np.float64]: ...
    @property
    def t_end(self) -> NDArray[np.float64]: ...


@dataclass(frozen=True)
class WindowSet:
    X: NDArray[np.float32]  # (N, L, F), not normalised
    y: NDArray[np.int64]  # (N,) index into labels of the pillar at the target record
    last_pillar: NDArray[np.int64]  # (N,) index of the pillar at the window's last record
    miner: NDArray[np.int64]  # (N,) miner code (index into miner_ids)
    shift: NDArray[np.int64]  # (N,) shift (UTC day) index, 0 = first day in the records
    t_last: NDArray[np.float64]  # (N,) epoch s of the window's last record
    target_xy: NDArray[np.float32]  # (N, 2) true x, y at the target record (NaN without positions)
    feature_names: list[str]
    labels: list[str]
    window: int
    horizon: int
    # (C, 2) pillar centres in the geo_ units of the features, in label order; None without a layout.
    pillar_xy: NDArray[np.float32] | None = None
    miner_ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def changed(self) -> NDArray[np.bool_]:
        """Windows whose target pillar differs from the last known one (where carrying it forward fails)."""
        out: NDArray[np.bool_] = self.y != self.last_pillar
        return out

    def subset(self, idx: NDArray[Any]) -> WindowSet:
        return replace(
            self,
            X=self.X[idx],
            y=self.y[idx],
            last_pillar=self.last_pillar[idx],
            miner=self.miner[idx],
            shift=self.shift[idx],
            t_last=self.t_last[idx],
            target_xy=self.target_xy[idx],
        )


def raw_feature_mask(feature_names: Sequence[str]) -> NDArray[np.bool_]:
    """True for features that must not be standardised (layout coordinates, pillar indices)."""
    return np.array([n.startswith(RAW_PREFIX) or n == PILLAR_INDEX_FEATURE for n in feature_names], dtype=bool)


@dataclass(frozen=True)
class _GeoFrame:
    """Maps metres to geo_ units: (v - origin) / scale with one scale for both axes."""

    origin: NDArray[np.float64]
    scale: float

    def apply(self, xy: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = (xy - self.origin) / self.scale
        return out


def geo_frame(layout: MineLayout) -> _GeoFrame:
    centres = layout.pillar_centres()
    lo = centres.min(axis=0)
    span = float(np.max(centres.max(axis=0) - lo))
    return _GeoFrame(origin=lo, scale=span if span > 0 else 1.0)


def _natural_key(label: str) -> tuple[str, int, str]:
    head = label.rstrip("0123456789")
    tail = label[len(head) :]
    return (head, int(tail) if tail else -1, label)


def _segments(miner_code: NDArray[np.int64], shift: NDArray[np.int64], t: NDArray[np.float64]) -> NDArray[np.int64]:
    """Segment id per (sorted) record: a new segment at a new miner, a new shift, or a gap."""
    n = t.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    dt = np.diff(t)
    same = (miner_code[1:] == miner_code[:-1]) & (shift[1:] == shift[:-1])
    positive = dt[same & (dt > 0)]
    period = float(np.median(positive)) if positive.size else 1.0
    brk = ~same | (dt > GAP_PERIODS * period) | (dt <= 0)
    return np.concatenate([[0], np.cumsum(brk)]).astype(np.int64)


def _since_change(
    seg: NDArray[np.int64], pillar: NDArray[np.int64], t: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Per record: index of the record at which the current pillar stay began (within the segment), and
    whether that start is an observed change (False when the stay began at the segment start)."""
    n = t.shape[0]
    start_flag = np.ones(n, dtype=bool)
    if n > 1:
        start_flag[1:] = (seg[1:] != seg[:-1]) | (pillar[1:] != pillar[:-1])
    observed = np.zeros(n, dtype=bool)
    if n > 1:
        observed[1:] = (seg[1:] == seg[:-1]) & (pillar[1:] != pillar[:-1])
    idx = np.where(start_flag, np.arange(n), 0)
    stay_start = np.maximum.accumulate(idx).astype(np.int64)
    return stay_start, observed[stay_start]


def _contact_features(
    contacts: ContactsLike,
    miner_ids: list[str],
    miner_code: NDArray[np.int64],
    t: NDArray[np.float64],
    gateway_xy: dict[str, tuple[float, float]] | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Per record: capped time since the last gateway contact (0 while in contact), an "ever contacted" flag,
    and the (x, y) in metres of that gateway (NaN when unknown). Only contacts that began at or before the
    record are used (causal)."""
    n = t.shape[0]
    since = np.full(n, TIME_CAP_S)
    seen = np.zeros(n)
    gxy = np.full((n, 2), np.nan)
    index = {m: i for i, m in enumerate(miner_ids)}
    c_miner = np.array([index.get(str(m), -1) for m in contacts.miner], dtype=np.int64)
    c_start = np.asarray(contacts.t_start, dtype=np.float64)
    c_end = np.asarray(contacts.t_end, dtype=np.float64)
    c_gw = np.asarray([str(g) for g in contacts.gateway])
    for code in np.unique(miner_code):
        rows = np.flatnonzero(miner_code == code)
        mine = np.flatnonzero(c_miner == code)
        if mine.size == 0:
            continue
        order = mine[np.argsort(c_start[mine], kind="stable")]
        starts = c_start[order]
        # The contact in force or most recently begun at each record time.
        k = np.searchsorted(starts, t[rows], side="right") - 1
        ok = k >= 0
        kk = order[k[ok]]
        r = rows[ok]
        # A later-starting contact can end earlier than an overlapping one; the latest start is what a
        # gateway log shows as "last heard by".
        since[r] = np.clip(t[r] - c_end[kk], 0.0, TIME_CAP_S)
        seen[r] = 1.0
        if gateway_xy is not None:
            xy = np.array([gateway_xy.get(g, (np.nan, np.nan)) for g in c_gw[kk]], dtype=np.float64)
            gxy[r] = xy.reshape(-1, 2)
    return since, seen, gxy


@dataclass(frozen=True)
class StepFeatures:
    """Per-record features of every track, sorted by miner then time (what windows are cut from)."""

    values: NDArray[np.float32]  # (N, F)
    names: list[str]
    labels: list[str]
    pillar: NDArray[np.int64]  # (N,) label index of each record's pillar
    seg: NDArray[np.int64]  # (N,) track segment id (a window never spans two)
    t: NDArray[np.float64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    miner_code: NDArray[np.int64]
    miner_ids: list[str]
    shift: NDArray[np.int64]


def step_features(
    records: RecordsLike,
    *,
    features: FeatureSet,
    layout: MineLayout | None = None,
    contacts: ContactsLike | None = None,
    labels: list[str] | None = None,
    timezone: str = "UTC",
) -> StepFeatures:
    """The features of every record; training windows and the gateway's live windows both cut from these.

    ``timezone`` is the mine's local clock (IANA name): hour of day and shift days are read on it."""
    features = FeatureSet(features)
    # Sort by miner, then time; everything below is per sorted record.
    miner_raw = np.asarray([str(m) for m in records.miner])
    miner_ids = sorted(set(miner_raw.tolist()), key=_natural_key)
    mindex = {m: i for i, m in enumerate(miner_ids)}
    miner_code_all = np.array([mindex[m] for m in miner_raw], dtype=np.int64)
    t_all = np.asarray(records.t, dtype=np.float64)
    order = np.lexsort((t_all, miner_code_all))
    miner_code = miner_code_all[order]
    t = t_all[order]
    speed = np.asarray(records.speed, dtype=np.float64)[order]
    direction = np.asarray(records.direction_deg, dtype=np.float64)[order]
    role = np.asarray([str(r) for r in records.role])[order]
    xs = np.asarray(records.x, dtype=np.float64)[order]
    ys = np.asarray(records.y, dtype=np.float64)[order]

    rec_labels = list(records.pillar_labels)
    if labels is None:
        labels = list(layout.pillar_ids) if layout is not None else sorted(set(rec_labels), key=_natural_key)
    lindex = {p: i for i, p in enumerate(labels)}
    unknown = sorted(set(rec_labels) - set(lindex))
    codes_used = np.unique(np.asarray(records.pillar, dtype=np.int64))
    unknown_used = [rec_labels[c] for c in codes_used if rec_labels[c] in unknown]
    if unknown_used:
        raise ValueError(f"records use pillars not in the label list: {unknown_used[:10]}")
    remap = np.array([lindex.get(p, -1) for p in rec_labels], dtype=np.int64)
    pillar = remap[np.asarray(records.pillar, dtype=np.int64)[order]]

    local_t = local_clock(t, timezone)
    shift_day = np.floor(local_t / DAY_S).astype(np.int64)
    shift = shift_day - (shift_day.min() if shift_day.size else 0)
    seg = _segments(miner_code, shift, t)

    names: list[str] = []
    cols: list[NDArray[np.float64]] = []

    def add(name: str, values: NDArray[np.float64]) -> None:
        names.append(name)
        cols.append(values)

    rad = np.deg2rad(direction)
    hour = np.mod(local_t, DAY_S) / 3600.0
    if features is FeatureSet.PAPER:
        add("speed", speed)
        add("direction_deg", direction)
        add("hour_of_day", hour)
    else:
        vx, vy = speed * np.sin(rad), speed * np.cos(rad)  # clockwise from north: east = sin, north = cos
        add("speed", speed)
        add("dir_sin", np.sin(rad))
        add("dir_cos", np.cos(rad))
        add("vx", vx)
        add("vy", vy)
        add("hour_of_day", hour)
        for r in sorted(set(role.tolist())):
            add(f"role_{r}", (role == r).astype(np.float64))
        # Dead reckoning since the stay in the current pillar began: displacement over each interval with
        # the mean of the velocities reported at its two ends (robust whichever end a tracker stamps).
        dt = np.zeros_like(t)
        dt[1:] = np.where(seg[1:] == seg[:-1], np.diff(t), 0.0)
        step_x = np.zeros_like(t)
        step_y = np.zeros_like(t)
        step_x[1:] = 0.5 * (vx[1:] + vx[:-1]) * dt[1:]
        step_y[1:] = 0.5 * (vy[1:] + vy[:-1]) * dt[1:]
        cum_x, cum_y = np.cumsum(step_x), np.cumsum(step_y)
        stay_start, observed = _since_change(seg, pillar, t)
        dr_x = cum_x - cum_x[stay_start]
        dr_y = cum_y - cum_y[stay_start]
        add("dr_dx_m", dr_x)
        add("dr_dy_m", dr_y)
        add("since_change_s", np.minimum(t - t[stay_start], TIME_CAP_S))
        add("change_seen", observed.astype(np.float64))
        frame = geo_frame(layout) if layout is not None else None
        if layout is not None and frame is not None:
            centres_m = np.array([layout.pillar(p).x for p in labels]), np.array([layout.pillar(p).y for p in labels])
            cxy = np.stack(centres_m, axis=1)
            cur = cxy[pillar]
            prev_idx = np.where(observed, pillar[np.maximum(stay_start - 1, 0)], pillar)
            # Where the miner crossed into this pillar's cell, relative to its centre: half-way to the centre
            # of the pillar they came from (cells tile the mine, so the boundary lies between the centres).
            entry = 0.5 * (cxy[prev_idx] - cur)
            add("entry_dx_m", entry[:, 0])
            add("entry_dy_m", entry[:, 1])
            add("est_dx_m", entry[:, 0] + dr_x)
            add("est_dy_m", entry[:, 1] + dr_y)
            g = frame.apply(cur)
            add("geo_pillar_x", g[:, 0])
            add("geo_pillar_y", g[:, 1])
        else:
            add(PILLAR_INDEX_FEATURE, pillar.astype(np.float64))
        if contacts is not None:
            gw_xy = {gw.id: (gw.x, gw.y) for gw in layout.gateways} if layout is not None else None
            since, seen, gxy = _contact_features(contacts, miner_ids, miner_code, t, gw_xy)
            add("contact_since_s", since)
            add("contact_seen", seen)
            if layout is not None and frame is not None:
                known = np.isfinite(gxy[:, 0])
                gg = frame.apply(np.where(known[:, None], gxy, 0.0))
                # Unknown gateway: the pillar's own position (no pull either way) and the flag says so.
                cur_geo = np.stack([cols[names.index("geo_pillar_x")], cols[names.index("geo_pillar_y")]], axis=1)
                gg = np.where(known[:, None], gg, cur_geo)
                add("geo_gateway_x", gg[:, 0])
                add("geo_gateway_y", gg[:, 1])

    feats = np.stack(cols, axis=1).astype(np.float32) if cols else np.zeros((t.shape[0], 0), np.float32)
    feats = np.nan_to_num(feats, nan=0.0, posinf=0.0, neginf=0.0)

    return StepFeatures(
        values=feats,
        names=names,
        labels=list(labels),
        pillar=pillar,
        seg=seg,
        t=t,
        x=xs,
        y=ys,
        miner_code=miner_code,
        miner_ids=miner_ids,
        shift=shift,
    )


@dataclass(frozen=True)
class LatestWindows:
    """For each miner with enough history, the window ending at their latest record (inference input)."""

    X: NDArray[np.float32]  # (M, L, F), not normalised
    miner_ids: list[str]
    last_pillar: list[str]
    t_last: NDArray[np.float64]
    feature_names: list[str]


def latest_windows(
    records: RecordsLike,
    *,
    window: int,
    features: FeatureSet,
    labels: list[str],
    layout: MineLayout | None = None,
    contacts: ContactsLike | None = None,
    timezone: str = "UTC",
) -> LatestWindows:
    """The most recent complete window of each miner (same features as training, no target needed)."""
    f = step_features(records, features=features, layout=layout, contacts=contacts, labels=labels, timezone=timezone)
    n = f.t.shape[0]
    if n == 0:
        return LatestWindows(np.zeros((0, window, len(f.names)), np.float32), [], [], np.zeros(0), f.names)
    last_of_miner = np.flatnonzero(np.r_[f.miner_code[1:] != f.miner_code[:-1], True])
    pos = np.arange(n) - np.searchsorted(f.seg, f.seg, side="left")
    ends = last_of_miner[pos[last_of_miner] >= window - 1]
    steps = ends[:, None] + np.arange(-window + 1, 1)[None, :]
    X = f.values[steps] if ends.size else np.zeros((0, window, len(f.names)), np.float32)
    return LatestWindows(
        X=np.ascontiguousarray(X, dtype=np.float32),
        miner_ids=[f.miner_ids[int(c)] for c in f.miner_code[ends]],
        last_pillar=[f.labels[int(p)] for p in f.pillar[ends]],
        t_last=f.t[ends].astype(np.float64),
        feature_names=f.names,
    )


def build_windows(
    records: RecordsLike,
    *,
    window: int = 20,
    horizon: int = 1,
    features: FeatureSet,
    layout: MineLayout | None = None,
    contacts: ContactsLike | None = None,
    stride: int = 1,
    labels: list[str] | None = None,
    timezone: str = "UTC",
) -> WindowSet:
    """Windows of ``window`` records and the pillar ``horizon`` records after the last one.

    ``stride`` keeps every ``stride``-th window of each track (subsampling: consecutive windows overlap in
    all but one record, so they add little information and a lot of training time). ``labels`` fixes the
    class list (e.g. to match a trained model); by default it is the layout's pillar ids in layout order
    (so a class can exist with zero samples), else the sorted (natural order) ids seen.
    """
    if window < 1 or horizon < 1 or stride < 1:
        raise ValueError(f"window, horizon and stride must be >= 1, got {window}, {horizon}, {stride}")
    f = step_features(records, features=features, layout=layout, contacts=contacts, labels=labels, timezone=timezone)
    seg, pillar, t, xs, ys = f.seg, f.pillar, f.t, f.x, f.y
    # Window ends e: at least window-1 records of the same segment before, the target e+horizon in it too.
    n = t.shape[0]
    pos = np.arange(n) - np.searchsorted(seg, seg, side="left")
    ends = np.flatnonzero(pos >= window - 1)
    ends = ends[ends + horizon < n]
    ends = ends[seg[ends + horizon] == seg[ends]]
    ends = ends[((pos[ends] - (window - 1)) % stride) == 0]
    steps = ends[:, None] + np.arange(-window + 1, 1)[None, :]
    X = f.values[steps] if ends.size else np.zeros((0, window, len(f.names)), np.float32)
    target = ends + horizon
    pillar_xy: NDArray[np.float32] | None = None
    if layout is not None:
        frame = geo_frame(layout)
        pillar_xy = frame.apply(np.array([[layout.pillar(p).x, layout.pillar(p).y] for p in f.labels])).astype(
            np.float32
        )
    return WindowSet(
        X=np.ascontiguousarray(X, dtype=np.float32),
        y=pillar[target].astype(np.int64),
        last_pillar=pillar[ends].astype(np.int64),
        miner=f.miner_code[ends].astype(np.int64),
        shift=f.shift[ends].astype(np.int64),
        t_last=t[ends].astype(np.float64),
        target_xy=np.stack([xs[target], ys[target]], axis=1).astype(np.float32),
        feature_names=f.names,
        labels=list(f.labels),
        window=window,
        horizon=horizon,
        pillar_xy=pillar_xy,
        miner_ids=f.miner_ids,
    )
