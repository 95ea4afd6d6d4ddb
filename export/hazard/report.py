"""``results.json``, ``report.md`` and the plots of a hazard early-warning evaluation."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from edge.hazard.contract import CHANNEL_INDEX, HAZARD_TYPES
from edge.sim.hazard.episode import Episode
from export.hazard.warnings import HazardWarning

DPI = 72
# a warning active for more than this share of the real record's time with readings is a standing warning (an
# operator stops reading a display that always shows it: EEMUA 191 / ISA-18.2's standing alarms, regulations.md)
STANDING_SHARE = 0.25
HAZARD_COLOURS = {
    "gas_accumulation": "tab:red",
    "fire": "tab:orange",
    "equipment_fault": "tab:purple",
    "strata": "tab:brown",
    "people": "tab:blue",
}
# the channel to draw for each kind of example episode
TIMELINE_CHANNELS = {
    "gas_accumulation": ("ch4_face", "ch4_return"),
    "fire": ("co_belt",),
    "equipment_fault": ("vib_fan", "vib_belt_drive"),
    "strata": ("roof_convergence",),
    "people": (),
    "normal": ("ch4_face", "co_belt"),
}


def _shares(shares: Mapping[str, float]) -> str:
    return ", ".join(f"{name} {100 * share:.0f} %" for name, share in shares.items()) or "-"


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _detection_rows(name: str, board: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for hazard in [h.value for h in HAZARD_TYPES]:
        s = board["per_hazard"].get(hazard)
        if s is None:
            continue
        rows.append(
            [
                name,
                hazard,
                f"{s['detected']}/{s['events']}",
                _pct(s["detection_rate"]),
                str(s["late"]),
                _fmt(s["lead_median_min"]),
                _fmt(s["lead_p10_min"]),
                _fmt(s["lead_median_all_min"]),
                f"{s['no_deadline_warned']}/{s['no_deadline']}",
                _fmt(board["false_by_hazard_per_day"].get(hazard), 2),
            ]
        )
    return rows


DETECTION_HEADERS = [
    "predictor",
    "hazard",
    "detected",
    "rate",
    "late",
    "lead median (min)",
    "lead p10 (min)",
    "lead median, misses = 0",
    "warned / events without deadline",
    "false / day",
]


def overall_detection(board: Mapping[str, Any]) -> float | None:
    """Detected / events with a deadline over every hazard type."""
    events = sum(s["events"] for s in board["per_hazard"].values())
    detected = sum(s["detected"] for s in board["per_hazard"].values())
    return detected / events if events else None


def judged_condition(condition: str) -> bool:
    """Whether the modality-removal target is judged on ``condition``. Every statutory hazard is defined on sensor
    readings, so no predictor detects gas or fire with every sensor gone; that row is reported, and the target is
    judged on the modalities that can be lost while the statutory system still measures: the camera, the logbook, a
    single dead transmitter. A site fitted like the real gas record's removes most sensors, the camera and the
    logbook at once: reported beside them, not judged."""
    return not condition.endswith("sensors") and condition != "real_record_site"


def targets_check(results: Mapping[str, Any]) -> dict[str, Any]:
    """The issue's done-when targets per predictor on the held-out test set. The modality-removal target (detection
    drops by <= 10 points with any one modality removed) is judged for the GBT on the models retrained without each
    modality and on the full model with a dead camera / dead face-methane / dead belt-CO transmitter / no logs."""
    test = results["predictors"]
    trend_gas = test.get("trend", {}).get("test", {}).get("per_hazard", {}).get("gas_accumulation", {})
    trend_median = trend_gas.get("lead_median_min")
    out: dict[str, Any] = {}
    for name, entry in test.items():
        board = entry["test"]
        gas = board["per_hazard"].get("gas_accumulation", {})
        median = gas.get("lead_median_min")
        checks: dict[str, Any] = {
            "gas_median_lead_ge_5min": median is not None and median >= 5.0,
            "gas_median_lead_ge_2x_trend": (
                median is not None and trend_median is not None and median >= 2.0 * trend_median
            ),
            "false_per_day_le_1": board["false_per_day"] is not None and board["false_per_day"] <= 1.0,
        }
        full = overall_detection(board)
        drops: dict[str, float] = {}
        for condition, c_board in entry.get("conditions", {}).items():
            value = overall_detection(c_board)
            if full is not None and value is not None:
                drops[condition] = round(100 * (full - value), 1)
        if name == "gbt":
            for ablation, a_entry in results.get("ablations", {}).items():
                value = overall_detection(a_entry["test"])
                if ablation.startswith("without_") and full is not None and value is not None:
                    drops[f"retrained_{ablation}"] = round(100 * (full - value), 1)
        if drops:
            judged = {k: v for k, v in drops.items() if judged_condition(k)}
            checks["modality_removal_drop_le_10_points"] = bool(judged) and max(judged.values()) <= 10.0
            checks["modality_removal_judged_on"] = sorted(judged)
            checks["detection_drop_points"] = drops
        real = results.get("real", {}).get("mine_air", {}).get("predictors", {}).get(name)
        if real is not None:
            # on the real record a warning is false when no statutory alarm of its hazard follows within 15 min
            checks["real_record_unconfirmed_per_day_le_1"] = real["unconfirmed_per_day"] <= 1.0
            # one warning standing for most of the record is one in the count but fatigue on the display
            shares = real.get("active_share_with_readings", {})
            checks["real_record_no_standing_warning"] = all(v <= STANDING_SHARE for v in shares.values())
        out[name] = checks
    return out


def _fusion_sections(results: Mapping[str, Any]) -> list[str]:
    """Per shipped fusion model: its training (with and without pre-training when both are given) and the hazard
    parity of its files against PyTorch."""
    models = results.get("fusion_models", {})
    if not models:
        return []
    paired = [name for name, m in models.items() if "sparse_site" in m]
    # a sparse-site model is a model of its own: its own training, thresholds and parity
    models = {**models, **{f"{name} (sparse site)": models[name]["sparse_site"] for name in paired}}
    parts = ["## Fusion models: training and export\n"]
    for name in paired:
        parts.append(
            f"**{name}** is a pair, as a gateway runs it (`edge/hazard/site_model.py`): a site that leaves more than "
            f"one of the contract's channels without a transmitter is decided by `{name} (sparse site)`, every other "
            f"site by the full-section model. Of the rows in this report, the real gas record and the "
            f"`real_record_site` condition are sparse sites; the simulated test sections (intact or with one input "
            f"removed) are full ones.\n"
        )
    rows = []
    for name, m in models.items():
        training = m.get("training", {})
        info = training.get("info", {})
        params = training.get("params", {})
        rows.append(
            [
                name,
                m["directory"],
                params.get("pretrain_epochs", "-"),
                info.get("best_epoch", "-"),
                info.get("train_rows", "-"),
                _fmt(info.get("train_s"), 0),
                ", ".join(f"{h} {v:.3f}" for h, v in info.get("thresholds", {}).items()),
            ]
        )
    parts.append(
        _table(
            ["model", "directory", "pre-training epochs", "best epoch", "training rows", "train s", "thresholds"],
            rows,
        )
        + "\n"
    )
    for name, m in models.items():
        without = m.get("thresholds_without") or {}
        if without:
            hazards = sorted({h for table in without.values() for h in table})
            parts.append(
                f"**{name}**: thresholds chosen for decisions with one dead transmitter (`edge/hazard/availability.py`;"
                " the same validation days and budget, the channel dead for the whole day; a decision uses them only "
                "when exactly one mapped channel has had no reading for its whole window, and only where lower than "
                "the intact threshold):\n"
            )
            parts.append(
                _table(
                    ["without", *hazards],
                    [[input_name, *(_fmt(table.get(h), 3) for h in hazards)] for input_name, table in without.items()],
                )
                + "\n"
            )
    p_rows = []
    for name, m in models.items():
        for path, f in m.get("parity", {}).get("files", {}).items():
            p_rows.append(
                [
                    name,
                    path,
                    f["bytes"],
                    _fmt(100 * f["decision_agreement"], 2),
                    f["rows_with_any_decision_flipped"],
                    _fmt(f["max_hazard_probability_diff"], 4),
                    _fmt(f["max_forecast_diff_pct_vol"], 4),
                ]
            )
    if p_rows:
        parts.append(
            "Each file against PyTorch fp32 on the calibration windows (validation split), at the shipped thresholds:\n"
        )
        parts.append(
            _table(
                [
                    "model",
                    "file",
                    "bytes",
                    "warning decisions agreeing %",
                    "windows with a flipped decision",
                    "max hazard-probability diff",
                    "max forecast diff (% CH4)",
                ],
                p_rows,
            )
            + "\n"
        )
    return parts


def write_report(results: dict[str, Any], out: Path) -> None:
    # one line per top-level section: small enough for the repository, still diffable section by section
    body = ",\n".join(f" {json.dumps(key)}: {json.dumps(value, default=str)}" for key, value in results.items())
    (out / "results.json").write_text("{\n" + body + "\n}\n", encoding="utf-8")
    (out / "report.md").write_text(render(results), encoding="utf-8")


def render(results: Mapping[str, Any]) -> str:
    title = "the fusion model and the baselines" if results.get("fusion_models") else "the baselines"
    parts: list[str] = [f"# Hazard early warning: evaluation of {title}\n"]
    cfg = results["config"]
    data = results["data"]
    parts.append(
        "Generated by `python -m export.hazard.evaluate`; every figure below is in `results.json`. Test episodes are "
        "held out by scenario seed **and** by mine layout "
        f"(train seeds {data['train']['seeds']} + validation {data['validation']['seeds']} on layouts "
        f"{data['train']['layout_seeds']}; test seeds {data['test']['seeds']} on layouts "
        f"{data['test']['layout_seeds']}).\n"
    )
    parts.append(
        _table(
            ["split", "hazard episodes (6 h)", "normal gateway-days", "events reaching their deadline"],
            [[split, d["hazard_episodes"], d["normal_days"], d["events_with_deadline"]] for split, d in data.items()],
        )
        + "\n"
    )
    policy = cfg["policy"]
    parts.append(
        "**Scoring** (`export/hazard/scoring.py`): an event is detected when a warning of its hazard type is active "
        f"between onset - {cfg['tolerance_s']:.0f} s and its deadline (statutory alarm on the clean signal for gas "
        "and fire, ISO 10816 zone D for equipment, the roof fall, the first violation); lead = deadline - first "
        "matching warning; a warning after the deadline is late (lead 0). False warnings are counted on normal "
        "gateway-days. **Warnings** (`export/hazard/warnings.py`): one per hazard while the condition persists, "
        f"re-armed only after {policy['hold_off_s']:.0f} s clear, on-delay {policy['on_count']} decision(s), at most "
        f"{policy['flood_count']} new warnings per {policy['flood_window_s']:.0f} s (EEMUA 191 / ISA-18.2 guidance, "
        "regulations.md section 4).\n"
    )

    parts.append("## Detection, lead time and false warnings (held-out test set)\n")
    rows: list[list[str]] = []
    for name, entry in results["predictors"].items():
        rows += _detection_rows(name, entry["test"])
    parts.append(_table(DETECTION_HEADERS, rows) + "\n")
    parts.append(
        _table(
            [
                "predictor",
                "false warnings / normal gateway-day",
                "false / day in hazard episodes (outside events)",
                "suppressed by flood limit",
            ],
            [
                [
                    name,
                    _fmt(e["test"]["false_per_day"], 2),
                    _fmt(e["test"]["hazard_episode_false_per_day"], 2),
                    e.get("suppressed_by_flood_limit", 0),
                ]
                for name, e in results["predictors"].items()
            ],
        )
        + "\n"
    )
    parts.append("Per kind (detected / events with a deadline, lead median in min):\n")
    kinds = sorted({k for e in results["predictors"].values() for k in e["test"]["per_kind"]})
    names = list(results["predictors"])
    kind_rows = []
    for kind in kinds:
        row = [kind]
        for name in names:
            s = results["predictors"][name]["test"]["per_kind"].get(kind)
            row.append("-" if s is None else f"{s['detected']}/{s['events']}, {_fmt(s['lead_median_min'])}")
        kind_rows.append(row)
    parts.append(_table(["kind", *names], kind_rows) + "\n")
    parts.append("![lead times](lead_times.png)\n")

    grid = results.get("trend_selection_grid", {}).get("gas_accumulation")
    if grid:
        parts.append(
            "Trend rule on the *training* episodes, gas: the lead / false-warning trade-off of its parameter grid "
            "(the chosen parameters are the longest mean lead within the gas budget; mean lead counts a miss as 0). "
            "Best row per false-warning level:\n"
        )
        best: dict[float, dict[str, Any]] = {}
        for row in grid:
            level = round(row["false_per_day"], 1)
            if level <= 3.0 and (level not in best or row["mean_lead_min"] > best[level]["mean_lead_min"]):
                best[level] = row
        parts.append(
            _table(
                ["false / day (train)", "mean lead (min)", "window (s)", "horizon (s)", "min t"],
                [
                    [_fmt(level, 1), _fmt(r["mean_lead_min"]), r["window_s"], r["horizon_s"], r["min_t"]]
                    for level, r in sorted(best.items())
                ],
            )
            + "\n"
        )

    if any("conditions" in e for e in results["predictors"].values()):
        parts.append("## Robustness: a dead modality or transmitter at inference\n")
        cond_rows = []
        for name, entry in results["predictors"].items():
            conditions = {"intact": entry["test"], **entry.get("conditions", {})}
            for condition, board in conditions.items():
                row = [name, condition]
                for hazard in [h.value for h in HAZARD_TYPES]:
                    s = board["per_hazard"].get(hazard)
                    row.append("-" if s is None else _pct(s["detection_rate"]))
                row.append(_fmt(board["per_hazard"].get("gas_accumulation", {}).get("lead_median_min")))
                row.append(_fmt(board["false_per_day"], 2))
                standing = {k: v for k, v in board.get("false_active_share", {}).items() if v}
                row.append(_shares(dict(sorted(standing.items(), key=lambda kv: -kv[1])[:2])))
                cond_rows.append(row)
        parts.append(
            _table(
                [
                    "predictor",
                    "condition",
                    *[h.value for h in HAZARD_TYPES],
                    "gas lead median",
                    "false / day",
                    "normal time under a false warning",
                ],
                cond_rows,
            )
            + "\n\n"
            + "`real_record_site`: the simulated test sections fitted like the real gas record's site (face methane, "
            "face oxygen and belt CO only; no camera, no logbook). It is reported, not judged against the "
            "modality-removal target: it removes far more than one modality. Its normal days show on data with a "
            "truth whether a warning stands all day at such a site, as one did on the real record. The last column is "
            "the share of normal-day time under a false warning, for the two hazards with the most (a warning "
            "standing all day counts once in false / day).\n"
        )

    if "ablations" in results:
        parts.append("## Ablations: gradient-boosted trees trained on fewer modalities\n")
        full = results["predictors"].get("gbt", {}).get("test")
        ab_rows = []
        boards = ({"all modalities": full} if full else {}) | {k: v["test"] for k, v in results["ablations"].items()}
        for name, board in boards.items():
            row = [name]
            for hazard in [h.value for h in HAZARD_TYPES]:
                s = board["per_hazard"].get(hazard)
                row.append("-" if s is None else _pct(s["detection_rate"]))
            row.append(_pct(overall_detection(board)))
            row.append(_fmt(board["per_hazard"].get("gas_accumulation", {}).get("lead_median_min")))
            row.append(_fmt(board["false_per_day"], 2))
            ab_rows.append(row)
        parts.append(
            _table(["model", *[h.value for h in HAZARD_TYPES], "all events", "gas lead median", "false / day"], ab_rows)
            + "\n"
        )

    forecasts = {name: f for name, f in results.get("forecast", {}).items() if f}
    if forecasts:
        parts.append("## Face-methane forecast vs persistence, MAE in % CH4\n")
        f_rows = []
        for name, forecast in forecasts.items():
            for scope, table in forecast.items():
                for horizon, v in table.items():
                    f_rows.append(
                        [
                            name,
                            scope,
                            horizon,
                            _fmt(v["mae"], 4),
                            _fmt(v["persistence_mae"], 4),
                            _fmt(v["skill"], 3),
                            v["points"],
                        ]
                    )
        parts.append(_table(["predictor", "points", "horizon", "MAE", "persistence MAE", "skill", "n"], f_rows) + "\n")

    roc = results.get("roc")
    if roc:
        r = roc["risk_15min"]
        parts.append("## GBT risk head (statutory alarm within 15 min) and hazard-type scores\n")
        parts.append(
            f"Risk AUC {r['auc']:.3f}, recall at 10 % FPR {r['recall_at_10pct_fpr']:.3f} "
            f"({r['positives']} positive of {r['decisions']} decisions). Hazard-type AUC (decisions with a label): "
            + ", ".join(f"{h} {v['auc']:.3f}" for h, v in roc["hazard_type"].items())
            + ".\n\n![ROC](roc.png)\n"
        )
    for name, fused_roc in results.get("roc_fusion", {}).items():
        r = fused_roc["risk_15min"]
        parts.append(
            f"**{name}** risk head (statutory alarm within 15 min): AUC {r['auc']:.3f}, recall at 10 % FPR "
            f"{r['recall_at_10pct_fpr']:.3f}. Hazard AUC (multi-label, decisions with a label): "
            + ", ".join(f"{h} {v['auc']:.3f}" for h, v in fused_roc["hazard_type"].items())
            + ".\n"
        )
    for name, inference in results.get("inference", {}).items():
        p99 = f", p99 {inference['p99_ms']:.3f} ms" if "p99_ms" in inference else ""
        parts.append(
            f"{name} inference: {inference['per_window_ms']:.3f} ms per window{p99} on this machine "
            f"({'; '.join(inference['notes'])}).\n"
        )
    parts.extend(_fusion_sections(results))

    real = results.get("real")
    if real:
        parts.append("## Real data\n")
        mine = real.get("mine_air", {})
        if "skipped" in mine:
            parts.append(f"Real gas record: skipped ({mine['skipped']}).\n")
        elif mine:
            parts.append(
                f"**Colombian coal mine gas record** ({mine['readings']} readings over {mine['days']:.1f} days, "
                f"methane coverage {100 * mine['methane_coverage']:.0f} % of seconds after holding each reading up to "
                f"10 min, so {_fmt(mine.get('days_with_readings'), 2)} days with readings; CO ambient set to the "
                f"record's median {mine['co_ambient_ppm']:.0f} ppm). Rates are per day *with readings*: the gaps are "
                "not quiet days. The statutory "
                f"rules themselves raise {mine['statutory_alarms']} alarms on it "
                f"({mine['statutory_alarms_per_day']:.2f}/day: {mine['statutory_by_hazard']}). A warning is "
                "*unconfirmed* when no statutory alarm of its hazard follows within 15 min.\n"
            )
            parts.append(
                _table(
                    [
                        "predictor",
                        "warnings",
                        "unconfirmed",
                        "warnings / day",
                        "unconfirmed / day",
                        "by hazard",
                        "share of time with readings under a warning",
                    ],
                    [
                        [
                            n,
                            v["warnings"],
                            v["unconfirmed"],
                            _fmt(v["warnings_per_day"], 2),
                            _fmt(v["unconfirmed_per_day"], 2),
                            v["by_hazard"],
                            _shares(v.get("active_share_with_readings", {})),
                        ]
                        for n, v in mine["predictors"].items()
                    ],
                )
                + "\n"
            )
            # older results hold the trend line's only
            forecasts = mine.get("forecast_vs_persistence") or {"trend": mine["forecast_trend_vs_persistence"]}
            f_rows = [
                [n, h, _fmt(v["mae"], 4), _fmt(v["persistence_mae"], 4), _fmt(v["skill"], 3), v["points"]]
                for n, by_horizon in forecasts.items()
                for h, v in by_horizon.items()
            ]
            parts.append(
                "Methane forecast on the record against persistence (MAE in % CH4; the target is the held reading at "
                "t + h, so persistence is hard to beat in the long flat stretches):\n\n"
                + _table(["predictor", "horizon", "MAE", "persistence MAE", "skill", "n"], f_rows)
                + "\n"
            )
        seismic = real.get("seismic_bumps", {})
        if "skipped" in seismic:
            parts.append(f"seismic-bumps: skipped ({seismic['skipped']}).\n")
        elif seismic:
            lo, hi = seismic["published_auc_range"]
            parts.append(
                f"**seismic-bumps** (UCI, {seismic['shifts']} shifts, {seismic['positives']} followed by a bump "
                f">= 1e4 J; {seismic['protocol']}); published range AUC {lo}-{hi} ({seismic['published_source']}).\n"
            )
            parts.append(
                _table(
                    ["model", "AUC (pooled)", "fold AUC mean ± sd", "recall at 10 % FPR"],
                    [
                        [
                            n,
                            _fmt(v["auc_mean"], 3),
                            f"{v['fold_auc_mean']:.3f} ± {v['fold_auc_sd']:.3f}",
                            _fmt(v["recall_at_10pct_fpr_mean"], 3),
                        ]
                        for n, v in seismic["models"].items()
                    ],
                )
                + "\n"
            )

    parts.append("## What a new predictor must beat (same test set, same scoring)\n")
    bar_rows = []
    for hazard in [h.value for h in HAZARD_TYPES]:
        entries = [
            (name, e["test"]["per_hazard"][hazard])
            for name, e in results["predictors"].items()
            if hazard in e["test"]["per_hazard"] and e["test"]["per_hazard"][hazard]["events"]
        ]
        if not entries:
            continue
        best_rate = max(entries, key=lambda x: x[1]["detection_rate"] or 0.0)
        best_lead = max(entries, key=lambda x: x[1]["lead_median_all_min"] or 0.0)
        bar_rows.append(
            [
                hazard,
                f"{_pct(best_rate[1]['detection_rate'])} ({best_rate[0]})",
                f"{_fmt(best_lead[1]['lead_median_all_min'])} ({best_lead[0]})",
            ]
        )
    parts.append(
        _table(["hazard", "best detection rate", "best lead median, misses = 0 (min)"], bar_rows)
        + "\n\nand the issue's targets: gas median lead >= 5 min and >= 2x the trend's, <= 1 false warning per "
        "normal gateway-day (and per day with readings on the real gas record), detection drop <= 10 points with any "
        "one modality removed; the neural model is scored with `export.hazard.evaluate.score_predictor` under the "
        "same `WarningPolicy`. One check is ours, not the issue's: `real_record_no_standing_warning`, no hazard's "
        f"warning active for more than {100 * STANDING_SHARE:.0f} % of the real record's time with readings (a warning "
        "that never clears counts once however long it stands).\n"
    )

    targets = targets_check(results)
    parts.append("## Issue targets on the test set\n")
    keys = sorted({k for v in targets.values() for k, value in v.items() if isinstance(value, bool)})
    parts.append(
        _table(
            ["predictor", *keys],
            [[n, *[("yes" if v[k] else "no") if k in v else "-" for k in keys]] for n, v in targets.items()],
        )
        + "\n"
    )
    parts.append(
        "Detection-rate drop in points (all hazards, events with a deadline) when a modality or transmitter is "
        "removed: "
        + "; ".join(
            f"{n}: " + ", ".join(f"{c} {d:+.1f}" for c, d in v.get("detection_drop_points", {}).items())
            for n, v in targets.items()
        )
        + ". The modality-removal target is judged on "
        + ", ".join(
            next((v["modality_removal_judged_on"] for v in targets.values() if "modality_removal_judged_on" in v), [])
        )
        + " (every statutory hazard is defined on sensor readings: no predictor can keep detecting with all of them "
        "gone, so that row is reported, not judged).\n"
    )
    examples = results.get("examples")
    if examples:
        parts.append("## Example warning timelines\n")
        for k, (episode_id, example) in enumerate(examples.items(), start=1):
            parts.append(f"{episode_id} ({example['kind']}):\n\n![timeline {k}](timeline_{k}.png)\n")
    parts.append(f"Run time: {results.get('timings_s', {}).get('total', '?')} s.\n")
    return "\n".join(parts)


def plot_leads(results: Mapping[str, Any], path: Path) -> None:
    """Lead-time distribution (detected and late events) per hazard and predictor."""
    hazards = [h.value for h in HAZARD_TYPES]
    names = list(results["predictors"])
    fig, axes = plt.subplots(1, len(hazards), figsize=(12, 3), sharey=False)
    for ax, hazard in zip(axes, hazards, strict=True):
        data = []
        for name in names:
            s = results["predictors"][name]["test"]["per_hazard"].get(hazard)
            data.append(s["lead_min"] if s else [])
        for i, values in enumerate(data):
            if values:
                ax.boxplot([values], positions=[i], widths=0.6, showfliers=True)
        ax.set_xticks(range(len(names)), names, rotation=30, fontsize=7)
        ax.set_title(hazard, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("lead before deadline (min)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_roc(results: Mapping[str, Any], path: Path) -> None:
    curves: dict[str, list[list[float]]] = dict(results.get("roc", {}).get("curves", {}))
    seismic = results.get("real", {}).get("seismic_bumps", {}).get("roc_first_repeat", {})
    fig, axes = plt.subplots(1, 2 if seismic else 1, figsize=(8 if seismic else 4, 3.5), squeeze=False)
    ax = axes[0][0]
    for name, points in curves.items():
        arr = np.asarray(points)
        ax.plot(arr[:, 0], arr[:, 1], label=name, lw=1)
    ax.plot([0, 1], [0, 1], "k:", lw=0.5)
    ax.set_title("GBT on held-out scenarios", fontsize=8)
    ax.set_xlabel("false-positive rate", fontsize=8)
    ax.set_ylabel("true-positive rate", fontsize=8)
    ax.legend(fontsize=6)
    if seismic:
        ax = axes[0][1]
        for name, points in seismic.items():
            arr = np.asarray(points)
            ax.plot(arr[:, 0], arr[:, 1], label=name, lw=1)
        ax.plot([0, 1], [0, 1], "k:", lw=0.5)
        ax.axvline(0.1, color="grey", lw=0.5)
        ax.set_title("seismic-bumps (real), out-of-fold", fontsize=8)
        ax.set_xlabel("false-positive rate", fontsize=8)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_timeline(episode: Episode, warnings_by: Mapping[str, Sequence[HazardWarning]], path: Path) -> None:
    """The hazard's channels, its onset and deadline, and each predictor's warnings as bars."""
    hazard = episode.kind.split("/")[0]
    channels = TIMELINE_CHANNELS.get(hazard, ("ch4_face",))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 3.6), sharex=True, height_ratios=[2, 1])
    minutes = episode.sensor_t / 60.0
    step = max(1, episode.sensor_t.shape[0] // 4000)
    for channel in channels:
        top.plot(minutes[::step], episode.sensors[::step, CHANNEL_INDEX[channel]], lw=0.6, label=channel)
    for event in episode.events:
        top.axvline(event.onset_s / 60.0, color="green", lw=0.8, ls="--")
        if event.deadline_s is not None:
            top.axvline(event.deadline_s / 60.0, color="red", lw=0.8)
    top.legend(fontsize=6, loc="upper left")
    top.set_title(f"{episode.episode_id} {episode.kind} (green: onset, red: deadline)", fontsize=8)
    top.tick_params(labelsize=7)
    for row, warnings in enumerate(warnings_by.values()):
        for w in warnings:
            bottom.barh(
                row,
                max((w.end_s - w.t_s) / 60.0, 0.5),
                left=w.t_s / 60.0,
                color=HAZARD_COLOURS.get(w.hazard.value, "grey"),
                height=0.6,
            )
    bottom.set_yticks(range(len(warnings_by)), list(warnings_by), fontsize=7)
    bottom.set_xlabel("minutes from episode start", fontsize=8)
    bottom.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m export.hazard.report DIR``: re-render report.md and the summary plots from DIR/results.json."""
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    results = json.loads((args.directory / "results.json").read_text(encoding="utf-8"))
    results["targets"] = targets_check(results)
    plot_leads(results, args.directory / "lead_times.png")
    plot_roc(results, args.directory / "roc.png")
    write_report(results, args.directory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
