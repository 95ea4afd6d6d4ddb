"""Episodes: reproducible per seed, physically bounded, sampled per modality, with truth that matches the rules."""

from __future__ import annotations

import numpy as np
import pytest
from hazard_fixtures import SEED, generator, hazard, normal_day, short_params

from edge.hazard.contract import CAMERA_FIELDS, CHANNEL_INDEX, CHANNEL_NAMES, HAZARD_TYPES, HazardType
from edge.readings import Quality, Reading
from edge.rules.thresholds import PointRules, RuleEngine
from edge.sim.hazard.generator import HAZARD_KINDS, HazardScenarioGenerator
from edge.sim.mine_layout import LayoutParams


def test_same_seed_same_arrays_different_seed_different() -> None:
    a = HazardScenarioGenerator(seed=5, params=short_params()).hazard_episode(2, HazardType.GAS_ACCUMULATION)
    b = HazardScenarioGenerator(seed=5, params=short_params()).hazard_episode(2, HazardType.GAS_ACCUMULATION)
    c = HazardScenarioGenerator(seed=6, params=short_params()).hazard_episode(2, HazardType.GAS_ACCUMULATION)
    np.testing.assert_array_equal(a.sensors, b.sensors)
    np.testing.assert_array_equal(a.camera, b.camera)
    assert a.logs == b.logs
    assert a.events == b.events
    assert not np.array_equal(a.sensors_clean, c.sensors_clean)


def test_episodes_of_one_index_but_different_kinds_have_different_ids() -> None:
    gen = HazardScenarioGenerator(seed=5, params=short_params())
    fire = gen.hazard_episode(0, HazardType.FIRE, "belt_smoulder")
    gas = gen.hazard_episode(0, HazardType.GAS_ACCUMULATION, "fan_stop")
    assert fire.episode_id != gas.episode_id
    assert gas.episode_id == "s5-l0-h00000-gas_accumulation-fan_stop"
    assert gen.normal_day(0).episode_id == "s5-l0-n00000"


def test_layout_seed_changes_the_mine_and_its_site() -> None:
    a, b = generator(0), generator(3)
    assert a.layout.params != b.layout.params
    assert a.site.face_airflow_m3s != b.site.face_airflow_m3s
    assert a.site.face in a.layout.faces
    assert a.site.belt_drive_location in a.layout.nodes


def test_clean_signals_are_physically_bounded() -> None:
    for episode in (
        normal_day(),
        hazard(HazardType.GAS_ACCUMULATION, "outburst"),
        hazard(HazardType.FIRE, "belt_smoulder"),
    ):
        clean = episode.sensors_clean
        assert np.isfinite(clean).all()
        for name in ("ch4_face", "ch4_return"):
            assert ((clean[:, CHANNEL_INDEX[name]] >= 0) & (clean[:, CHANNEL_INDEX[name]] <= 100)).all()
        o2 = clean[:, CHANNEL_INDEX["o2_face"]]
        assert ((o2 > 15.0) & (o2 <= 20.95)).all()
        for name in ("co_belt", "smoke_belt", "vib_fan", "vib_belt_drive", "airflow_face", "rock_pressure"):
            assert (clean[:, CHANNEL_INDEX[name]] >= 0).all(), name
        assert (np.diff(clean[:, CHANNEL_INDEX["roof_convergence"]]) >= 0).all()  # convergence only closes
        observed = episode.sensors
        for c, name in enumerate(CHANNEL_NAMES):
            finite = observed[:, c][np.isfinite(observed[:, c])]
            channel = __import__("edge.hazard.contract", fromlist=["SENSOR_CHANNELS"]).SENSOR_CHANNELS[c]
            assert ((finite >= channel.low) & (finite <= channel.high)).all(), name


