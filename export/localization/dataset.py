"""Movement-record datasets in and out: CSV writing, reading with format detection, and cleaning.

Two record formats, told apart by the header (column names match ignoring case and surrounding spaces; the
columns may come in any order; columns of neither format are ignored):

- ``paper``: the columns of the source paper's Table 1, ``Miner ID,Speed,Direction,Timestamp,Location (Pillar ID)``
  (speed in m/s, direction in degrees). A mine can train from its own tracking records in this format.
- ``extended``: ``miner_id,role,timestamp,speed_mps,direction_deg,x,y,pillar_id`` (x, y in metres; they may be
  empty when the source has no coordinates).

Contacts with fixed gateways: ``miner_id,gateway_id,t_start,t_end``.

Timestamps written: ISO-8601 UTC, ``2026-01-05T09:00:05Z`` (milliseconds only when a time has a fraction).
Timestamps accepted:
- ISO-8601 with ``Z`` or an offset (converted to UTC), ``T`` or a space between date and time, optional
  fraction; a time without a zone is read on the mine's clock (``timezone``, an IANA name; UTC by default),
  daylight saving included;
- a plain number: seconds (epoch seconds, or seconds from the start of a simulation as in the paper's raw data);
- a number with an ``h`` suffix (``9.25h``): hours, the paper's converted timestamps; read as hours after
  1970-01-01T00:00Z, i.e. only their differences and time of day mean something.

Row numbers in messages and reports are the file's line numbers: the header is row 1, the first record row 2.

Cleaning (``read_records``): the paper drops duplicates and drops or zero-fills missing values. We drop and
never fill: a zero speed claims the miner stood still, a zero direction that he faced north, and a zero-filled
pillar or timestamp would be an invented position or time; a model would learn from data that never happened.
Every dropped row is counted by reason in a ``CleaningReport``, with the first row numbers of each reason.
A row is dropped for its first problem in this order: missing_value, bad_number, non_finite, bad_timestamp,
negative_speed, direction_out_of_range, unknown_pillar, exact_duplicate, conflicting_duplicate
(same miner and timestamp as an earlier kept row, other values: the first is kept).
A structurally bad file (unreadable, no header, a header of neither format, a row with the wrong number of
fields) raises ``DatasetFormatError`` naming the file, the row, the column and what is allowed.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from edge.localization.columns import Contact, Contacts, Records, natural_key
from edge.localization.features import check_timezone

RecordFormat = Literal["paper", "extended"]
PAPER_COLUMNS = ("Miner ID", "Speed", "Direction", "Timestamp", "Location (Pillar ID)")
EXTENDED_COLUMNS = ("miner_id", "role", "timestamp", "speed_mps", "direction_deg", "x", "y", "pillar_id")
CONTACT_COLUMNS = ("miner_id", "gateway_id", "t_start", "t_end")
# Canonical fields each format's columns map to.
_FIELDS: dict[RecordFormat, dict[str, str]] = {
    "paper": dict(zip(PAPER_COLUMNS, ("miner", "speed", "direction", "t", "pillar"), strict=True)),
    "extended": dict(
        zip(EXTENDED_COLUMNS, ("miner", "role", "t", "speed", "direction", "x", "y", "pillar"), strict=True)
    ),
}
REASONS = (
    "missing_value",
    "bad_number",
    "non_finite",
    "bad_timestamp",
    "negative_speed",
    "direction_out_of_range",
    "unknown_pillar",
    "exact_duplicate",
    "conflicting_duplicate",
)
_EXAMPLES_PER_REASON = 5
_HOURS = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?h$")


class DatasetFormatError(ValueError):
    """A file that cannot be read as a dataset at all; the message names file, row, column and what is allowed."""


@dataclass
class CleaningReport:
    path: str
    format: RecordFormat
    rows_read: int
    rows_kept: int
    dropped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[int]] = field(default_factory=dict)  # first row numbers of each reason

    @property
    def rows_dropped(self) -> int:
        return self.rows_read - self.rows_kept

    def __str__(self) -> str:
        lines = [
            f"{self.path}: {self.format} format, {self.rows_read} rows read, {self.rows_kept} kept, "
            f"{self.rows_dropped} dropped"
        ]
        for reason in REASONS:
            if self.dropped.get(reason):
                rows = ", ".join(str(r) for r in self.examples.get(reason, []))
                more = ", ..." if self.dropped[reason] > len(self.examples.get(reason, [])) else ""
                lines.append(f"  {reason}: {self.dropped[reason]} (rows {rows}{more})")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------------- writing
def format_timestamps(t: NDArray[np.float64]) -> NDArray[np.str_]:
    """ISO-8601 UTC strings; whole seconds unless some time has a fraction of a second."""
    ms = np.round(t * 1000.0).astype(np.int64).astype("datetime64[ms]")
    text = np.datetime_as_string(ms, unit="s" if np.all(ms.astype(np.int64) % 1000 == 0) else "ms")
    stamped: NDArray[np.str_] = np.char.add(text, "Z")
    return stamped


def _fixed(values: NDArray[np.float64], decimals: int) -> list[str]:
    return ["" if math.isnan(v) else f"{v:.{decimals}f}" for v in values.tolist()]


def write_records(records: Records, path: Path, *, fmt: RecordFormat = "extended") -> None:
    """Write records as CSV in the ``paper`` or ``extended`` format (see the module docstring)."""
    miners = records.miner.tolist()
    pillars = records.pillar_ids().tolist()
    stamps = format_timestamps(records.t).tolist()
    speed = _fixed(records.speed, 3)
    # Round before wrapping: 359.996 would print as "360.00", outside [0, 360).
    direction = _fixed(np.round(records.direction_deg, 2) % 360.0, 2)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if fmt == "paper":
            writer.writerow(PAPER_COLUMNS)
            writer.writerows(zip(miners, speed, direction, stamps, pillars, strict=True))
            return
        role_column = records.role.tolist()
        writer.writerow(EXTENDED_COLUMNS)
        writer.writerows(
            zip(
                miners,
                role_column,
                stamps,
                speed,
                direction,
                _fixed(records.x, 2),
                _fixed(records.y, 2),
                pillars,
                strict=True,
            )
        )


def write_contacts(contacts: Sequence[Contact] | Contacts, path: Path) -> None:
    if isinstance(contacts, Contacts):
        contacts = contacts.to_list()
    starts = format_timestamps(np.array([c.t_start for c in contacts], dtype=np.float64)).tolist()
    ends = format_timestamps(np.array([c.t_end for c in contacts], dtype=np.float64)).tolist()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CONTACT_COLUMNS)
        writer.writerows((c.miner_id, c.gateway_id, s, e) for c, s, e in zip(contacts, starts, ends, strict=True))


def dataset_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------------- reading
def load_records(path: Path, *, pillar_labels: Sequence[str] | None = None, timezone: str = "UTC") -> Records:
    """``read_records`` without the report (the report is still worth printing: see ``read_records``)."""
    return read_records(path, pillar_labels=pillar_labels, timezone=timezone)[0]


def read_records(
    path: Path, *, pillar_labels: Sequence[str] | None = None, timezone: str = "UTC"
) -> tuple[Records, CleaningReport]:
    """Records of a CSV file in either format, cleaned, sorted by miner then time, and what was dropped.

    ``pillar_labels`` fixes the pillar label table (e.g. ``MineLayout.pillar_ids``): rows naming another
    pillar are dropped as ``unknown_pillar``. Without it the table is every label seen, in natural order
    (``p2`` before ``p10``).
    """
    name = str(path)
    zone = check_timezone(timezone)
    header, rows, line_numbers = _read_csv(path)
    fmt, index = _detect_format(name, header)
    n = len(rows)
    fields = _FIELDS[fmt]
    raw = {canonical: [row[index[column]].strip() for row in rows] for column, canonical in fields.items()}
    reason = np.zeros(n, dtype=np.int8)  # 0: keep; k: REASONS[k - 1]

    def mark(mask: NDArray[np.bool_], why: str) -> None:
        reason[(reason == 0) & mask] = REASONS.index(why) + 1

    optional = {"x", "y"}
    for canonical, values in raw.items():
        if canonical not in optional:
            mark(np.array([v == "" for v in values], dtype=np.bool_), "missing_value")
    numbers: dict[str, NDArray[np.float64]] = {}
    for canonical in ("speed", "direction", "x", "y"):
        if canonical in raw:
            values_, bad = _parse_numbers(raw[canonical], empty_is_nan=canonical in optional)
            mark(bad, "bad_number")
            numbers[canonical] = values_
    for canonical in ("speed", "direction"):
        mark(~np.isfinite(numbers[canonical]) & (reason == 0), "non_finite")
    for canonical in ("x", "y"):  # empty is allowed (NaN); an explicit inf is not a position
        if canonical in numbers:
            mark(np.isinf(numbers[canonical]), "non_finite")
    t, bad_t = _parse_timestamps(raw["t"], zone)
    mark(bad_t | ~np.isfinite(t), "bad_timestamp")
    with np.errstate(invalid="ignore"):
        mark(numbers["speed"] < 0, "negative_speed")
        mark((numbers["direction"] < 0) | (numbers["direction"] >= 360), "direction_out_of_range")
    if pillar_labels is not None:
        known = set(pillar_labels)
        mark(np.array([v not in known for v in raw["pillar"]], dtype=np.bool_), "unknown_pillar")

    seen_rows: set[tuple[str, ...]] = set()
    seen_keys: set[tuple[str, float]] = set()
    for k in np.flatnonzero(reason == 0).tolist():
        whole = tuple(values[k] for values in raw.values())
        if whole in seen_rows:
            reason[k] = REASONS.index("exact_duplicate") + 1
            continue
        seen_rows.add(whole)
        key = (raw["miner"][k], float(t[k]))
        if key in seen_keys:
            reason[k] = REASONS.index("conflicting_duplicate") + 1
            continue
        seen_keys.add(key)

    keep = reason == 0
    report = CleaningReport(path=name, format=fmt, rows_read=n, rows_kept=int(keep.sum()))
    for code, why in enumerate(REASONS, start=1):
        hits = np.flatnonzero(reason == code)
        if len(hits):
            report.dropped[why] = len(hits)
            report.examples[why] = [line_numbers[i] for i in hits[:_EXAMPLES_PER_REASON].tolist()]

    kept = np.flatnonzero(keep)
    rows_kept = kept.tolist()
    pillar_values = [raw["pillar"][k] for k in rows_kept]
    labels = list(pillar_labels) if pillar_labels is not None else sorted(set(pillar_values), key=natural_key)
    pillar_code = {p: i for i, p in enumerate(labels)}
    nan = np.full(len(kept), np.nan)
    records = Records(
        miner=np.array([raw["miner"][k] for k in rows_kept], dtype=np.str_),
        role=np.array(
            [raw["role"][k].lower() for k in rows_kept] if "role" in raw else [""] * len(kept), dtype=np.str_
        ),
        t=t[kept],
        speed=numbers["speed"][kept],
        direction_deg=numbers["direction"][kept],
        x=numbers["x"][kept] if "x" in numbers else nan,
        y=numbers["y"][kept] if "y" in numbers else nan.copy(),
        pillar=np.array([pillar_code[p] for p in pillar_values], dtype=np.int64),
        pillar_labels=labels,
    )
    return records.sorted_by_miner_and_time(), report


def load_contacts(path: Path) -> Contacts:
    """Contacts CSV (``miner_id,gateway_id,t_start,t_end``); any bad row is an error (nothing to clean here)."""
    name = str(path)
    header, rows, line_numbers = _read_csv(path)
    index = _column_index(header)
    missing = [c for c in CONTACT_COLUMNS if c.lower() not in index]
    if missing:
        raise DatasetFormatError(
            f"{name}: row 1: header: missing column(s) {', '.join(map(repr, missing))}; "
            f"a contacts file has the columns {','.join(CONTACT_COLUMNS)}"
        )
    contacts = []
    for row, line in zip(rows, line_numbers, strict=True):
        values = {c: row[index[c]].strip() for c in CONTACT_COLUMNS}
        times = []
        for column in ("t_start", "t_end"):
            seconds = _parse_one_timestamp(values[column])
            if seconds is None:
                raise DatasetFormatError(
                    f"{name}: row {line}: column {column!r}: {values[column]!r} is not a timestamp; "
                    "allowed: ISO-8601 (2026-01-05T09:00:05Z), seconds, or hours with an 'h' suffix"
                )
            times.append(seconds)
        for column in ("miner_id", "gateway_id"):
            if not values[column]:
                raise DatasetFormatError(f"{name}: row {line}: column {column!r}: empty; allowed: a non-empty id")
        if times[1] < times[0]:
            raise DatasetFormatError(f"{name}: row {line}: column 't_end': before t_start; allowed: t_end >= t_start")
        contacts.append(Contact(values["miner_id"], values["gateway_id"], times[0], times[1]))
    return Contacts.from_list(contacts)


# ------------------------------------------------------------------------------------------------ internals
def _read_csv(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    name = str(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DatasetFormatError(f"{name}: cannot open: {exc.strerror or exc}") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(_non_blank(reader), None)
            if header is None:
                raise DatasetFormatError(f"{name}: row 1: the file is empty; a header row is needed")
            rows: list[list[str]] = []
            lines: list[int] = []
            width = len(header)
            for row in _non_blank(reader):
                if len(row) != width:
                    missing = f" (no value for column {header[len(row)].strip()!r})" if len(row) < width else ""
                    raise DatasetFormatError(
                        f"{name}: row {reader.line_num}: has {len(row)} field(s), the header has {width} "
                        f"column(s){missing}; allowed: exactly one value per header column"
                    )
                rows.append(row)
                lines.append(reader.line_num)
        except UnicodeDecodeError as exc:
            raise DatasetFormatError(f"{name}: not UTF-8 text ({exc.reason}); allowed: a UTF-8 CSV file") from None
        except csv.Error as exc:
            raise DatasetFormatError(f"{name}: row {reader.line_num}: not valid CSV ({exc})") from None
    return header, rows, lines


def _non_blank(reader: Iterator[list[str]]) -> Iterator[list[str]]:
    for row in reader:
        if row and any(cell.strip() for cell in row):
            yield row


def _column_index(header: Sequence[str]) -> dict[str, int]:
    index: dict[str, int] = {}
    for k, column in enumerate(header):
        index.setdefault(" ".join(column.split()).lower(), k)
    return index


def _detect_format(name: str, header: Sequence[str]) -> tuple[RecordFormat, dict[str, int]]:
    by_name = _column_index(header)
    candidates: list[tuple[int, RecordFormat, list[str]]] = []
    formats: tuple[tuple[RecordFormat, tuple[str, ...]], ...] = (
        ("paper", PAPER_COLUMNS),
        ("extended", EXTENDED_COLUMNS),
    )
    for fmt, columns in formats:
        missing = [c for c in columns if c.lower() not in by_name]
        if not missing:
            return fmt, {c: by_name[c.lower()] for c in columns}
        candidates.append((len(missing), fmt, missing))
    _, fmt, missing = min(candidates)
    raise DatasetFormatError(
        f"{name}: row 1: header: missing column(s) {', '.join(map(repr, missing))} of the {fmt} format "
        f"(got {','.join(header)}); allowed headers: paper format {','.join(PAPER_COLUMNS)} | "
        f"extended format {','.join(EXTENDED_COLUMNS)}"
    )


def _parse_numbers(values: list[str], *, empty_is_nan: bool) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Floats of the values and a mask of the ones that are not numbers (empty: NaN, bad only if required)."""
    try:
        parsed = np.array([v if v else "nan" for v in values], dtype=np.float64)
        bad = np.zeros(len(values), dtype=np.bool_)
    except ValueError:
        parsed = np.full(len(values), np.nan)
        bad = np.zeros(len(values), dtype=np.bool_)
        for k, v in enumerate(values):
            if not v:
                continue
            try:
                parsed[k] = float(v)
            except ValueError:
                bad[k] = True
    if not empty_is_nan:
        bad |= np.array([not v for v in values], dtype=np.bool_)
    return parsed, bad


