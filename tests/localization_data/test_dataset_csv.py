"""Datasets in and out: CSV round trips in both formats, accepted timestamps, cleaning report, clear errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.localization.columns import Contacts, Records
from edge.sim.mine_layout import default_layout
from edge.sim.mobility import MobilityParams, simulate_days
from edge.sim.tracking import gateway_contacts, sample_records
from export.localization.dataset import (
    DatasetFormatError,
    dataset_sha256,
    load_contacts,
    load_records,
    read_records,
    write_contacts,
    write_records,
)
from export.localization.generate import main

LAYOUT = default_layout()


@pytest.fixture(scope="module")
def generated() -> tuple[Records, Contacts]:
    trajectories = simulate_days(LAYOUT, MobilityParams(nodes=4), seed=2, days=1)
    records = sample_records(trajectories, LAYOUT, rng=np.random.default_rng(0), period_s=30.0)
    return records, Contacts.from_list(gateway_contacts(trajectories, LAYOUT))


def test_extended_round_trip(tmp_path: Path, generated: tuple[Records, Contacts]) -> None:
    records, _ = generated
    path = tmp_path / "records.csv"
    write_records(records, path, fmt="extended")
    assert path.read_text().splitlines()[0] == "miner_id,role,timestamp,speed_mps,direction_deg,x,y,pillar_id"
    back, report = read_records(path, pillar_labels=LAYOUT.pillar_ids)
    assert report.format == "extended"
    assert report.rows_read == report.rows_kept == len(records)
    np.testing.assert_array_equal(back.miner, records.miner)
    np.testing.assert_array_equal(back.role, records.role)
    np.testing.assert_array_equal(back.t, records.t)
    np.testing.assert_array_equal(back.pillar_ids(), records.pillar_ids())
    np.testing.assert_allclose(back.speed, records.speed, atol=5e-4)
    np.testing.assert_allclose(back.x, records.x, atol=5e-3)
    wrapped = np.abs((back.direction_deg - records.direction_deg + 180) % 360 - 180)
    assert wrapped.max() <= 5e-3


def test_paper_round_trip_has_table_1_columns(tmp_path: Path, generated: tuple[Records, Contacts]) -> None:
    records, _ = generated
    path = tmp_path / "paper.csv"
    write_records(records, path, fmt="paper")
    lines = path.read_text().splitlines()
    assert lines[0] == "Miner ID,Speed,Direction,Timestamp,Location (Pillar ID)"
    assert lines[1].split(",")[3].endswith("Z")
    back = load_records(path)
    assert len(back) == len(records)
    assert not back.has_roles
    assert not back.has_positions
    np.testing.assert_array_equal(back.pillar_ids(), records.pillar_ids())
    # Labels in natural order, only the ones seen.
    assert back.pillar_labels == sorted(set(records.pillar_ids().tolist()), key=lambda p: int(p[1:]))


def test_contacts_round_trip(tmp_path: Path, generated: tuple[Records, Contacts]) -> None:
    _, contacts = generated
    path = tmp_path / "contacts.csv"
    write_contacts(contacts, path)
    back = load_contacts(path)
    np.testing.assert_array_equal(back.miner, contacts.miner)
    np.testing.assert_array_equal(back.gateway, contacts.gateway)
    np.testing.assert_array_equal(back.t_start, contacts.t_start)
    np.testing.assert_array_equal(back.t_end, contacts.t_end)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["m1", "m2", "m10"]),
            st.integers(0, 10**6),
            st.floats(0, 5),
            st.floats(0, 359.99),
            st.sampled_from(LAYOUT.pillar_ids),
        ),
        min_size=1,
        max_size=30,
        unique_by=lambda row: (row[0], row[1]),
    )
)
def test_any_clean_records_survive_a_round_trip(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, int, float, float, str]]
) -> None:
    n = len(rows)
    labels = LAYOUT.pillar_ids
    records = Records(
        miner=np.array([r[0] for r in rows]),
        role=np.full(n, "worker"),
        t=np.array([1.767e9 + r[1] for r in rows], dtype=np.float64),
        speed=np.array([r[2] for r in rows]),
        direction_deg=np.array([r[3] for r in rows]),
        x=np.full(n, np.nan),
        y=np.full(n, np.nan),
        pillar=np.array([labels.index(r[4]) for r in rows], dtype=np.int64),
        pillar_labels=labels,
    ).sorted_by_miner_and_time()
    path = tmp_path_factory.mktemp("rt") / "r.csv"
    write_records(records, path)
    back, report = read_records(path, pillar_labels=labels)
    assert report.rows_kept == n
    np.testing.assert_array_equal(back.miner, records.miner)
    np.testing.assert_array_equal(back.t, records.t)
    np.testing.assert_array_equal(back.pillar, records.pillar)
    assert np.all(np.isnan(back.x))


def test_accepted_timestamp_forms(tmp_path: Path) -> None:
    path = tmp_path / "times.csv"
    path.write_text(
        "Miner ID,Speed,Direction,Timestamp,Location (Pillar ID)\n"
        "a,1,0,2026-01-05T09:00:05Z,p1\n"
        "b,1,0,2026-01-05T11:00:05+02:00,p1\n"
        "c,1,0,2026-01-05 09:00:05,p1\n"
        "d,1,0,2026-01-05T09:00:05.250Z,p1\n"
        "e,1,0,1767603605,p1\n"
        "f,1,0,9.5h,p1\n"
    )
    records = load_records(path)
    t = dict(zip(records.miner.tolist(), records.t.tolist(), strict=True))
    assert t["a"] == t["b"] == t["c"] == t["e"] == 1_767_603_605.0
    assert t["d"] == 1_767_603_605.25
    assert t["f"] == 9.5 * 3600


def test_cleaning_report_counts_and_rows(tmp_path: Path) -> None:
    path = tmp_path / "dirty.csv"
    path.write_text(
        "Miner ID,Speed,Direction,Timestamp,Location (Pillar ID)\n"  # row 1
        "m1,1.0,90,2026-01-05T09:00:00Z,p1\n"  # 2 ok
        "m1,1.0,90,2026-01-05T09:00:00Z,p1\n"  # 3 exact duplicate of 2
        "m1,,90,2026-01-05T09:00:05Z,p1\n"  # 4 missing speed
        "m1,1.0,90,2026-01-05T09:00:10Z,\n"  # 5 missing pillar
        "m1,fast,90,2026-01-05T09:00:15Z,p1\n"  # 6 bad number
        "m1,-0.5,90,2026-01-05T09:00:20Z,p1\n"  # 7 negative speed
        "m1,1.0,360,2026-01-05T09:00:25Z,p1\n"  # 8 direction out of range
        "m1,1.0,-1,2026-01-05T09:00:30Z,p1\n"  # 9 direction out of range
        "m1,1.0,90,yesterday,p1\n"  # 10 bad timestamp
        "m1,nan,90,2026-01-05T09:00:35Z,p1\n"  # 11 non-finite
        "m1,2.0,90,2026-01-05T09:00:00Z,p2\n"  # 12 same miner and time as 2, other values
        "\n"  # 13 blank lines are skipped
        "m2,0,0,2026-01-05T09:00:00Z,p7\n"  # 14 ok
    )
    records, report = read_records(path)
    assert report.rows_read == 12
    assert report.rows_kept == 2
    assert report.dropped == {
        "missing_value": 2,
        "bad_number": 1,
        "non_finite": 1,
        "bad_timestamp": 1,
        "negative_speed": 1,
        "direction_out_of_range": 2,
        "exact_duplicate": 1,
        "conflicting_duplicate": 1,
    }
    assert report.examples["missing_value"] == [4, 5]
    assert report.examples["direction_out_of_range"] == [8, 9]
    assert report.examples["conflicting_duplicate"] == [12]
    assert list(records.miner) == ["m1", "m2"]
    text = str(report)
    assert "12 rows read, 2 kept, 10 dropped" in text
    assert "exact_duplicate: 1 (rows 3)" in text


def test_unknown_pillar_is_dropped_when_the_label_table_is_fixed(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("Miner ID,Speed,Direction,Timestamp,Location (Pillar ID)\nm1,0,0,5,p1\nm1,0,0,10,p999\n")
    records, report = read_records(path, pillar_labels=LAYOUT.pillar_ids)
    assert report.dropped == {"unknown_pillar": 1}
    assert records.pillar_labels == LAYOUT.pillar_ids


def test_wrong_header_names_file_row_and_columns(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("Miner ID,Speed,Heading,Timestamp,Location (Pillar ID)\nm1,1,2,3,p1\n")
    with pytest.raises(DatasetFormatError) as caught:
        load_records(path)
    message = str(caught.value)
    assert str(path) in message
    assert "row 1" in message
    assert "'Direction'" in message
    assert "Miner ID,Speed,Direction,Timestamp,Location (Pillar ID)" in message


def test_ragged_row_names_its_row_and_the_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("Miner ID,Speed,Direction,Timestamp,Location (Pillar ID)\nm1,1,2,3,p1\nm1,1,2,4\n")
    with pytest.raises(DatasetFormatError, match=r"row 3: has 4 field\(s\).*'Location \(Pillar ID\)'"):
        load_records(path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"", "empty"), (b"\xff\xfe\x00garbage", "UTF-8")],
)
def test_unreadable_files_are_clear_errors(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(DatasetFormatError, match=expected):
        load_records(path)
    with pytest.raises(DatasetFormatError, match="cannot open"):
        load_records(tmp_path / "missing.csv")


def test_bad_contact_row_names_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("miner_id,gateway_id,t_start,t_end\nm1,g1,10,20\nm1,g2,soon,30\n")
    with pytest.raises(DatasetFormatError, match=r"row 3: column 't_start'"):
        load_contacts(path)


def test_dataset_sha256_is_the_file_digest(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"abc" * 1000)
    assert dataset_sha256(path) == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_generate_cli_writes_the_dataset_and_checks_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    assert (
        main(
            [
                "--nodes",
                "3",
                "--days",
                "1",
                "--period",
                "10s",
                "--seed",
                "3",
                "--out",
                str(out),
                "--scenario",
                "trapped",
            ]
        )
        == 0
    )
    for name in ("records.csv", "records_paper.csv", "contacts.csv", "layout.json"):
        assert (out / name).stat().st_size > 0
    printed = capsys.readouterr().out
    assert "records:" in printed
    assert "sha256" in printed
    assert main(["--check", str(out / "records_paper.csv")]) == 0
    assert "0 dropped" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("who,where\nm1,p1\n")
    assert main(["--check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "Traceback" not in err
