"""The real records in ../shared/data (read in place, never copied into the repository; see its README):

* ``mine-air/colombia-multigas-2021.csv``: a Colombian underground coal mine's multigas monitor, one reading
  about every 180 s for 20 days. It becomes an observation-only ``Episode`` on a 1 s grid (each reading held until
  the next one, NaN across gaps over ``MAX_HOLD_S``): methane -> ``ch4_face`` (% vol, as the data README reads
  it), oxygen -> ``o2_face``, CO -> ``co_belt`` with the mine's own median CO as its ambient (readings outside the
  transmitter range 0-500 ppm are faults: NaN, as the gateway's range check would mark them), every other channel
  missing, no camera, no logs. There is no ground truth: a warning is called *unconfirmed* when no statutory alarm
  activation follows on the record within ``CONFIRM_S``.
* ``seismic-bumps/seismic-bumps.arff``: UCI seismic-bumps (Sikora & Wrobel 2010), 2,584 shifts of a Polish
  longwall, label = a bump >= 1e4 J in the next shift. The rock-burst risk part: gradient-boosted trees and
  logistic regression under repeated stratified 10-fold cross-validation.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge.hazard.contract import CAMERA_FIELDS, CHANNEL_INDEX, CHANNEL_NAMES, HAZARD_TYPES, SENSOR_CHANNELS
from edge.sim.hazard.episode import Episode

F64 = NDArray[np.float64]
MINE_AIR_FILE = Path("mine-air") / "colombia-multigas-2021.csv"
# the record's only transmitters (methane, oxygen, CO), mapped to the contract's channels
REAL_RECORD_CHANNELS: tuple[str, ...] = ("ch4_face", "o2_face", "co_belt")
SEISMIC_FILE = Path("seismic-bumps") / "seismic-bumps.arff"
MAX_HOLD_S = 600.0  # a reading stands for at most 10 min (3 missed readings); longer gaps are missing data
CONFIRM_S = 900.0
# The data README: "Published results on it are modest (AUC around 0.7-0.8)". The original paper (Sikora & Wrobel,
# Archives of Mining Sciences 55(1), 2010) reports rule-induction accuracy/sensitivity, not AUC; secondary
# re-analyses report mean ROC AUC of about 0.66 over eight off-the-shelf classifiers (merelydoit.com, 2018). Not
# verified against a peer-reviewed AUC table.
SEISMIC_PUBLISHED_AUC = (0.7, 0.8)
SEISMIC_PUBLISHED_SOURCE = "../shared/data/README.md (seismic-bumps: 'AUC around 0.7-0.8'); not verified"


class RealDataMissing(FileNotFoundError):
    """The shared real-data folder (or one file of it) is not on this machine."""


def require(data_dir: Path, relative: Path) -> Path:
    path = data_dir / relative
    if not path.is_file():
        raise RealDataMissing(f"real data file {path} is not present (expected ../shared/data next to the repo)")
    return path


@dataclass(frozen=True)
class GasRecord:
    t_s: F64  # seconds from the first reading
    methane: F64
    oxygen: F64
    co: F64
    start: datetime


def read_mine_air(data_dir: Path) -> GasRecord:
    path = require(data_dir, MINE_AIR_FILE)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{path}: no rows")
    for column in ("timestamp", "methane", "oxygen", "carbon_monoxide"):
        if column not in rows[0]:
            raise ValueError(f"{path}: column {column!r} missing; columns: {', '.join(rows[0])}")
    stamps = [datetime.fromisoformat(r["timestamp"]) for r in rows]
    t = np.array([(s - stamps[0]).total_seconds() for s in stamps])
    return GasRecord(
        t_s=t,
        methane=np.array([float(r["methane"]) for r in rows]),
        oxygen=np.array([float(r["oxygen"]) for r in rows]),
        co=np.array([float(r["carbon_monoxide"]) for r in rows]),
        start=stamps[0],
    )


def _hold(t_s: F64, values: F64, n: int) -> F64:
    """Zero-order hold of irregular readings onto a 1 s grid of ``n`` samples; NaN beyond ``MAX_HOLD_S``."""
    grid = np.arange(n, dtype=np.float64)
    last = np.searchsorted(t_s, grid, side="right") - 1
    held = values[np.maximum(last, 0)]
    age = grid - t_s[np.maximum(last, 0)]
    return np.where((last >= 0) & (age <= MAX_HOLD_S), held, np.nan)


def mine_air_episode(record: GasRecord) -> Episode:
    n = int(record.t_s[-1]) + 1
    sensors = np.full((n, len(CHANNEL_NAMES)), np.nan, dtype=np.float32)
    co_range = SENSOR_CHANNELS[CHANNEL_INDEX["co_belt"]]
    co = np.where((record.co >= co_range.low) & (record.co <= co_range.high), record.co, np.nan)
    keep = np.isfinite(co)
    sensors[:, CHANNEL_INDEX["ch4_face"]] = _hold(record.t_s, record.methane, n)
    sensors[:, CHANNEL_INDEX["o2_face"]] = _hold(record.t_s, record.oxygen, n)
    sensors[:, CHANNEL_INDEX["co_belt"]] = _hold(record.t_s[keep], co[keep], n)
    ambient = float(np.median(co[keep])) if keep.any() else 0.0
    return Episode(
        episode_id="real-mine-air-colombia-2021",
        kind="normal",
        seed=-1,
        layout_seed=-1,
        index=0,
        jurisdiction="us_msha_coal",
        start_tod_s=float(record.start.hour * 3600 + record.start.minute * 60 + record.start.second),
        sensor_t=np.arange(n, dtype=np.float64),
        sensors=sensors,
        sensors_clean=sensors.copy(),  # no truth: the observation stands in (forecast targets only)
        fault_code=np.zeros((n, len(CHANNEL_NAMES)), dtype=np.int8),
        camera_t=np.zeros(0),
        camera=np.zeros((0, len(CAMERA_FIELDS)), dtype=np.float32),
        camera_valid=np.zeros(0, dtype=bool),
        camera_truth=np.zeros((0, 3), dtype=np.float32),
        hazard_active=np.zeros((n, len(HAZARD_TYPES)), dtype=bool),
        events=[],
        crossings={},
        logs=[],
        # the record's only transmitters: the others are not dead, this site has none of them
        site={
            "co_ambient_ppm": ambient,
            "channels": list(REAL_RECORD_CHANNELS),
            "camera": False,
            "logbook": False,
        },
        generator={"source": str(MINE_AIR_FILE), "mapping": "methane->ch4_face, oxygen->o2_face, CO->co_belt"},
    )


# -- seismic-bumps ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeismicData:
    x: F64
    y: NDArray[np.int64]
    feature_names: list[str]


def read_seismic_bumps(data_dir: Path) -> SeismicData:
    """The ARFF file with its categorical attributes one-hot encoded (all levels declared in the header)."""
    path = require(data_dir, SEISMIC_FILE)
    attributes: list[tuple[str, list[str] | None]] = []
    rows: list[list[str]] = []
    in_data = False
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("%"):
            continue
        lower = stripped.lower()
        if lower.startswith("@attribute"):
            _, name, kind = stripped.split(None, 2)
            levels = [v.strip() for v in kind.strip("{} ").split(",")] if kind.startswith("{") else None
            attributes.append((name, levels))
        elif lower.startswith("@data"):
            in_data = True
        elif in_data:
            rows.append([v.strip() for v in stripped.split(",")])
    if not attributes or attributes[-1][0] != "class":
        raise ValueError(f"{path}: the last attribute must be 'class'")
    names: list[str] = []
    columns: list[F64] = []
    for j, (name, levels) in enumerate(attributes[:-1]):
        values = [r[j] for r in rows]
        if levels is None:
            names.append(name)
            columns.append(np.array([float(v) for v in values]))
        else:
            for level in levels:
                names.append(f"{name}={level}")
                columns.append(np.array([1.0 if v == level else 0.0 for v in values]))
    y = np.array([int(r[-1]) for r in rows], dtype=np.int64)
    return SeismicData(np.stack(columns, axis=1), y, names)


def roc_curve(y: NDArray[np.int64] | NDArray[np.bool_], score: F64) -> tuple[F64, F64]:
    """False- and true-positive rates at every distinct score threshold (descending), from (0, 0) to (1, 1)."""
    order = np.argsort(-score, kind="mergesort")
    s = score[order]
    positive = np.asarray(y, dtype=bool)[order]
    distinct = np.flatnonzero(np.diff(s)) if s.shape[0] > 1 else np.zeros(0, dtype=np.int64)
    cut = np.concatenate([distinct, [s.shape[0] - 1]])
    tp = np.cumsum(positive)[cut]
    fp = np.cumsum(~positive)[cut]
    pos, neg = max(int(positive.sum()), 1), max(int((~positive).sum()), 1)
    return np.concatenate([[0.0], fp / neg]), np.concatenate([[0.0], tp / pos])


def thin_curve(fpr: F64, tpr: F64, points: int = 200) -> list[list[float]]:
    """At most ``points`` (fpr, tpr) pairs of a ROC curve, for plotting and the results file."""
    index = np.unique(np.linspace(0, fpr.shape[0] - 1, min(points, fpr.shape[0])).astype(int))
    return [[round(float(fpr[i]), 5), round(float(tpr[i]), 5)] for i in index]


def auc(fpr: F64, tpr: F64) -> float:
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def recall_at_fpr(fpr: F64, tpr: F64, max_fpr: float) -> float:
    """Highest true-positive rate at a threshold whose false-positive rate is at most ``max_fpr``."""
    ok = fpr <= max_fpr
    return float(tpr[ok].max()) if ok.any() else 0.0


def seismic_cross_validation(data: SeismicData, *, folds: int = 10, repeats: int = 3, seed: int = 0) -> dict[str, Any]:
    """Repeated stratified k-fold: pooled out-of-fold AUC and recall at 10 % FPR per repeat, for HGB and LR."""
    from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: PLC0415 (train extra only)
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.model_selection import StratifiedKFold  # noqa: PLC0415
    from sklearn.pipeline import make_pipeline  # noqa: PLC0415
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 (train extra only)

    def models() -> dict[str, Any]:
        return {
            "gbt": HistGradientBoostingClassifier(
                max_iter=200,
                learning_rate=0.05,
                max_leaf_nodes=15,
                min_samples_leaf=20,
                l2_regularization=1.0,
                class_weight="balanced",
                random_state=seed,
            ),
            "logistic_regression": make_pipeline(
                StandardScaler(), LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000)
            ),
        }

    results: dict[str, Any] = {}
    curves: dict[str, list[list[float]]] = {}
    for name in models():
        aucs: list[float] = []
        recalls: list[float] = []
        fold_aucs: list[float] = []
        for repeat in range(repeats):
            oof = np.zeros(data.y.shape[0])
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + repeat)
            for train_idx, test_idx in splitter.split(data.x, data.y):
                model = models()[name]
                # 2,584 rows: one OpenMP thread, which cannot spin against other work (export/hazard/gbt.py)
                with threadpool_limits(limits=1, user_api="openmp"):
                    model.fit(data.x[train_idx], data.y[train_idx])
                    oof[test_idx] = model.predict_proba(data.x[test_idx])[:, 1]
                f_fpr, f_tpr = roc_curve(data.y[test_idx], oof[test_idx])
                fold_aucs.append(auc(f_fpr, f_tpr))
            fpr, tpr = roc_curve(data.y, oof)
            aucs.append(auc(fpr, tpr))
            recalls.append(recall_at_fpr(fpr, tpr, 0.10))
            if repeat == 0:
                curves[name] = thin_curve(fpr, tpr)
        results[name] = {
            "auc_mean": round(float(np.mean(aucs)), 4),
            "auc_per_repeat": [round(a, 4) for a in aucs],
            "fold_auc_mean": round(float(np.mean(fold_aucs)), 4),
            "fold_auc_sd": round(float(np.std(fold_aucs)), 4),
            "recall_at_10pct_fpr_mean": round(float(np.mean(recalls)), 4),
            "recall_at_10pct_fpr_per_repeat": [round(r, 4) for r in recalls],
        }
    lo, hi = SEISMIC_PUBLISHED_AUC
    return {
        "shifts": int(data.y.shape[0]),
        "positives": int(data.y.sum()),
        "features": len(data.feature_names),
        "protocol": f"{repeats} x stratified {folds}-fold CV, pooled out-of-fold scores per repeat",
        "published_auc_range": [lo, hi],
        "published_source": SEISMIC_PUBLISHED_SOURCE,
        "models": results,
        "roc_first_repeat": curves,
        "within_published_range": {name: bool(lo - 0.05 <= r["auc_mean"] <= hi + 0.05) for name, r in results.items()},
    }


def first_at_or_after(times: F64, t0: float) -> float:
    k = int(np.searchsorted(times, t0, side="left"))
    return float(times[k]) if k < times.shape[0] else math.inf
