from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from camera_fixtures import background, write_video

from edge.camera.capture import CameraCapture, CameraError, CapturedFrame, CaptureState, OpenCVSource
from edge.camera.config import ReconnectConfig
from edge.camera.frames import Image
from edge.clock import FakeClock, SystemClock


class ScriptedSource:
    """A live source that fails to open ``open_failures`` times, then delivers frames until ``lose_after`` grabs."""

    description = "scripted"
    is_file = False
    frame_interval_s = None

    def __init__(self, *, open_failures: int = 0, lose_after: int | None = None) -> None:
        self.open_failures = open_failures
        self.lose_after = lose_after
        self.opens = 0
        self.grabs = 0
        self.retrieves = 0
        self.image = background()

    def open(self) -> None:
        self.opens += 1
        if self.open_failures > 0:
            self.open_failures -= 1
            raise CameraError("scripted: connection refused")

    def grab(self) -> bool:
        if self.lose_after is not None and self.grabs >= self.lose_after:
            return False
        self.grabs += 1
        return True

    def retrieve(self) -> Image | None:
        self.retrieves += 1
        return self.image

    def close(self) -> None:
        pass


def test_reconnect_backs_off_exponentially_up_to_the_maximum() -> None:
    clock = FakeClock()
    source = ScriptedSource(open_failures=6)
    capture = CameraCapture(
        "cam1", source, sample_interval_s=1.0, reconnect=ReconnectConfig(initial=1, factor=2, max=10), clock=clock
    )
    waits = []
    for _ in range(6):
        wait = capture.step()
        waits.append(wait)
        assert capture.state is CaptureState.WAITING
        assert capture.step() == wait  # nothing is retried before the back-off has passed
        clock.advance(wait)
    assert waits == [1, 2, 4, 8, 10, 10]
    assert capture.stats().open_failures == 6
    assert capture.stats().last_error == "scripted: connection refused"
    assert capture.step() == 0  # opened
    assert capture.state is CaptureState.STREAMING
    capture.step()
    frame = capture.latest()
    assert frame is not None
    assert frame.seq == 1
    assert frame.t_mono == clock.monotonic()


def test_a_lost_stream_is_reopened_and_the_back_off_starts_again_after_frames() -> None:
    clock = FakeClock()
    source = ScriptedSource(open_failures=2, lose_after=3)
    config = ReconnectConfig(initial=1, factor=2, max=60, read_failures=3)
    capture = CameraCapture("cam1", source, sample_interval_s=0.5, reconnect=config, clock=clock)
    for _ in range(2):
        clock.advance(capture.step())  # two failed opens: 1 s, 2 s
    assert capture.step() == 0
    for _ in range(3):
        assert capture.step() == 0  # three frames
        clock.advance(0.5)
    assert capture.step() == pytest.approx(0.05)  # a failed read is retried soon ...
    assert capture.step() == pytest.approx(0.05)
    wait = capture.step()  # ... and the third in a row is a lost stream
    assert wait == 1  # frames arrived in between, so the back-off starts from its initial value again
    assert capture.state is CaptureState.WAITING
    assert capture.stats().streams_lost == 1
    source.lose_after = None
    clock.advance(wait)
    assert capture.step() == 0
    assert source.opens == 4
    capture.step()
    assert capture.stats().state is CaptureState.STREAMING


def test_every_frame_is_grabbed_but_only_sampled_ones_are_decoded() -> None:
    clock = FakeClock()
    source = ScriptedSource()
    seen: list[CapturedFrame] = []
    capture = CameraCapture(
        "cam1", source, sample_interval_s=1.0, reconnect=ReconnectConfig(), clock=clock, on_frame=seen.append
    )
    capture.step()  # open
    for _ in range(50):  # a 10 frame/s camera for 5 s
        capture.step()
        clock.advance(0.1)
    assert source.grabs == 50
    assert source.retrieves == 5
    assert [f.seq for f in seen] == [1, 2, 3, 4, 5]
    latest = capture.latest()
    assert latest is not None
    assert capture.newer_than(latest.seq) is None
    assert capture.newer_than(latest.seq - 1) is latest


def test_a_video_file_is_replayed_at_its_rate_on_the_capture_thread(tmp_path: Path) -> None:
    frames = [np.clip(background(seed=i % 3).astype(np.int16) + i, 0, 255).astype(np.uint8) for i in range(20)]
    path = write_video(tmp_path / "replay.avi", frames, fps=10)
    source = OpenCVSource(str(path), replay_fps=100)
    assert source.is_file
    seen: list[CapturedFrame] = []
    capture = CameraCapture(
        "replay",
        source,
        sample_interval_s=0.001,
        reconnect=ReconnectConfig(),
        clock=SystemClock(),
        on_frame=seen.append,
    )
    started = time.monotonic()
    capture.start()
    deadline = started + 10
    while capture.state is not CaptureState.ENDED and time.monotonic() < deadline:
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    assert capture.stop()
    assert capture.state is CaptureState.ENDED
    assert capture.stats().frames_grabbed == 20
    assert len(seen) == 20  # sampling faster than the file: every frame
    assert seen[0].image.shape == (240, 320, 3)
    assert 0.15 < elapsed < 5  # paced at 100 frame/s, not read as fast as the disk allows


def test_a_looped_replay_starts_again_and_stop_ends_the_thread(tmp_path: Path) -> None:
    path = write_video(tmp_path / "loop.avi", [background(seed=i) for i in range(5)], fps=10)
    capture = CameraCapture(
        "loop",
        OpenCVSource(str(path), replay_fps=200),
        sample_interval_s=0.001,
        reconnect=ReconnectConfig(),
        clock=SystemClock(),
        replay_loop=True,
    )
    capture.start()
    deadline = time.monotonic() + 10
    while capture.stats().replays < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert capture.stop()
    assert capture.stats().replays >= 2
    assert capture.state is CaptureState.STOPPED


def test_sources_that_cannot_open_say_what_to_check(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="no such video file"):
        OpenCVSource(str(tmp_path / "missing.avi")).open()
    not_video = tmp_path / "notes.avi"
    not_video.write_text("not a video")
    with pytest.raises(CameraError, match="cannot be opened"):
        OpenCVSource(str(not_video)).open()
    with pytest.raises(CameraError, match="check the URL"):
        OpenCVSource("rtsp://127.0.0.1:9/stream", open_timeout_s=2).open()
