"""A tiny evaluation run end to end on a few generated episodes: held-out checks, every predictor scored, the
report and plots written, and a fitted GBT emitting warnings with evidence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.hazard.contract import CHANNEL_INDEX, CHANNEL_NAMES
from export.hazard.data import (
    SplitSpec,
    as_site,
    check_held_out,
    generate_split,
    with_dead_camera,
    with_dead_channels,
)
from export.hazard.evaluate import EvalConfig, run_on
from export.hazard.gbt import FeatureCache, GBTBaseline, GBTParams
from export.hazard.window_features import FEATURES, episode_features

TRAIN = SplitSpec(seeds=(1,), layout_seeds=(0,), per_kind=1, normal_days=1)
VALIDATION = SplitSpec(seeds=(2,), layout_seeds=(0,), per_kind=1, normal_days=1)
TEST = SplitSpec(seeds=(9,), layout_seeds=(7,), per_kind=1, normal_days=1)


@pytest.fixture(scope="module")
def splits() -> tuple[list, list, list]:  # type: ignore[type-arg]
    return generate_split(TRAIN), generate_split(VALIDATION), generate_split(TEST)


def test_a_test_split_sharing_a_seed_or_layout_is_refused() -> None:
    with pytest.raises(ValueError, match=r"shared seeds \[1\]"):
        check_held_out(TRAIN, SplitSpec(seeds=(1,), layout_seeds=(7,), per_kind=1, normal_days=0))
    with pytest.raises(ValueError, match=r"shared layout seeds \[0\]"):
        check_held_out(TRAIN, SplitSpec(seeds=(9,), layout_seeds=(0,), per_kind=1, normal_days=0))


def test_a_site_keeps_only_its_transmitters_and_declares_what_it_has(splits: tuple[list, list, list]) -> None:  # type: ignore[type-arg]
    episode = next(e for e in splits[0] if e.logs and e.camera_valid.any())
    site = as_site(episode, ["ch4_face", "co_belt"], camera=False, logbook=False)
    fitted = [CHANNEL_INDEX["ch4_face"], CHANNEL_INDEX["co_belt"]]
    np.testing.assert_array_equal(site.sensors[:, fitted], episode.sensors[:, fitted])
    absent = [i for i in range(len(CHANNEL_NAMES)) if i not in fitted]
    assert np.isnan(site.sensors[:, absent]).all()
    assert not site.camera_valid.any()
    assert site.logs == []
    assert site.site["channels"] == ["ch4_face", "co_belt"]
    assert site.site["camera"] is False
    assert site.site["logbook"] is False
    assert episode.site.get("channels") is None
    assert episode.logs
    kept = as_site(episode, ["ch4_face"], camera=True, logbook=True)
    assert kept.logs == episode.logs
    assert kept.camera_valid.any()
    with pytest.raises(ValueError, match="no sensor channel 'ch4_fcae'"):
        as_site(episode, ["ch4_fcae"], camera=True, logbook=True)


def test_features_never_read_past_the_decision_time(splits: tuple[list, list, list]) -> None:  # type: ignore[type-arg]
    episode = splits[0][0]
    ends = np.array([4000, 9000])
    full = episode_features(episode, ends)
    cut = episode_features(episode.__class__(**{**episode.__dict__, "sensors": episode.sensors[:9001]}), ends)
    np.testing.assert_array_equal(np.isnan(full), np.isnan(cut))
    np.testing.assert_allclose(full[~np.isnan(full)], cut[~np.isnan(cut)])
    assert full.shape == (2, len(FEATURES.names))


def test_end_to_end_writes_results_report_and_plots(tmp_path: Path, splits: tuple[list, list, list]) -> None:  # type: ignore[type-arg]
    train, validation, test = splits
    config = EvalConfig(
        train=TRAIN,
        validation=VALIDATION,
        test=TEST,
        gbt=GBTParams(max_iter=8, train_stride_s=120, stride_s=60),
        ablations=False,
        conditions=True,
        real_data=None,
        examples=2,
    )
    results = run_on(config, train, validation, test, tmp_path)
    assert set(results["predictors"]) == {"threshold", "trend", "gbt"}
    for entry in results["predictors"].values():
        assert entry["test"]["normal_days"] == pytest.approx(1.0)
        assert set(entry["conditions"]) == {
            "dead_camera",
            "dead_ch4_face",
            "dead_co_belt",
            "no_text",
            "no_sensors",
            "real_record_site",
        }
    threshold_gas = results["predictors"]["threshold"]["test"]["per_hazard"]["gas_accumulation"]
    assert all(lead < 1.0 for lead in threshold_gas["lead_min"])  # the statutory alarm itself: lead ~0
    assert results["forecast"]["trend"]["all_points"]["+5min"]["points"] > 0
    assert 0.0 <= results["roc"]["risk_15min"]["auc"] <= 1.0
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["targets"].keys() == results["predictors"].keys()
    report = (tmp_path / "report.md").read_text()
    assert "## Detection, lead time and false warnings" in report
    for png in ("lead_times.png", "roc.png", "timeline_1.png", "timeline_2.png"):
        assert (tmp_path / png).stat().st_size > 1000


def test_gbt_variants_share_features_and_degraded_copies_are_not_confused(
    splits: tuple[list, list, list],  # type: ignore[type-arg]
) -> None:
    train, validation, test = splits
    cache = FeatureCache()
    model = GBTBaseline(
        ("camera",), params=GBTParams(max_iter=5, train_stride_s=300, stride_s=120), feature_cache=cache
    )
    assert model.name == "gbt[camera]"
    model.fit(train, validation)
    episode = test[0]
    _, intact = cache.get(episode, 120)
    dead = with_dead_camera(episode)
    _, degraded = cache.get(dead, 120)
    camera_columns = FEATURES.columns(["camera"])
    assert np.isnan(degraded[:, camera_columns]).any()
    assert not np.array_equal(np.isnan(intact), np.isnan(degraded))
    tracks = model.tracks(with_dead_channels(episode, ["ch4_face"]))
    assert len(tracks) == 5
    with pytest.raises(ValueError, match="modality"):
        GBTBaseline(())


def test_test_split_can_come_from_generated_directories(tmp_path: Path) -> None:
    from edge.sim.hazard.dataset import write_dataset
    from edge.sim.hazard.generator import HazardScenarioGenerator
    from export.hazard.data import load_directories

    write_dataset(tmp_path / "a", HazardScenarioGenerator(seed=9, layout_seed=7), hazard_episodes=2, normal_days=0)
    episodes = load_directories([tmp_path / "a"])
    assert [e.seed for e in episodes] == [9, 9]
    assert all(not e.is_normal for e in episodes)
