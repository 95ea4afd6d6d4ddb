"""The fusion model's data path and a small train -> export -> load -> run round trip (issue 5 item 6)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from edge.hazard.availability import MISSING_INPUTS
from edge.hazard.contract import CHANNEL_INDEX, CHANNEL_NAMES, HAZARD_TYPES, STATUTORY_CHANNELS, HazardType
from edge.hazard.features import camera_tokens, sensor_window, text_window
from edge.hazard.model_input import (
    CAMERA_COLUMNS,
    CAMERA_ROWS,
    COLUMNS,
    FORECAST_OUTPUTS,
    HAZARD_OUTPUTS,
    OUTPUT_LABELS,
    ROWS,
    TEXT_COLUMNS,
    TEXT_ROWS,
    finite,
    pack,
    sensor_block,
)
from edge.inference.model import load_model
from edge.text.hashed import HashedNgramEncoder
from edge.text.window import text_tokens
from export.hazard.data import SplitSpec, generate_split
from export.hazard.fusion.dataset import (
    NO_TEXT,
    DecisionRows,
    TextTable,
    build_rows,
    decision_ends,
    episode_rows,
    expand,
)
from export.hazard.fusion.model import FusionNet
from export.hazard.fusion.predictor import FusionPredictor
from export.hazard.fusion.train import FusionParams, drop_modalities, fit_normalisation
from export.localization.export_models import ExportResult

ENCODER = HashedNgramEncoder(384)


@pytest.fixture(scope="module")
def episodes() -> list:  # type: ignore[type-arg]
    return generate_split(SplitSpec((1,), (0, 1), per_kind=1, normal_days=1))


def test_rows_expand_to_exactly_what_the_gateway_packs(episodes: list) -> None:  # type: ignore[type-arg]
    table = TextTable(ENCODER)
    episode = next(e for e in episodes if e.logs and not e.is_normal)
    ends = decision_ends(episode, 60)
    rows = episode_rows(episode, ends, table)
    x = expand(rows, table.vectors)
    logs = sorted(episode.logs, key=lambda e: e.t_s)
    checked_text = 0
    for i in (0, len(rows) // 2, len(rows) - 1):
        end = int(ends[i])
        t_end = float(episode.sensor_t[end])
        window = text_window(logs, t_end)
        tokens = text_tokens(ENCODER, window)
        n = len(window)
        checked_text += n
        packed = pack(
            sensor_block(sensor_window(episode.sensors, end)),
            camera_tokens(episode.camera_t, episode.camera, episode.camera_valid, t_end),
            tokens.values[:n],
            tokens.age_s[:n],
        )
        np.testing.assert_allclose(np.nan_to_num(x[i], nan=-7.0), np.nan_to_num(packed, nan=-7.0), atol=1e-5)
    assert checked_text > 0, "the check must cover rows with log entries"


def test_training_batches_are_the_standardised_input_on_each_modality_block(episodes: list) -> None:  # type: ignore[type-arg]
    from export.hazard.fusion.export import owned_cells_only

    table = TextTable(ENCODER)
    rows = build_rows(episodes, table, stride_s=600)
    norm = fit_normalisation(rows, table.vectors)
    np.testing.assert_allclose(
        norm.packed(rows, table.vectors), owned_cells_only(norm.apply(expand(rows, table.vectors))), atol=1e-5
    )


def test_decisions_sit_on_the_token_grid_from_the_first_full_window(episodes: list) -> None:  # type: ignore[type-arg]
    ends = decision_ends(episodes[0], 30)
    assert ends[0] == 1799
    assert np.all((ends + 1) % 30 == 0)
    with pytest.raises(ValueError, match="multiple of 30"):
        decision_ends(episodes[0], 20)


def test_hazard_labels_run_from_onset_to_deadline(episodes: list) -> None:  # type: ignore[type-arg]
    table = TextTable(ENCODER)
    rows = build_rows(episodes, table, stride_s=60)
    for i, episode in enumerate(episodes):
        mine = rows.episode == i
        t = episode.sensor_t[rows.end[mine]]
        for event in episode.events:
            if event.deadline_s is None or event.hazard is HazardType.PEOPLE:
                continue
            k = HAZARD_TYPES.index(event.hazard)
            due = (t >= event.onset_s) & (t <= event.deadline_s)
            assert np.all(rows.hazard[mine][due, k] == 1.0)
            after = (t > event.deadline_s) & (t <= event.end_s)
            assert np.all(rows.hazard_weight[mine][after, k] == 0.0)
    normal = [i for i, e in enumerate(episodes) if e.is_normal]
    assert rows.hazard[np.isin(rows.episode, normal)].sum() == 0


def test_due_window_labels_statutory_hazards_only_before_their_deadline(episodes: list) -> None:  # type: ignore[type-arg]
    from export.hazard.fusion.dataset import hazard_targets

    checked = 0
    for episode in episodes:
        ends = decision_ends(episode, 30)
        t = episode.sensor_t[ends]
        y, w = hazard_targets(episode, ends, due_window_s=900)
        y0, _ = hazard_targets(episode, ends)
        for event in episode.events:
            k = HAZARD_TYPES.index(event.hazard)
            if event.deadline_s is None or event.hazard not in (HazardType.GAS_ACCUMULATION, HazardType.FIRE):
                continue
            early = (t >= event.onset_s) & (t < event.deadline_s - 900)
            due = (t >= max(event.onset_s, event.deadline_s - 900)) & (t <= event.deadline_s)
            assert np.all(w[early, k] == 0.0)
            assert np.all(y[due, k] == 1.0)
            checked += int(early.sum())
        strata = HAZARD_TYPES.index(HazardType.STRATA)
        np.testing.assert_array_equal(y[:, strata], y0[:, strata])  # hazards without a statutory deadline: as before
    assert checked > 0, "some event must start more than 15 min before its deadline"


def test_modality_dropout_removes_what_a_dead_camera_logbook_or_transmitter_removes(episodes: list) -> None:  # type: ignore[type-arg]
    table = TextTable(ENCODER)
    rows = build_rows(episodes, table, stride_s=300)
    params = FusionParams(p_drop_camera=0.3, p_drop_text=0.3, p_drop_channel=0.5)
    dropped = drop_modalities(rows, np.random.default_rng(0), params)
    camera_gone = (dropped.camera == 0).all(axis=(1, 2)) & ~(rows.camera == 0).all(axis=(1, 2))
    text_gone = (dropped.text_index == NO_TEXT).all(axis=1) & ~(rows.text_index == NO_TEXT).all(axis=1)
    assert camera_gone.any()
    assert text_gone.any()
    c = len(CHANNEL_NAMES)
    dead = (dropped.sensor[:, :, 2 * c :] == 0).all(axis=1) & ~(rows.sensor[:, :, 2 * c :] == 0).all(axis=1)
    assert dead.any(axis=1).mean() > 0.3
    assert np.isnan(dropped.sensor[:, :, :c][np.repeat(dead[:, None, :], rows.sensor.shape[1], axis=1)]).all()
    assert rows.camera is not dropped.camera  # the input rows are left as they were


@pytest.fixture(scope="module")
def rows60(episodes: list) -> DecisionRows:  # type: ignore[type-arg]
    """The test episodes' rows at a 60 s stride, built once for the dropout tests (drop_modalities copies)."""
    return build_rows(episodes, TextTable(ENCODER), stride_s=60)


