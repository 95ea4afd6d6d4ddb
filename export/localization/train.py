"""Training: the paper's recipe (Adam 1e-3 with exponential decay, batch 32, early stopping on the validation
loss, dropout, L2, class weights) for every model kind, and a small optuna TPE search over it."""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from tqdm import tqdm

from edge.localization.features import PILLAR_INDEX_FEATURE, WindowSet, raw_feature_mask
from export.localization.models import build_model

log = logging.getLogger(__name__)

# Class weights are inverse square-root frequency, capped at this multiple of the smallest weight: full
# inverse frequency gives a pillar seen twice hundreds of times the weight of a busy one, so a handful of
# windows would dominate the gradient and the validation loss would swing; the square root still lifts rare
# pillars (the paper's imbalance remedy) and the cap bounds the worst case.
CLASS_WEIGHT_CAP = 10.0
# Loss weight on changed-pillar windows per model kind (1 = the plain loss, the paper's recipe). Chosen for
# "ours" from {1, 2, 4, 8} on the shifts-held-out protocol of a separately generated dataset (seed 7), not on
# the data the report evaluates: changed-pillar accuracy 0.84 / 0.87 / 0.92 / 0.93, macro F1 0.928 / 0.928 /
# 0.910 / 0.907; 4 keeps macro F1 above 0.90 with a margin. With miners held out on the same dataset: weight 2 gave
# changed 0.733 at F1 0.931, weight 4 changed 0.819 at F1 0.912. That is the evaluation's recipe (batch 32, dropout
# 0.5). On the shipped model's own split (5 held-out miners) the plain loss gave changed-pillar 0.848 at macro F1
# 0.922; move weight 4 gave 0.874 at F1 0.870 (batch 256, dropout 0.1) and 0.908 at F1 0.883 (batch 32, dropout
# 0.5). F1 falls below its 0.90 target there, so the training CLI and the shipped model keep the plain loss.
DEFAULT_MOVE_WEIGHT = {"ours": 4.0}


def default_move_weight(kind: str) -> float:
    return DEFAULT_MOVE_WEIGHT.get(kind, 1.0)


BLIND_GEO = True


@dataclass
class TrainConfig:
    kind: str = "paper_cnn_lstm"
    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-3
    lr_decay: float = 0.96  # per epoch, exponential
    dropout: float = 0.5
    l2: float = 1e-4
    filters: int = 64
    kernel: int = 3
    lstm_units: int = 64
    patience: int = 5
    class_weights: bool = True
    # Extra loss weight on windows where the miner changes pillar. About 95 % of windows repeat the last
    # pillar, so an unweighted loss is mostly satisfied by "stay"; the rare move is what rescue needs.
    move_weight: float = 1.0
    seed: int = 0
    max_minutes: float | None = None
    progress: bool = True


@dataclass
class FittedModel:
    module: nn.Module  # eval mode, on CPU
    mean: NDArray[np.float32]
    std: NDArray[np.float32]
    config: TrainConfig
    history: dict[str, list[float]] = field(default_factory=dict)
    train_seconds: float = 0.0
    best_epoch: int = 0
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def normalise(self, X: NDArray[Any]) -> NDArray[np.float32]:
        out: NDArray[np.float32] = ((np.asarray(X, dtype=np.float32) - self.mean) / self.std).astype(np.float32)
        return out

    def predict_logits(self, X: NDArray[Any], *, batch_size: int = 4096) -> NDArray[np.float32]:
        self.module.eval()
        Xn = self.normalise(X)
        outs: list[NDArray[np.float32]] = []
        with torch.no_grad():
            for i in range(0, Xn.shape[0], batch_size):
                outs.append(self.module(torch.from_numpy(Xn[i : i + batch_size])).numpy().astype(np.float32))
        if not outs:
            n_out = int(self.module(torch.zeros((1, *Xn.shape[1:]))).shape[1])
            return np.zeros((0, n_out), np.float32)
        return np.concatenate(outs, axis=0)

    def predict_proba(self, X: NDArray[Any], *, batch_size: int = 4096) -> NDArray[np.float32]:
        logits = self.predict_logits(X, batch_size=batch_size)
        z = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        out: NDArray[np.float32] = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        return out


def seed_everything(seed: int) -> None:
    np.random.seed(seed)  # legacy global RNG: some third-party code draws from it
    torch.manual_seed(seed)


