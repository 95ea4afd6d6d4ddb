"""Simulated power cut for a process's SQLite files: discard every write that was not fsynced.

Copying a database after ``kill -9`` does not simulate a power cut: the kernel's page cache survives the process,
so the copy holds every write the process made, synced or not. Here the process runs with ``powercut_shim.c``
preloaded (``LD_PRELOAD``): before each write to a file under ``POWERCUT_DIR`` it saves the bytes about to be
overwritten (and the file size) in an undo log, and an ``fsync``/``fdatasync`` of the file empties that log. After
the process is SIGKILLed, ``restore`` plays the undo logs backwards, so each file is exactly what it was at its
last sync -- what a power cut that loses every unsynced write leaves -- and deletes SQLite's ``-shm`` wal-index
(memory-mapped, never synced; SQLite rebuilds it from the WAL when it finds it missing).

Limits, stated rather than faked: directory entries are taken as durable (a file created or deleted since the
last directory sync stays so); writes through ``mmap`` are not seen (only the ``-shm`` file is mapped, and it is
deleted); the worst case is simulated -- all unsynced writes lost -- not an arbitrary subset of them, and
sectors are not torn. The shim needs a C compiler (``cc``) to build.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "powercut_shim.c"
_HEAD = struct.Struct("<qqq")  # offset, saved length, file size before the write


class ShimUnavailable(RuntimeError):
    """The shim cannot be built here (no C compiler); the message says what is missing."""


def build_shim(cache_dir: Path | None = None) -> Path:
    """Compile ``powercut_shim.c`` once per source version; returns the shared library's path."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise ShimUnavailable("no C compiler (cc or gcc) to build the power-cut shim; install gcc")
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    directory = cache_dir or Path(tempfile.gettempdir()) / "minegate-powercut"
    directory.mkdir(parents=True, exist_ok=True)
    library = directory / f"powercut-{digest}.so"
    if not library.exists():
        partial = library.with_suffix(f".{os.getpid()}.tmp")
        subprocess.run(
            [compiler, "-shared", "-fPIC", "-O2", "-o", str(partial), str(SOURCE), "-ldl"],
            check=True,
            capture_output=True,
        )
        partial.replace(library)
    return library


def shim_env(library: Path, watch_dir: Path, undo_dir: Path) -> dict[str, str]:
    """Environment additions for a child whose writes under ``watch_dir`` a power cut can undo."""
    watch_dir.mkdir(parents=True, exist_ok=True)
    undo_dir.mkdir(parents=True, exist_ok=True)
    return {"LD_PRELOAD": str(library), "POWERCUT_DIR": str(watch_dir), "POWERCUT_UNDO_DIR": str(undo_dir)}


@dataclass(frozen=True)
class Restored:
    files: int  # files that had unsynced writes (the -shm wal-index not counted: it is deleted)
    writes: int  # writes undone
    bytes_restored: int  # old bytes written back
    shm_removed: int


def restore(watch_dir: Path, undo_dir: Path) -> Restored:
    """After SIGKILL: every file under ``watch_dir`` back to its last synced state. The process must be dead."""
    files = writes = restored = 0
    for log in sorted(undo_dir.glob("*.undo")):
        target = Path(log.name[: -len(".undo")].replace("%", "/"))
        if target.name.endswith("-shm"):
            log.unlink()  # the wal-index is deleted below: nothing of it survives a power cut here
            continue
        data = log.read_bytes()
        records: list[tuple[int, int, bytes]] = []
        at = 0
        while at + _HEAD.size <= len(data):
            offset, kept, size = _HEAD.unpack_from(data, at)
            at += _HEAD.size
            if at + kept > len(data):
                break  # the last record was cut by the kill: its write never happened either
            records.append((offset, size, data[at : at + kept]))
            at += kept
        if records and target.exists():
            with target.open("r+b") as handle:
                for offset, _, old in reversed(records):
                    if old:
                        handle.seek(offset)
                        handle.write(old)
                        restored += len(old)
                handle.truncate(records[0][1])  # the size before the first unsynced write
            files += 1
            writes += len(records)
        log.unlink()
    shm = list(watch_dir.rglob("*-shm"))
    for path in shm:
        path.unlink()
    return Restored(files, writes, restored, len(shm))
