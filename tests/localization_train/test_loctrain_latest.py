"""The gateway's live windows are the training windows: same features, ending at each miner's last record."""

from __future__ import annotations

import numpy as np
import pytest
from loctrain_fixtures import synth_records

from edge.localization.features import FeatureSet, build_windows, latest_windows
from edge.sim.mine_layout import LayoutParams, MineLayout


@pytest.mark.parametrize("features", list(FeatureSet))
def test_latest_window_equals_the_last_training_window_of_each_miner(features: FeatureSet) -> None:
    layout = MineLayout(LayoutParams()) if features is FeatureSet.EXTENDED else None
    rec = synth_records(miners=4, shifts=1, steps=80, gap_miner=None)
    L = 10
    train = build_windows(rec, window=L, horizon=1, features=features, layout=layout)
    live = latest_windows(rec, window=L, features=features, labels=train.labels, layout=layout)
    assert live.feature_names == train.feature_names
    assert sorted(live.miner_ids) == sorted(train.miner_ids)
    for k, miner in enumerate(live.miner_ids):
        code = train.miner_ids.index(miner)
        mine = np.flatnonzero(train.miner == code)
        last_train = mine[np.argmax(train.t_last[mine])]
        # The live window ends one record later than the last training window (which needs a target),
        # so it is that window shifted by one step.
        np.testing.assert_array_equal(live.X[k, :-1], train.X[last_train, 1:])
        assert live.t_last[k] > train.t_last[last_train]


def test_miners_with_too_little_history_get_no_window() -> None:
    rec = synth_records(miners=2, shifts=1, steps=5, gap_miner=None)
    live = latest_windows(rec, window=10, features=FeatureSet.PAPER, labels=sorted(set(rec.pillar_labels)))
    assert live.X.shape == (0, 10, 3)
    assert live.miner_ids == []
