"""The watched folder: every line once, appended lines picked up, no duplicate after a restart, a bad line reported
with file:line:field and kept in rejected/ while the rest of the file is ingested."""

from __future__ import annotations

import json
from pathlib import Path

from logbook_fixtures import hashed_store

from edge.clock import FakeClock
from edge.hazard.contract import LogKind
from edge.logbook.folder import FolderWatcher
from edge.logbook.store import LogStore


def _watcher(store: LogStore, folder: Path, clock: FakeClock) -> FolderWatcher:
    return FolderWatcher(store, folder, clock=clock, default_kind=LogKind.MAINTENANCE)


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def test_txt_lines_once_appended_lines_later_and_no_duplicate_after_a_restart(tmp_path: Path) -> None:
    folder, clock = tmp_path / "in", FakeClock()
    folder.mkdir()
    shift = folder / "shift-a.txt"
    shift.write_text("greased bearings on belt drive 2\n\nAF-1 running rough after restart\n", encoding="utf-8")
    store = hashed_store(tmp_path / "log.sqlite", clock)
    watcher = _watcher(store, folder, clock)
    assert watcher.poll().added == 2
    assert watcher.poll().added == 0
    _append(shift, "door at XC 12 found open, closed it\n")
    assert watcher.poll().added == 1
    store.close()

    _append(shift, "roof bolted at face 3\n")
    restarted = hashed_store(tmp_path / "log.sqlite", clock)
    assert _watcher(restarted, folder, clock).poll().added == 1
    entries = restarted.entries()
    assert [e.text for e in entries] == [
        "greased bearings on belt drive 2",
        "AF-1 running rough after restart",
        "door at XC 12 found open, closed it",
        "roof bolted at face 3",
    ]
    assert [e.source for e in entries] == [
        "folder:shift-a.txt:1",
        "folder:shift-a.txt:3",
        "folder:shift-a.txt:4",
        "folder:shift-a.txt:5",
    ]
    assert [(e.equipment, e.location) for e in entries] == [("BD-2", ""), ("AF-1", ""), ("", "XC 12"), ("", "face 3")]
    assert {e.kind for e in entries} == {LogKind.MAINTENANCE}  # the configured default for plain text
    restarted.close()


def test_a_bad_csv_row_is_reported_kept_and_the_rest_ingested(tmp_path: Path) -> None:
    folder, clock = tmp_path / "in", FakeClock()
    folder.mkdir()
    (folder / "week.csv").write_text(
        "time,kind,text,equipment,incident\n"
        "2026-01-01T06:00:00Z,examination,pre-shift examination f2: no hazards,,no\n"
        "2026-01-01T07:00:00Z,repair,belt drive 2 bearing hot,,yes\n"
        '1767254400,maintenance,"bearing noisy on BD-2, greased",BD-2,yes\n',
        encoding="utf-8",
    )
    with hashed_store(tmp_path / "log.sqlite", clock) as store:
        report = _watcher(store, folder, clock).poll()
        assert (report.added, report.rejected) == (2, 1)
        (error,) = report.errors
        assert error.startswith("week.csv:3: field 'kind'")
        assert "'repair'" in error
        assert "operation, maintenance, examination" in error
        first, second = store.entries()
        assert (first.kind, first.t_s, first.location, first.incident) == (
            LogKind.EXAMINATION,
            1767247200.0,
            "face 2",
            False,
        )
        assert (second.text, second.equipment, second.incident) == ("bearing noisy on BD-2, greased", "BD-2", True)
    rejected = folder / "rejected" / "week.csv"
    assert rejected.read_text(encoding="utf-8") == (
        "time,kind,text,equipment,incident\n2026-01-01T07:00:00Z,repair,belt drive 2 bearing hot,,yes\n"
    )
    assert "week.csv:3: field 'kind'" in (folder / "rejected" / "week.csv.errors").read_text(encoding="utf-8")

    # fixed and dropped back in, the line is ingested like any new file
    fixed = rejected.read_text(encoding="utf-8").replace("repair", "maintenance")
    (folder / "week-fixed.csv").write_text(fixed, encoding="utf-8")
    with hashed_store(tmp_path / "log.sqlite", clock) as store:
        assert _watcher(store, folder, clock).poll().added == 1
        assert [e.text for e in store.entries()][1] == "belt drive 2 bearing hot"  # time order: 07:00 between


