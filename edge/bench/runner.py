"""Run the chosen sections in order with progress on stderr, each failing soft, and write the report files.

A section that raises is recorded with its error (and the tail of its traceback) and the next one runs: a gateway
without a camera detector, or a broken model file, still gets the rest of its report.
"""

from __future__ import annotations

import datetime
import json
import socket
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from edge.bench.sections import SECTIONS, BenchOptions, Section

SCHEMA = "minegate-bench"
SCHEMA_VERSION = 1
JSON_NAME = "bench.json"
MARKDOWN_NAME = "bench.md"


class Progress:
    """``[  12.3 s] section: step`` lines, elapsed since the run started (``clock``: seconds, monotonic)."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._started = clock()

    def elapsed(self) -> float:
        return self._clock() - self._started

    def say(self, section: str, step: str) -> None:
        self._stream.write(f"[{self.elapsed():6.1f} s] {section}: {step}\n")
        self._stream.flush()

    def reporter(self, section: str) -> Callable[[str], None]:
        """What a section calls with each step it starts."""
        return lambda step: self.say(section, step)


def parse_only(text: str | None) -> list[str]:
    """The sections to run, in the suite's order; ``ValueError`` naming an unknown one and what is allowed."""
    if not text:
        return list(SECTIONS)
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in wanted if name not in SECTIONS]
    if unknown:
        raise ValueError(f"--only: unknown section(s) {', '.join(unknown)}; allowed: {', '.join(SECTIONS)}")
    return [name for name in SECTIONS if name in wanted]


def default_out_dir(now: datetime.datetime | None = None) -> Path:
    when = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y%m%dT%H%M%SZ")
    return Path(f"minegate-bench-{socket.gethostname()}-{when}")


def run_sections(
    names: Sequence[str],
    options: BenchOptions,
    progress: Progress,
    *,
    sections: Mapping[str, Section] = SECTIONS,
) -> dict[str, Any]:
    """The report as a dict (``bench.json``'s content): every section's status, figures, notes and metrics."""
    started_utc = datetime.datetime.now(datetime.UTC)
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "started_utc": started_utc.isoformat(timespec="seconds"),
        "options": {"quick": options.quick, "load": options.load, "only": list(names)},
        "sections": {},
        "metrics": {},
    }
    for name in names:
        section_started = progress.elapsed()
        progress.say(name, "start")
        entry: dict[str, Any] = {"status": "ok", "error": None, "notes": [], "result": {}}
        try:
            output = sections[name](options, progress.reporter(name))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # fail soft: the error goes into the report and the next section runs
            entry["status"] = "error"
            entry["error"] = f"{type(exc).__name__}: {exc}"
            entry["traceback"] = traceback.format_exc().strip().splitlines()[-12:]
            progress.say(name, f"FAILED: {entry['error']}")
        else:
            entry["result"] = output.result
            entry["notes"] = output.notes
            report["metrics"].update({key: metric.to_json() for key, metric in output.metrics.items()})
        entry["seconds"] = progress.elapsed() - section_started
        report["sections"][name] = entry
        progress.say(name, f"done in {entry['seconds']:.1f} s")
    report["finished_utc"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    report["wall_s"] = sum(entry["seconds"] for entry in report["sections"].values())
    system = report["sections"].get("system", {}).get("result")
    report["host"] = system.get("host") if system else socket.gethostname()
    return report


def write_report(report: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """``bench.json``, ``bench.md`` and the charts (when matplotlib is installed) in ``out_dir``."""
    from edge.bench.report import render_markdown, write_charts  # noqa: PLC0415

    out_dir.mkdir(parents=True, exist_ok=True)
    charts, chart_note = write_charts(report, out_dir)
    json_path = out_dir / JSON_NAME
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    md_path = out_dir / MARKDOWN_NAME
    md_path.write_text(render_markdown(report, charts=[c.name for c in charts], chart_note=chart_note), "utf-8")
    return [json_path, md_path, *charts]


def bench(names: Sequence[str], options: BenchOptions, out_dir: Path, *, stream: TextIO = sys.stderr) -> Path:
    """Run and write everything; returns the JSON report's path."""
    progress = Progress(stream)
    report = run_sections(names, options, progress)
    files = write_report(report, out_dir)
    progress.say("report", ", ".join(str(f) for f in files))
    return files[0]
