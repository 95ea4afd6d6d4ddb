from __future__ import annotations

import pytest
from pydantic import ValidationError

from edge.camera.config import CameraConfig, ZoneConfig
from edge.camera.tracker import IouTracker
from edge.camera.zones import Zone, point_in_polygon

SQUARE = ((0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0))
L_SHAPE = ((0, 0), (1, 0), (1, 0.3), (0.3, 0.3), (0.3, 1), (0, 1))


def test_point_in_polygon_convex_and_concave() -> None:
    assert point_in_polygon(0.75, 0.75, SQUARE)
    assert not point_in_polygon(0.25, 0.75, SQUARE)
    assert point_in_polygon(0.1, 0.9, L_SHAPE)
    assert point_in_polygon(0.9, 0.1, L_SHAPE)
    assert not point_in_polygon(0.6, 0.6, L_SHAPE)  # the notch


def zone(membership: str = "foot", **extra: object) -> Zone:
    return Zone.from_config(
        ZoneConfig.model_validate(
            {"id": "roof1", "kind": "unsupported_roof", "polygon": SQUARE, "membership": membership, **extra}
        )
    )


def test_foot_membership_uses_the_bottom_centre_of_the_box() -> None:
    z = zone()
    # Frame 200 x 100: the zone is x 100-200, y 50-100.
    assert z.contains_box((90, 10, 130, 60), 200, 100)  # feet at (110, 60): inside, head outside
    assert not z.contains_box((60, 40, 98, 90), 200, 100)  # feet at (79, 90)
    assert z.description == "unsupported roof roof1"


def test_overlap_membership_uses_the_share_of_the_box() -> None:
    z = zone("overlap", min_overlap=0.4, label="belt tail pulley")
    assert z.contains_box((80, 40, 120, 80), 200, 100)  # half of it inside
    assert not z.contains_box((60, 10, 110, 60), 200, 100)  # a fifth of the width, a fifth of the height
    assert z.description == "belt tail pulley"


def test_bad_zones_are_refused_naming_the_problem() -> None:
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        ZoneConfig.model_validate({"id": "z", "kind": "restricted_area", "polygon": [[0, 0], [2, 0], [0, 1]]})
    with pytest.raises(ValidationError, match="at least 3 items"):
        ZoneConfig.model_validate({"id": "z", "kind": "restricted_area", "polygon": [[0, 0], [1, 0]]})
    with pytest.raises(ValidationError, match="Input should be 'restricted_area'"):
        ZoneConfig.model_validate({"id": "z", "kind": "danger", "polygon": SQUARE})
    with pytest.raises(ValueError, match="no area"):
        Zone.from_config(ZoneConfig(id="flat", kind="restricted_area", polygon=[[0, 0], [0.5, 0.5], [1, 1]]))
    with pytest.raises(ValidationError, match=r"zone ids must be unique, repeated: \['a'\]"):
        CameraConfig.model_validate(
            {
                "id": "cam",
                "source": "0",
                "zones": [{"id": "a", "kind": "restricted_area", "polygon": SQUARE}] * 2,
            }
        )


def test_tracker_keeps_ids_across_motion_and_ends_tracks_after_max_missed() -> None:
    tracker = IouTracker(match_iou=0.2, max_missed=2)
    a = tracker.update(0, [(0, 0, 10, 20), (100, 0, 110, 20)])
    ids = [t.id for t in a if t is not None]
    assert ids == [1, 2]
    # Both move; the second jumped past its box (no overlap) but is within 1.5 box heights: still the same worker.
    b = tracker.update(1, [(2, 0, 12, 20), (115, 5, 125, 25)])
    assert [t.id for t in b if t is not None] == [1, 2]
    c = tracker.update(2, [(4, 0, 14, 20)])
    assert [t.id for t in c if t is not None] == [1]
    tracker.update(3, [(6, 0, 16, 20)])
    tracker.update(4, [(8, 0, 18, 20)])
    assert [t.id for t in tracker.ended] == [2]  # missed 3 > 2 frames
    assert [t.id for t in tracker.tracks] == [1]
    d = tracker.update(5, [(300, 0, 310, 20)])  # far away: a new worker
    assert [t.id for t in d if t is not None] == [3]
    track = tracker.tracks[0]
    assert track.hits == 5
    assert track.first_t == 0
    assert track.last_t == 4
