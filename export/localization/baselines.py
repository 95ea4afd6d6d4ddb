"""Predictors compared in the evaluation, all behind one interface and all fitted on the training part only.

Every predictor returns class scores ``(N, C)`` for the test windows (the arg-max is the prediction, the order
gives top-3), so every metric is computed the same way for every predictor:

* ``last_known`` -- the pillar of the last record in the window, carried forward. One-hot, so it gets no
  top-3 credit beyond its top-1 and scores 0 by construction on the windows where the miner changed pillar.
* ``markov`` -- a first-order Markov chain over pillars (the CTS-MM family): transition counts from the last
  pillar of each *training* window to its target pillar at the same horizon, so the horizon-k chain is learned
  directly rather than by raising a one-step matrix to the k-th power. Unseen last pillars fall back to
  carrying the last pillar forward; ties are broken towards staying put.
* ``dead_reckoning`` -- what a body-worn inertial unit would give underground: start at the last gateway the
  miner was in contact with (the gateway's surveyed position, at the end of that contact), integrate the
  recorded speed x heading over the miner's records from then to the window's end, extrapolate the last
  velocity to the target time, then ``pillar_at``. It reads only speed, heading and time, never the recorded
  x, y; with no contact yet in the records it falls back to the last known pillar. ``dead_reckoning_fix`` is
  the same from a position fix at the contact (the recorded x, y at its end) instead of the gateway's position,
  which a contact alone does not give (radio reaches up to 100 m along a drift).
* learned models (``lstm_only``, ``paper_cnn_lstm``, ``ours``) via the training module's ``fit``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Self, cast

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class Windows(Protocol):
    """What the evaluation reads from a window set (the training module's ``WindowSet`` satisfies it)."""

    @property
    def X(self) -> NDArray[np.float32]: ...  # the ML convention for the design matrix
    @property
    def y(self) -> IntArray: ...
    @property
    def last_pillar(self) -> IntArray: ...
    @property
    def miner(self) -> IntArray: ...
    @property
    def shift(self) -> IntArray: ...
    @property
    def t_last(self) -> FloatArray: ...
    @property
    def target_xy(self) -> NDArray[np.float32]: ...
    @property
    def labels(self) -> Sequence[str]: ...
    @property
    def horizon(self) -> int: ...
    def subset(self, idx: IntArray) -> Self: ...


class Predictor(Protocol):
    name: str
    # Which window features the predictor consumes: "paper" (the published five columns) or "extended".
    features: str

    def fit(self, train: Windows, val: Windows) -> None: ...
    def predict_proba(self, test: Windows) -> FloatArray: ...


def _one_hot(idx: IntArray, n_classes: int) -> FloatArray:
    out = np.zeros((idx.size, n_classes), dtype=np.float64)
    out[np.arange(idx.size), idx] = 1.0
    return out


@dataclass
class LastKnown:
    name: str = "last_known"
    features: str = "paper"

    def fit(self, train: Windows, val: Windows) -> None:
        """Nothing to learn."""

    def predict_proba(self, test: Windows) -> FloatArray:
        return _one_hot(np.asarray(test.last_pillar, dtype=np.int64), len(test.labels))


@dataclass
class MarkovChain:
    name: str = "markov"
    features: str = "paper"
    counts: FloatArray | None = None

    def fit(self, train: Windows, val: Windows) -> None:
        # Validation windows are part of the training side of the split, so the chain counts them too.
        n = len(train.labels)
        last = np.concatenate([train.last_pillar, val.last_pillar]).astype(np.int64)
        nxt = np.concatenate([train.y, val.y]).astype(np.int64)
        counts = np.zeros((n, n), dtype=np.float64)
        np.add.at(counts, (last, nxt), 1.0)
        self.counts = counts

    def predict_proba(self, test: Windows) -> FloatArray:
        if self.counts is None:
            raise RuntimeError("MarkovChain.predict_proba before fit")
        last = np.asarray(test.last_pillar, dtype=np.int64)
        rows = self.counts[last]
        totals = rows.sum(axis=1, keepdims=True)
        probs: FloatArray = np.divide(rows, totals, out=np.zeros_like(rows), where=totals > 0)
        # Unseen state: stay put. A tiny bonus on the last pillar breaks count ties towards staying too.
        probs[np.arange(last.size), last] += 1e-9
        return probs


@dataclass(frozen=True)
class Track:
    """One miner's records in time order: only what an inertial unit measures (speed, heading, time)."""

    t: FloatArray
    speed: FloatArray
    heading_deg: FloatArray


@dataclass(frozen=True)
class Contact:
    t_start: float
    t_end: float
    x: float  # the gateway's surveyed position
    y: float


def heading_to_unit(heading_deg: NDArray[np.floating], convention: str) -> tuple[FloatArray, FloatArray]:
    """Unit vector (east, north) of a heading: ``compass`` = clockwise from north, ``math`` = CCW from east."""
    rad = np.deg2rad(np.asarray(heading_deg, dtype=np.float64))
    if convention == "compass":
        return np.sin(rad), np.cos(rad)
    if convention == "math":
        return np.cos(rad), np.sin(rad)
    raise ValueError(f"unknown heading convention {convention!r}; allowed: compass, math")


@dataclass
class DeadReckoning:
    """Integrate speed x heading from the last gateway contact; see the module docstring."""

    tracks: Mapping[int, Track]
    contacts: Mapping[int, Sequence[Contact]]
    centres: FloatArray  # (C, 2) class centres in label order
    locate: Callable[[FloatArray, FloatArray], IntArray]  # (xs, ys) -> class index (pillar_at)
    heading_convention: str = "compass"
    name: str = "dead_reckoning"
    features: str = "paper"
    scale_m: float = 10.0  # softness of the distance-based scores behind top-3
    no_contact_share: float = field(default=0.0, init=False)
    _cum: dict[int, tuple[FloatArray, FloatArray, FloatArray, FloatArray, float]] = field(
        default_factory=dict, init=False
    )

    def __post_init__(self) -> None:
        for miner, tr in self.tracks.items():
            ux, uy = heading_to_unit(tr.heading_deg, self.heading_convention)
            vx, vy = tr.speed * ux, tr.speed * uy
            dt = np.diff(tr.t)
            # Record i's velocity holds from t[i] to t[i+1] (the unit measures, then moves on that heading).
            cx = np.concatenate([[0.0], np.cumsum(vx[:-1] * dt)])
            cy = np.concatenate([[0.0], np.cumsum(vy[:-1] * dt)])
            period = float(np.median(dt)) if dt.size else 0.0
            self._cum[miner] = (cx, cy, vx, vy, period)

    def fit(self, train: Windows, val: Windows) -> None:
        """Nothing to learn: the unit is calibrated, the gateways are surveyed."""

    def positions(self, test: Windows) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
        """Dead-reckoned (x, y) at each window's target time, and which windows had a contact to start from."""
        n = len(test.y)
        xs = np.full(n, np.nan)
        ys = np.full(n, np.nan)
        ok = np.zeros(n, dtype=bool)
        miners = np.asarray(test.miner, dtype=np.int64)
        t_last = np.asarray(test.t_last, dtype=np.float64)
        for miner in np.unique(miners):
            rows = np.flatnonzero(miners == miner)
            tr = self.tracks.get(int(miner))
            cts = self.contacts.get(int(miner), ())
            if tr is None or not cts or tr.t.size == 0:
                continue
            cx, cy, vx, vy, period = self._cum[int(miner)]
            starts = np.array([c.t_start for c in cts])
            order = np.argsort(starts, kind="stable")
            starts = starts[order]
            ends = np.array([cts[i].t_end for i in order])
            gx = np.array([cts[i].x for i in order])
            gy = np.array([cts[i].y for i in order])
            tl = t_last[rows]
            ci = np.searchsorted(starts, tl, side="right") - 1  # last contact begun by the window's end
            has = ci >= 0
            ci = np.maximum(ci, 0)
            # The latest moment the miner is known to be at the gateway: end of that contact (or now).
            t0 = np.minimum(ends[ci], tl)
            b = np.clip(np.searchsorted(tr.t, tl, side="right") - 1, 0, tr.t.size - 1)  # window's last record
            a = np.searchsorted(tr.t, t0, side="left")  # first record at or after t0
            a = np.minimum(a, b)
            # Partial first step from t0 to t[a] on the previous record's velocity.
            prev = np.maximum(a - 1, 0)
            lead = np.clip(tr.t[a] - t0, 0.0, None) * (a > 0)
            px = gx[ci] + vx[prev] * lead + (cx[b] - cx[a])
            py = gy[ci] + vy[prev] * lead + (cy[b] - cy[a])
            # Extrapolate the last measured velocity to the target, `horizon` record periods ahead.
            ahead = test.horizon * period
            px = px + vx[b] * ahead
            py = py + vy[b] * ahead
            xs[rows] = np.where(has, px, np.nan)
            ys[rows] = np.where(has, py, np.nan)
            ok[rows] = has
        return xs, ys, ok

    def predict_proba(self, test: Windows) -> FloatArray:
        xs, ys, ok = self.positions(test)
        self.no_contact_share = float(1.0 - ok.mean()) if ok.size else 0.0
        n_classes = len(test.labels)
        scores = np.zeros((len(test.y), n_classes), dtype=np.float64)
        if ok.any():
            d = np.hypot(xs[ok, None] - self.centres[None, :, 0], ys[ok, None] - self.centres[None, :, 1])
            s = np.exp(-(d - d.min(axis=1, keepdims=True)) / self.scale_m)
            hit = self.locate(xs[ok], ys[ok])
            # pillar_at decides the top-1 (its cell may differ from the nearest centre for oblong cells).
            s[np.arange(hit.size), hit] = s.max(axis=1) + 1.0
            scores[ok] = s / s.sum(axis=1, keepdims=True)
        last = np.asarray(test.last_pillar, dtype=np.int64)
        scores[~ok] = _one_hot(last[~ok], n_classes)
        return scores


@dataclass
class Learned:
    """A model of the training module: ``fit(cfg, train, val)`` on the training part, scores on the test part."""

    name: str
    features: str
    config: Any  # export.localization.train.TrainConfig
    history: Mapping[str, Sequence[float]] = field(default_factory=dict, init=False)
    train_seconds: float = field(default=math.nan, init=False)
    _model: Any = field(default=None, init=False)

    def fit(self, train: Windows, val: Windows) -> None:
        from export.localization import train as training  # noqa: PLC0415  (torch only when a model is fitted)

        started = time.perf_counter()
        self._model = training.fit(self.config, cast(Any, train), cast(Any, val))
        self.train_seconds = float(getattr(self._model, "train_seconds", time.perf_counter() - started))
        self.history = dict(getattr(self._model, "history", {}) or {})

    def predict_proba(self, test: Windows) -> FloatArray:
        if self._model is None:
            raise RuntimeError(f"{self.name}.predict_proba before fit")
        return np.asarray(self._model.predict_proba(test.X), dtype=np.float64)
