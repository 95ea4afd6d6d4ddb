"""The evaluation report: Markdown tables and PNG figures in the style of the paper's figures 7-12.

Everything shown is read from the results of ``evaluate`` (measured in that run); nothing is typed in except the
paper's own reported figures, which are labelled as such.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from export.localization.protocols import PROTOCOL_TITLES

METRIC_COLUMNS = (
    ("accuracy", "acc"),
    ("macro_precision", "P macro"),
    ("macro_recall", "R macro"),
    ("macro_f1", "F1 macro"),
    ("weighted_precision", "P wtd"),
    ("weighted_recall", "R wtd"),
    ("weighted_f1", "F1 wtd"),
    ("top3", "top-3"),
    ("within_61m", "<=61 m"),
    ("within_61m_working", "<=61 m panel"),
    ("meets_guidance", "guidance"),
    ("median_error_m", "median err m"),
    ("changed_accuracy", "changed acc"),
)
PRETTY = {
    "last_known": "last known pillar",
    "markov": "Markov chain (CTS-MM family)",
    "dead_reckoning": "dead reckoning from last gateway",
    "dead_reckoning_fix": "dead reckoning from fix at last contact",
    "lstm_only": "LSTM only",
    "paper_cnn_lstm": "paper CNN-LSTM",
    "ours": "ours",
}
MAX_PNG_BYTES = 200_000


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if isinstance(x, int):
        return str(x)
    return f"{float(x):.{digits}f}"


def _horizons(ds: Mapping[str, Any]) -> list[str]:
    return sorted(ds["horizons"], key=int)


def _preds(proto: Mapping[str, Any]) -> dict[str, Any]:
    return dict(proto["predictors"])


def _primary_model(preds: Mapping[str, Any]) -> str:
    for name in ("ours", "paper_cnn_lstm", "lstm_only", "markov", "dead_reckoning", "last_known"):
        if name in preds:
            return name
    return next(iter(preds))


def targets_table(results: Mapping[str, Any]) -> list[str]:
    """Met/missed for each target, leakage-free protocols, horizon 1 (or the first horizon run)."""
    targets: Mapping[str, float] = results["targets"]
    lines = [
        "| dataset | protocol | model | " + " | ".join(f"{k} (target >= {v})" for k, v in targets.items()) + " |",
        "|---|---|---|" + "---|" * len(targets),
    ]
    for ds in results["datasets"]:
        h = _horizons(ds)[0]
        for protocol in ("miner", "shift"):
            proto = ds["horizons"][h]["protocols"].get(protocol)
            if proto is None:
                continue
            preds = _preds(proto)
            models: list[str] = [p for p in ("ours", "paper_cnn_lstm") if p in preds] or [_primary_model(preds)]
            for model in models:
                ms = preds[model]["metrics"]
                cells = []
                for key, goal in targets.items():
                    v = ms.get(key)
                    if v is None or not math.isfinite(v):
                        cells.append("n/a")
                    elif v >= goal:
                        cells.append(f"{v:.3f} met (+{v - goal:.3f})")
                    else:
                        cells.append(f"{v:.3f} **missed by {goal - v:.3f}**")
                lines.append(f"| {ds['name']} | {protocol} | {PRETTY.get(model, model)} | " + " | ".join(cells) + " |")
    return lines


def headline_table(results: Mapping[str, Any]) -> list[str]:
    """Every dataset and predictor at the first horizon: the paper's protocol next to the leakage-free ones."""
    lines = [
        "| dataset | predictor | acc (a) stratified | acc (b) miners | acc (b) shifts | F1 macro (b) miners "
        "| <=61 m (b) miners | <=61 m panel (b) miners "
        "| changed acc (a) | changed acc (b) miners | changed acc (b) shifts |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ds in results["datasets"]:
        h = _horizons(ds)[0]
        protos = ds["horizons"][h]["protocols"]
        preds = list(dict.fromkeys(k for p in protos.values() for k in p["predictors"]))

        for pred in preds:

            def cell(protocol: str, key: str, pred: str = pred, protos: Mapping[str, Any] = protos) -> str:
                entry = protos.get(protocol, {}).get("predictors", {}).get(pred)
                return _fmt(entry["metrics"].get(key)) if entry else "not run"

            cells = [
                cell("stratified", "accuracy"),
                cell("miner", "accuracy"),
                cell("shift", "accuracy"),
                cell("miner", "macro_f1"),
                cell("miner", "within_61m"),
                cell("miner", "within_61m_working"),
                cell("stratified", "changed_accuracy"),
                cell("miner", "changed_accuracy"),
                cell("shift", "changed_accuracy"),
            ]
            lines.append(f"| {ds['name']} | {PRETTY.get(pred, pred)} | " + " | ".join(cells) + " |")
    return lines


def observations(results: Mapping[str, Any]) -> list[str]:
    """Sentences computed from the results (nothing typed in): leakage gap, best on changed windows."""
    out: list[str] = []
    for ds in results["datasets"]:
        h = _horizons(ds)[0]
        protos = ds["horizons"][h]["protocols"]
        strat = protos.get("stratified", {}).get("predictors", {})
        miner = protos.get("miner", {}).get("predictors", {})
        for model in ("lstm_only", "paper_cnn_lstm", "ours"):
            if model in strat and model in miner:
                a, b = strat[model]["metrics"]["accuracy"], miner[model]["metrics"]["accuracy"]
                if a is not None and b is not None:
                    out.append(
                        f"- `{ds['name']}`, {PRETTY[model]}: accuracy {a:.3f} with the paper's stratified folds vs "
                        f"{b:.3f} with whole miners held out (difference {a - b:+.3f})."
                    )
        if miner:
            ranked = sorted(((v["metrics"].get("changed_accuracy") or 0.0, k) for k, v in miner.items()), reverse=True)
            best_val, best = ranked[0]
            last = miner.get("last_known", {}).get("metrics", {}).get("accuracy")
            tail = f"; carrying the last pillar forward scores {last:.3f} overall" if last is not None else ""
            out.append(
                f"- `{ds['name']}`, miners held out: best changed-pillar accuracy {best_val:.3f} "
                f"({PRETTY.get(best, best)}){tail}."
            )
    return out


def side_by_side(ds: Mapping[str, Any], h: str) -> list[str]:
    protos = ds["horizons"][h]["protocols"]
    names = list(protos)
    head = "| predictor | " + " | ".join(f"{p}: acc / F1 macro / changed" for p in names) + " |"
    lines = [head, "|---|" + "---|" * len(names)]
    preds = list(dict.fromkeys(k for p in names for k in protos[p]["predictors"]))
    for pred in preds:
        cells = []
        for p in names:
            entry = protos[p]["predictors"].get(pred)
            if entry is None:
                cells.append("not run")
                continue
            ms = entry["metrics"]
            cells.append(f"{_fmt(ms['accuracy'])} / {_fmt(ms['macro_f1'])} / {_fmt(ms['changed_accuracy'])}")
        lines.append(f"| {PRETTY.get(pred, pred)} | " + " | ".join(cells) + " |")
    return lines


def full_table(proto: Mapping[str, Any]) -> list[str]:
    lines = [
        "| predictor | " + " | ".join(c for _, c in METRIC_COLUMNS) + " | fit s | predict µs/window |",
        "|---|" + "---|" * (len(METRIC_COLUMNS) + 2),
    ]
    for pred, entry in _preds(proto).items():
        ms = entry["metrics"]
        digits = {"median_error_m": 1}
        cells = [_fmt(ms.get(k), digits.get(k, 3)) for k, _ in METRIC_COLUMNS]
        lines.append(
            f"| {PRETTY.get(pred, pred)} | "
            + " | ".join(cells)
            + f" | {_fmt(entry['fit_seconds'], 1)} | {_fmt(entry['predict_us_per_window'], 1)} |"
        )
    return lines


def _folds_run_text(meta: Mapping[str, Any]) -> str:
    by_dataset = meta.get("folds_used_by_dataset")
    if not by_dataset:
        return str(meta["folds_used"] or meta["n_folds"])
    return ", ".join(f"{v or meta['n_folds']} for `{k}`" for k, v in by_dataset.items())


def fold_spread_lines(results: Mapping[str, Any]) -> list[str]:
    """Fold-to-fold range of the target metrics for the primary model, where more than one fold ran.

    A fold of the miners protocol holds out a fifth of the miners: its macro F1 swings with the pillars they
    happen to visit, and a single fold can miss a target the pooled figure meets (or the reverse)."""
    lines: list[str] = []
    for ds in results["datasets"]:
        protos = ds["horizons"][_horizons(ds)[0]]["protocols"]
        for protocol in ("miner", "shift"):
            if protocol not in protos:
                continue
            preds = _preds(protos[protocol])
            entry = preds.get(_primary_model(preds), {})
            f1s = [v for v in entry.get("fold_macro_f1", []) if v is not None]
            changed = [v for v in entry.get("fold_changed_accuracy", []) if v is not None]
            acc = [v for v in entry.get("fold_accuracy", []) if v is not None]
            if len(f1s) < 2:
                continue
            lines.append(
                f"- `{ds['name']}`, {protocol}, {PRETTY.get(_primary_model(preds), 'model')}: per fold accuracy "
                f"{min(acc):.3f}-{max(acc):.3f}, macro F1 {min(f1s):.3f}-{max(f1s):.3f}, changed-pillar accuracy "
                f"{min(changed):.3f}-{max(changed):.3f} over {len(f1s)} folds (the tables pool the folds)."
            )
    return lines


def render_markdown(results: Mapping[str, Any], figures: Sequence[str] = ()) -> str:
    meta = results["meta"]
    ref = results["paper_reference"]
    out: list[str] = ["# Miner localization: honest evaluation", ""]
    out += [
        "Generated by `python -m export.localization.evaluate` "
        f"(seed {meta['seed']}, {meta['n_folds']} folds per protocol, "
        f"folds run: {_folds_run_text(meta)}, up to {meta['epochs']} epochs and "
        f"{meta['max_minutes_per_fit']} min per fit"
        + (
            " (" + ", ".join(PRETTY.get(u, u) for u in meta["uncapped"]) + ": no time cap)"
            if meta.get("uncapped")
            else ""
        )
        + f", window {meta['window'] or 'default'}, "
        f"stride {meta['stride'] or 'default'}; total {_fmt(meta.get('total_seconds'), 0)} s on "
        f"{meta['machine']}, Python {meta['python']}). Every number below is measured in that run.",
        "",
        *([f"**Data.** {meta['note']}", ""] if meta.get("note") else []),
        "**Inputs.** The paper CNN-LSTM reads the paper's columns only (speed, direction, hour of day): no position "
        "or pillar of any kind, so it can learn only where miners tend to be at a time and heading. LSTM only and "
        "ours read the extended features (last known pillar's centre, dead-reckoned displacement since the last "
        "pillar change, role, time since the last gateway contact and that gateway's position). The baselines read "
        "what their description says.",
        "",
        "**Protocols.** " + "; ".join(f"`{k}` = {v}" for k, v in PROTOCOL_TITLES.items()) + ". "
        "Validation for early stopping is carved from the training part only (stratified for `stratified`, whole "
        "miners for `miner`, whole miner-days for `shift`). All predictors of a row group see identical splits; "
        "metrics are pooled over the folds run.",
        "",
        "**Metrics.** Precision/recall/F1 as scikit-learn computes them over the labels present in truth or "
        "prediction, with `zero_division=0` (a pillar never predicted has precision 0, one never true has recall 0). "
        "Top-3 counts ties against the predictor (one-hot baselines get no top-3 credit). `<=61 m` (200 ft, US "
        "tracking guidance) is the distance from the *predicted* pillar's centre to the miner's *true position* "
        "(`target_xy` from the records; the true pillar's centre only where x, y is missing -- "
        "the fallback share is in results.json). The guidance asks for 200 ft in working sections and strategic "
        "areas and 2,000 ft elsewhere: `<=61 m panel` counts only windows whose true position is in the pillared "
        "panel or at its faces (all of it taken as working section, stricter than the guidance), and `guidance` "
        "is the share within 61 m in the panel and 610 m in the outby portal drift. "
        "`changed acc` is accuracy on the windows whose target pillar "
        "differs from the last pillar in the window; carrying the last pillar forward scores 0 there.",
        "",
        f"**Paper's reported figures (their protocol (a), their data):** accuracy {ref['accuracy']:.2f}, "
        f"precision {ref['precision']:.2f}, recall {ref['recall']:.2f}, F1 {ref['f1']:.2f}; baselines "
        + ", ".join(f"{k} {v:.2f}" for k, v in results["paper_baselines"].items())
        + " (accuracy). These are quoted, not re-measured.",
        "",
        "## Targets (leakage-free protocols, first horizon)",
        "",
        *targets_table(results),
        "",
        "`within_61m` of a perfect pillar classifier (true pillar's centre vs true position; miners in the outby "
        "portal drift are outside every pillar's cell), the practical ceiling for pillar-level prediction, "
        "everywhere / in the panel: "
        + ", ".join(
            f"`{ds['name']}` {_fmt(ds['horizons'][_horizons(ds)[0]].get('ceiling_within_61m'))} / "
            f"{_fmt(ds['horizons'][_horizons(ds)[0]].get('ceiling_within_61m_working'))}"
            for ds in results["datasets"]
        )
        + ".",
        "",
        "## Headline: every predictor, first horizon, all datasets",
        "",
        *headline_table(results),
        "",
        "Read from the results:",
        "",
        *observations(results),
        "",
    ]
    by_dataset = meta.get("folds_used_by_dataset") or {
        ds["name"]: meta["folds_used"] or meta["n_folds"] for ds in results["datasets"]
    }
    folds_run = min((v or meta["n_folds"]) for v in by_dataset.values()) if by_dataset else meta["n_folds"]
    n_changed = [
        e["metrics"]["n_changed"]
        for ds in results["datasets"]
        for p in ("miner", "shift")
        if p in ds["horizons"][_horizons(ds)[0]]["protocols"]
        for e in ds["horizons"][_horizons(ds)[0]]["protocols"][p]["predictors"].values()
    ]
    most = max((v or meta["n_folds"]) for v in by_dataset.values()) if by_dataset else folds_run
    spread = (
        "the fold-to-fold spread is in results.json (`fold_accuracy`, `fold_macro_f1`, `fold_changed_accuracy`)"
        + (" and below for the datasets run on more than one fold" if most > 1 else "")
        if most > 1
        else "with one fold there is no fold-to-fold spread to show"
    )
    out += [
        "## Limits of this run",
        "",
        f"- {_folds_run_text(meta)} of {meta['n_folds']} folds per protocol were run for every predictor (so all "
        f"predictors of a dataset share identical test windows); {spread}.",
        *fold_spread_lines(results),
    ]
    if n_changed:
        lo = min(n_changed)
        out.append(
            f"- Changed-pillar accuracy on the leakage-free protocols rests on {lo}-{max(n_changed)} changed windows "
            f"per cell at the first horizon: a standard error of up to {0.5 / math.sqrt(max(lo, 1)):.3f}."
        )
    out += [
        f"- Learned models use the training module's default hyper-parameters (no optuna search inside the folds), "
        f"early stopping on the validation part, at most {meta['epochs']} epochs and "
        f"{meta['max_minutes_per_fit']} min per fit"
        + (
            " ("
            + ", ".join(PRETTY.get(u, u) for u in meta["uncapped"])
            + " without the time cap: trained to early stopping or the epoch cap, so its figures do not depend on "
            "machine load)"
            if meta.get("uncapped")
            else ""
        )
        + "; a fit stopped by the time cap depends on machine load (the fit time per predictor is in the tables).",
        f"- Windows are subsampled (stride per dataset, target about {meta.get('target_windows') or 'all'} windows); "
        "the learned models ran at horizons " + ", ".join(str(h) for h in meta.get("learned_horizons", [])) + ".",
        "",
    ]
    for ds in results["datasets"]:
        out += [f"## Dataset `{ds['name']}`", ""]
        if "n_records" in ds:
            out += [
                f"{ds['n_records']} records, {ds.get('n_miners', '?')} moving nodes, window stride "
                f"{ds.get('stride') or 1} (loading {_fmt(ds.get('load_seconds'), 0)} s).",
                "",
            ]
        for h in _horizons(ds):
            hh = ds["horizons"][h]
            out += [
                f"### Horizon {h} (predict the pillar {h} record(s) ahead) -- {hh['n_windows']} windows, "
                f"{_fmt(hh.get('changed_share'))} of them changed pillar; {_fmt(hh['seconds'], 0)} s",
                "",
                "Both protocols side by side (accuracy / macro F1 / changed-pillar accuracy):",
                "",
                *side_by_side(ds, h),
                "",
            ]
            for protocol, proto in hh["protocols"].items():
                out += [
                    f"**{PROTOCOL_TITLES.get(protocol, protocol)}** -- {proto['folds_used']} of "
                    f"{proto['n_folds']} folds run",
                    "",
                    *full_table(proto),
                    "",
                ]
    if figures:
        out += ["## Figures", ""]
        out += [f"![{Path(f).stem}]({f})" for f in figures]
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------------- figures
def _plt() -> Any:
    import matplotlib  # noqa: PLC0415  (optional dependency: the train extra)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _save(fig: Any, path: Path, dpi: int = 90) -> None:
    plt = _plt()
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    _shrink(path)


def _shrink(path: Path) -> None:
    """Keep committed PNGs under MAX_PNG_BYTES: quantise to a palette, then halve the size until it fits."""
    from PIL import Image  # noqa: PLC0415  (pillow comes with matplotlib)

    if path.stat().st_size <= MAX_PNG_BYTES:
        return
    with Image.open(path) as src:
        img = src.convert("RGB")
    for _ in range(6):
        buf = io.BytesIO()
        img.quantize(colors=128).save(buf, format="PNG", optimize=True)
        if buf.tell() <= MAX_PNG_BYTES:
            break
        img = img.resize((max(1, img.width * 3 // 4), max(1, img.height * 3 // 4)))
    path.write_bytes(buf.getvalue())


def fig_class_distribution(ds: Mapping[str, Any], path: Path) -> None:
    counts: Mapping[str, int] = ds["class_counts"]
    labels = sorted(counts, key=lambda k: -counts[k])
    values = np.array([counts[k] for k in labels])
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.bar(range(len(labels)), values, color="tab:blue")
    step = max(1, len(labels) // 30)
    ax.set_xticks(range(0, len(labels), step))
    ax.set_xticklabels(labels[::step], rotation=90, fontsize=6)
    ax.set_ylabel("windows")
    ax.set_title(f"Class distribution of target pillar ids ({ds['name']}, sorted)")
    _save(fig, path)


def fig_curves(history: Mapping[str, Sequence[float]], title: str, path: Path) -> bool:
    loss = {k: v for k, v in history.items() if "loss" in k and len(v) > 0}
    acc = {k: v for k, v in history.items() if "acc" in k and len(v) > 0}
    if not loss and not acc:
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, series, ylabel in ((axes[0], loss, "loss"), (axes[1], acc, "accuracy")):
        for k, v in series.items():
            ax.plot(range(1, len(v) + 1), v, label=k)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        if series:
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    _save(fig, path)
    return True


def fig_metric_bars(results: Mapping[str, Any], ds: Mapping[str, Any], path: Path) -> None:
    h = _horizons(ds)[0]
    protos = ds["horizons"][h]["protocols"]
    ref = results["paper_reference"]
    groups = [("paper (reported)", [ref["accuracy"], ref["precision"], ref["recall"], ref["f1"]])]
    for protocol in protos:
        preds = _preds(protos[protocol])
        for model in ("paper_cnn_lstm", "ours"):
            if model in preds:
                ms = preds[model]["metrics"]
                groups.append(
                    (
                        f"{PRETTY[model]}, {protocol}",
                        [ms["accuracy"], ms["weighted_precision"], ms["weighted_recall"], ms["weighted_f1"]],
                    )
                )
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    names = ["accuracy", "precision", "recall", "F1"]
    width = 0.8 / len(groups)
    for i, (label, vals) in enumerate(groups):
        ax.bar(np.arange(4) + i * width, [v if v is not None else 0 for v in vals], width, label=label)
    ax.set_xticks(np.arange(4) + 0.4 - width / 2)
    ax.set_xticklabels(names)
    ax.set_ylim(0, 1)
    ax.set_title(f"Performance metrics, {ds['name']}, horizon {h} (P/R/F1 weighted, as the paper's bars)", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    _save(fig, path)


def fig_baselines(results: Mapping[str, Any], ds: Mapping[str, Any], path: Path) -> None:
    h = _horizons(ds)[0]
    protos = ds["horizons"][h]["protocols"]
    preds = list(dict.fromkeys(k for p in protos.values() for k in p["predictors"]))
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
    width = 0.8 / max(1, len(protos))
    for ax, key, title in ((axes[0], "accuracy", "top-1 accuracy"), (axes[1], "changed_accuracy", "changed pillar")):
        for i, (protocol, proto) in enumerate(protos.items()):
            vals = []
            for pred in preds:
                entry = proto["predictors"].get(pred)
                v = entry["metrics"].get(key) if entry else None
                vals.append(v if v is not None and math.isfinite(v) else 0.0)
            ax.bar(np.arange(len(preds)) + i * width, vals, width, label=protocol)
        if key == "accuracy":
            for name, v in results["paper_baselines"].items():
                ax.axhline(v, linestyle=":", linewidth=0.8, color="grey")
                ax.text(len(preds) - 0.5, v, f"{name} (paper)", fontsize=6, va="bottom", ha="right")
            ax.axhline(results["paper_reference"]["accuracy"], linestyle="--", linewidth=0.8, color="black")
        ax.set_xticks(np.arange(len(preds)) + 0.4 - width / 2)
        ax.set_xticklabels([PRETTY.get(p, p) for p in preds], rotation=30, ha="right", fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(f"Baseline comparison on identical splits, {ds['name']}, horizon {h}", fontsize=9)
    _save(fig, path)


def fig_error_map(layout: Any, errors: Mapping[str, float], title: str, path: Path) -> None:
    layout.render_png(path, values_by_pillar=dict(errors), title=title, value_label="error rate")
    _shrink(path)


def write_report(results: Mapping[str, Any], out: Path, *, prepared: Sequence[Any] = (), figures: bool = True) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    made: list[str] = []
    if figures:
        layouts = {p.name: p.layout for p in prepared}
        for ds in results["datasets"]:
            layout_path = Path(ds.get("dir", "")) / "layout.json"
            if ds["name"] not in layouts and "dir" in ds and layout_path.exists():
                from edge.sim.mine_layout import MineLayout  # noqa: PLC0415

                layouts[ds["name"]] = MineLayout.load(layout_path)
        for ds in results["datasets"]:
            name = ds["name"]
            if "class_counts" in ds:
                fig_class_distribution(ds, out / f"class_distribution_{name}.png")
                made.append(f"class_distribution_{name}.png")
            h = _horizons(ds)[0]
            protos = ds["horizons"][h]["protocols"]
            for protocol in ("stratified", "miner"):
                preds = _preds(protos[protocol]) if protocol in protos else {}
                for model in ("paper_cnn_lstm", "ours"):
                    hist = preds.get(model, {}).get("history") or {}
                    fname = f"curves_{name}_{model}_{protocol}.png"
                    if hist and fig_curves(hist, f"{PRETTY[model]}: {name}, {protocol}, first fold", out / fname):
                        made.append(fname)
            fig_metric_bars(results, ds, out / f"metric_bars_{name}.png")
            fig_baselines(results, ds, out / f"baselines_{name}.png")
            made += [f"metric_bars_{name}.png", f"baselines_{name}.png"]
            layout = layouts.get(name)
            protocol = "miner" if "miner" in protos else next(iter(protos))
            preds = _preds(protos[protocol])
            model = _primary_model(preds)
            if layout is not None:
                fname = f"error_map_{name}_{model}.png"
                fig_error_map(
                    layout,
                    preds[model]["per_pillar_error"],
                    f"Error rate: {model}, {protocol}",
                    out / fname,
                )
                made.append(fname)
    path = out / "report.md"
    path.write_text(render_markdown(results, made), encoding="utf-8")
    return path
