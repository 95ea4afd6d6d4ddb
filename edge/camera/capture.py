"""Capture: one thread per camera that reads continuously and keeps only the newest frame.

OpenCV's reads block (a V4L2 device waits for the next exposure, an RTSP stream for the network), so each camera
owns a thread. The thread ``grab``s every frame the camera sends -- an RTSP or V4L2 buffer that is not drained
serves ever older frames -- but decodes (``retrieve``) only at the sampling rate, which is where most of the CPU
goes. A sampled frame replaces the previous one (nobody wants a stale frame) and is handed to ``on_frame``.

A camera that cannot be opened or stops delivering is closed and reopened after an exponential back-off;
the loop body is ``step()``, which returns how long to wait, so tests drive it with a fake clock.
A video file is replayed at its own frame rate (or ``replay_fps``), like a live camera.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from edge.camera.config import ReconnectConfig
from edge.camera.frames import Image
from edge.clock import Clock

__all__ = [
    "Backoff",
    "CameraCapture",
    "CameraError",
    "CaptureState",
    "CaptureStats",
    "CapturedFrame",
    "FrameSource",
    "OpenCVSource",
]

_log = logging.getLogger(__name__)

# After a failed read of a live stream, try again soon: a single dropped RTSP packet is not a lost camera.
_READ_RETRY_S = 0.05


class CameraError(RuntimeError):
    """A camera source that cannot be opened; the message names the source and what to check."""


class FrameSource(Protocol):
    """Where frames come from. ``grab`` advances (cheap); ``retrieve`` decodes the frame last grabbed."""

    description: str

    @property
    def is_file(self) -> bool:
        """A recording: it ends instead of failing, and is replayed at ``frame_interval_s``."""
        ...

    @property
    def frame_interval_s(self) -> float | None:
        """For a file, the time between frames to replay at; None for a live camera (it paces itself)."""
        ...

    def open(self) -> None: ...

    def grab(self) -> bool: ...

    def retrieve(self) -> Image | None: ...

    def close(self) -> None: ...


def _parse_source(source: str) -> tuple[str | int, int, bool]:
    """(what to pass to VideoCapture, API preference, is a file) for a configured source string."""
    text = source.strip()
    if text.isdigit():
        return int(text), cv2.CAP_V4L2, False
    if text.startswith("/dev/video"):
        return text, cv2.CAP_V4L2, False
    if "://" in text:
        return text, cv2.CAP_FFMPEG, False
    return text, cv2.CAP_ANY, True


class OpenCVSource:
    """A V4L2 device (``/dev/video0`` or ``0``), an ``rtsp://``/``http://`` URL, or a video file to replay."""

    def __init__(
        self,
        source: str,
        *,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 5.0,
        replay_fps: float | None = None,
    ) -> None:
        self._target, self._api, self._is_file = _parse_source(source)
        self.description = source
        self._open_timeout_ms = int(open_timeout_s * 1000)
        self._read_timeout_ms = int(read_timeout_s * 1000)
        self._replay_fps = replay_fps
        self._file_fps: float | None = None
        self._capture: cv2.VideoCapture | None = None

    @property
    def is_file(self) -> bool:
        return self._is_file

    @property
    def frame_interval_s(self) -> float | None:
        if not self._is_file:
            return None
        fps = self._replay_fps or self._file_fps or 25.0
        return 1.0 / fps

    def open(self) -> None:
        self.close()
        if self._is_file and not Path(str(self._target)).is_file():
            raise CameraError(f"camera source {self.description!r}: no such video file")
        # Without these timeouts an unreachable RTSP camera blocks the open for ~30 s inside FFmpeg.
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            self._open_timeout_ms,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            self._read_timeout_ms,
        ]
        capture = cv2.VideoCapture(self._target, self._api, params)
        if not capture.isOpened():
            capture.release()
            hint = (
                "check the device exists and the gateway user is in group 'video'"
                if self._api == cv2.CAP_V4L2
                else "check the URL, credentials and that the camera answers"
                if not self._is_file
                else "the file is not a video OpenCV can decode"
            )
            raise CameraError(f"camera source {self.description!r} cannot be opened: {hint}")
        if not self._is_file:
            # Only the newest frame matters; a deep driver buffer only adds latency.
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        else:
            fps = float(capture.get(cv2.CAP_PROP_FPS))
            self._file_fps = fps if 0 < fps < 1000 else None
        self._capture = capture

    def grab(self) -> bool:
        return self._capture is not None and bool(self._capture.grab())

    def retrieve(self) -> Image | None:
        if self._capture is None:
            return None
        ok, image = self._capture.retrieve()
        if not ok or image is None:
            return None
        return np.asarray(image, dtype=np.uint8)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class Backoff:
    """Exponential back-off between reconnect attempts: initial, initial x factor, ... up to max."""

    def __init__(self, config: ReconnectConfig) -> None:
        self._config = config
        self._next = config.initial

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._config.max, self._next * self._config.factor)
        return delay

    def reset(self) -> None:
        self._next = self._config.initial


