"""One real run of ``minegate bench --only system,models --quick`` on the localization model, as its own process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCALIZATION = REPO / "models" / "localization"


@pytest.mark.skipif(not (LOCALIZATION / "manifest.json").is_file(), reason="models/localization is not exported")
def test_quick_models_run_writes_json_and_markdown(tmp_path: Path) -> None:
    models = tmp_path / "models"
    copy = models / "localization"
    copy.mkdir(parents=True)
    for path in LOCALIZATION.iterdir():
        if path.suffix in (".json", ".onnx") or path.name == "ours_w20_h1_int8.tflite":
            shutil.copy(path, copy / path.name)
    out = tmp_path / "report"
    command = ["bench", "--only", "system,models", "--quick", "--models", str(models), "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "edge", *command],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "models: 1/3 localization/" in done.stderr  # progress on stderr
    report = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert list(report["sections"]) == ["system", "models"]
    assert report["sections"]["system"]["result"]["python"] == ".".join(map(str, sys.version_info[:3]))
    models_section = report["sections"]["models"]
    assert models_section["status"] == "ok", models_section["error"]
    measured = {(c["file"], c["backend"]) for c in models_section["result"]["cases"]}
    assert ("ours_w20_h1_fp32.onnx", "onnxruntime") in measured
    assert len(measured) == 3  # two ONNX files and the one TFLite file copied
    # The fp32 TFLite file is listed in the manifest but was not copied: named, not fatal.
    assert any("ours_w20_h1_fp32.tflite: listed in the manifest but absent" in n for n in models_section["notes"])
    for case in models_section["result"]["cases"]:
        assert case["batch_1"]["median_ms"] > 0
        assert case["batched"]["batch"] == 32
        assert case["load_s"] > 0
    metric = report["metrics"]["models.localization/ours_w20_h1_fp32.onnx@onnxruntime.batch_1.median_ms"]
    assert metric["better"] == "lower"
    assert metric["unit"] == "ms"
    markdown = (out / "bench.md").read_text(encoding="utf-8")
    assert "## Machine" in markdown
    assert "| localization | ours_w20_h1_int8.onnx | onnxruntime | int8 |" in markdown
    # matplotlib is a gateway dependency: the model charts are drawn and linked from the report
    for chart in ("models_latency.png", "models_throughput.png"):
        assert (out / chart).stat().st_size > 5000
        assert chart in markdown
