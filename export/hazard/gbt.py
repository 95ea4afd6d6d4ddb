"""Gradient-boosted trees on window features (scikit-learn ``HistGradientBoostingClassifier``): the learned
non-neural baseline, and its single-modality / modality-removed variants for the ablation table.

Two models on the features of ``export.hazard.window_features`` at decision times every ``stride_s``, from the
first full 30-min input window on (``SENSOR_WINDOW_S``; the evaluation ignores every predictor's warnings before it):

* **hazard type** (multi-class: none + the five ``HazardType``): class ``h`` from an event's onset to its deadline,
  class none on normal operation; no label (weight 0) after a deadline while the event lasts (the statutory alarm
  has spoken; nothing to predict) nor on events that never reach their deadline (neither due nor normal). People
  events are class ``people`` throughout (their deadline is the first violation, seconds after onset). Its class
  probabilities drive the warnings: hazard ``h`` is warned while ``P(h) >= threshold[h]``.
* **risk** (binary, optional): the contract's risk label, a statutory alarm on any statutory channel within 15 min
  (``edge.sim.hazard.ground_truth.risk_labels``); scored by ROC, not used for warnings.

Thresholds are chosen on the validation episodes (training seeds only): per hazard, the lowest threshold whose
merged warnings stay within ``budget_per_day[h]`` false warnings per normal gateway-day (the budgets sum to 1).

Training masks a modality on a share of the rows (the camera, one random sensor channel, all logs), so the trees
have seen missing inputs and a dead camera or transmitter at inference degrades them gracefully rather than
sending them down an untrained branch.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from edge.hazard.contract import HAZARD_TYPES, RISK_HORIZONS_S, SENSOR_WINDOW_S, TEXT_WINDOW_S, HazardType
from edge.sim.hazard.episode import Episode
from edge.sim.hazard.ground_truth import risk_labels
from export.hazard.predictor import Predictor
from export.hazard.scoring import DAY_S
from export.hazard.thresholds import DEFAULT_BUDGET, NEVER, choose_thresholds
from export.hazard.warnings import DecisionTrack, Evidence, WarningPolicy
from export.hazard.window_features import FEATURES, MODALITIES, episode_features

F64 = NDArray[np.float64]
F32 = NDArray[np.float32]
NONE_CLASS = 0
TEXT_AGE_COLUMNS = np.array(
    [i for i, name in enumerate(FEATURES.names) if name.startswith("text.") and name.endswith(".age")]
)


@dataclass(frozen=True)
class GBTParams:
    stride_s: int = 20  # decision period at inference
    train_stride_s: int = 60  # decision period of the training rows (neighbouring rows are near copies)
    max_iter: int = 150
    learning_rate: float = 0.15
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 40
    l2_regularization: float = 1.0
    none_row_share: float = 0.5  # share of "none" rows kept for training (they are most of the rows)
    mask_share: float = 0.1  # per masking kind: share of training rows with that modality / channel removed
    seed: int = 0


def type_labels(episode: Episode, ends: NDArray[np.int64]) -> tuple[NDArray[np.int64], F64]:
    """Class per decision (0 none, 1 + HAZARD_TYPES index) and its weight (0 = unlabelled)."""
    t = episode.sensor_t[ends]
    labels = np.zeros(t.shape[0], dtype=np.int64)
    weights = np.ones(t.shape[0])
    for event in sorted(episode.events, key=lambda e: HAZARD_TYPES.index(e.hazard)):
        cls = 1 + HAZARD_TYPES.index(event.hazard)
        during = (t >= event.onset_s) & (t <= max(event.end_s, event.deadline_s or -np.inf))
        if event.hazard is HazardType.PEOPLE:
            # the deadline is the first violation, seconds after onset: the warning *is* the detection of the
            # violations, so the whole event is the class
            labels[during] = cls
        elif event.deadline_s is None:
            # a hazard that never reached its limit (fan restarted in time): neither "hazard due" nor normal
            weights[during] = 0.0
        else:
            # a later-listed hazard wins an overlap (a drive-bearing fire outranks the bearing fault that lit it)
            labels[(t >= event.onset_s) & (t <= event.deadline_s)] = cls
            weights[during & (t > event.deadline_s)] = 0.0
    return labels, weights


def risk_target(episode: Episode, ends: NDArray[np.int64]) -> NDArray[np.bool_]:
    labels = risk_labels(episode.crossings, episode.sensors.shape[0])
    column: NDArray[np.bool_] = labels[ends, RISK_HORIZONS_S.index(900)]
    return column


def _mask_rows(x: F32, rng: np.random.Generator, share: float) -> None:
    """In place: remove the camera on a share of rows, one sensor channel on another, the logs on a third."""
    rows = x.shape[0]
    camera = FEATURES.columns(["camera"])
    camera_valid = np.array([i for i in camera if FEATURES.channel[i] == "valid"])
    text = FEATURES.columns(["text"])
    channels = sorted({c for c, m in zip(FEATURES.channel, FEATURES.modality, strict=True) if m == "sensors"})
    pick = rng.random(rows)
    dead_camera = np.flatnonzero(pick < share)
    x[np.ix_(dead_camera, camera)] = np.nan
    x[np.ix_(dead_camera, camera_valid)] = 0.0  # as camera_features reports a camera that delivers nothing
    no_logs = np.flatnonzero((pick >= share) & (pick < 2 * share))
    x[np.ix_(no_logs, text)] = 0.0  # no entry in any window: counts 0 ...
    x[np.ix_(no_logs, TEXT_AGE_COLUMNS)] = np.nan  # ... and no newest entry to take the age of
    dead = np.flatnonzero((pick >= 2 * share) & (pick < 3 * share))
    which = rng.integers(len(channels), size=dead.shape[0])
    for k, channel in enumerate(channels):
        cols = np.array(
            [i for i, c in enumerate(FEATURES.channel) if c == channel and FEATURES.modality[i] == "sensors"]
        )
        x[np.ix_(dead[which == k], cols)] = np.nan


class FeatureCache:
    """All-modality window features per (episode, stride), shared by the GBT variants. An entry is used only for
    the very episode object it was computed from, so a degraded copy (same id, dead camera) is never confused with
    the intact episode."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, int], tuple[Episode, NDArray[np.int64], F32]] = {}

    def get(self, episode: Episode, stride_s: int) -> tuple[NDArray[np.int64], F32]:
        key = (episode.episode_id, stride_s)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is episode:
            return entry[1], entry[2]
        ends = np.arange(SENSOR_WINDOW_S, episode.sensors.shape[0], stride_s, dtype=np.int64)
        x = episode_features(episode, ends).astype(np.float32)
        self._entries[key] = (episode, ends, x)
        return ends, x