def silent_channels(rows: DecisionRows) -> np.ndarray:
    """``(N, C)``: channels with no valid sample anywhere in each row's window."""
    c = len(CHANNEL_NAMES)
    return np.asarray((rows.sensor[:, :, 2 * c :] == 0).all(axis=1))


def test_every_channel_dies_on_its_own_under_per_channel_dropout(rows60: DecisionRows) -> None:
    rows = rows60
    c = len(CHANNEL_NAMES)
    params = FusionParams(p_drop_camera=0.0, p_drop_text=0.0, p_drop_channel=0.0, p_dead_each_channel=0.1)
    dropped = drop_modalities(rows, np.random.default_rng(1), params)
    dead = silent_channels(dropped) & ~silent_channels(rows)
    share = dead.mean(axis=0)
    assert np.all((share > 0.05) & (share < 0.15)), share  # each channel near its own 10 %
    assert (dead.sum(axis=1) >= 2).any()  # independent: two transmitters can be dead in the same row
    assert np.isnan(dropped.sensor[:, :, c : 2 * c][np.repeat(dead[:, None, :], rows.sensor.shape[1], axis=1)]).all()


def test_statutory_channels_die_more_often_under_the_statutory_share(rows60: DecisionRows) -> None:
    from edge.hazard.contract import CHANNEL_INDEX, STATUTORY_CHANNELS

    c = len(CHANNEL_NAMES)
    params = FusionParams(p_drop_camera=0.0, p_drop_text=0.0, p_dead_each_channel=0.05, p_dead_statutory_channel=0.3)
    dropped = drop_modalities(rows60, np.random.default_rng(2), params)
    dead = silent_channels(dropped) & ~silent_channels(rows60)
    share = dead.mean(axis=0)
    statutory = np.zeros(c, dtype=bool)
    statutory[[CHANNEL_INDEX[name] for name in STATUTORY_CHANNELS]] = True
    assert np.all((share[statutory] > 0.25) & (share[statutory] < 0.42)), share  # 1 - 0.95 * 0.7 = 0.335
    assert np.all((share[~statutory] > 0.02) & (share[~statutory] < 0.09)), share


