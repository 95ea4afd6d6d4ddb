"""An optional local JPEG per violation event, kept within a file-count and byte budget. Off by default.

Images of people stay on the gateway: nothing here sends them anywhere. The directory is private to the
gateway user (0700), files are written atomically, and the oldest files go first when a budget is exceeded.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import cv2

from edge.camera.frames import Image

_log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


class SnapshotStore:
    def __init__(self, directory: Path, *, max_files: int, max_bytes: int, jpeg_quality: int = 80) -> None:
        if max_files < 1 or max_bytes < 1:
            raise ValueError(f"snapshots need max_files >= 1 and max_bytes >= 1 (got {max_files}, {max_bytes})")
        self.directory = directory
        self._max_files = max_files
        self._max_bytes = max_bytes
        self._quality = jpeg_quality
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.deleted = 0

    def save(self, image: Image, *, t_wall: float, name: str) -> Path | None:
        """Write ``image`` as ``<t_wall ms>_<name>.jpg`` and apply retention; None when it cannot be written."""
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        if not ok:
            _log.warning("snapshot %s: JPEG encoding failed", name)
            return None
        path = self.directory / f"{int(t_wall * 1000):015d}_{_UNSAFE.sub('_', name)}.jpg"
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_bytes(encoded.tobytes())
            os.replace(tmp, path)
        except OSError as exc:  # a full or failing card must not stop the camera path
            _log.warning("snapshot %s: cannot write %s: %s", name, path, exc)
            tmp.unlink(missing_ok=True)
            return None
        self.enforce_retention()
        return path if path.exists() else None

    def files(self) -> list[Path]:
        """Kept snapshots, oldest first (names start with the time, so name order is time order)."""
        return sorted(self.directory.glob("*.jpg"))

    def enforce_retention(self) -> None:
        files = self.files()
        sizes = [f.stat().st_size for f in files]
        total = sum(sizes)
        index = 0
        while index < len(files) and (len(files) - index > self._max_files or total > self._max_bytes):
            files[index].unlink(missing_ok=True)
            total -= sizes[index]
            index += 1
            self.deleted += 1
