from __future__ import annotations

import numpy as np
from camera_fixtures import background, draw_worker

from edge.camera.config import MotionConfig
from edge.camera.frames import analysis_grey
from edge.camera.motion import MotionGate, changed_fraction


def noisy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(image.astype(np.int16) + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)


def test_sensor_noise_is_not_motion_a_walking_worker_is() -> None:
    rng = np.random.default_rng(0)
    scene = background(seed=3)
    a, b = analysis_grey(noisy(scene, rng)), analysis_grey(noisy(scene, rng))
    assert changed_fraction(a, b, 20) == 0.0
    walked = analysis_grey(draw_worker(scene, 100, 200, helmet=True))
    assert changed_fraction(a, walked, 20) > 0.01


def test_gate_skips_a_still_scene_refreshes_it_and_counts_the_share() -> None:
    rng = np.random.default_rng(1)
    scene = background(seed=4)
    gate = MotionGate(MotionConfig(refresh_every=30))
    reasons = [gate.decide(float(t), analysis_grey(noisy(scene, rng))).reason for t in range(61)]
    assert reasons[0] == "first"
    assert reasons[30] == "refresh"
    assert reasons[60] == "refresh"
    assert reasons.count("still") == 58
    decision = gate.decide(61, analysis_grey(draw_worker(scene, 150, 200, helmet=False)))
    assert decision.run_detector
    assert decision.reason == "motion"
    assert decision.motion_level > 0.01
    assert gate.frames_seen == 62
    assert gate.frames_detected == 4
    assert gate.detected_share == 4 / 62
    assert gate.decide(62, analysis_grey(scene), force=True).reason == "forced"


def test_disabled_gate_sends_every_frame() -> None:
    gate = MotionGate(MotionConfig(enabled=False))
    grey = analysis_grey(background())
    assert all(gate.decide(float(t), grey).run_detector for t in range(10))
    assert gate.detected_share == 1.0


def test_a_blocked_frame_is_measured_but_not_sent_nor_counted_as_sent() -> None:
    gate = MotionGate(MotionConfig())
    scene = background()
    gate.decide(0, analysis_grey(scene))
    decision = gate.decide(1, analysis_grey(draw_worker(scene, 100, 200, helmet=True)), force=True, blocked=True)
    assert (decision.run_detector, decision.reason) == (False, "blocked")
    assert decision.motion_level > 0
    assert (gate.frames_seen, gate.frames_detected) == (2, 1)
