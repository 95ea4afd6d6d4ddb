"""A watched folder of log files: ``.txt`` (one entry per non-empty line), ``.csv`` (a header with at least
``text``; optional ``time``, ``kind``, ``equipment``, ``location``, ``incident``, ``alarm``) and ``.jsonl`` (one JSON
object per line with the same fields).

Each file is ingested once: the store remembers the file (by device and inode, so a file replaced under the same
name is read afresh) and how many bytes and lines of it were taken, in the same transaction as the entries, so lines
appended later are picked up and a restart neither repeats nor loses one. A line is taken when its newline has been
written; a last line without one is taken once the file has not grown for one poll (an editor that saves without
a final newline).

A bad line is reported (``file:line: field 'kind' ... allowed: ...``), skipped, and copied verbatim to
``rejected/<file>`` beside the folder (a CSV copy keeps the header) with the reasons in ``rejected/<file>.errors``:
fix the copy and move it back into the folder, and it is ingested like any new file. Nothing is lost.

Polling, not inotify: a Pi's SD card, a USB stick or a network share all work the same, and tests drive it.
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edge.clock import Clock
from edge.hazard.contract import LogKind
from edge.logbook.records import FIELDS, EntryFields, LogInputError, record_fields
from edge.logbook.store import FileCursor, LogStore

__all__ = ["REJECTED_DIR", "SUFFIXES", "FolderWatcher", "PollReport"]

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".csv", ".jsonl")
REJECTED_DIR = "rejected"
# Bytes read from one file per poll: bounds memory and the length of one transaction on a huge drop.
_MAX_READ = 1 << 20


@dataclass(slots=True)
class PollReport:
    added: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Line:
    number: int  # 1-based line number in the file
    raw: bytes  # without the line ending


class FolderWatcher:
    def __init__(
        self,
        store: LogStore,
        directory: Path,
        *,
        clock: Clock,
        default_kind: LogKind = LogKind.OPERATION,
        rejected_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.directory = directory
        self.rejected_dir = rejected_dir or directory / REJECTED_DIR
        self._clock = clock
        self._default_kind = default_kind
        # name -> (offset, size) of a file whose last line had no newline at the previous poll
        self._unterminated: dict[str, tuple[int, int]] = {}
        # name -> size at which a header problem was last reported (reported once per change, not every poll)
        self._header_reported: dict[str, int] = {}
        self.added = 0
        self.rejected = 0

    async def run(self, period_s: float) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        log.info("logbook: watching %s for %s files every %.1f s", self.directory, "/".join(SUFFIXES), period_s)
        while True:
            await asyncio.to_thread(self.poll)
            await asyncio.sleep(period_s)

    def poll(self) -> PollReport:
        """Ingest whatever is new in the folder; synchronous (run it in a thread from asyncio)."""
        report = PollReport()
        if not self.directory.is_dir():
            return report
        for path in sorted(self.directory.iterdir()):
            if path.name.startswith(".") or path.suffix.lower() not in SUFFIXES or not path.is_file():
                continue
            try:
                self._ingest_file(path, report)
            except OSError as exc:
                # A file being removed or unreadable right now: try again next poll.
                report.errors.append(f"{path.name}: cannot be read: {exc}")
                log.warning("logbook: %s cannot be read (retrying next poll): %s", path, exc)
        self.added += report.added
        self.rejected += report.rejected
        return report

    def _ingest_file(self, path: Path, report: PollReport) -> None:
        name = path.name
        stat = path.stat()
        cursor = self.store.cursor(name)
        offset, line_no = 0, 0
        if cursor is not None and (cursor.device, cursor.inode) == (stat.st_dev, stat.st_ino):
            offset, line_no = cursor.offset, cursor.line
            if stat.st_size < offset:
                log.warning(
                    "logbook: %s is shorter than what was already read (%d < %d bytes): it was rewritten; "
                    "reading it again from the start",
                    path,
                    stat.st_size,
                    offset,
                )
                offset, line_no = 0, 0
        if stat.st_size == offset:
            return
        header: list[str] | None = None
        suffix = path.suffix.lower()
        with path.open("rb") as handle:
            if suffix == ".csv" and offset > 0:
                header = self._csv_header(name, handle.readline(), stat.st_size, report)
                if header is None:
                    return
            handle.seek(offset)
            data = handle.read(_MAX_READ)
        lines, consumed = self._complete_lines(name, data, offset, line_no, stat.st_size)
        if not lines and consumed == 0:
            return
        good: list[tuple[EntryFields, str]] = []
        rejects: list[tuple[_Line, LogInputError]] = []
        for line in lines:
            if suffix == ".csv" and header is None:
                header = self._csv_header(name, line.raw, stat.st_size, report)
                if header is None:
                    return
                continue
            try:
                fields = self._parse(suffix, line.raw, header)
            except LogInputError as exc:
                rejects.append((line, exc.at(f"{name}:{line.number}")))
                continue
            if fields is not None:
                good.append((fields, f"folder:{name}:{line.number}"))
        if rejects:
            self._write_rejects(name, header, rejects)
            for _, error in rejects:
                log.warning("logbook: line skipped, copied to %s: %s", self.rejected_dir / name, error)
                report.errors.append(str(error))
            report.rejected += len(rejects)
        new_line_no = lines[-1].number if lines else line_no
        stored = self.store.ingest(good, FileCursor(name, stat.st_dev, stat.st_ino, offset + consumed, new_line_no))
        report.added += len(stored)
        if stored:
            log.info("logbook: %d entries from %s (lines up to %d)", len(stored), name, new_line_no)

    def _complete_lines(self, name: str, data: bytes, offset: int, line_no: int, size: int) -> tuple[list[_Line], int]:
        """The complete lines of ``data`` and the bytes they take; a newline-less tail counts once it has stood
        still for one poll (or when it alone fills a read: a line that long is rejected, not waited for)."""
        pieces = data.split(b"\n")
        tail = pieces.pop()
        consumed = len(data) - len(tail)
        if tail:
            seen = self._unterminated.get(name)
            settled = seen == (offset + consumed, size) or len(tail) >= _MAX_READ
            if settled and offset + len(data) == size:
                pieces.append(tail)
                consumed = len(data)
                self._unterminated.pop(name, None)
            else:
                self._unterminated[name] = (offset + consumed, size)
        else:
            self._unterminated.pop(name, None)
        return [_Line(line_no + i + 1, raw.rstrip(b"\r")) for i, raw in enumerate(pieces)], consumed

    def _csv_header(self, name: str, raw: bytes, size: int, report: PollReport) -> list[str] | None:
        try:
            text = raw.decode("utf-8-sig").strip()
            header = [column.strip().lower() for column in next(csv.reader([text]))] if text else []
            if "text" not in header:
                raise LogInputError("text", "column is missing from the header", allowed=", ".join(FIELDS))
            unknown = [column for column in header if column not in FIELDS]
            if unknown:
                raise LogInputError(unknown[0], "is not a column the logbook knows", allowed=", ".join(FIELDS))
        except (UnicodeDecodeError, LogInputError) as exc:
            message = f"{name}:1: the CSV header is refused, nothing of the file is read until it is fixed: " + (
                str(exc) if isinstance(exc, LogInputError) else f"not UTF-8 ({exc})"
            )
            if self._header_reported.get(name) != size:
                self._header_reported[name] = size
                log.error("logbook: %s", message)
                report.errors.append(message)
            return None
        self._header_reported.pop(name, None)
        return header

    def _parse(self, suffix: str, raw: bytes, header: list[str] | None) -> EntryFields | None:
        """One line's entry; None for a blank line. Raises ``LogInputError``."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LogInputError("text", f"is not UTF-8 text (byte {exc.start})", allowed="UTF-8 text") from None
        if not text.strip():
            return None
        now = self._clock.wall()
        if suffix == ".txt":
            return record_fields({"text": text}, now_wall=now, default_kind=self._default_kind)
        if suffix == ".csv" and header is not None:
            try:
                values = next(csv.reader([text]))
            except csv.Error as exc:
                raise LogInputError("text", f"is not a CSV row ({exc})", allowed="one CSV row per line") from None
            if len(values) != len(header):
                raise LogInputError(
                    "text",
                    f"row has {len(values)} values for {len(header)} columns (quote a text with commas in it)",
                    value=text,
                    allowed=", ".join(header),
                )
            return record_fields(dict(zip(header, values, strict=True)), now_wall=now, default_kind=self._default_kind)
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LogInputError("text", f"line is not JSON ({exc.msg} at column {exc.colno})", value=text) from None
        if not isinstance(record, Mapping):
            raise LogInputError("text", "line is not a JSON object", value=text, allowed='{"text": "...", ...}')
        return record_fields(record, now_wall=now, default_kind=self._default_kind)

    def _write_rejects(self, name: str, header: list[str] | None, rejects: list[tuple[_Line, LogInputError]]) -> None:
        """Written and fsynced before the cursor moves past the lines: a crash in between repeats a reject,
        never loses one."""
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        copy = self.rejected_dir / name
        new = not copy.exists()
        with copy.open("ab") as handle:
            if new and header is not None:
                handle.write((",".join(header) + "\n").encode("utf-8"))
            for line, _ in rejects:
                handle.write(line.raw + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        with (self.rejected_dir / f"{name}.errors").open("a", encoding="utf-8") as errors:
            for _, error in rejects:
                errors.write(f"{error}\n")
            errors.flush()
            os.fsync(errors.fileno())