def test_a_data_gap_empties_the_oldest_or_newest_part_of_the_window(rows60: DecisionRows) -> None:
    rows = rows60
    c = len(CHANNEL_NAMES)
    params = FusionParams(p_drop_camera=0.0, p_drop_text=0.0, p_dead_each_channel=0.0, p_gap=0.5)
    dropped = drop_modalities(rows, np.random.default_rng(3), params)
    empty = (dropped.sensor[:, :, 2 * c :] == 0).all(axis=2) & ~(rows.sensor[:, :, 2 * c :] == 0).all(axis=2)
    gapped = empty.any(axis=1)
    assert 0.4 < gapped.mean() < 0.6
    tokens = rows.sensor.shape[1]
    heads = tails = 0
    for row in empty[gapped]:
        k = int(row.sum())
        assert 1 <= k < tokens
        # one contiguous span at either end (a token already empty in the data may lie next to it)
        heads += bool(row[0] and row[:k].all())
        tails += bool(row[-1] and row[-k:].all())
    assert heads > 0.3 * gapped.sum()
    assert tails > 0.3 * gapped.sum()
    assert np.isnan(dropped.sensor[:, :, :c][np.repeat(empty[:, :, None], c, axis=2)]).all()
    assert np.array_equal(dropped.camera, rows.camera)  # the camera is not on the sensor bus


def test_a_sparse_site_keeps_a_few_channels_and_camera_and_text_can_both_go(rows60: DecisionRows) -> None:
    rows = rows60
    c = len(CHANNEL_NAMES)
    params = FusionParams(
        p_drop_camera=0.0, p_drop_text=0.0, p_dead_each_channel=0.0, p_sparse_site=0.5, p_drop_camera_and_text=0.3
    )
    dropped = drop_modalities(rows, np.random.default_rng(4), params)
    had, has = ~silent_channels(rows), ~silent_channels(dropped)
    lost = (had & ~has).sum(axis=1)
    sparse = lost > 0
    assert 0.4 < sparse.mean() < 0.6
    assert np.median(lost[sparse]) >= 0.4 * c  # most of the section's channels gone, not one
    assert has[sparse].any(axis=1).all()  # at least one transmitter left
    had_both = (rows.camera[:, :, -1] > 0).any(axis=1) & ~(rows.text_index == NO_TEXT).all(axis=1)
    camera_gone = np.asarray(~(dropped.camera[:, :, -1] > 0).any(axis=1))
    text_gone = np.asarray((dropped.text_index == NO_TEXT).all(axis=1))
    assert 0.2 < (camera_gone & text_gone)[had_both].mean() < 0.4
    # with p_drop_camera and p_drop_text 0, the two only go together
    assert (camera_gone[had_both] == text_gone[had_both]).all()


