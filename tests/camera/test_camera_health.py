from __future__ import annotations

import cv2
import numpy as np
from camera_fixtures import background

from edge.camera.config import HealthConfig
from edge.camera.frames import analysis_grey
from edge.camera.health import CameraHealthMonitor, HealthCondition, sharpness

CONFIG = HealthConfig(no_frames_after=10, frozen_after=30, raise_after=5, clear_after=5)


def run(monitor: CameraHealthMonitor, frames: list[np.ndarray], t0: float, period: float = 1.0) -> float:
    t = t0
    for frame in frames:
        monitor.observe(t, analysis_grey(frame))
        t += period
    return t - period


def noisy_scene(rng: np.random.Generator) -> np.ndarray:
    """A static scene with sensor noise: a working camera never delivers two identical frames."""
    base = background(seed=1).astype(np.int16)
    return np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)


def test_a_working_camera_is_healthy_with_a_high_score() -> None:
    rng = np.random.default_rng(0)
    monitor = CameraHealthMonitor(CONFIG, started_t_mono=0)
    t = run(monitor, [noisy_scene(rng) for _ in range(60)], t0=0)
    report = monitor.report(t)
    assert report.ok
    assert report.score > 0.9


def test_identical_frames_for_the_configured_time_are_a_frozen_camera() -> None:
    frame = background(seed=2)
    monitor = CameraHealthMonitor(CONFIG, started_t_mono=0)
    t = run(monitor, [frame] * 29, t0=0)  # 28 s of one image
    assert monitor.report(t).ok
    t = run(monitor, [frame] * 3, t0=t + 1)  # 31 s
    report = monitor.report(t)
    assert report.conditions == {HealthCondition.FROZEN}
    assert report.score == 0
    assert not report.usable
    # One different frame is proof the camera runs again.
    monitor.observe(t + 1, analysis_grey(noisy_scene(np.random.default_rng(3))))
    assert monitor.report(t + 1).ok


def test_no_frames_is_raised_after_the_timeout_and_cleared_by_the_next_frame() -> None:
    monitor = CameraHealthMonitor(CONFIG, started_t_mono=100)
    assert monitor.report(109).ok
    assert monitor.report(110).conditions == {HealthCondition.NO_FRAMES}  # never delivered since start
    monitor.observe(111, analysis_grey(background()))
    assert monitor.report(115).ok
    report = monitor.report(121.5)
    assert report.conditions == {HealthCondition.NO_FRAMES}
    assert report.last_frame_age_s == 10.5


def test_a_dark_scene_raises_dark_with_hysteresis() -> None:
    rng = np.random.default_rng(4)
    dark = [(noisy_scene(rng) * 0.05).astype(np.uint8) for _ in range(10)]  # mean luminance ~6
    dim = [(noisy_scene(rng) * 0.15).astype(np.uint8) for _ in range(10)]  # ~16: between the thresholds
    bright = [noisy_scene(rng) for _ in range(10)]
    monitor = CameraHealthMonitor(CONFIG, started_t_mono=0)
    run(monitor, dark[:5], t0=0)
    assert monitor.report(4).ok  # 4 s < raise_after
    run(monitor, dark[5:], t0=5)
    assert monitor.report(9).conditions == {HealthCondition.DARK}
    run(monitor, dim, t0=10)  # brighter, but not past the clear threshold: stays dark (no chatter)
    assert monitor.report(19).conditions == {HealthCondition.DARK}
    run(monitor, bright, t0=20)
    assert monitor.report(29).ok


def test_blurred_and_covered_lenses_are_obscured_not_dark() -> None:
    rng = np.random.default_rng(5)
    scene = noisy_scene(rng)
    covered = np.full_like(scene, 90)  # a cloth or a mud layer: uniform, not dark
    blurred = np.asarray(cv2.GaussianBlur(scene, (0, 0), 12), dtype=np.uint8)  # dust on the lens
    assert (
        sharpness(analysis_grey(blurred))
        < CONFIG.blur_below
        < CONFIG.blur_clear_above
        < sharpness(analysis_grey(scene))
    )
    for bad in (covered, blurred):
        monitor = CameraHealthMonitor(CONFIG, started_t_mono=0)
        # Each frame differs a little (the frozen check must not be what fires).
        frames = [np.clip(bad.astype(np.int16) + (i % 2), 0, 255).astype(np.uint8) for i in range(8)]
        t = run(monitor, frames, t0=0)
        report = monitor.report(t)
        assert report.conditions == {HealthCondition.OBSCURED}
        assert report.score < 0.5
    monitor.observe(t + 1, analysis_grey(scene))
    assert monitor.report(t + 1).conditions == {HealthCondition.OBSCURED}  # clears only after clear_after
    run(monitor, [noisy_scene(rng) for _ in range(6)], t0=t + 2)
    assert monitor.report(t + 7).ok
