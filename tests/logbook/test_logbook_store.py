"""The logbook store: durable across reopen and across processes, refuses bad entries with the field and the
limit, hands the hazard model LogEntry objects in time order, and finds the most similar past incidents."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from logbook_fixtures import CASE_BASE, fill_case_base, hashed_store

from edge.clock import FakeClock
from edge.hazard.contract import TEXT_MAX_CHARS, LogEntry, LogKind
from edge.logbook.records import LogInputError
from edge.logbook.store import LogStore, LogStoreError
from edge.text import HashedNgramEncoder

REPO = Path(__file__).resolve().parents[2]
MINILM_DIR = REPO / "models" / "text" / "minilm"
MINILM_FILE = MINILM_DIR / "minilm_l6_int8.onnx"


def test_entries_survive_a_reopen_with_their_tags_and_links(tmp_path: Path) -> None:
    clock = FakeClock()
    store = hashed_store(tmp_path / "log.sqlite", clock)
    first = store.add("bearing noisy on belt drive 2 at XC 4", kind=LogKind.MAINTENANCE)
    clock.advance(30)
    second = store.add("AF-1 tripped", related_alarm="ch4_face:alert", incident=True, source="zmq")
    store.close()
    with hashed_store(tmp_path / "log.sqlite", clock) as reopened:
        assert reopened.entries() == [first, second]
        assert (first.equipment, first.location, first.kind) == ("BD-2", "XC 4", LogKind.MAINTENANCE)
        assert (second.related_alarm, second.incident, second.source) == ("ch4_face:alert", True, "zmq")
        assert reopened.get(second.id).t_s == clock.wall()


def test_an_entry_acknowledged_to_one_process_is_read_by_the_next_after_a_kill(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    child = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from edge.clock import SystemClock\n"
        "from edge.logbook.store import LogStore\n"
        "store = LogStore.open(Path(sys.argv[1]), encoder=None, clock=SystemClock())\n"
        "entry = store.add('belt drive 2 stopped for belt work', kind='operation')\n"
        "print(entry.id, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"  # no close, no checkpoint: only what the commit made durable remains
    )
    done = subprocess.run(
        [sys.executable, "-c", child, str(path)],
        check=False,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -9, done.stderr
    entry_id = int(done.stdout.split()[0])
    with hashed_store(path) as store:
        entry = store.get(entry_id)
        assert entry.text == "belt drive 2 stopped for belt work"
        assert entry.equipment == "BD-2"
        # stored without a vector by an encoder-less writer; encoded here before it is compared
        assert store.similar("belt drive 2 stopped", 1)[0][0].id == entry_id


@pytest.mark.parametrize(
    ("call", "field", "words"),
    [
        (lambda s: s.add("x" * (TEXT_MAX_CHARS + 1)), "text", [f"{TEXT_MAX_CHARS + 1} characters", "at most 160"]),
        (lambda s: s.add("   "), "text", ["is empty", "1-160 characters"]),
        (lambda s: s.add("two\nlines"), "text", ["control character", "one line"]),
        (lambda s: s.add("ok", kind="repair"), "kind", ["'repair'", "operation, maintenance, examination"]),
        (lambda s: s.add("ok", t_s=1_767_225_600_000.0), "t_s", ["more than a day after"]),
        (lambda s: s.add("ok", t_s=12.0), "t_s", ["before 2000", "milliseconds"]),
        (lambda s: s.similar("bearing", 0), "k", ["at least 1"]),
        (lambda s: s.get(99), "id", ["no entry"]),
    ],
)
def test_bad_entries_are_refused_naming_the_field_and_what_is_allowed(
    tmp_path: Path, call: object, field: str, words: list[str]
) -> None:
    with hashed_store(tmp_path / "log.sqlite") as store:
        with pytest.raises(LogInputError) as caught:
            call(store)  # type: ignore[operator]
        assert caught.value.field == field
        for word in words:
            assert word in str(caught.value)
        assert store.count() == 0


def test_text_at_the_limit_is_kept_whole(tmp_path: Path) -> None:
    text = "bearing hot " + "x" * (TEXT_MAX_CHARS - 12)
    with hashed_store(tmp_path / "log.sqlite") as store:
        assert store.add(text).text == text


def test_recent_gives_the_hazard_model_log_entries_in_time_order(tmp_path: Path) -> None:
    clock = FakeClock()
    with hashed_store(tmp_path / "log.sqlite", clock) as store:
        now = clock.wall()
        store.add("later entry written first", t_s=now - 100)
        store.add("earlier entry written second, AF-1", t_s=now - 200, kind=LogKind.EXAMINATION)
        store.add("old entry", t_s=now - 9 * 3600)
        recent = store.recent(now - 8 * 3600)
    assert recent == [
        LogEntry(now - 200, "earlier entry written second, AF-1", "AF-1", "", LogKind.EXAMINATION),
        LogEntry(now - 100, "later entry written first", "", "", LogKind.OPERATION),
    ]


def test_a_paraphrase_of_a_past_incident_finds_it_first_with_the_warning_it_relates_to(tmp_path: Path) -> None:
    clock = FakeClock()
    with hashed_store(tmp_path / "log.sqlite", clock) as store:
        fill_case_base(store, clock)
        queries = {
            "belt drive 2 bearing running hot": CASE_BASE[0],
            "aux fan 1 stopped": CASE_BASE[1],
            "burning rubber smell at XC 4": CASE_BASE[2],
            "roof cracking near e2c5": CASE_BASE[3],
        }
        for query, (text, _, alarm) in queries.items():
            (best, score), *_ = store.similar(query, 3, incidents_only=True)
            assert (best.text, best.related_alarm) == (text, alarm), query
            assert 0.0 < score <= 1.0 + 1e-6
        everything = store.similar("belt drive 2 bearing running hot", 20)
        assert len(everything) == store.count()
        assert [s for _, s in everything] == sorted((s for _, s in everything), reverse=True)


def test_mark_puts_an_entry_in_the_case_base(tmp_path: Path) -> None:
    with hashed_store(tmp_path / "log.sqlite") as store:
        entry = store.add("grinding noise at AF-1")
        assert store.similar("AF-1 grinding", 1, incidents_only=True) == []
        marked = store.mark(entry.id, incident=True, related_alarm="hazard.equipment_fault")
        assert (marked.incident, marked.related_alarm) == (True, "hazard.equipment_fault")
        assert store.similar("AF-1 grinding", 1, incidents_only=True)[0][0].id == entry.id


def test_vectors_of_another_encoder_are_re_encoded(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    clock = FakeClock()
    with LogStore.open(path, encoder=HashedNgramEncoder(128), clock=clock) as small:
        fill_case_base(small, clock)
    with LogStore.open(path, encoder=HashedNgramEncoder(512), clock=clock) as large:
        assert large.reencode() == large.count()
        assert large.reencode() == 0
        (best, _), *_ = large.similar("belt drive 2 bearing running hot", 1, incidents_only=True)
        assert best.text == CASE_BASE[0][0]


def test_a_store_without_encoder_stores_but_does_not_search(tmp_path: Path) -> None:
    with LogStore.open(tmp_path / "log.sqlite", encoder=None, clock=FakeClock()) as store:
        store.add("AF-1 tripped")
        with pytest.raises(LogStoreError, match="without a text encoder"):
            store.similar("AF-1", 1)


def test_a_newer_schema_is_refused_and_the_file_kept(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    hashed_store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    conn.close()
    with pytest.raises(LogStoreError, match="schema version 99"):
        hashed_store(path)
    assert path.stat().st_size > 0


@pytest.mark.skipif(
    not MINILM_FILE.is_file(), reason=f"no {MINILM_FILE.name} in {MINILM_DIR}: run `make models` to build it"
)
def test_with_minilm_a_paraphrase_finds_its_incident_first(tmp_path: Path) -> None:
    pytest.importorskip("tokenizers")
    from edge.text.minilm import MiniLmEncoder

    clock = FakeClock()
    encoder = MiniLmEncoder.load(MINILM_DIR)
    with LogStore.open(tmp_path / "log.sqlite", encoder=encoder, clock=clock) as store:
        fill_case_base(store, clock)
        for query, expected in (
            ("the bearing on belt drive 2 is overheating", CASE_BASE[0][0]),
            ("booster fan AF-1 has stopped running", CASE_BASE[1][0]),
            ("rubber burning smell near XC 4", CASE_BASE[2][0]),
        ):
            (best, score), *_ = store.similar(query, 3, incidents_only=True)
            assert best.text == expected, query
            assert np.isfinite(score)
