"""``minegate-train localization ...``: generate a dataset, train, evaluate, export.

Run as ``python -m export.localization.cli [localization] {generate,train,evaluate,export} ...``. ``generate``
and ``evaluate`` delegate to their modules' ``main``; ``train`` trains one model on a dataset directory
(``records.csv`` or ``records_paper.csv``, optional ``contacts.csv`` and ``layout.json``), scores it on miners
it never saw, writes ``model.pt`` + ``training.json`` into ``--out/<name>`` and exports it (ONNX/TFLite +
manifest) when the exporter is available; ``export`` re-exports a trained ``model.pt``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger("minegate.localization.train")

CHECKPOINT = "model.pt"
TRAINING_JSON = "training.json"
TASK = "localization"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def split_miners(
    miners: NDArray[np.int64], *, val_fraction: float, test_fraction: float, seed: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Window indices of train / val / test, each a disjoint set of whole miners (no miner's windows on two
    sides: consecutive windows of one miner are near copies, so a window split would leak)."""
    ids = np.unique(miners)
    if ids.size < 3:
        raise ValueError(f"a miners-held-out split needs at least 3 miners, got {ids.size}")
    rng = np.random.default_rng(seed)
    ids = rng.permutation(ids)
    n_test = max(1, round(test_fraction * ids.size)) if test_fraction > 0 else 0
    n_val = max(1, round(val_fraction * ids.size))
    if n_test + n_val >= ids.size:
        raise ValueError(f"{ids.size} miners are too few for val {val_fraction} and test {test_fraction}")
    test_ids, val_ids = ids[:n_test], ids[n_test : n_test + n_val]
    test = np.flatnonzero(np.isin(miners, test_ids))
    val = np.flatnonzero(np.isin(miners, val_ids))
    train = np.flatnonzero(~np.isin(miners, np.concatenate([test_ids, val_ids])))
    return train, val, test


def _records_path(data: Path) -> Path:
    # The full records (with x, y for the 61 m figure) when present, else the paper-format file.
    for name in ("records.csv", "records_paper.csv"):
        if (data / name).exists():
            return data / name
    raise FileNotFoundError(f"{data}: no records.csv or records_paper.csv")


def _save_checkpoint(path: Path, fitted: Any, meta: dict[str, Any]) -> None:
    import torch  # noqa: PLC0415

    kw = {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in fitted.model_kwargs.items()}
    torch.save(
        {
            "state_dict": fitted.module.state_dict(),
            "config": asdict(fitted.config),
            "model_kwargs": kw,
            "mean": fitted.mean.tolist(),
            "std": fitted.std.tolist(),
            "meta": meta,
        },
        path,
    )


def load_checkpoint(path: Path) -> tuple[Any, dict[str, Any]]:
    """``(FittedModel, meta)`` from a ``model.pt`` written by ``train``."""
    import torch  # noqa: PLC0415

    from export.localization.models import build_model  # noqa: PLC0415
    from export.localization.train import FittedModel, TrainConfig  # noqa: PLC0415

    ck = torch.load(path, map_location="cpu", weights_only=True)
    cfg = TrainConfig(**ck["config"])
    meta: dict[str, Any] = ck["meta"]
    kw = dict(ck["model_kwargs"])
    for key in ("centres", "offsets"):
        if key in kw:
            kw[key] = np.asarray(kw[key], dtype=np.float32)
    module = build_model(
        cfg.kind,
        n_features=len(meta["feature_names"]),
        n_classes=len(meta["labels"]),
        window=int(meta["window"]),
        filters=cfg.filters,
        kernel=cfg.kernel,
        lstm_units=cfg.lstm_units,
        dropout=cfg.dropout,
        **kw,
    )
    module.load_state_dict(ck["state_dict"])
    module.eval()
    fitted = FittedModel(
        module=module,
        mean=np.asarray(ck["mean"], dtype=np.float32),
        std=np.asarray(ck["std"], dtype=np.float32),
        config=cfg,
        model_kwargs=kw,
    )
    return fitted, meta


