"""Folds: stratified folds keep class proportions and partition the windows; group folds never share a group."""

from __future__ import annotations

import numpy as np
import pytest

from export.localization.protocols import group_kfold, make_splits, stratified_kfold


def _labels() -> np.ndarray:
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(6), [200, 97, 41, 13, 5, 2])
    return rng.permutation(y)


def test_stratified_folds_partition_and_preserve_proportions() -> None:
    y = _labels()
    folds = stratified_kfold(y, 5, seed=1)
    everything = np.sort(np.concatenate(folds))
    assert np.array_equal(everything, np.arange(y.size))  # a partition: every row exactly once
    sizes = [f.size for f in folds]
    assert max(sizes) - min(sizes) <= 1
    for c, n_c in enumerate(np.bincount(y)):
        per_fold = [int((y[f] == c).sum()) for f in folds]
        assert sum(per_fold) == n_c
        assert max(per_fold) - min(per_fold) <= 1, (c, per_fold)


def test_stratified_folds_are_seeded() -> None:
    y = _labels()
    a = stratified_kfold(y, 5, seed=7)
    b = stratified_kfold(y, 5, seed=7)
    c = stratified_kfold(y, 5, seed=8)
    assert all(np.array_equal(x, z) for x, z in zip(a, b, strict=True))
    assert not all(np.array_equal(x, z) for x, z in zip(a, c, strict=True))


def test_group_folds_never_split_a_group() -> None:
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 23, size=2000)
    folds = group_kfold(groups, 5, seed=0)
    assert np.array_equal(np.sort(np.concatenate(folds)), np.arange(groups.size))
    for i, a in enumerate(folds):
        for b in folds[i + 1 :]:
            assert np.intersect1d(groups[a], groups[b]).size == 0
    sizes = np.array([f.size for f in folds])
    assert sizes.min() > 0.6 * sizes.mean()  # greedy placement keeps folds comparable


def test_fewer_groups_than_folds_gives_one_fold_per_group() -> None:
    assert len(group_kfold(np.array([0, 0, 1, 1, 2]), 5, seed=0)) == 3
    with pytest.raises(ValueError, match="two groups"):
        group_kfold(np.zeros(5), 5, seed=0)


@pytest.mark.parametrize("protocol", ["stratified", "miner", "shift"])
def test_splits_are_disjoint_and_cover_everything(protocol: str) -> None:
    rng = np.random.default_rng(1)
    n = 3000
    miner = rng.integers(0, 12, n)
    shift = rng.integers(0, 5, n)
    y = rng.integers(0, 9, n)
    splits = make_splits(protocol, y=y, miner=miner, shift=shift, n_splits=5, seed=0)
    assert len(splits) == 5
    tests = np.concatenate([s.test for s in splits])
    assert np.array_equal(np.sort(tests), np.arange(n))
    for s in splits:
        parts = np.concatenate([s.train, s.val, s.test])
        assert np.array_equal(np.sort(parts), np.arange(n))  # disjoint and complete
        assert 0.05 * (s.train.size + s.val.size) < s.val.size < 0.35 * (s.train.size + s.val.size)
        if protocol == "miner":
            # No test miner trains or validates; no validation miner trains.
            assert np.intersect1d(miner[s.test], miner[np.concatenate([s.train, s.val])]).size == 0
            assert np.intersect1d(miner[s.val], miner[s.train]).size == 0
        if protocol == "shift":
            assert np.intersect1d(shift[s.test], shift[np.concatenate([s.train, s.val])]).size == 0
            fit_days = set(zip(miner[s.train].tolist(), shift[s.train].tolist(), strict=True))
            val_days = set(zip(miner[s.val].tolist(), shift[s.val].tolist(), strict=True))
            assert not fit_days & val_days  # validation holds out whole miner-days


def test_unknown_protocol_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown protocol"):
        make_splits("random", y=np.zeros(10), miner=np.zeros(10), shift=np.zeros(10))