def test_a_sparse_site_keeps_its_statutory_transmitters_when_asked_without_changing_the_other_draws(
    rows60: DecisionRows,
) -> None:
    rows = rows60
    statutory = [CHANNEL_INDEX[name] for name in STATUTORY_CHANNELS]
    others = [i for i in range(len(CHANNEL_NAMES)) if i not in statutory]
    base = FusionParams(p_drop_camera=0.0, p_drop_text=0.0, p_dead_each_channel=0.0, p_sparse_site=0.5)
    drawn = drop_modalities(rows, np.random.default_rng(5), base)
    kept = drop_modalities(rows, np.random.default_rng(5), dataclasses.replace(base, p_sparse_keep_statutory=0.95))
    had = ~silent_channels(rows)
    lost_drawn, lost_kept = had & silent_channels(drawn), had & silent_channels(kept)
    sparse = lost_drawn.any(axis=1)
    assert lost_drawn[sparse][:, statutory].mean() > 0.3  # drawn like the others: most go
    assert lost_kept[sparse][:, statutory].mean() < 0.06
    # the same rows are sparse and the other channels go exactly as before: no extra random draws
    assert np.array_equal(lost_drawn[:, others], lost_kept[:, others])


def test_a_dead_transmitter_is_a_bounded_input_after_standardisation(episodes: list) -> None:  # type: ignore[type-arg]
    """Share columns use fixed constants: a valid share of 0 is -1, not 40 standard deviations out; and every
    standardised value the model file sees is clipped to INPUT_CLIP."""
    from edge.hazard.model_input import FEATURE_NAMES, INPUT_CLIP, SHARE_FEATURES

    table = TextTable(ENCODER)
    rows = build_rows(episodes, table, stride_s=600)
    norm = fit_normalisation(rows, table.vectors)
    names = {FEATURE_NAMES[i] for i in SHARE_FEATURES}
    assert {"sensor.valid.co_belt", "camera.valid", "text.present"} <= names
    assert len(names) == len(CHANNEL_NAMES) + 2
    np.testing.assert_array_equal(norm.mean[list(SHARE_FEATURES)], 0.5)
    np.testing.assert_array_equal(norm.std[list(SHARE_FEATURES)], 0.5)
    dead = drop_modalities(
        rows, np.random.default_rng(0), FusionParams(p_drop_camera=0, p_drop_text=0, p_dead_each_channel=1.0)
    )
    x = norm.packed(dead, table.vectors)
    c = len(CHANNEL_NAMES)
    np.testing.assert_array_equal(x[:, :60, 2 * c : 3 * c], -1.0)
    assert np.abs(x).max() <= INPUT_CLIP
    wild = np.full((1, ROWS, COLUMNS), 1e6, dtype=np.float32)
    assert finite(wild).max() == INPUT_CLIP