def _export(fitted: Any, meta: dict[str, Any], calibration: NDArray[np.float32], out_dir: Path) -> bool:
    if importlib.util.find_spec("export.localization.export_models") is None:
        log.warning("export: export.localization.export_models is not available yet; model.pt only")
        return False
    from export.localization.export_models import ExportRequest, export_all  # noqa: PLC0415

    metrics: dict[str, float | str | dict[str, float]] = {
        str(k): v for k, v in meta.get("metrics", {}).items() if isinstance(v, float | str)
    }
    params = {k: v for k, v in meta.get("config", {}).items() if isinstance(v, float | int | str | bool)}
    params.update(
        {
            "window": int(meta["window"]),
            "horizon": int(meta["horizon"]),
            "features": str(meta["features"]),
            # The gateway reads hour of day and shift days on the clock the model was trained on.
            "timezone": str(meta.get("timezone", "UTC")),
        }
    )
    req = ExportRequest(
        model=fitted.module,
        name=str(meta["name"]),
        task=TASK,
        window=int(meta["window"]),
        n_features=len(meta["feature_names"]),
        feature_names=list(meta["feature_names"]),
        mean=[float(v) for v in fitted.mean],
        std=[float(v) for v in fitted.std],
        labels=list(meta["labels"]),
        calibration=fitted.normalise(calibration),
        training_data_sha256=str(meta["training_data_sha256"]),
        metrics=metrics,
        parameters=params,
        description=str(meta.get("description", "")),
    )
    result = export_all(req, out_dir)
    log.info("exported %d files to %s (manifest %s)", len(result.files), out_dir, result.manifest_path)
    return True