class GBTBaseline(Predictor):
    """Gradient-boosted trees on the window features of ``modalities`` (see the module docstring)."""

    def __init__(
        self,
        modalities: Sequence[str] = MODALITIES,
        *,
        params: GBTParams | None = None,
        budget_per_day: dict[HazardType, float] | None = None,
        with_risk: bool = False,
        policy: WarningPolicy | None = None,
        feature_cache: FeatureCache | None = None,
    ) -> None:
        """``feature_cache`` shares the window features of an episode between models (the ablations)."""
        self.feature_cache = feature_cache
        self.modalities = tuple(m for m in MODALITIES if m in modalities)
        if not self.modalities:
            raise ValueError(f"GBTBaseline needs at least one modality of {', '.join(MODALITIES)}")
        self.name = "gbt" if self.modalities == MODALITIES else "gbt[" + "+".join(self.modalities) + "]"
        self.params = params or GBTParams()
        self.budget = budget_per_day or dict(DEFAULT_BUDGET)
        self.with_risk = with_risk
        self.policy = policy or WarningPolicy()
        self.columns = FEATURES.columns(self.modalities)
        self.type_model: HistGradientBoostingClassifier | None = None
        self.risk_model: HistGradientBoostingClassifier | None = None
        self.thresholds: dict[HazardType, float] = dict.fromkeys(HAZARD_TYPES, NEVER)
        self.info: dict[str, Any] = {}
        self._cache: dict[str, tuple[NDArray[np.int64], F32]] = {}

    # -- features ----------------------------------------------------------------------------------------------

    def _features(self, episode: Episode, stride_s: int | None = None) -> tuple[NDArray[np.int64], F32]:
        stride = stride_s or self.params.stride_s
        if self.feature_cache is not None:
            return self.feature_cache.get(episode, stride)
        ends = np.arange(SENSOR_WINDOW_S, episode.sensors.shape[0], stride, dtype=np.int64)
        return ends, episode_features(episode, ends).astype(np.float32)

    def _model(self, seed: int) -> HistGradientBoostingClassifier:
        p = self.params
        return HistGradientBoostingClassifier(
            max_iter=p.max_iter,
            learning_rate=p.learning_rate,
            max_leaf_nodes=p.max_leaf_nodes,
            min_samples_leaf=p.min_samples_leaf,
            l2_regularization=p.l2_regularization,
            early_stopping=True,
            validation_fraction=0.1,
            n_iter_no_change=15,
            random_state=seed,
        )

    # -- fitting -----------------------------------------------------------------------------------------------

    def fit(self, train: Sequence[Episode], validation: Sequence[Episode]) -> None:
        t0 = time.perf_counter()
        rng = np.random.default_rng(self.params.seed)
        xs: list[F32] = []
        ys: list[NDArray[np.int64]] = []
        risks: list[NDArray[np.bool_]] = []
        for episode in train:
            ends, x = self._features(episode, self.params.train_stride_s)
            y, w = type_labels(episode, ends)
            keep = (w > 0) & ((y != NONE_CLASS) | (rng.random(y.shape[0]) < self.params.none_row_share))
            xs.append(x[keep])
            ys.append(y[keep])
            risks.append(risk_target(episode, ends)[keep])
        x_all = np.concatenate(xs)
        y_all = np.concatenate(ys)
        _mask_rows(x_all, rng, self.params.mask_share)
        x_all = x_all[:, self.columns]
        # scikit-learn 1.9 fails to bin a column with no value at all (a small training set without any log
        # entry of a keyword group): give it one, so the column exists and carries no information
        x_all[0, np.flatnonzero(np.isnan(x_all).all(axis=0))] = 0.0
        counts = np.bincount(y_all, minlength=1 + len(HAZARD_TYPES)).astype(np.float64)
        # No sample or class weights: with weights scikit-learn bins every feature by weighted percentiles, ~50x
        # slower. Rare classes get low but well-ranked probabilities, and the thresholds are chosen on validation.
        self.type_model = self._model(self.params.seed)
        # One OpenMP thread: these fits are seconds long, and OpenMP's spinning threads made them minutes long
        # whenever anything else ran on the 2 cores (see _explain).
        with threadpool_limits(limits=1, user_api="openmp"):
            self.type_model.fit(x_all, y_all)
        t_fit = time.perf_counter() - t0
        if self.with_risk:
            r_all = np.concatenate(risks)
            self.risk_model = self._model(self.params.seed + 1)
            with threadpool_limits(limits=1, user_api="openmp"):
                self.risk_model.fit(x_all, r_all)
        self.info = {
            "train_rows": int(x_all.shape[0]),
            "features": int(x_all.shape[1]),
            "class_counts": {("none" if i == 0 else HAZARD_TYPES[i - 1].value): int(c) for i, c in enumerate(counts)},
            "type_iterations": int(self.type_model.n_iter_),
            "fit_s": round(t_fit, 1),
        }
        self._choose_thresholds(validation)
        self.info["total_fit_s"] = round(time.perf_counter() - t0, 1)

    def _choose_thresholds(self, validation: Sequence[Episode]) -> None:
        normal = [e for e in validation if e.is_normal]
        days = sum(e.duration_s - SENSOR_WINDOW_S for e in normal) / DAY_S
        scores = []
        for episode in normal:
            ends, p = self.probabilities(episode)
            scores.append((episode.sensor_t[ends], p[:, 1:]))
        self.thresholds, achieved = choose_thresholds(scores, days, self.budget, self.policy)
        self.info["thresholds"] = {h.value: round(v, 5) for h, v in self.thresholds.items()}
        self.info["validation_false_per_day"] = achieved
        self.info["validation_normal_days"] = round(days, 3)

    # -- inference ---------------------------------------------------------------------------------------------

    def probabilities(self, episode: Episode) -> tuple[NDArray[np.int64], F64]:
        if self.type_model is None:
            raise RuntimeError(f"{self.name}: fit() first")
        ends, x = self._features(episode)
        with threadpool_limits(limits=1, user_api="openmp"):  # see _explain
            probabilities: F64 = self.type_model.predict_proba(x[:, self.columns])
        full = np.zeros((ends.shape[0], 1 + len(HAZARD_TYPES)))
        full[:, self.type_model.classes_] = probabilities
        self._cache = {episode.episode_id: (ends, x)}
        return ends, full

    def risk(self, episode: Episode) -> tuple[NDArray[np.int64], F64]:
        if self.risk_model is None:
            raise RuntimeError(f"{self.name}: fitted without the risk model")
        ends, x = self._features(episode)
        with threadpool_limits(limits=1, user_api="openmp"):  # see _explain
            risk: F64 = self.risk_model.predict_proba(x[:, self.columns])[:, 1]
        return ends, risk

    def _explain(self, x_row: F32, k: int) -> Evidence:
        """Evidence for hazard column ``k`` at one decision: how much the probability drops when a modality, and
        then each sensor channel, is removed (its features set to missing)."""
        if self.type_model is None:
            return ()
        groups: list[tuple[str, NDArray[np.int64]]] = [(m, FEATURES.columns([m])) for m in self.modalities]
        if "sensors" in self.modalities:
            channels = dict.fromkeys(
                c for c, m in zip(FEATURES.channel, FEATURES.modality, strict=True) if m == "sensors"
            )
            for channel in channels:
                cols = np.array(
                    [
                        i
                        for i, (c, m) in enumerate(zip(FEATURES.channel, FEATURES.modality, strict=True))
                        if c == channel and m == "sensors"
                    ]
                )
                groups.append((f"sensors:{channel}", cols))
        rows = np.repeat(x_row[None, :], len(groups) + 1, axis=0)
        for g, (name, cols) in enumerate(groups, start=1):
            rows[g, cols] = np.nan if not _is_text(cols) else 0.0
            if name == "text":
                rows[g, TEXT_AGE_COLUMNS] = np.nan
            if name == "camera":
                rows[g, [i for i in cols if FEATURES.channel[i] == "valid"]] = 0.0
        # A handful of rows per warning: with OpenMP's default threads each call spins against whatever
        # else runs on the cores (a 9 s test took over 120 s beside one busy process on 2 cores).
        with threadpool_limits(limits=1, user_api="openmp"):
            p = self.type_model.predict_proba(rows[:, self.columns])
        classes = list(self.type_model.classes_)
        if 1 + k not in classes:
            return ()
        column = p[:, classes.index(1 + k)]
        drops = [(name, float(column[0] - column[g])) for g, (name, _) in enumerate(groups, start=1)]
        modalities = sorted((d for d in drops if ":" not in d[0]), key=lambda d: -d[1])
        sensors = sorted((d for d in drops if ":" in d[0]), key=lambda d: -d[1])[:3]
        return tuple((name, round(v, 4)) for name, v in modalities + sensors)

    def tracks(self, episode: Episode) -> list[DecisionTrack]:
        ends, p = self.probabilities(episode)
        _, x = self._cache[episode.episode_id]
        t = episode.sensor_t[ends]
        out = []
        for k, hazard in enumerate(HAZARD_TYPES):
            score = p[:, 1 + k]

            def explain(t_s: float, k: int = k) -> Evidence:
                row = int(np.searchsorted(t, t_s))
                return self._explain(x[min(row, x.shape[0] - 1)], k)

            out.append(DecisionTrack(hazard, "model", t, score >= self.thresholds[hazard], score, explain=explain))
        return out

    def describe(self) -> dict[str, object]:
        return {
            **super().describe(),
            "params": self.params.__dict__,
            "budget_per_day": {h.value: round(b, 4) for h, b in self.budget.items()},
            "info": self.info,
        }


