"""Export the trained fusion model: ONNX and TFLite, fp32 and int8, one manifest, and a hazard parity report.

The files, the int8 recipes and the manifest's reference check are the miner-location export's
(``export.localization.export_models.export_all``): the fusion model is a single-input ``(B, L, F)`` network like
that one. Its input is much wider (``ROWS x COLUMNS`` = 98 x 434), so the manifest keeps 2 reference windows and
the calibration windows are not stored beside the files. Cells outside a row's own modality block are zeroed in
every stored or calibration window: the model never reads them, and zeros keep the manifest small.

The localization parity (top-1 agreement over the output vector) says little for a multi-head output, so
``hazard_parity`` adds what matters here, file by file against PyTorch fp32 on the calibration windows: agreement of
every hazard warning decision at the shipped thresholds, the largest hazard-probability and risk-probability
differences, and the largest forecast difference in %vol.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from edge.hazard.availability import threshold_key
from edge.hazard.contract import HAZARD_TYPES, SENSOR_WINDOW_S
from edge.hazard.model_input import (
    CAMERA_COLUMNS,
    CAMERA_ROWS,
    COLUMNS,
    FEATURE_NAMES,
    FORECAST_OUTPUTS,
    HAZARD_OUTPUTS,
    OUTPUT_LABELS,
    RISK_OUTPUTS,
    ROWS,
    SENSOR_COLUMNS,
    SENSOR_ROWS,
    TEXT_COLUMNS,
    TEXT_ROWS,
)
from edge.inference.manifest import load_manifest, verify_file_checksum
from export.hazard.fusion.dataset import DecisionRows
from export.hazard.fusion.predictor import FusionPredictor, sigmoid
from export.localization.export_models import ExportRequest, ExportResult, export_all
from export.localization.parity import open_runner

F32 = NDArray[np.float32]
REFERENCE_WINDOWS = 2
CALIBRATION_WINDOWS = 1500
TASK = "hazard_early_warning"


def owned_cells_only(x: F32) -> F32:
    """``x`` with every cell outside its row's modality block set to 0 (the model reads none of them)."""
    out = np.zeros_like(x)
    for rows, columns in ((SENSOR_ROWS, SENSOR_COLUMNS), (CAMERA_ROWS, CAMERA_COLUMNS), (TEXT_ROWS, TEXT_COLUMNS)):
        out[:, rows, columns] = x[:, rows, columns]
    return out


def calibration_windows(predictor: FusionPredictor, rows: DecisionRows, *, seed: int = 0) -> F32:
    """Standardised, finite windows spread over ``rows`` with every positive hazard row's share kept."""
    if predictor.normalisation is None:
        raise RuntimeError("fit the predictor first")
    rng = np.random.default_rng(seed)
    positive = np.flatnonzero(rows.hazard.max(axis=1) > 0)
    negative = np.flatnonzero(rows.hazard.max(axis=1) == 0)
    half = CALIBRATION_WINDOWS // 2
    pick = np.concatenate(
        [
            rng.choice(positive, size=min(half, positive.shape[0]), replace=False),
            rng.choice(negative, size=min(CALIBRATION_WINDOWS - half, negative.shape[0]), replace=False),
        ]
    )
    return predictor.normalisation.packed(rows.take(np.sort(pick)), predictor.table.vectors)


def rows_sha256(rows: DecisionRows) -> str:
    digest = hashlib.sha256()
    for name in ("sensor", "camera", "text_index", "hazard", "risk"):
        digest.update(np.ascontiguousarray(getattr(rows, name)).tobytes())
    return digest.hexdigest()


