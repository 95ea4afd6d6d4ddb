"""Models' shapes; fitting beats chance; early stopping restores the best epoch; determinism; tuning; CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
from loctrain_fixtures import synth_records

from edge.localization.features import FeatureSet, WindowSet, build_windows
from edge.sim.mine_layout import LayoutParams, MineLayout
from export.localization import cli
from export.localization.models import KINDS, RelativeMoveHead, build_model
from export.localization.train import (
    TrainConfig,
    class_weights,
    default_move_weight,
    fit,
    model_kwargs,
    move_offsets,
    sample_weights,
    tune,
)

torch.set_num_threads(1)


def _split(ws: WindowSet) -> tuple[WindowSet, WindowSet]:
    n_m = int(ws.miner.max()) + 1
    val = np.isin(ws.miner, np.arange(n_m - 2, n_m))  # the last two miners, whole
    return ws.subset(np.flatnonzero(~val)), ws.subset(np.flatnonzero(val))


@pytest.fixture(scope="module")
def extended() -> WindowSet:
    return build_windows(synth_records(miners=8, shifts=2, steps=200), window=8, features=FeatureSet.EXTENDED)


@pytest.mark.parametrize("kind", KINDS)
def test_output_shapes(kind: str, extended: WindowSet) -> None:
    model = build_model(
        kind,
        n_features=extended.X.shape[-1],
        n_classes=len(extended.labels),
        window=extended.window,
        filters=8,
        lstm_units=8,
        **model_kwargs(kind, extended),
    )
    model.eval()
    out = model(torch.from_numpy(extended.X[:5]))
    assert out.shape == (5, len(extended.labels))
    assert out.dtype == torch.float32
    with pytest.raises(ValueError, match="unknown model kind"):
        build_model("nope", n_features=3, n_classes=2, window=4)


def test_relative_move_head_maps_moves_to_pillars() -> None:
    """A 3 x 2 grid of pillars; from the centre-left pillar, "one east" must score the pillar east of it."""
    centres = np.array([[0, 0], [1, 0], [2, 0], [0, 1], [1, 1], [2, 1]], dtype=np.float32)
    offsets = np.array([[0, 0], [1, 0], [0, 1]], dtype=np.float32)  # stay, east, north
    head = RelativeMoveHead(centres, offsets)
    moves = torch.tensor([[0.0, 5.0, 0.0], [0.0, 0.0, 5.0], [5.0, 0.0, 0.0]])
    anchor = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 1.0]])
    assert head(moves, anchor).argmax(dim=1).tolist() == [1, 4, 5]


def test_ours_geometric_with_layout_generalises_to_unseen_pillars() -> None:
    """Trained on miners in the west half of a mine, "ours" predicts moves in the east half it never saw."""
    layout = MineLayout(LayoutParams(entries=11, crosscuts=3, refuge_crosscuts_outby=1))  # 10 x 2 pillars
    rng = np.random.default_rng(0)
    rows: dict[str, list[float | str]] = {k: [] for k in ("miner", "t", "x", "v")}
    pitch = layout.params.pitch_across_m
    for m in range(12):
        west = m < 8
        lo, hi = (0.0, 5 * pitch) if west else (5 * pitch, 10 * pitch - 1)
        x, heading = rng.uniform(lo, hi), 1.0
        v = rng.uniform(1.5, 3.0)
        for k in range(150):
            rows["miner"].append(f"m{m}")
            rows["t"].append(1_750_032_000.0 + 5.0 * k)
            rows["x"].append(x)
            rows["v"].append(v * heading)
            x += heading * v * 5.0
            if not lo <= x < hi:
                heading = -heading
                x = float(np.clip(x, lo, hi - 1e-3))
    xs = np.array(rows["x"], dtype=float)
    ys = np.full(xs.size, layout.params.pitch_along_m)  # along crosscut 1
    vs = np.array(rows["v"], dtype=float)

    class Rec:
        miner = np.array(rows["miner"])
        role = np.array(["worker"] * xs.size)
        t = np.array(rows["t"], dtype=float)
        speed = np.abs(vs)
        direction_deg = np.where(vs >= 0, 90.0, 270.0)
        x = xs
        y = ys
        pillar = layout.pillar_index_at(xs, ys)
        pillar_labels: ClassVar[list[str]] = list(layout.pillar_ids)

    ws = build_windows(Rec(), window=6, features=FeatureSet.EXTENDED, layout=layout)
    east = np.isin(ws.miner, [ws.miner_ids.index(f"m{m}") for m in range(8, 12)])
    train_all, test = ws.subset(np.flatnonzero(~east)), ws.subset(np.flatnonzero(east))
    assert not set(test.y.tolist()) & set(train_all.y.tolist())  # the test pillars were never a target
    val_m = train_all.miner == train_all.miner.max()
    train, val = train_all.subset(np.flatnonzero(~val_m)), train_all.subset(np.flatnonzero(val_m))
    cfg = TrainConfig(kind="ours", epochs=40, batch_size=64, lr=3e-3, dropout=0.0, progress=False, patience=8)
    fitted = fit(cfg, train, val)
    pred = fitted.predict_proba(test.X).argmax(axis=1)
    assert move_offsets(train).shape[0] >= 9
    assert float(np.mean(pred == test.y)) > 0.75
    assert float(np.mean(pred[test.changed] == test.y[test.changed])) > 0.4
    # a per-class dense output cannot: the east pillars' outputs were only ever trained towards "no"
    dense = fit(replace(cfg, kind="lstm_only"), train, val)
    assert float(np.mean(dense.predict_proba(test.X).argmax(axis=1) == test.y)) < 0.2


@pytest.mark.parametrize("kind", ["lstm_only", "ours"])
def test_fit_beats_chance_and_restores_best_epoch(kind: str, extended: WindowSet) -> None:
    train, val = _split(extended)
    cfg = TrainConfig(kind=kind, epochs=12, batch_size=64, lr=3e-3, dropout=0.1, progress=False, patience=100)
    fitted = fit(cfg, train, val)
    acc = float(np.mean(fitted.predict_proba(val.X).argmax(axis=1) == val.y))
    chance = 1.0 / len(extended.labels)
    assert acc > 4 * chance  # 8 pillars: chance 0.125, the task is learnable from pillar history + velocity
    h = fitted.history
    assert len(h["val_loss"]) == 12
    assert fitted.best_epoch == int(np.argmin(h["val_loss"]))
    # the returned weights are the best epoch's: their validation loss is the recorded minimum
    logp = np.log(np.clip(fitted.predict_proba(val.X), 1e-12, None))
    val_loss = float(-np.mean(logp[np.arange(len(val)), val.y]))
    assert val_loss == pytest.approx(min(h["val_loss"]), rel=1e-3)
    assert fitted.module.training is False


def test_early_stopping_stops_and_restores() -> None:
    """A task with nothing to learn on val (labels shuffled): validation loss rises, training stops after
    `patience` epochs without improvement and the best (early) weights are kept."""
    ws = build_windows(synth_records(miners=6, shifts=1, steps=150), window=6, features=FeatureSet.PAPER)
    train, val = _split(ws)
    rng = np.random.default_rng(0)
    val = replace(val, y=rng.permutation(val.y))
    cfg = TrainConfig(kind="lstm_only", epochs=60, batch_size=32, lr=1e-2, dropout=0.0, patience=3, progress=False)
    fitted = fit(cfg, train, val)
    n = len(fitted.history["val_loss"])
    assert n < 60
    assert n == fitted.best_epoch + 1 + cfg.patience
    probs = fitted.predict_proba(val.X)
    val_loss = float(-np.mean(np.log(probs[np.arange(len(val)), val.y])))
    assert val_loss == pytest.approx(fitted.history["val_loss"][fitted.best_epoch], rel=1e-3)


def test_paper_model_is_deterministic_with_a_seed() -> None:
    ws = build_windows(synth_records(miners=5, shifts=1, steps=100), window=6, features=FeatureSet.PAPER)
    train, val = _split(ws)
    cfg = TrainConfig(kind="paper_cnn_lstm", epochs=3, filters=8, lstm_units=8, progress=False, seed=7)
    a, b = fit(cfg, train, val), fit(cfg, train, val)
    assert a.history == b.history
    assert np.array_equal(a.predict_proba(val.X), b.predict_proba(val.X))
    c = fit(replace(cfg, seed=8), train, val)
    assert c.history["train_loss"] != a.history["train_loss"]


def test_class_weights_inverse_sqrt_capped() -> None:
    y = np.array([0] * 400 + [1] * 100 + [2] * 1, dtype=np.int64)
    w = class_weights(y, 4)
    assert w[3] == 0.0  # no samples, no weight
    assert w[1] / w[0] == pytest.approx(2.0)  # 1 / sqrt(100) vs 1 / sqrt(400)
    assert w[2] / w[0] == pytest.approx(10.0)  # 20x uncapped, capped at 10x the smallest
    assert float(w[y].mean()) == pytest.approx(1.0)


def test_sample_weights_lift_changed_pillar_windows(extended: WindowSet) -> None:
    n_classes = len(extended.labels)
    plain = sample_weights(extended, n_classes, TrainConfig(kind="ours", move_weight=1.0))
    lifted = sample_weights(extended, n_classes, TrainConfig(kind="ours", move_weight=4.0))
    moved = extended.changed
    assert moved.any()
    assert (~moved).any()
    assert float(plain.mean()) == pytest.approx(1.0, rel=1e-5)
    assert float(lifted.mean()) == pytest.approx(1.0, rel=1e-5)
    # Relative to its stay neighbours of the same class weight, a changed window weighs 4x more.
    ratio = (lifted / plain)[moved] / (lifted / plain)[~moved].mean()
    assert np.allclose(ratio, 4.0, rtol=1e-4)
    assert default_move_weight("ours") == 4.0
    assert default_move_weight("paper_cnn_lstm") == 1.0
    with pytest.raises(ValueError, match="move_weight must be a positive number"):
        sample_weights(extended, n_classes, TrainConfig(kind="ours", move_weight=0.0))


def test_tune_runs_two_trials(extended: WindowSet) -> None:
    train, val = _split(extended)
    base = TrainConfig(kind="lstm_only", epochs=2, batch_size=128, progress=False)
    best, trials = tune(base, train, val, n_trials=2)
    assert len(trials) == 2
    assert all("val_loss" in t and "lstm_units" in t for t in trials)
    assert best.lstm_units in (16, 32, 64)
    assert best.kind == "lstm_only"
    assert best.epochs == 2
    assert min(t["val_loss"] for t in trials) == pytest.approx(
        next(t["val_loss"] for t in trials if t["lstm_units"] == best.lstm_units and t["lr"] == best.lr)
    )


def test_split_miners_is_disjoint() -> None:
    miners = np.repeat(np.arange(10), 7)
    tr, va, te = cli.split_miners(miners, val_fraction=0.2, test_fraction=0.2, seed=0)
    sets = [set(miners[i].tolist()) for i in (tr, va, te)]
    assert not (sets[0] & sets[1])
    assert not (sets[0] & sets[2])
    assert not (sets[1] & sets[2])
    assert sum(len(i) for i in (tr, va, te)) == miners.size
    assert len(sets[2]) == 2


def test_checkpoint_round_trip(tmp_path: Path, extended: WindowSet) -> None:
    train, val = _split(extended)
    fitted = fit(TrainConfig(kind="ours", epochs=1, batch_size=128, progress=False), train, val)
    meta = {"feature_names": train.feature_names, "labels": train.labels, "window": train.window, "name": "x"}
    cli._save_checkpoint(tmp_path / "model.pt", fitted, meta)
    again, meta2 = cli.load_checkpoint(tmp_path / "model.pt")
    assert json.dumps(meta2) == json.dumps(meta)
    assert np.allclose(again.predict_proba(val.X), fitted.predict_proba(val.X), atol=1e-6)
