"""The ``logbook:`` configuration section (unknown keys refused), embedded in the gateway schema. For example::

    logbook:
      watch_dir: /srv/minegate/logs-in      # .txt/.csv/.jsonl files dropped here are ingested once
      poll: 5s
      endpoint: ipc:///run/minegate/logbook.sock
      encoder: models/text/minilm           # or "hashed"; default: the shipped MiniLM, else hashed
      vocabulary:
        equipment: {"Big Bertha": CM-1, "main belt": BD-1}
        locations: {"old shaft": shaft 1}

Paths are relative to the config file; ``path`` defaults to ``<data_dir>/logbook.sqlite``.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.config.units import Duration
from edge.hazard.contract import LogKind
from edge.models_dir import shipped_model

__all__ = ["DEFAULT_ENCODER_DIR", "LOGBOOK_FILE", "LogbookSection", "VocabularyModel"]

LOGBOOK_FILE = "logbook.sqlite"
# The encoder the early-warning model chose (issue 5); its ONNX file is rebuilt by `make models`.
DEFAULT_ENCODER_DIR = shipped_model("text", "minilm")
_LOCAL_TCP = re.compile(r"^tcp://(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\]):\d{1,5}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VocabularyModel(_Strict):
    """Names the site uses for its equipment and places, mapped to the canonical tag the logbook stores."""

    equipment: dict[str, str] = Field(default_factory=dict, description='e.g. {"Big Bertha": "CM-1"}')
    locations: dict[str, str] = Field(default_factory=dict, description='e.g. {"old shaft": "shaft 1"}')


class LogbookSection(_Strict):
    path: str | None = Field(None, description="the logbook SQLite file; default <data_dir>/logbook.sqlite")
    watch_dir: str | None = Field(None, description="folder of .txt/.csv/.jsonl files to ingest; none: no folder")
    poll: Duration = Field(2.0, gt=0, le=3600, description="how often the folder is looked at")
    endpoint: str | None = Field(None, description="local ZeroMQ REP endpoint taking entries (loopback or ipc://)")
    encoder: str | None = Field(
        None, description="'hashed', 'hashed:DIM' or a MiniLM model directory; default the shipped MiniLM"
    )
    default_kind: LogKind = Field(LogKind.OPERATION, description="kind of an entry that does not say")
    vocabulary: VocabularyModel = VocabularyModel()

    @field_validator("endpoint")
    @classmethod
    def local_only(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("ipc://") or _LOCAL_TCP.match(value)):
            raise ValueError(
                f"logbook endpoint {value!r} accepts writes and must stay on the gateway: use ipc://PATH or "
                "tcp://127.0.0.1:PORT"
            )
        return value


def resolve_section(section: LogbookSection, *, base_dir: Path, data_dir: Path) -> tuple[LogbookSection, list[str]]:
    """The section with every path absolute and the defaults applied, and the problems found (each names its
    field). A MiniLM directory without its ONNX file is not a problem: the logbook falls back to the hashed
    encoder with a warning (``make models`` builds the file)."""

    def absolute(path: str) -> str:
        return str((base_dir / path).resolve()) if not Path(path).is_absolute() else path

    problems: list[str] = []
    encoder = section.encoder
    if encoder is None:
        encoder = str(DEFAULT_ENCODER_DIR)
    elif not (encoder == "hashed" or encoder.startswith("hashed:")):
        encoder = absolute(encoder)
        if not (Path(encoder) / "manifest.json").is_file():
            problems.append(
                f"encoder: no manifest.json in {encoder}: give a MiniLM model directory (models/text/minilm) "
                "or 'hashed'"
            )
    resolved = section.model_copy(
        update={
            "path": absolute(section.path) if section.path is not None else str(data_dir / LOGBOOK_FILE),
            "watch_dir": absolute(section.watch_dir) if section.watch_dir is not None else None,
            "encoder": encoder,
        }
    )
    return resolved, problems
