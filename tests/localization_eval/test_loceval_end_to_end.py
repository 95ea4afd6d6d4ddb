"""A tiny end-to-end evaluation: synthetic walkers in a 10-pillar mine, every predictor, every protocol."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from loceval_fixtures import tiny_layout, walkers

from export.localization import evaluate, report


def test_evaluation_writes_results_and_report(tmp_path: Path) -> None:
    layout = tiny_layout()
    records, contacts = walkers(layout, miners=6, days=2, steps=150)
    opts = evaluate.RunOptions(n_folds=3, folds_used=1, epochs=2, max_minutes=0.2, seed=0)
    prep = evaluate.prepare_from_records("tiny", records, contacts, layout, horizon=1, window=8, stride=2)
    assert 200 < len(prep.base.y) < 1500
    assert np.array_equal(prep.windows["paper"].y, prep.windows["extended"].y)
    protocols = evaluate.run_protocols(prep, opts)
    results = {
        "meta": {
            "predictors": list(opts.predictors),
            "protocols": list(opts.protocols),
            "n_folds": 3,
            "folds_used": 1,
            "seed": 0,
            "epochs": 2,
            "max_minutes_per_fit": 0.2,
            "window": 8,
            "stride": 2,
            "horizons": [1],
            "python": "3",
            "machine": "test",
            "total_seconds": 1.0,
        },
        "paper_reference": evaluate.PAPER_REFERENCE,
        "paper_baselines": evaluate.PAPER_BASELINES,
        "targets": evaluate.TARGETS,
        "datasets": [
            {
                "name": "tiny",
                "horizons": {"1": {"n_windows": len(prep.base.y), "protocols": protocols, "seconds": 1.0}},
                "class_counts": evaluate._class_counts(prep.base),
            }
        ],
    }
    evaluate.write_results(results, tmp_path)
    report.write_report(results, tmp_path, prepared=[prep])
    saved = json.loads((tmp_path / "results.json").read_text())
    for protocol in ("stratified", "miner", "shift"):
        preds = saved["datasets"][0]["horizons"]["1"]["protocols"][protocol]["predictors"]
        assert set(preds) == set(evaluate.ALL_PREDICTORS)
        # Carrying the last pillar forward is wrong on every changed window, by construction.
        assert preds["last_known"]["metrics"]["changed_accuracy"] == 0.0
        # Walkers pace straight entries at steady speed: dead reckoning from gateway contacts must beat chance.
        assert preds["dead_reckoning"]["metrics"]["accuracy"] > 0.5
        assert preds["ours"]["history"]["val_loss"]
    text = (tmp_path / "report.md").read_text()
    assert "whole miners held out" in text
    assert "paper CNN-LSTM" in text
    assert "missed by" in text or " met " in text
    pngs = sorted(tmp_path.glob("*.png"))
    assert any(p.name.startswith("error_map_tiny") for p in pngs)
    assert all(p.stat().st_size < report.MAX_PNG_BYTES for p in pngs)


def test_main_on_a_generated_dataset(tmp_path: Path) -> None:
    """``evaluate.main`` end to end on a dataset written by the generator CLI (CSV + layout on disk)."""
    from export.localization import generate

    data = tmp_path / "d4"
    gen_argv = ["--nodes", "4", "--days", "2", "--entries", "4", "--crosscuts", "10", "--out", str(data)]
    assert generate.main(gen_argv) == 0
    out = tmp_path / "report"
    argv = ["--data", str(data), "--horizons", "1", "2", "--target-windows", "400", "--folds", "3"]
    argv += ["--folds-used", "1", "--epochs", "1", "--learned-horizons", "1", "--out", str(out)]
    argv += ["--predictors", "last_known", "markov", "dead_reckoning", "dead_reckoning_fix", "ours", "--no-figures"]
    assert evaluate.main(argv) == 0
    saved = json.loads((out / "results.json").read_text())
    ds = saved["datasets"][0]
    assert ds["n_miners"] == 4
    assert 200 < ds["horizons"]["1"]["n_windows"] < 1200
    h1 = ds["horizons"]["1"]["protocols"]["miner"]["predictors"]
    h2 = ds["horizons"]["2"]["protocols"]["miner"]["predictors"]
    assert "ours" in h1
    # A perfect pillar classifier still misses "within 61 m" only where miners are outside every pillar's cell.
    assert 0.5 < ds["horizons"]["1"]["ceiling_within_61m"] <= 1.0
    assert "ours" not in h2  # learned models only at --learned-horizons
    assert h2["last_known"]["metrics"]["n_changed"] >= h1["last_known"]["metrics"]["n_changed"] > 0
    assert "## Targets" in (out / "report.md").read_text()


def test_merge_combines_runs_and_refuses_different_recipes(tmp_path: Path) -> None:
    """Runs over different datasets share one report; the folds each ran are said per dataset."""
    from export.localization import generate

    runs = []
    for name, folds_used in (("a4", "2"), ("b4", "1")):
        data = tmp_path / name
        gen = ["--nodes", "4", "--days", "2", "--entries", "4", "--crosscuts", "10", "--seed", "3", "--out", str(data)]
        assert generate.main(gen) == 0
        out = tmp_path / f"run_{name}"
        argv = ["--data", str(data), "--target-windows", "400", "--folds", "3", "--folds-used", folds_used]
        argv += ["--predictors", "last_known", "markov", "--no-figures", "--out", str(out)]
        assert evaluate.main(argv) == 0
        runs.append(out)
    merged = tmp_path / "merged"
    assert evaluate.main(["--merge", *map(str, runs), "--no-figures", "--out", str(merged)]) == 0
    saved = json.loads((merged / "results.json").read_text())
    assert [ds["name"] for ds in saved["datasets"]] == ["a4", "b4"]
    assert saved["meta"]["folds_used_by_dataset"] == {"a4": 2, "b4": 1}
    text = (merged / "report.md").read_text()
    assert "2 for `a4`, 1 for `b4`" in text
    # Two folds ran on a4: the report gives the fold-to-fold range of its primary predictor.
    assert "`a4`, miner" in text
    assert "over 2 folds" in text
    # A run with another recipe (here: another seed) cannot share the report, and the error says why.
    other = json.loads((runs[1] / "results.json").read_text())
    other["meta"]["seed"] = 5
    other["datasets"][0]["name"] = "c4"
    (tmp_path / "run_c4").mkdir()
    (tmp_path / "run_c4" / "results.json").write_text(json.dumps(other))
    with pytest.raises(SystemExit, match="differs from run 1 in 'seed'"):
        evaluate.main(["--merge", str(runs[0]), str(tmp_path / "run_c4"), "--out", str(tmp_path / "bad")])
    with pytest.raises(SystemExit, match="appears in more than one run"):
        evaluate.main(["--merge", str(runs[0]), str(runs[0]), "--out", str(tmp_path / "bad")])