def test_masked_tokens_do_not_reach_the_output(episodes: list) -> None:  # type: ignore[type-arg]
    """A camera token without valid frames must be absence: changing its (meaningless) values changes nothing."""
    table = TextTable(ENCODER)
    rows = build_rows(episodes, table, stride_s=600)
    norm = fit_normalisation(rows, table.vectors)
    torch.manual_seed(0)
    model = FusionNet(mean=torch.from_numpy(norm.mean), std=torch.from_numpy(norm.std), d=16, heads=2).eval()
    one = rows.take(np.array([0]))
    one = dataclasses.replace(one, camera=np.zeros_like(one.camera), text_index=np.full_like(one.text_index, NO_TEXT))
    x = norm.apply(expand(one, table.vectors))
    z = x.copy()
    z[:, CAMERA_ROWS, CAMERA_COLUMNS.start : CAMERA_COLUMNS.stop - 1] += 3.0  # field means; valid share left at 0
    z[:, TEXT_ROWS, TEXT_COLUMNS.start : TEXT_COLUMNS.stop - 1] += 2.0  # vector and age; present flag left at 0
    with torch.no_grad():
        a = model(torch.from_numpy(x)).numpy()
        b = model(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(a, b, atol=1e-5)
    z[:, CAMERA_ROWS, CAMERA_COLUMNS.stop - 1] = 5.0  # now the tokens say they hold frames: they must count
    with torch.no_grad():
        c = model(torch.from_numpy(z)).numpy()
    assert np.abs(c - a).max() > 1e-3


TRAIN = SplitSpec((1,), (0, 1), per_kind=1, normal_days=1)
VALIDATION = SplitSpec((3,), (8,), per_kind=1, normal_days=1)


@dataclasses.dataclass
class Exported:
    predictor: FusionPredictor
    out: Path
    result: ExportResult
    parity: dict[str, Any]
    validation: list  # type: ignore[type-arg]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, episodes: list) -> Exported:  # type: ignore[type-arg]
    """A tiny model fitted (train + thresholds) and exported in every format, as the CLI does."""
    from export.hazard.fusion.export import export_fusion, rows_sha256

    validation = generate_split(VALIDATION)
    params = FusionParams(d=16, heads=2, layers=1, ff=32, epochs=1, train_stride_s=300, normal_stride_s=600)
    predictor = FusionPredictor(ENCODER, params=params)
    predictor.fit(episodes, validation)
    predictor.choose_thresholds_without(validation)
    rows = build_rows(validation, predictor.table, stride_s=300)
    out = tmp_path_factory.mktemp("fusion") / "hazard"
    result, parity = export_fusion(
        predictor,
        rows,
        rows_sha256(rows),
        out,
        latency_repeats=5,
        parameters={"train_split": json.dumps(TRAIN.to_json())},
    )
    return Exported(predictor, out, result, parity, validation)


def test_train_export_load_and_run(exported: Exported) -> None:
    """The whole route on a tiny model: the gateway loader accepts the int8 file, and its outputs agree with
    PyTorch on held-out windows."""
    predictor, out, result, parity, validation = (
        exported.predictor,
        exported.out,
        exported.result,
        exported.parity,
        exported.validation,
    )
    shipped = {f.format for f in result.files}
    assert {"onnx_fp32", "onnx_int8", "tflite_fp32"} <= shipped
    # a static-int8 TFLite file that decides differently from the model too often is left out, never shipped
    assert ("tflite_int8" in shipped) != ("tflite_int8" in result.rejected)
    for entry in parity["files"].values():
        assert entry["max_forecast_diff_pct_vol"] < 0.5
    loaded = load_model(out, prefer_precision=("int8",))
    assert loaded.file.precision == "int8"
    assert loaded.manifest.labels == list(OUTPUT_LABELS)
    assert loaded.manifest.inputs[0].shape == [None, ROWS, COLUMNS]
    for hazard in HAZARD_TYPES:
        assert f"threshold:{hazard.value}" in loaded.manifest.parameters
    rows = build_rows(validation, predictor.table, stride_s=300)
    assert predictor.normalisation is not None
    x = predictor.normalisation.apply(expand(rows.take(np.arange(8)), predictor.table.vectors))
    got = loaded.backend.run(finite(x))
    assert predictor.trained is not None
    with torch.no_grad():
        want = predictor.trained.model(torch.from_numpy(x)).numpy()
    assert np.abs(got[:, FORECAST_OUTPUTS] - want[:, FORECAST_OUTPUTS]).max() < 0.5
    assert np.abs(got[:, HAZARD_OUTPUTS] - want[:, HAZARD_OUTPUTS]).max() < 2.0
    from_files = FusionPredictor.from_model_dir(out, ENCODER)
    assert from_files.thresholds == predictor.thresholds
    assert set(predictor.thresholds_without) == set(MISSING_INPUTS)
    assert from_files.thresholds_without == predictor.thresholds_without
    assert set(predictor.info["validation_false_per_day_without"]) == set(MISSING_INPUTS)
    assert len(from_files.tracks(validation[0])) == len(HAZARD_TYPES)


def test_the_evaluation_scores_a_shipped_model_and_refuses_one_trained_on_the_test_mines(
    tmp_path: Path, exported: Exported
) -> None:
    from export.hazard.evaluate import EvalConfig, run_on
    from export.hazard.gbt import GBTParams

    test_spec = SplitSpec((9,), (7,), per_kind=1, normal_days=1)
    config = EvalConfig(
        train=TRAIN,
        validation=VALIDATION,
        test=test_spec,
        gbt=GBTParams(max_iter=5, train_stride_s=300, stride_s=120),
        ablations=False,
        conditions=False,
        real_data=None,
        examples=1,
        fusion_models=(("fusion", exported.out),),
        sparse_site_models=(("fusion", exported.out),),
        text_encoder="hashed:384",
    )
    test = generate_split(test_spec)
    results = run_on(config, generate_split(TRAIN), exported.validation, test, tmp_path)
    assert results["fusion_models"]["fusion"]["sparse_site"]["directory"] == str(exported.out)
    assert "fusion" in results["predictors"]
    assert results["forecast"]["fusion"]["all_points"]["+5min"]["points"] > 0
    assert 0.0 <= results["roc_fusion"]["fusion"]["risk_15min"]["auc"] <= 1.0
    assert results["inference"]["fusion"]["per_window_ms"] > 0
    assert list(results["fusion_models"]["fusion"]["train_split"]["layout_seeds"]) == [0, 1]
    report = (tmp_path / "report.md").read_text()
    assert "## Fusion models: training and export" in report
    assert "| fusion (sparse site) |" in report
    assert "**fusion** is a pair" in report
    assert "thresholds chosen for decisions with one dead transmitter" in report
    assert "| sensors:ch4_face |" in report
    assert set(results["fusion_models"]["fusion"]["thresholds_without"]) == set(MISSING_INPUTS)
    on_test_mines = dataclasses.replace(config, test=SplitSpec((9,), (1,), per_kind=1, normal_days=1))
    with pytest.raises(ValueError, match=r"shared layout seeds \[1\]"):
        run_on(on_test_mines, [], [], [], tmp_path / "refused")
    unpaired = dataclasses.replace(config, sparse_site_models=(("other", exported.out),))
    with pytest.raises(ValueError, match="no --fusion-model of that name"):
        run_on(unpaired, [], [], [], tmp_path / "unpaired")


def test_a_decision_without_an_input_is_held_to_that_inputs_threshold(exported: Exported) -> None:
    from export.hazard.data import with_dead_channels
    from export.hazard.fusion.predictor import without_input

    predictor = FusionPredictor.from_model_dir(exported.out, ENCODER)
    predictor.thresholds = dict.fromkeys(HAZARD_TYPES, 0.5)
    predictor.thresholds_without = {"sensors:ch4_face": dict.fromkeys(HAZARD_TYPES, 0.25)}
    episode = next(e for e in exported.validation if e.is_normal)
    rows = build_rows([episode], predictor.table, stride_s=60)
    assert set(predictor.decision_thresholds(rows).ravel()) <= {0.5, 0.25}
    dead = with_dead_channels(episode, ["ch4_face"])
    assert without_input(episode, "sensors:ch4_face").sensors.tobytes() == dead.sensors.tobytes()
    limits = predictor.decision_thresholds(build_rows([dead], predictor.table, stride_s=60))
    np.testing.assert_array_equal(limits, 0.25)
    # a replayed site that names its transmitters: a dead face head next to its absent ones is one dead channel,
    # and a site without a face head is not deciding without one
    site = dataclasses.replace(dead, site={**dead.site, "channels": ["ch4_face", "co_belt"]})
    tracks = predictor.tracks(site)
    gas = HAZARD_TYPES.index(HazardType.GAS_ACCUMULATION)
    np.testing.assert_array_equal(tracks[gas].active, tracks[gas].score >= 0.25)
    elsewhere = dataclasses.replace(dead, site={**dead.site, "channels": ["co_belt"]})
    tracks = predictor.tracks(elsewhere)
    np.testing.assert_array_equal(tracks[gas].active, tracks[gas].score >= 0.5)
    with pytest.raises(ValueError, match="unknown input"):
        without_input(episode, "camera")


def test_a_sparse_site_is_decided_by_the_sparse_site_model_a_full_section_by_the_full_one(
    exported: Exported,
) -> None:
    from export.hazard.data import as_site

    full = FusionPredictor.from_model_dir(exported.out, ENCODER, name="full")
    full.thresholds_without = {}
    full.thresholds = dict.fromkeys(HAZARD_TYPES, 2.0)  # a probability never reaches it: never warns
    sparse = FusionPredictor.from_model_dir(exported.out, ENCODER, name="sparse")
    sparse.thresholds_without = {}
    sparse.thresholds = dict.fromkeys(HAZARD_TYPES, 0.0)  # always warns where the site has evidence
    full.sparse_site = sparse
    episode = next(e for e in exported.validation if e.is_normal)
    three = as_site(episode, ["ch4_face", "o2_face", "co_belt"], camera=False, logbook=False)
    all_but_one = as_site(episode, list(CHANNEL_NAMES[1:]), camera=True, logbook=True)
    assert full.for_site(three) is sparse
    assert full.for_site(all_but_one) is full
    assert full.for_site(episode) is full  # a simulated mine names no channels: it has them all
    gas, fire = HAZARD_TYPES.index(HazardType.GAS_ACCUMULATION), HAZARD_TYPES.index(HazardType.FIRE)
    at_three = full.tracks(three)
    assert at_three[gas].active.all()
    assert at_three[fire].active.all()
    assert not any(t.active.any() for t in full.tracks(all_but_one))
    np.testing.assert_array_equal(full.outputs(three)[1], sparse.outputs(three)[1])
    assert full.describe()["sparse_site"]["name"] == "sparse"  # type: ignore[index]


def test_selection_scores_a_shipped_model_intact_and_degraded(tmp_path: Path, exported: Exported) -> None:
    """The recipe-selection CLI scores each judged condition and the drop from intact, and refuses a seed of the
    training, validation or test splits."""
    from export.hazard.fusion.selection import JUDGED_CONDITIONS, SCORED_CONDITIONS, main

    out = tmp_path / "selection.json"
    argv = [str(exported.out), "--out", str(out), "--per-kind", "1", "--normal-days", "1", "--text-encoder"]
    assert main([*argv, "hashed:384", "--seed", "9"]) == 0
    scores = json.loads(out.read_text())["models"][str(exported.out)]
    assert set(scores) == {"intact", *SCORED_CONDITIONS, "drop_points"}
    assert set(scores["drop_points"]) == set(JUDGED_CONDITIONS)  # the real record's site is scored, not judged
    assert "real_record_site" in SCORED_CONDITIONS
    for condition in ("intact", *SCORED_CONDITIONS):
        assert 0.0 <= scores[condition]["false_active_share_max"] <= 1.0
    intact = scores["intact"]["detection_rate_all"]
    for condition in JUDGED_CONDITIONS:
        assert scores["drop_points"][condition] == pytest.approx(
            100 * (intact - scores[condition]["detection_rate_all"]), abs=0.06
        )
    assert sum(int(v.split("/")[1]) for v in scores["intact"]["per_hazard"].values()) > 0
    assert main([*argv, "hashed:384", "--seed", "101"]) == 2


@pytest.mark.parametrize("share", ["1.5", "-0.1", "half"])
def test_fusion_cli_refuses_a_dropout_share_outside_0_to_1(share: str, capsys: pytest.CaptureFixture[str]) -> None:
    from export.hazard.fusion.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--out", "unused", "--dead-statutory-share", share])
    assert exit_info.value.code == 2
    assert "--dead-statutory-share" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--out", "unused", "--sparse-keep-statutory", share])
    assert "--sparse-keep-statutory" in capsys.readouterr().err


def test_thresholds_without_cli_adds_dead_channel_thresholds_to_an_export(tmp_path: Path, exported: Exported) -> None:
    """An export made before the dead-channel thresholds gets them in its manifest only; the model still loads."""
    import shutil

    from edge.hazard.availability import thresholds_without
    from edge.inference.manifest import load_manifest, write_manifest
    from export.hazard.fusion.thresholds_without import main

    out = tmp_path / "older"
    shutil.copytree(exported.out, out)
    manifest = load_manifest(out)
    older = {k: v for k, v in manifest.parameters.items() if "@" not in k}
    write_manifest(out, manifest.model_copy(update={"parameters": older}))
    assert thresholds_without(load_manifest(out).parameters) == {}
    files = {f.name: f.read_bytes() for f in out.iterdir() if f.suffix in (".onnx", ".tflite")}
    argv = [str(out), "--validation-layout-seeds", "7", "--validation-normal-days", "1", "--text-encoder", "hashed:384"]
    assert main(argv) == 0
    added = thresholds_without(load_manifest(out).parameters)
    assert set(added) == set(MISSING_INPUTS)
    assert {f.name: f.read_bytes() for f in out.iterdir() if f.suffix in (".onnx", ".tflite")} == files
    assert FusionPredictor.from_model_dir(out, ENCODER).thresholds_without == added
    assert main([*argv[:-1], "hashed:384", "--budget", "gas=1"]) == 2  # a bad budget is refused, the manifest kept
    assert thresholds_without(load_manifest(out).parameters) == added