def hazard_parity(out_dir: Path, windows: F32, torch_out: F32, thresholds: dict[str, float]) -> dict[str, Any]:
    """Per file of the manifest: decision agreement and output differences against PyTorch (module docstring)."""
    manifest = load_manifest(out_dir)
    limits = np.array([thresholds[h.value] for h in HAZARD_TYPES])
    want = sigmoid(torch_out[:, HAZARD_OUTPUTS]) >= limits
    report: dict[str, Any] = {"windows": int(windows.shape[0]), "files": {}}
    for entry in manifest.files:
        runner = open_runner(verify_file_checksum(out_dir, entry), entry.format)
        got = runner.run(windows)
        decisions = sigmoid(got[:, HAZARD_OUTPUTS]) >= limits
        report["files"][entry.path] = {
            "precision": entry.precision,
            "format": entry.format,
            "bytes": entry.bytes,
            "decision_agreement": round(float((decisions == want).mean()), 5),
            "rows_with_any_decision_flipped": int((decisions != want).any(axis=1).sum()),
            "max_hazard_probability_diff": round(
                float(np.abs(sigmoid(got[:, HAZARD_OUTPUTS]) - sigmoid(torch_out[:, HAZARD_OUTPUTS])).max()), 5
            ),
            "max_risk_probability_diff": round(
                float(np.abs(sigmoid(got[:, RISK_OUTPUTS]) - sigmoid(torch_out[:, RISK_OUTPUTS])).max()), 5
            ),
            "max_forecast_diff_pct_vol": round(
                float(np.abs(got[:, FORECAST_OUTPUTS] - torch_out[:, FORECAST_OUTPUTS]).max()), 5
            ),
        }
    return report


def export_fusion(
    predictor: FusionPredictor,
    calibration_rows: DecisionRows,
    training_rows_sha256: str,
    out_dir: Path,
    *,
    name: str = "fusion",
    metrics: dict[str, float | str | dict[str, float]] | None = None,
    parameters: dict[str, float | int | str | bool] | None = None,
    latency_repeats: int = 200,
) -> tuple[ExportResult, dict[str, Any]]:
    if predictor.trained is None or predictor.normalisation is None:
        raise RuntimeError("export_fusion needs a predictor trained in this process (fit)")
    model = predictor.trained.model.eval()
    windows = calibration_windows(predictor, calibration_rows)
    norm = predictor.normalisation
    shipped_parameters: dict[str, float | int | str | bool] = {
        **{f"threshold:{h.value}": float(predictor.thresholds[h]) for h in HAZARD_TYPES},
        **{
            threshold_key(h, name): float(v)
            for name, table in predictor.thresholds_without.items()
            for h, v in table.items()
        },
        "decision_period_s": predictor.params.decision_stride_s,
        "min_history_s": SENSOR_WINDOW_S,
        "text_encoder": predictor.table.encoder.name,
        **{f"train:{k}": v for k, v in asdict(predictor.params).items()},
        **(parameters or {}),
    }
    request = ExportRequest(
        model=model,
        name=name,
        task=TASK,
        window=ROWS,
        n_features=COLUMNS,
        feature_names=list(FEATURE_NAMES),
        mean=[float(v) for v in norm.mean],
        std=[float(v) for v in norm.std],
        labels=list(OUTPUT_LABELS),
        calibration=windows,
        training_data_sha256=training_rows_sha256,
        metrics=dict(metrics or {}),
        parameters=shipped_parameters,
        description=(
            "multimodal hazard early warning: sensor tokens + camera tokens + log-entry sentence vectors, "
            "cross-modal attention; outputs hazard logits, risk logits at 5/10/15 min, face methane forecast"
        ),
    )
    limits = np.array([predictor.thresholds[h] for h in HAZARD_TYPES])

    def same_warnings(got: F32, want: F32) -> float:
        # the share of windows on which every hazard's warn / do-not-warn decision is the model's
        a = sigmoid(got[:, HAZARD_OUTPUTS]) >= limits
        b = sigmoid(want[:, HAZARD_OUTPUTS]) >= limits
        return float((a == b).all(axis=1).mean())

    result = export_all(
        request,
        out_dir,
        latency_repeats=latency_repeats,
        reference_rows=REFERENCE_WINDOWS,
        keep_parity_windows=False,
        agreement_with_model=same_warnings,
    )
    with torch.no_grad():
        torch_out = np.concatenate(
            [model(torch.from_numpy(windows[i : i + 256])).numpy() for i in range(0, windows.shape[0], 256)]
        )
    parity = hazard_parity(out_dir, windows, torch_out, {h.value: predictor.thresholds[h] for h in HAZARD_TYPES})
    (out_dir / "hazard_parity.json").write_text(json.dumps(parity, indent=1) + "\n", encoding="utf-8")
    return result, parity