def test_jsonl_fields_and_errors(tmp_path: Path) -> None:
    folder, clock = tmp_path / "in", FakeClock()
    folder.mkdir()
    lines = [
        json.dumps({"text": "AF-1 stopped, electrician called", "kind": "operation", "alarm": "ch4_face:alert"}),
        json.dumps({"txt": "typo in the field name"}),
        "{not json",
        json.dumps({"text": "x" * 161}),
        json.dumps({"text": "haze in belt entry", "t": 1767250000, "location": "XC 7", "incident": True}),
    ]
    (folder / "app.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with hashed_store(tmp_path / "log.sqlite", clock) as store:
        report = _watcher(store, folder, clock).poll()
        assert (report.added, report.rejected) == (2, 3)
        assert report.errors[0].startswith("app.jsonl:2: field 'txt' is not a log entry field")
        assert "allowed: text, time, t, kind" in report.errors[0]
        assert report.errors[1].startswith("app.jsonl:3: field 'text' line is not JSON")
        assert report.errors[2].startswith("app.jsonl:4: field 'text' is 161 characters long")
        first, second = store.entries()
        assert (first.related_alarm, first.equipment) == ("ch4_face:alert", "AF-1")
        assert (second.t_s, second.location, second.incident) == (1767250000.0, "XC 7", True)
    assert (folder / "rejected" / "app.jsonl").read_text(encoding="utf-8").splitlines() == lines[1:4]


def test_a_last_line_without_newline_waits_one_quiet_poll(tmp_path: Path) -> None:
    folder, clock = tmp_path / "in", FakeClock()
    folder.mkdir()
    note = folder / "note.txt"
    note.write_text("belt drive 2 stopped\nAF-1 restart", encoding="utf-8")
    with hashed_store(tmp_path / "log.sqlite", clock) as store:
        watcher = _watcher(store, folder, clock)
        assert watcher.poll().added == 1  # the writer may still be typing the second line
        _append(note, "ed\n")
        assert watcher.poll().added == 1
        note.write_text(note.read_text(encoding="utf-8") + "no newline at the end", encoding="utf-8")
        assert watcher.poll().added == 0
        assert watcher.poll().added == 1  # it did not grow for one poll: taken
        assert [e.text for e in store.entries()] == ["belt drive 2 stopped", "AF-1 restarted", "no newline at the end"]


def test_a_file_replaced_under_the_same_name_is_read_afresh(tmp_path: Path) -> None:
    folder, clock = tmp_path / "in", FakeClock()
    folder.mkdir()
    (folder / "today.txt").write_text("first day line\n", encoding="utf-8")
    with hashed_store(tmp_path / "log.sqlite", clock) as store:
        watcher = _watcher(store, folder, clock)
        assert watcher.poll().added == 1
        replacement = folder / "today.txt.new"
        replacement.write_text("second day line one\nsecond day line two\n", encoding="utf-8")
        replacement.replace(folder / "today.txt")  # a new inode, the way editors and rsync save
        assert watcher.poll().added == 2
        assert store.count() == 3


def test_a_csv_without_a_text_column_is_refused_whole_until_fixed(tmp_path: Path) -> None:
    folder, clock = tmp_path / "in", FakeClock()
    folder.mkdir()
    sheet = folder / "sheet.csv"
    sheet.write_text("when,what\n2026-01-01,belt drive 2 stopped\n", encoding="utf-8")
    with hashed_store(tmp_path / "log.sqlite", clock) as store:
        watcher = _watcher(store, folder, clock)
        report = watcher.poll()
        assert report.added == 0
        assert "sheet.csv:1: the CSV header is refused" in report.errors[0]
        assert "field 'text' column is missing" in report.errors[0]
        assert watcher.poll().errors == []  # reported once, not at every poll
        sheet.write_text("time,text\n2026-01-01T00:00:00Z,belt drive 2 stopped\n", encoding="utf-8")
        assert watcher.poll().added == 1


def test_other_files_and_the_rejected_folder_are_left_alone(tmp_path: Path) -> None:
    folder, clock = tmp_path / "in", FakeClock()
    (folder / "rejected").mkdir(parents=True)
    (folder / "rejected" / "old.txt").write_text("an old reject\n", encoding="utf-8")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    (folder / ".partial.txt").write_text("being copied\n", encoding="utf-8")
    with hashed_store(tmp_path / "log.sqlite", clock) as store:
        assert _watcher(store, folder, clock).poll().added == 0