def _timezone_arg(value: str) -> str:
    from edge.localization.features import check_timezone  # noqa: PLC0415

    try:
        check_timezone(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    import torch  # noqa: PLC0415

    from edge.localization.features import FeatureSet, build_windows  # noqa: PLC0415
    from export.localization.train import TrainConfig, fit, tune  # noqa: PLC0415

    torch.set_num_threads(2)  # the training box has two cores; more threads only contend
    data: Path = args.data
    features = FeatureSet(args.features or ("paper" if args.model == "paper_cnn_lstm" else "extended"))
    records_path = _records_path(data)
    from export.localization import dataset  # noqa: PLC0415

    records = dataset.load_records(records_path, timezone=args.timezone)
    layout = None
    if (data / "layout.json").exists():
        from edge.sim.mine_layout import MineLayout  # noqa: PLC0415

        layout = MineLayout.load(data / "layout.json")
    contacts = dataset.load_contacts(data / "contacts.csv") if (data / "contacts.csv").exists() else None
    started = time.perf_counter()
    ws = build_windows(
        records,
        window=args.window,
        horizon=args.horizon,
        features=features,
        layout=layout,
        contacts=contacts if features is FeatureSet.EXTENDED else None,
        stride=args.stride,
        timezone=args.timezone,
    )
    log.info(
        "%d windows of %d x %d features from %s (%.1f s)",
        len(ws),
        ws.window,
        ws.X.shape[-1],
        records_path,
        time.perf_counter() - started,
    )
    tr, va, te = split_miners(
        ws.miner, val_fraction=args.val_fraction, test_fraction=args.test_fraction, seed=args.seed
    )
    train, val, test = ws.subset(tr), ws.subset(va), ws.subset(te)
    cfg = TrainConfig(
        kind=args.model,
        epochs=args.epochs,
        batch_size=args.batch_size or (32 if args.model == "paper_cnn_lstm" else 256),
        lr=args.lr,
        dropout=args.dropout if args.dropout is not None else (0.5 if args.model == "paper_cnn_lstm" else 0.1),
        patience=args.patience,
        move_weight=args.move_weight,
        seed=args.seed,
        max_minutes=args.max_minutes,
        progress=not args.quiet,
    )
    trials: list[dict[str, Any]] = []
    if args.tune:
        base = replace(cfg, max_minutes=args.max_minutes / max(args.tune, 1) if args.max_minutes else None)
        best, trials = tune(base, train, val, n_trials=args.tune, timeout_s=args.tune_timeout)
        cfg = replace(best, max_minutes=cfg.max_minutes, progress=cfg.progress)
    fitted = fit(cfg, train, val)
    metrics: dict[str, Any] = {"train_seconds": round(fitted.train_seconds, 1), "best_epoch": fitted.best_epoch + 1}
    if len(test):
        proba = fitted.predict_proba(test.X)
        pred = proba.argmax(axis=1)
        metrics["test_accuracy"] = float(np.mean(pred == test.y))
        ch = test.changed
        metrics["test_changed_accuracy"] = float(np.mean(pred[ch] == test.y[ch])) if ch.any() else float("nan")
        if layout is not None:
            from export.localization import metrics as m  # noqa: PLC0415

            centres = np.array([[layout.pillar(p).x, layout.pillar(p).y] for p in ws.labels])
            from export.localization.evaluate import in_working_area  # noqa: PLC0415

            working = in_working_area(layout, test.target_xy)
            ms = m.compute_all(test.y, proba, test.last_pillar, centres, test.target_xy, working=working)
            metrics.update({f"test_{k}": float(v) for k, v in ms.as_dict().items()})
    log.info("metrics on %d held-out miners: %s", len(np.unique(test.miner)), metrics)
    name = args.name or f"{args.model}_w{args.window}_h{args.horizon}"
    out = Path(args.out) / name
    out.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "name": name,
        "features": str(features),
        "timezone": args.timezone,
        "feature_names": ws.feature_names,
        "labels": ws.labels,
        "window": ws.window,
        "horizon": ws.horizon,
        "stride": args.stride,
        "training_data_sha256": sha256_file(records_path),
        "records": str(records_path),
        "config": asdict(cfg),
        "metrics": metrics,
        "split": {
            "protocol": "whole miners held out (train / val for early stopping / test for the metrics)",
            "train_miners": sorted(ws.miner_ids[i] for i in np.unique(train.miner)),
            "val_miners": sorted(ws.miner_ids[i] for i in np.unique(val.miner)),
            "test_miners": sorted(ws.miner_ids[i] for i in np.unique(test.miner)),
            "windows": {"train": len(train), "val": len(val), "test": len(test)},
        },
        "description": f"{args.model} on {features} features, window {ws.window}, horizon {ws.horizon}",
    }
    _save_checkpoint(out / CHECKPOINT, fitted, meta)
    if layout is not None:
        # The gateway needs the layout the model was trained on (pillar geometry is part of the features).
        layout.save(out / "layout.json")
    (out / TRAINING_JSON).write_text(
        json.dumps({**meta, "history": fitted.history, "tuning": trials}, indent=1, default=float), encoding="utf-8"
    )
    rng = np.random.default_rng(args.seed)
    cal = train.X[rng.choice(len(train), size=min(args.calibration, len(train)), replace=False)]
    if not args.no_export:
        _export(fitted, meta, cal, out)
    return {"out": str(out), **metrics}


def cmd_export(args: argparse.Namespace) -> int:
    """Re-export a trained model: calibration windows are rebuilt from the training records."""
    from edge.localization.features import FeatureSet, build_windows  # noqa: PLC0415
    from export.localization import dataset  # noqa: PLC0415

    fitted, meta = load_checkpoint(Path(args.model_dir) / CHECKPOINT)
    data = Path(meta["records"]).parent if args.data is None else Path(args.data)
    timezone = str(meta.get("timezone", "UTC"))
    records = dataset.load_records(
        Path(meta["records"]) if args.data is None else data / Path(meta["records"]).name, timezone=timezone
    )
    layout = None
    if (data / "layout.json").exists():
        from edge.sim.mine_layout import MineLayout  # noqa: PLC0415

        layout = MineLayout.load(data / "layout.json")
    features = FeatureSet(meta["features"])
    contacts = dataset.load_contacts(data / "contacts.csv") if (data / "contacts.csv").exists() else None
    ws = build_windows(
        records,
        window=int(meta["window"]),
        horizon=int(meta["horizon"]),
        features=features,
        layout=layout,
        contacts=contacts if features is FeatureSet.EXTENDED else None,
        stride=int(meta.get("stride", 1)),
        labels=list(meta["labels"]),
        timezone=timezone,
    )
    if ws.feature_names != meta["feature_names"]:
        raise SystemExit(f"features rebuilt from {data} differ from the model's: {ws.feature_names}")
    train_ids = set(meta["split"]["train_miners"])
    idx = np.flatnonzero([ws.miner_ids[i] in train_ids for i in ws.miner])
    rng = np.random.default_rng(0)
    cal = ws.X[rng.choice(idx, size=min(args.calibration, idx.size), replace=False)]
    return 0 if _export(fitted, meta, cal, Path(args.out) if args.out else Path(args.model_dir)) else 1