def normalisation(train: WindowSet) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Per-feature mean/std over all steps of the training windows; raw features (layout coordinates, pillar
    indices) get 0/1 so the model reads them as they are; a constant feature gets std 1."""
    flat = train.X.reshape(-1, train.X.shape[-1]).astype(np.float64)
    mean = flat.mean(axis=0) if flat.shape[0] else np.zeros(train.X.shape[-1])
    std = flat.std(axis=0) if flat.shape[0] else np.ones(train.X.shape[-1])
    std = np.where(std < 1e-6, 1.0, std)
    raw = raw_feature_mask(train.feature_names)
    mean = np.where(raw, 0.0, mean)
    std = np.where(raw, 1.0, std)
    return mean.astype(np.float32), std.astype(np.float32)


def move_offsets(train: WindowSet) -> NDArray[np.float32]:
    """The lattice of relative moves the "ours" head scores: every (column, row) step within the largest
    step seen in training, in the units of ``pillar_xy``. A lattice rather than only the moves seen, so a
    symmetric move that happened not to occur in training is still representable."""
    if train.pillar_xy is None:
        raise ValueError("move offsets need pillar centres (a layout)")
    c = train.pillar_xy.astype(np.float64)

    def pitch(v: NDArray[np.float64]) -> float:
        d = np.diff(np.unique(np.round(v, 6)))
        return float(d.min()) if d.size else 1.0

    px, py = pitch(c[:, 0]), pitch(c[:, 1])
    delta = c[train.y] - c[train.last_pillar]
    rx = int(np.max(np.abs(np.round(delta[:, 0] / px)))) if len(train) else 1
    ry = int(np.max(np.abs(np.round(delta[:, 1] / py)))) if len(train) else 1
    rx, ry = max(rx, 1), max(ry, 1)
    grid = [(i * px, j * py) for j in range(-ry, ry + 1) for i in range(-rx, rx + 1)]
    return np.array(grid, dtype=np.float32)


def model_kwargs(kind: str, train: WindowSet) -> dict[str, Any]:
    """The extra ``build_model`` arguments a kind needs, derived from the training windows."""
    if kind != "ours":
        return {}
    names = train.feature_names
    if train.pillar_xy is not None and "geo_pillar_x" in names:
        return {
            "centres": train.pillar_xy,
            "offsets": move_offsets(train),
            "anchor_cols": (names.index("geo_pillar_x"), names.index("geo_pillar_y")),
            "blind_cols": tuple(i for i, n in enumerate(names) if n.startswith("geo_")) if BLIND_GEO else (),
        }
    if PILLAR_INDEX_FEATURE in names:
        return {"pillar_col": names.index(PILLAR_INDEX_FEATURE)}
    return {}


def make_model(cfg: TrainConfig, train: WindowSet, kw: dict[str, Any] | None = None) -> nn.Module:
    return build_model(
        cfg.kind,
        n_features=train.X.shape[-1],
        n_classes=len(train.labels),
        window=train.window,
        filters=cfg.filters,
        kernel=cfg.kernel,
        lstm_units=cfg.lstm_units,
        dropout=cfg.dropout,
        **(kw if kw is not None else model_kwargs(cfg.kind, train)),
    )


def class_weights(y: NDArray[np.int64], n_classes: int) -> NDArray[np.float32]:
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = np.zeros(n_classes)
    seen = counts > 0
    w[seen] = 1.0 / np.sqrt(counts[seen])
    if seen.any():
        w[seen] = np.minimum(w[seen], CLASS_WEIGHT_CAP * w[seen].min())
        # Mean weight per training window 1, so the loss scale (and the learning rate) match the unweighted case.
        w = w / (w[y].mean())
    return w.astype(np.float32)


def sample_weights(train: WindowSet, n_classes: int, cfg: TrainConfig) -> NDArray[np.float32]:
    """Per-window loss weight: the class weight of its target pillar times ``move_weight`` where the miner
    changed pillar; normalised so the mean weight over the training windows is 1."""
    if cfg.move_weight <= 0 or not math.isfinite(cfg.move_weight):
        raise ValueError(f"move_weight must be a positive number, got {cfg.move_weight!r}")
    w = class_weights(train.y, n_classes)[train.y] if cfg.class_weights else np.ones(len(train), dtype=np.float32)
    w = np.where(train.changed, w * cfg.move_weight, w)
    out: NDArray[np.float32] = (w / w.mean()).astype(np.float32) if len(w) else w.astype(np.float32)
    return out


def _evaluate(
    module: nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module, batch: int
) -> tuple[float, float]:
    module.eval()
    total, correct, n = 0.0, 0, int(y.shape[0])
    with torch.no_grad():
        for i in range(0, n, batch):
            logits = module(X[i : i + batch])
            total += float(loss_fn(logits, y[i : i + batch]).item()) * int(logits.shape[0])
            correct += int((logits.argmax(dim=1) == y[i : i + batch]).sum().item())
    return (total / n, correct / n) if n else (math.nan, math.nan)


def fit(cfg: TrainConfig, train: WindowSet, val: WindowSet) -> FittedModel:
    """Train ``cfg.kind`` on ``train``; early stopping on ``val``'s (unweighted) loss restores the best epoch.

    Deterministic for a given seed on one machine: data order and initialisation come from ``cfg.seed``.
    """
    if len(train) == 0 or len(val) == 0:
        raise ValueError(f"need training and validation windows, got {len(train)} and {len(val)}")
    if train.feature_names != val.feature_names or train.labels != val.labels:
        raise ValueError("train and val windows must have the same features and labels")
    started = time.perf_counter()
    seed_everything(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    mean, std = normalisation(train)
    kw = model_kwargs(cfg.kind, train)
    module = make_model(cfg, train, kw)
    Xt = torch.from_numpy(((train.X - mean) / std).astype(np.float32))
    yt = torch.from_numpy(train.y)
    Xv = torch.from_numpy(((val.X - mean) / std).astype(np.float32))
    yv = torch.from_numpy(val.y)
    n_classes = len(train.labels)
    wt = torch.from_numpy(sample_weights(train, n_classes, cfg))
    train_loss_fn = nn.CrossEntropyLoss(reduction="none")
    val_loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(module.parameters(), lr=cfg.lr, weight_decay=cfg.l2)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.lr_decay)
    history: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "train_acc": [], "val_acc": [], "lr": []}
    best_state = copy.deepcopy(module.state_dict())
    best_loss, best_epoch, bad = math.inf, 0, 0
    deadline = started + cfg.max_minutes * 60 if cfg.max_minutes is not None else math.inf
    n = len(train)
    bar = tqdm(range(cfg.epochs), desc=f"{cfg.kind}", unit="epoch", disable=not cfg.progress, leave=False)
    for epoch in bar:
        module.train()
        perm = torch.randperm(n, generator=gen)
        total, correct = 0.0, 0
        for i in range(0, n, cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            if idx.numel() < 2:  # BatchNorm cannot train on a batch of one
                continue
            logits = module(Xt[idx])
            loss = (train_loss_fn(logits, yt[idx]) * wt[idx]).sum() / wt[idx].sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.item()) * int(idx.numel())
            correct += int((logits.argmax(dim=1) == yt[idx]).sum().item())
        sched.step()
        vl, va = _evaluate(module, Xv, yv, val_loss_fn, 4096)
        history["train_loss"].append(total / n)
        history["train_acc"].append(correct / n)
        history["val_loss"].append(vl)
        history["val_acc"].append(va)
        history["lr"].append(float(opt.param_groups[0]["lr"]))
        bar.set_postfix(loss=f"{total / n:.3f}", val_loss=f"{vl:.3f}", val_acc=f"{va:.3f}")
        if vl < best_loss - 1e-5:
            best_loss, best_epoch, bad = vl, epoch, 0
            best_state = copy.deepcopy(module.state_dict())
        else:
            bad += 1
            if bad >= cfg.patience:
                log.info("%s: early stop at epoch %d, best epoch %d", cfg.kind, epoch + 1, best_epoch + 1)
                break
        if time.perf_counter() > deadline:
            log.info("%s: time budget of %.1f min reached at epoch %d", cfg.kind, cfg.max_minutes or 0, epoch + 1)
            break
    bar.close()
    module.load_state_dict(best_state)
    module.eval()
    return FittedModel(
        module=module,
        mean=mean,
        std=std,
        config=cfg,
        history=history,
        train_seconds=time.perf_counter() - started,
        best_epoch=best_epoch,
        model_kwargs=kw,
    )


def tune(
    base: TrainConfig, train: WindowSet, val: WindowSet, *, n_trials: int = 12, timeout_s: float | None = None
) -> tuple[TrainConfig, list[dict[str, Any]]]:
    """Bayesian search (optuna TPE, seeded) over filters, lstm_units, dropout, lr, lr_decay and l2, minimising
    the best validation loss. Returns the best config (the base with the best values) and one record per
    trial."""
    import optuna  # noqa: PLC0415  (optional: only the search needs it)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        cfg = replace(
            base,
            filters=trial.suggest_categorical("filters", [16, 32, 64]),
            lstm_units=trial.suggest_categorical("lstm_units", [16, 32, 64]),
            dropout=trial.suggest_float("dropout", 0.0, 0.5),
            lr=trial.suggest_float("lr", 3e-4, 1e-2, log=True),
            lr_decay=trial.suggest_float("lr_decay", 0.85, 1.0),
            l2=trial.suggest_float("l2", 1e-6, 1e-3, log=True),
            progress=False,
        )
        fitted = fit(cfg, train, val)
        best = float(min(fitted.history["val_loss"]))
        acc = float(fitted.history["val_acc"][fitted.best_epoch])
        trials.append(
            {
                "number": trial.number,
                "val_loss": best,
                "val_acc": acc,
                "epochs": len(fitted.history["val_loss"]),
                "seconds": fitted.train_seconds,
                **trial.params,
            }
        )
        log.info("trial %d: val_loss %.4f val_acc %.4f %s", trial.number, best, acc, trial.params)
        return best

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=base.seed))
    study.optimize(objective, n_trials=n_trials, timeout=timeout_s, show_progress_bar=False)
    params = study.best_params
    best = replace(
        base,
        filters=int(params["filters"]),
        lstm_units=int(params["lstm_units"]),
        dropout=float(params["dropout"]),
        lr=float(params["lr"]),
        lr_decay=float(params["lr_decay"]),
        l2=float(params["l2"]),
    )
    return best, trials


def config_dict(cfg: TrainConfig) -> dict[str, Any]:
    return asdict(cfg)
