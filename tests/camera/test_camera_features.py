from __future__ import annotations

import math

import numpy as np

from edge.camera.features import camera_features, missing_frame
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