class CaptureState(enum.StrEnum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    WAITING = "waiting"  # backing off before the next open
    ENDED = "ended"  # a replayed file reached its end
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    camera_id: str
    seq: int  # 1, 2, ... per capture, never reused
    t_mono: float
    t_wall: float
    image: Image


@dataclass(frozen=True, slots=True)
class CaptureStats:
    state: CaptureState
    frames_grabbed: int
    frames_sampled: int
    open_failures: int
    streams_lost: int
    replays: int  # times a looped file started again
    last_error: str
    next_attempt_in_s: float | None


class CameraCapture:
    """Runs a ``FrameSource`` on its own thread; ``latest()`` is the newest sampled frame.

    ``on_frame`` is called on the capture thread with each sampled frame: hand it to an event loop with
    ``loop.call_soon_threadsafe`` and keep it short.
    """

    def __init__(
        self,
        camera_id: str,
        source: FrameSource,
        *,
        sample_interval_s: float,
        reconnect: ReconnectConfig,
        clock: Clock,
        replay_loop: bool = False,
        on_frame: Callable[[CapturedFrame], None] | None = None,
    ) -> None:
        if sample_interval_s <= 0:
            raise ValueError(f"camera {camera_id!r}: sample_interval_s must be > 0 (got {sample_interval_s})")
        self.camera_id = camera_id
        self._source = source
        self._interval = sample_interval_s
        self._reconnect = reconnect
        self._backoff = Backoff(reconnect)
        self._clock = clock
        self._replay_loop = replay_loop
        self._on_frame = on_frame
        self._lock = threading.Lock()
        self._latest: CapturedFrame | None = None
        self._opened = False
        self._state = CaptureState.CONNECTING
        self._next_sample_t: float | None = None
        self._next_grab_t: float | None = None
        self._resume_t: float | None = None
        self._read_failures = 0
        self._seq = 0
        self._frames_grabbed = 0
        self._open_failures = 0
        self._streams_lost = 0
        self._replays = 0
        self._last_error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what consumers read -------------------------------------------------------------------------------
    def latest(self) -> CapturedFrame | None:
        with self._lock:
            return self._latest

    def newer_than(self, seq: int) -> CapturedFrame | None:
        """The newest frame if it is newer than ``seq``, else None."""
        with self._lock:
            frame = self._latest
        return frame if frame is not None and frame.seq > seq else None

    def stats(self) -> CaptureStats:
        now = self._clock.monotonic()
        return CaptureStats(
            state=self._state,
            frames_grabbed=self._frames_grabbed,
            frames_sampled=self._seq,
            open_failures=self._open_failures,
            streams_lost=self._streams_lost,
            replays=self._replays,
            last_error=self._last_error,
            next_attempt_in_s=None if self._resume_t is None else max(0.0, self._resume_t - now),
        )

    @property
    def state(self) -> CaptureState:
        return self._state

    # -- the loop ------------------------------------------------------------------------------------------
    def step(self) -> float:
        """One iteration of the capture loop; returns the seconds to wait before the next one."""
        now = self._clock.monotonic()
        if self._state in (CaptureState.ENDED, CaptureState.STOPPED):
            return self._interval
        if self._resume_t is not None:
            if now < self._resume_t:
                return self._resume_t - now
            self._resume_t = None
        if not self._opened:
            return self._open(now)
        if not self._source.grab():
            return self._read_failed(now)
        self._frames_grabbed += 1
        self._read_failures = 0
        self._backoff.reset()
        if self._next_sample_t is None or now >= self._next_sample_t:
            image = self._source.retrieve()
            if image is None:
                return self._read_failed(now)
            self._publish(image, now)
            # Keep the cadence, but never try to catch up on samples missed while the camera was away.
            previous = self._next_sample_t if self._next_sample_t is not None else now
            self._next_sample_t = max(previous + self._interval, now)
        return self._pace(now)

    def _pace(self, now: float) -> float:
        interval = self._source.frame_interval_s
        if interval is None:
            return 0.0  # a live source blocks in grab() until its next frame
        self._next_grab_t = now + interval if self._next_grab_t is None else max(self._next_grab_t + interval, now)
        return self._next_grab_t - now

    def _open(self, now: float) -> float:
        self._state = CaptureState.CONNECTING
        try:
            self._source.open()
        except CameraError as exc:
            self._open_failures += 1
            return self._wait_and_retry(now, str(exc), log=self._open_failures == 1)
        self._opened = True
        self._state = CaptureState.STREAMING
        self._next_grab_t = None
        _log.info("camera %s: streaming from %s", self.camera_id, self._source.description)
        return 0.0

    def _read_failed(self, now: float) -> float:
        if self._source.is_file:
            self._close()
            if self._replay_loop:
                self._replays += 1
                return 0.0
            self._state = CaptureState.ENDED
            _log.info("camera %s: replay of %s ended", self.camera_id, self._source.description)
            return self._interval
        self._read_failures += 1
        if self._read_failures < self._reconnect.read_failures:
            return _READ_RETRY_S
        self._streams_lost += 1
        self._read_failures = 0
        self._close()
        return self._wait_and_retry(now, f"camera source {self._source.description!r}: stream lost", log=True)

    def _wait_and_retry(self, now: float, error: str, *, log: bool) -> float:
        delay = self._backoff.next_delay()
        self._last_error = error
        self._state = CaptureState.WAITING
        self._resume_t = now + delay
        # The first failure is logged loudly; a camera that stays away is logged at debug, not every minute.
        (_log.warning if log else _log.debug)("camera %s: %s; retrying in %.1f s", self.camera_id, error, delay)
        return delay

    def _close(self) -> None:
        self._source.close()
        self._opened = False

    def _publish(self, image: Image, now: float) -> None:
        self._seq += 1
        frame = CapturedFrame(self.camera_id, self._seq, now, self._clock.wall(), image)
        with self._lock:
            self._latest = frame
        if self._on_frame is not None:
            self._on_frame(frame)

    # -- the thread ----------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"camera {self.camera_id!r}: capture already started")
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.camera_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                wait = self.step()
                if self._state is CaptureState.ENDED:
                    break
                if wait > 0:
                    self._stop.wait(wait)
        except Exception:  # a capture thread must not die silently: the health monitor sees no frames
            _log.exception("camera %s: capture thread failed", self.camera_id)
            self._last_error = "capture thread failed (see log)"
        finally:
            self._close()
            if self._state is not CaptureState.ENDED:
                self._state = CaptureState.STOPPED

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Stop the thread (idempotent); False when it is still blocked in a read after ``timeout_s``."""
        self._stop.set()
        if self._thread is None:
            self._state = CaptureState.STOPPED
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()
