"""The logbook inside a running gateway: the store, its encoder, the watched folder and the ZeroMQ endpoint.

An advisory part of the gateway: a refused encoder falls back to the hashed one, a folder or endpoint failure is
restarted by the gateway's supervisor; none of it is on the statutory path.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import zmq.asyncio

from edge.clock import Clock
from edge.logbook.config import LogbookSection
from edge.logbook.endpoint import LogEndpoint
from edge.logbook.folder import FolderWatcher
from edge.logbook.store import LogStore
from edge.logbook.tags import Tagger
from edge.text.encoder import Encoder
from edge.text.hashed import HashedNgramEncoder

__all__ = ["GatewayLogbook", "open_logbook_encoder", "tagger_for"]

log = logging.getLogger(__name__)


def open_logbook_encoder(spec: str, *, threads: int = 1) -> tuple[Encoder, str | None]:
    """The encoder ``spec`` names, or the hashed encoder and the reason when it cannot be loaded (MiniLM file not
    built, refused by its manifest checks, tokenizers missing): a logbook without MiniLM still finds the
    incidents that share words."""
    from edge.text.window import open_encoder  # noqa: PLC0415  (loads onnxruntime only when used)

    if spec == "hashed" or spec.startswith("hashed:"):
        return open_encoder(spec), None
    directory = Path(spec)
    if directory.is_dir() and not any(directory.glob("*.onnx")):
        reason = f"no ONNX file in {directory} (run `make models` to build it)"
    else:
        try:
            return open_encoder(spec, threads=threads), None
        except Exception as exc:  # ModelRefused, ValueError, ImportError of tokenizers: all mean "use hashed"
            reason = f"{type(exc).__name__}: {exc}"
    log.warning("logbook: text encoder %s not used, falling back to the hashed encoder: %s", spec, reason)
    return HashedNgramEncoder(), reason


def tagger_for(section: LogbookSection) -> Tagger:
    return Tagger(section.vocabulary.equipment, section.vocabulary.locations)


class GatewayLogbook:
    """Built from a resolved ``logbook:`` section (absolute paths); ``store`` is what the hazard task reads."""

    def __init__(self, section: LogbookSection, *, clock: Clock, zmq_context: zmq.asyncio.Context) -> None:
        if section.path is None or section.encoder is None:
            raise ValueError("a logbook section must be resolved (edge.logbook.config.resolve_section) first")
        self.section = section
        self.encoder, self.encoder_fallback = open_logbook_encoder(section.encoder)
        self.store = LogStore.open(Path(section.path), encoder=self.encoder, clock=clock, tagger=tagger_for(section))
        self.watcher = (
            FolderWatcher(self.store, Path(section.watch_dir), clock=clock, default_kind=section.default_kind)
            if section.watch_dir is not None
            else None
        )
        self.endpoint = (
            LogEndpoint(zmq_context, section.endpoint, self.store, clock=clock, default_kind=section.default_kind)
            if section.endpoint is not None
            else None
        )

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            if self.endpoint is not None:
                group.create_task(self.endpoint.run(), name="logbook-endpoint")
            if self.watcher is not None:
                group.create_task(self.watcher.run(self.section.poll), name="logbook-folder")
            # Entries stored by another encoder (or by `minegate log add`, which loads none) are encoded now,
            # in the background, rather than by the first `similar` that needs them.
            await asyncio.to_thread(self.store.reencode)

    def status(self) -> dict[str, Any]:
        return {
            "path": str(self.store.path),
            "entries": self.store.count(),
            "encoder": self.encoder.name,
            "encoder_fallback": self.encoder_fallback,
            "folder": None
            if self.watcher is None
            else {"dir": str(self.watcher.directory), "added": self.watcher.added, "rejected": self.watcher.rejected},
            "endpoint": None
            if self.endpoint is None
            else {
                "endpoint": self.endpoint.endpoint,
                "accepted": self.endpoint.accepted,
                "refused": self.endpoint.refused,
            },
        }

    def close(self) -> None:
        self.store.close()