def _delegate(module: str, argv: Sequence[str]) -> int:
    if importlib.util.find_spec(module) is None:
        log.error("%s is not available yet", module)
        return 2
    mod = importlib.import_module(module)
    rc = mod.main(list(argv))
    return int(rc or 0)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="minegate-train localization", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("generate", help="generate a dataset (delegates to export.localization.generate)", add_help=False)
    sub.add_parser("evaluate", help="protocols, baselines, report (export.localization.evaluate)", add_help=False)
    t = sub.add_parser("train", help="train one model on a dataset directory, score it on held-out miners")
    t.add_argument("--data", type=Path, required=True, help="directory with records.csv [contacts.csv layout.json]")
    t.add_argument("--model", choices=("paper_cnn_lstm", "lstm_only", "ours"), default="ours")
    t.add_argument("--features", choices=("paper", "extended"), help="default: paper for paper_cnn_lstm")
    t.add_argument(
        "--timezone",
        type=_timezone_arg,
        default="UTC",
        help="the mine's clock, an IANA name (default UTC): zoneless timestamps in the records are read on it, "
        "and hour of day and shift days follow it, here and on the gateway",
    )
    t.add_argument("--window", type=int, default=20)
    t.add_argument("--horizon", type=int, default=1)
    t.add_argument("--stride", type=int, default=4, help="keep every n-th window of a track (default 4)")
    t.add_argument("--epochs", type=int, default=100)
    t.add_argument("--batch-size", type=int, help="default 32 for paper_cnn_lstm (as published), 256 otherwise")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--dropout", type=float, help="default 0.5 for paper_cnn_lstm (as published), 0.1 otherwise")
    t.add_argument("--patience", type=int, default=5)
    t.add_argument(
        "--move-weight",
        type=float,
        default=1.0,
        help="loss weight on windows where the miner changes pillar (default 1, the plain loss; more trades "
        "macro F1 for changed-pillar accuracy, see export/reports/localization)",
    )
    t.add_argument("--max-minutes", type=float, default=10.0, help="training time budget (default 10)")
    t.add_argument("--tune", type=int, default=0, metavar="TRIALS", help="optuna TPE trials before the final fit")
    t.add_argument("--tune-timeout", type=float, help="seconds for the whole search")
    t.add_argument("--val-fraction", type=float, default=0.15)
    t.add_argument("--test-fraction", type=float, default=0.2)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--calibration", type=int, default=512, help="calibration windows for the int8 export")
    t.add_argument("--name", help="model directory name (default MODEL_wL_hH)")
    t.add_argument("--out", type=Path, default=Path("models/localization"))
    t.add_argument("--no-export", action="store_true")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    e = sub.add_parser("export", help="export a trained model.pt (ONNX/TFLite + manifest)")
    e.add_argument("model_dir", type=Path)
    e.add_argument("--data", type=Path, help="dataset directory (default: where the model was trained from)")
    e.add_argument("--out", type=Path, help="default: the model directory")
    e.add_argument("--calibration", type=int, default=512)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["localization"]:  # `minegate-train localization ...`
        args_list = args_list[1:]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args_list[:1] == ["generate"]:
        return _delegate("export.localization.generate", args_list[1:])
    if args_list[:1] == ["evaluate"]:
        return _delegate("export.localization.evaluate", args_list[1:])
    args = build_parser().parse_args(args_list)
    if args.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    if args.command == "train":
        print(json.dumps(cmd_train(args), indent=1, default=float))  # noqa: T201  (the CLI's result)
        return 0
    if args.command == "export":
        return cmd_export(args)
    build_parser().print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
