"""A record of every coil write the gateway makes to the simulated relay modules.

Tests assert on it (did the siren coil go on, and when?), in this process through ``CoilLog`` and in another
process through the JSON-lines file, which is flushed after every line so a reader never waits for a buffer.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from edge.clock import Clock

DEFAULT_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class CoilWrite:
    t_wall: float
    device_id: str
    coil: int  # 0-based coil address
    value: bool

    def to_json(self) -> str:
        return json.dumps({"t_wall": self.t_wall, "device_id": self.device_id, "coil": self.coil, "value": self.value})

    @classmethod
    def from_json(cls, line: str) -> CoilWrite:
        record = json.loads(line)
        return cls(
            t_wall=float(record["t_wall"]),
            device_id=str(record["device_id"]),
            coil=int(record["coil"]),
            value=bool(record["value"]),
        )


class CoilLog:
    """Bounded in-memory log of coil writes, optionally mirrored to an append-only JSON-lines file."""

    def __init__(self, clock: Clock, *, path: Path | None = None, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries <= 0:
            raise ValueError(f"max_entries must be positive, got {max_entries}")
        self._clock = clock
        self._entries: deque[CoilWrite] = deque(maxlen=max_entries)
        self._path = path
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    @property
    def path(self) -> Path | None:
        return self._path

    def record(self, device_id: str, coil: int, value: bool) -> CoilWrite:
        write = CoilWrite(t_wall=self._clock.wall(), device_id=device_id, coil=coil, value=value)
        self._entries.append(write)
        if self._file is not None:
            self._file.write(write.to_json() + "\n")
            self._file.flush()
        return write

    def entries(self, device_id: str | None = None) -> list[CoilWrite]:
        """Writes kept in memory, oldest first; only those to ``device_id`` when given."""
        return [w for w in self._entries if device_id is None or w.device_id == device_id]

    def __iter__(self) -> Iterator[CoilWrite]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_coil_log(path: Path) -> list[CoilWrite]:
    """All writes recorded in a JSON-lines coil log file; a partly written last line is left out."""
    writes: list[CoilWrite] = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.endswith("\n"):
                break  # the writer is between write() and flush(): the line is not complete yet
            writes.append(CoilWrite.from_json(line))
    return writes
