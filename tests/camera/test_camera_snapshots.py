from __future__ import annotations

import stat
from pathlib import Path

from camera_fixtures import background

from edge.camera.snapshots import SnapshotStore


def test_snapshots_are_private_jpegs_kept_within_the_file_budget(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snaps", max_files=3, max_bytes=10_000_000)
    assert stat.S_IMODE((tmp_path / "snaps").stat().st_mode) == 0o700
    paths = [store.save(background(seed=i), t_wall=1_700_000_000 + i, name=f"cam/1 bare head {i}") for i in range(5)]
    assert all(p is not None for p in paths)
    kept = store.files()
    assert [p.name for p in kept] == [p.name for p in paths[2:] if p is not None]
    assert kept[0].name == "001700000002000_cam_1_bare_head_2.jpg"
    assert kept[0].read_bytes()[:2] == b"\xff\xd8"  # JPEG
    assert store.deleted == 2
    assert not list((tmp_path / "snaps").glob("*.tmp"))


def test_the_byte_budget_drops_the_oldest_first(tmp_path: Path) -> None:
    probe = SnapshotStore(tmp_path / "probe", max_files=10, max_bytes=10_000_000)
    first = probe.save(background(seed=0), t_wall=1, name="probe")
    assert first is not None
    size = first.stat().st_size
    store = SnapshotStore(tmp_path / "snaps", max_files=100, max_bytes=int(size * 2.5))
    for i in range(6):
        store.save(background(seed=0), t_wall=10 + i, name=f"e{i}")
    assert [p.name.split("_")[1] for p in store.files()] == ["e4.jpg", "e5.jpg"]