def _is_text(cols: NDArray[np.int64]) -> bool:
    return bool(cols.shape[0]) and FEATURES.modality[int(cols[0])] == "text"


@dataclass
class TimedInference:
    """Per-window inference cost of a fitted GBT on this machine (features + prediction, one window at a time)."""

    per_window_ms: float
    windows: int
    notes: list[str] = field(default_factory=list)


def time_inference(model: GBTBaseline, episode: Episode, windows: int = 200) -> TimedInference:
    if model.type_model is None:
        raise RuntimeError("fit the model first")
    ends = np.linspace(TEXT_WINDOW_S, episode.sensors.shape[0] - 1, windows).astype(np.int64)
    with threadpool_limits(limits=1, user_api="openmp"):  # "on one core", as the note says (and see _explain)
        return _time_windows(model, episode, ends)


def _time_windows(model: GBTBaseline, episode: Episode, ends: NDArray[np.int64]) -> TimedInference:
    assert model.type_model is not None  # noqa: S101  (checked by time_inference)
    windows = int(ends.shape[0])
    t0 = time.perf_counter()
    for end in ends:
        # what a gateway holds: the last 30 min of sensors and camera frames, the last shift of log entries
        lo = end + 1 - SENSOR_WINDOW_S
        t_end = float(episode.sensor_t[end])
        c_lo, c_hi = np.searchsorted(episode.camera_t, [t_end - SENSOR_WINDOW_S, t_end], side="right")
        window = dataclasses.replace(
            episode,
            sensor_t=episode.sensor_t[lo : end + 1],
            sensors=episode.sensors[lo : end + 1],
            camera_t=episode.camera_t[c_lo:c_hi],
            camera=episode.camera[c_lo:c_hi],
            camera_valid=episode.camera_valid[c_lo:c_hi],
            logs=[e for e in episode.logs if t_end - TEXT_WINDOW_S < e.t_s <= t_end],
        )
        x = episode_features(window, np.array([SENSOR_WINDOW_S - 1])).astype(np.float32)
        model.type_model.predict_proba(x[:, model.columns])
    per = (time.perf_counter() - t0) / windows * 1000.0
    return TimedInference(
        per_window_ms=round(per, 3) if math.isfinite(per) else math.nan,
        windows=windows,
        notes=[
            "window features from a 30 min sensor/camera buffer and 8 h of logs, then predict_proba, one window "
            "per call (no batching), numpy + scikit-learn on one core"
        ],
    )
