from __future__ import annotations

from edge.camera.config import ViolationConfig, ZoneConfig
from edge.camera.objects import Detection
from edge.camera.violations import HazardLevel, ViolationKind, ViolationMonitor, alert_message, workers_from
from edge.camera.zones import Zone
from edge.rules.signals import Priority

W, H = 400, 200
# Right half of the frame: an unsupported roof.
ZONE = Zone.from_config(
    ZoneConfig(
        id="xc7",
        kind="unsupported_roof",
        label="unsupported roof at XC-7",
        polygon=[[0.5, 0], [1, 0], [1, 1], [0.5, 1]],
    )
)


def person(x: float, *, bare: bool | None) -> list[Detection]:
    """A person standing with feet at x (frame pixels), with a bare head, a helmet or no head seen."""
    found = [Detection(x - 15, 60, x + 15, 180, 0.9, 1, "person")]
    if bare is not None:
        found.append(Detection(x - 8, 60, x + 8, 76, 0.8, 2 if bare else 0, "head" if bare else "helmet"))
    return found


class Hazards:
    def __init__(self) -> None:
        self.level: HazardLevel = "normal"

    def __call__(self, zone_id: str) -> HazardLevel:
        return self.level


def monitor(hazards: Hazards | None = None, **config: int) -> ViolationMonitor:
    return ViolationMonitor(
        "cam1",
        ViolationConfig(**config),
        [ZONE],
        hazards or Hazards(),
        where="belt drive BD-2",
    )


def test_workers_combine_person_and_head_boxes_and_lone_heads_stand_for_bodies() -> None:
    config = ViolationConfig()
    workers = workers_from(person(100, bare=True) + person(300, bare=False) + person(200, bare=None), config, H)
    assert sorted((w.box[0], w.bare_head) for w in workers) == [(85, True), (185, None), (285, False)]
    lone = workers_from([Detection(50, 10, 60, 20, 0.9, 2, "head")], config, H)
    assert len(lone) == 1
    assert lone[0].bare_head is True
    assert lone[0].box == (45, 10, 65, 10 + 6.5 * 10)  # a body 6.5 heads tall below the head


def test_a_violation_must_persist_n_frames_and_fires_once_per_episode() -> None:
    m = monitor(persist_frames=3)
    fired = []
    for t in range(20):
        fired += m.update(float(t), 1e9 + t, person(100, bare=True), W, H).events
        if t == 1:
            assert fired == []
    assert len(fired) == 1
    event = fired[0]
    assert event.kind is ViolationKind.BARE_HEAD
    assert event.t_mono == 2
    assert event.priority is Priority.LOW
    assert event.message == "Worker not wearing safety helmet; rectify immediately. [belt drive BD-2]"
    assert event.alert_id == "camera.cam1.person1.1"


def test_a_flicker_shorter_than_n_frames_does_not_fire() -> None:
    m = monitor(persist_frames=3)
    pattern = [True, True, False, True, True, False, True, True, False]
    events = [e for t, bare in enumerate(pattern) for e in m.update(float(t), 0, person(100, bare=bare), W, H).events]
    assert events == []


def test_entering_a_zone_escalates_the_same_alert_and_pacing_the_edge_does_not_repeat_it() -> None:
    hazards = Hazards()
    m = monitor(hazards, persist_frames=2)
    xs = [100, 110, 120, 250, 260, 180, 260, 190, 270, 280]  # outside, in, out, in, ...
    hazards.level = "alarm"
    events = [e for t, x in enumerate(xs) for e in m.update(float(t), 0, person(x, bare=True), W, H).events]
    assert [(e.kind, e.escalation) for e in events] == [
        (ViolationKind.BARE_HEAD, False),
        (ViolationKind.BARE_HEAD_IN_ZONE, True),
    ]
    assert len({e.alert_id for e in events}) == 1
    both = events[1]
    assert both.zone_id == "xc7"
    assert both.zone_hazard == "alarm"
    assert both.priority is Priority.HIGH
    assert both.message == (
        "Worker not wearing safety helmet and approaching hazardous area (unsupported roof at XC-7; alarm standing "
        "there). Leave the area immediately. [belt drive BD-2]"
    )


def test_helmeted_worker_in_a_zone_and_the_episode_end() -> None:
    m = monitor(persist_frames=2, max_missed_frames=2, rearm_frames=3)
    events = [e for t in range(4) for e in m.update(float(t), 0, person(300, bare=False), W, H).events]
    assert [(e.kind, e.priority) for e in events] == [(ViolationKind.IN_ZONE, Priority.MEDIUM)]
    assert events[0].message.startswith(
        "Worker entering hazardous area (unsupported roof at XC-7). Correct immediately."
    )
    ended = []
    for t in range(4, 8):
        ended += m.update(float(t), 0, [], W, H).ended
    assert [e.alert_id for e in ended] == [events[0].alert_id]
    # The same spot later: a new person-episode, a new alert.
    later = [e for t in range(8, 12) for e in m.update(float(t), 0, person(300, bare=False), W, H).events]
    assert len(later) == 1
    assert later[0].alert_id != events[0].alert_id


def test_a_cleared_condition_rearms_after_rearm_frames() -> None:
    m = monitor(persist_frames=2, rearm_frames=3)
    frames = [True] * 3 + [False] * 3 + [True] * 3
    results = [m.update(float(t), 0, person(100, bare=bare), W, H) for t, bare in enumerate(frames)]
    events = [e for r in results for e in r.events]
    ended = [e for r in results for e in r.ended]
    assert [e.alert_id for e in events] == ["camera.cam1.person1.1", "camera.cam1.person1.2"]
    assert [e.alert_id for e in ended] == ["camera.cam1.person1.1"]


def test_frame_counts_for_the_features() -> None:
    m = monitor()
    result = m.update(0, 0, person(100, bare=True) + person(300, bare=False) + person(350, bare=True), W, H)
    assert (result.persons, result.bare_heads, result.in_zone) == (3, 2, 2)


def test_alert_text_without_zone_hazard_or_place() -> None:
    assert alert_message(ViolationKind.BARE_HEAD_IN_ZONE, ZONE, "normal", "") == (
        "Worker not wearing safety helmet and approaching hazardous area (unsupported roof at XC-7). "
        "Correct immediately."
    )
