"""Evaluation protocols: the paper's stratified k-fold over windows, and two leakage-free ones.

* ``stratified`` -- the paper's protocol: 5 folds over *windows*, each fold keeping the class proportions of
  the pillar ids. Overlapping windows of the same miner minutes apart land on both sides of the split, so a
  model can score by recognising a trajectory it has already seen; this is what the paper reported.
* ``miner`` -- whole miners held out (GroupKFold-like): no test miner contributes a single training window.
* ``shift`` -- whole shifts (days) held out: the model never sees the test day of anyone.

Validation for early stopping is always carved from the training part only, never from the test fold:
stratified over windows for ``stratified``; by whole miners for ``miner``; by whole miner-shifts (one miner's
entire day) for ``shift``, so that every miner and every training day stay in training while no validation
window overlaps a training window in time.

Implemented in numpy (no scikit-learn on the training machine); every split is seeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
ProtocolName = Literal["stratified", "miner", "shift"]
PROTOCOLS: tuple[ProtocolName, ...] = ("stratified", "miner", "shift")
PROTOCOL_TITLES: dict[str, str] = {
    "stratified": "(a) stratified k-fold over windows (the paper's protocol, k = 5)",
    "miner": "(b) whole miners held out",
    "shift": "(b) whole shifts/days held out",
}


@dataclass(frozen=True)
class Split:
    protocol: str
    fold: int
    n_folds: int
    train: IntArray
    val: IntArray
    test: IntArray


def stratified_kfold(y: NDArray[np.generic], n_splits: int, seed: int) -> list[IntArray]:
    """Test indices of each fold; every class is spread over the folds as evenly as possible (counts +-1).

    Shuffle, stable-sort by class, then deal the rows round-robin: consecutive rows of one class go to
    consecutive folds, and because the dealing continues across class boundaries the fold sizes also stay
    within one of each other. A class with fewer rows than folds is simply absent from some folds.
    """
    labels = np.asarray(y, dtype=np.int64).reshape(-1)
    if n_splits < 2:
        raise ValueError(f"n_splits must be >= 2, got {n_splits}")
    if labels.size < n_splits:
        raise ValueError(f"cannot make {n_splits} folds from {labels.size} rows")
    rng = np.random.default_rng(seed)
    order = rng.permutation(labels.size)
    order = order[np.argsort(labels[order], kind="stable")]
    fold_of = np.empty(labels.size, dtype=np.int64)
    fold_of[order] = np.arange(labels.size) % n_splits
    return [np.flatnonzero(fold_of == f).astype(np.int64) for f in range(n_splits)]


def group_kfold(groups: NDArray[np.generic], n_splits: int, seed: int) -> list[IntArray]:
    """Test indices of each fold such that no group is split across folds (GroupKFold-like).

    Groups are shuffled (seeded) and then placed largest first into the currently smallest fold, which
    balances fold sizes. With fewer groups than ``n_splits`` there is one fold per group.
    """
    g = np.asarray(groups).reshape(-1)
    uniq, inverse, counts = np.unique(g, return_inverse=True, return_counts=True)
    if uniq.size < 2:
        raise ValueError(f"need at least two groups to hold one out, got {uniq.size}")
    k = min(n_splits, uniq.size)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(uniq.size)
    # Stable sort by descending size after shuffling: equal-size groups are placed in random order.
    perm = perm[np.argsort(-counts[perm], kind="stable")]
    fold_size = np.zeros(k, dtype=np.int64)
    fold_of_group = np.empty(uniq.size, dtype=np.int64)
    for gi in perm:
        f = int(np.argmin(fold_size))
        fold_of_group[gi] = f
        fold_size[f] += counts[gi]
    fold_of = fold_of_group[inverse]
    return [np.flatnonzero(fold_of == f).astype(np.int64) for f in range(k)]


def _carve(
    train: IntArray, y: IntArray, groups: NDArray[np.generic] | None, frac: float, seed: int
) -> tuple[IntArray, IntArray]:
    """Split ``train`` into (fit, val) with about ``frac`` of it for validation."""
    n_parts = max(2, round(1.0 / frac))
    if groups is None:
        parts = stratified_kfold(y[train], n_parts, seed)
    else:
        sub_groups = np.asarray(groups)[train]
        if np.unique(sub_groups).size < 2:
            parts = stratified_kfold(y[train], n_parts, seed)
        else:
            parts = group_kfold(sub_groups, n_parts, seed)
    val_local = parts[0]
    mask = np.zeros(train.size, dtype=bool)
    mask[val_local] = True
    return train[~mask], train[mask]


def make_splits(
    protocol: str,
    *,
    y: NDArray[np.generic],
    miner: NDArray[np.generic],
    shift: NDArray[np.generic],
    n_splits: int = 5,
    val_frac: float = 0.15,
    seed: int = 0,
) -> list[Split]:
    """All folds of one protocol; each with disjoint train, val and test indices that cover every row."""
    yy = np.asarray(y, dtype=np.int64).reshape(-1)
    mm = np.asarray(miner, dtype=np.int64).reshape(-1)
    ss = np.asarray(shift, dtype=np.int64).reshape(-1)
    if not yy.size == mm.size == ss.size:
        raise ValueError("y, miner and shift must have the same length")
    val_groups: NDArray[np.int64] | None
    if protocol == "stratified":
        tests = stratified_kfold(yy, n_splits, seed)
        val_groups = None
    elif protocol == "miner":
        tests = group_kfold(mm, n_splits, seed)
        val_groups = mm
    elif protocol == "shift":
        tests = group_kfold(ss, n_splits, seed)
        # One miner's whole day: keeps every miner and every training day in training.
        val_groups = mm * (int(ss.max()) + 1 - min(0, int(ss.min()))) + (ss - min(0, int(ss.min())))
    else:
        raise ValueError(f"unknown protocol {protocol!r}; allowed: {', '.join(PROTOCOLS)}")
    splits: list[Split] = []
    everything = np.arange(yy.size, dtype=np.int64)
    for f, test in enumerate(tests):
        mask = np.ones(yy.size, dtype=bool)
        mask[test] = False
        train_all = everything[mask]
        fit_idx, val_idx = _carve(train_all, yy, val_groups, val_frac, seed + 1000 + f)
        splits.append(Split(protocol, f, len(tests), fit_idx, val_idx, test))
    return splits


def groups_disjoint(a: Sequence[int] | NDArray[np.generic], b: Sequence[int] | NDArray[np.generic]) -> bool:
    return np.intersect1d(np.asarray(a), np.asarray(b)).size == 0
