"""The inference benchmark runs end to end on a real model directory and writes finite, positive figures."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from benchmarks.tiny_localization_model import TinyModel

REPO = Path(__file__).resolve().parents[2]


def test_inference_latency_benchmark_smoke(tiny_model: TinyModel, tmp_path: Path) -> None:
    args = ["--model-dir", str(tiny_model.directory), "--calls-1", "30", "--calls-100", "5"]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.inference_latency", *args, "--results-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"benchmark failed:\n{done.stdout}\n{done.stderr}"
    assert "| model.int8.onnx | onnxruntime | int8 |" in done.stdout
    result = json.loads((tmp_path / "inference_latency.json").read_text(encoding="utf-8"))
    assert result["benchmark"] == "inference_latency"
    files = {case["file"]: case for case in result["cases"]}
    assert set(files) == {"model.onnx", "model.int8.onnx", "model.tflite", "model.b4.tflite"}
    assert files["model.tflite"]["backend"] == "litert"
    assert files["model.b4.tflite"]["fixed_batch"] == 4
    for case in result["cases"]:
        figures = [case["load_s"], case["rss_after_load_bytes"], case["bytes"]]
        for batch in ("1", "100"):
            figures += [case["batches"][batch][key] for key in ("median_us_per_call", "p99_us_per_call")]
        assert all(isinstance(v, int | float) and math.isfinite(v) and v > 0 for v in figures), case
        assert case["batches"]["1"]["median_us_per_call"] <= case["batches"]["1"]["p99_us_per_call"]