def _parse_timestamps(values: list[str], zone: dt.tzinfo = dt.UTC) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    n = len(values)
    try:  # fast path: every value a number of seconds
        return np.array(values, dtype=np.float64), np.zeros(n, dtype=np.bool_)
    except ValueError:
        pass
    try:  # fast path: every value ISO-8601 in UTC ("Z", or no zone on a UTC mine clock)
        stripped = [v[:-1] if v.endswith(("Z", "z")) else v for v in values]
        utc = zone is dt.UTC or all(v.endswith(("Z", "z")) for v in values)
        if utc and all("+" not in v[10:] and v[10:].count("-") == 0 for v in stripped):
            stamps = np.array(stripped, dtype="datetime64[us]")
            if not np.isnat(stamps).any():
                return stamps.astype(np.int64).astype(np.float64) / 1e6, np.zeros(n, dtype=np.bool_)
    except ValueError:
        pass
    seconds = np.full(n, np.nan)
    bad = np.zeros(n, dtype=np.bool_)
    for k, v in enumerate(values):
        parsed = _parse_one_timestamp(v, zone)
        if parsed is None:
            bad[k] = True
        else:
            seconds[k] = parsed
    return seconds, bad


def _parse_one_timestamp(value: str, zone: dt.tzinfo = dt.UTC) -> float | None:
    if not value:
        return None
    if _HOURS.match(value):
        hours = float(value[:-1])
        return hours * 3600.0 if math.isfinite(hours) else None
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        return number if math.isfinite(number) else None
    try:
        stamp = dt.datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=zone)
    return stamp.timestamp()