def test_each_modality_has_its_own_rate() -> None:
    episode = normal_day()
    assert episode.sensors.shape == (86_400, len(CHANNEL_NAMES))
    np.testing.assert_array_equal(episode.sensor_t, np.arange(86_400.0))
    gaps = np.diff(episode.camera_t)
    rate = 1.0 / float(np.median(gaps))
    assert 0.2 <= rate <= 1.0
    assert (gaps > 0).all()
    assert episode.camera.shape == (episode.camera_t.shape[0], len(CAMERA_FIELDS))
    assert np.isnan(episode.camera[~episode.camera_valid]).all()
    assert np.isfinite(episode.camera[episode.camera_valid]).all()
    times = [entry.t_s for entry in episode.logs]
    assert times == sorted(times)
    assert 3 <= len(times) < 100
    assert all(0 <= t < 86_400 for t in times)


def test_normal_day_has_no_hazard_labels() -> None:
    episode = normal_day()
    assert episode.is_normal
    assert episode.kind == "normal"
    assert not episode.hazard_active.any()


@pytest.mark.parametrize("hazard_type", list(HazardType))
def test_hazard_labels_cover_the_event(hazard_type: HazardType) -> None:
    kind = HAZARD_KINDS[hazard_type][0][0]
    episode = hazard(hazard_type, kind)
    event = next(e for e in episode.events if e.hazard is hazard_type)
    column = HAZARD_TYPES.index(hazard_type)
    active = np.flatnonzero(episode.hazard_active[:, column])
    assert active.shape[0] > 0
    assert active[0] >= int(event.onset_s)
    assert episode.kind == f"{hazard_type.value}/{kind}"
    if event.deadline_s is not None:
        assert event.deadline_s >= event.onset_s


def test_crossing_times_agree_with_the_rule_engine() -> None:
    """Replay the clean face methane through the gateway's own RuleEngine and compare activation times."""
    episode = hazard(HazardType.GAS_ACCUMULATION, "fan_stop", index=1)
    rule = generator().rules["ch4_face"]
    engine = RuleEngine(
        [PointRules(point_id="ch4", label="Methane", location="face", unit=rule.unit, thresholds=rule.thresholds)]
    )
    column = episode.channel("ch4_face", clean=True).astype(np.float64)
    seen: dict[str, list[float]] = {t.name: [] for t in rule.thresholds}
    for t, value in enumerate(column):
        reading = Reading("ch4", float(t), float(t), float(value), "%", Quality.GOOD)
        for change in engine.evaluate(reading):
            if change.active:
                seen[change.condition_id.split(":")[1]].append(float(t))
    assert seen == episode.crossings["ch4_face"]
    assert any(seen.values()), "the fan stop was expected to reach at least the alert"


def test_event_deadline_is_the_first_alarm_after_onset() -> None:
    for index in range(6):
        episode = generator().hazard_episode(index, HazardType.GAS_ACCUMULATION, "fan_stop")
        event = episode.events[0]
        alarms = [
            t
            for ch in ("ch4_face", "ch4_return", "o2_face")
            for t in episode.crossings[ch]["alarm"]
            if t >= event.onset_s
        ]
        assert event.deadline_s == (min(alarms) if alarms else None)


def test_episode_kinds_vary_and_some_precursors_never_cross() -> None:
    gen = HazardScenarioGenerator(seed=SEED, params=short_params())
    reached = [gen.hazard_episode(i, HazardType.GAS_ACCUMULATION, "door_open").events[0].deadline_s for i in range(12)]
    assert any(r is None for r in reached)  # levelled off below the alarm
    kinds = {gen.hazard_episode(i).kind for i in range(20)}
    assert len(kinds) >= 6


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="jurisdiction 'mars'"):
        HazardScenarioGenerator(seed=1, jurisdiction="mars")
    with pytest.raises(ValueError, match="has no kind 'meteor'"):
        generator().hazard_episode(0, HazardType.GAS_ACCUMULATION, "meteor")
    with pytest.raises(ValueError, match="index must be >= 0"):
        generator().normal_day(-1)


def test_a_given_layout_overrides_the_seeded_geometry() -> None:
    custom = LayoutParams(entries=4, crosscuts=12)
    gen = HazardScenarioGenerator(seed=1, layout_seed=5, layout_params=custom, params=short_params())
    assert gen.layout.params == custom
    assert gen.describe()["layout_params"]["entries"] == 4
    assert gen.normal_day(0).site["face"] in gen.layout.faces
