from __future__ import annotations

import math

import numpy as np
import pytest

from edge.camera.features import camera_features, missing_frame, stack_rows
from edge.hazard.contract import CAMERA_FIELDS


def test_the_feature_vector_follows_the_fusion_contract_order() -> None:
    row = camera_features(
        "cam1", 12.0, valid=True, persons=3, bare_heads=1, in_zone=2, motion_level=0.25, health_score=0.9
    )
    vector = row.vector()
    assert vector.dtype == np.float32
    assert len(vector) == len(CAMERA_FIELDS)
    by_name = dict(zip((f.value for f in CAMERA_FIELDS), vector.tolist(), strict=True))
    assert by_name == {
        "persons_seen": 3.0,
        "bare_heads": 1.0,
        "persons_in_zone": 2.0,
        "motion_level": 0.25,
        "camera_health": np.float32(0.9).item(),
    }
    assert row.camera_valid


def test_a_camera_that_is_down_gives_a_masked_row_of_nan() -> None:
    row = missing_frame("cam1", 5.0)
    assert not row.camera_valid
    assert math.isnan(row.persons_seen)
    assert np.isnan(row.vector()).all()
    invalid = camera_features("cam1", 5.0, valid=False, persons=2)
    assert np.isnan(invalid.vector()).all()


def test_rows_feed_the_fusion_models_camera_tokens() -> None:
    from edge.hazard.contract import CAMERA_TOKEN_S, CAMERA_WINDOW_TOKENS
    from edge.hazard.features import camera_tokens

    t_end = 10_000.0
    rows = [
        camera_features("cam1", t_end - 30, valid=True, persons=2, bare_heads=1, motion_level=0.5, health_score=1),
        camera_features("cam1", t_end - 20, valid=True, persons=4, bare_heads=1, motion_level=0.1, health_score=1),
        missing_frame("cam1", t_end - 10),
        missing_frame("cam1", t_end - CAMERA_TOKEN_S - 5),  # the token before: no valid frame -> masked
    ]
    rows.sort(key=lambda r: r.t_s)
    t_s, values, valid = stack_rows(rows)
    tokens = camera_tokens(t_s, values, valid, t_end)
    assert tokens.mask.tolist() == [False] * (CAMERA_WINDOW_TOKENS - 1) + [True]
    last = tokens.values[-1]
    assert last[0] == 3.0  # persons_seen: mean of the two valid frames
    assert last[-1] == pytest.approx(2 / 3)  # valid fraction
    assert tokens.values[-2, -1] == 0.0
