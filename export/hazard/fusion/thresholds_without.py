"""``python -m export.hazard.fusion.thresholds_without DIR``: choose the per-missing-input warning thresholds of an
exported fusion model (``edge.hazard.availability``) on the validation split, and write them into its manifest.

The fusion CLI does this for every model it trains; this entry point adds them to a model exported before they
existed without retraining it. The thresholds are chosen with the directory's ``--file`` (the int8 ONNX file the
gateway runs, by default), on validation normal days (scenario seed 3 on the validation mines, 40 days) with each
input removed for the whole day, within the same per-hazard false-warning budget as the model's own thresholds.
Only the manifest's parameters change; the model files and their checksums do not.

    python -m export.hazard.fusion.thresholds_without models/hazard [--budget gas_accumulation=0.2,...]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from edge.hazard.availability import threshold_key
from edge.inference.manifest import load_manifest, write_manifest
from edge.text.window import open_encoder
from export.hazard.data import SplitSpec, generate_split
from export.hazard.evaluate import VALIDATION_LAYOUTS
from export.hazard.fusion.cli import DEFAULT_FUSION_BUDGET, parse_budget
from export.hazard.fusion.predictor import FusionPredictor


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--file", default="fusion_int8.onnx")
    parser.add_argument("--validation-seeds", nargs="+", type=int, default=[3])
    parser.add_argument("--validation-layout-seeds", nargs="+", type=int, default=[int(v) for v in VALIDATION_LAYOUTS])
    parser.add_argument("--validation-normal-days", type=int, default=40)
    parser.add_argument(
        "--budget",
        default=",".join(f"{h.value}={v}" for h, v in DEFAULT_FUSION_BUDGET.items()),
        help="false warnings per validation gateway-day allowed per hazard, hazard=value,...",
    )
    parser.add_argument("--text-encoder", default="models/text/minilm")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        budget = parse_budget(args.budget)
        encoder = open_encoder(args.text_encoder)
        spec = SplitSpec(
            tuple(args.validation_seeds), tuple(args.validation_layout_seeds), 0, args.validation_normal_days
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return 2
    predictor = FusionPredictor.from_model_dir(args.model_dir, encoder, file=args.file)
    predictor.budget = dict(budget)
    predictor.choose_thresholds_without(generate_split(spec))
    manifest = load_manifest(args.model_dir)
    parameters = {k: v for k, v in manifest.parameters.items() if "@" not in k}
    parameters.update(
        {
            threshold_key(h, name): float(v)
            for name, table in predictor.thresholds_without.items()
            for h, v in table.items()
        }
    )
    parameters["thresholds_without:chosen_with"] = json.dumps(
        {
            "file": args.file,
            "validation_split": spec.to_json(),
            "budget_per_day": {h.value: v for h, v in budget.items()},
        }
    )
    write_manifest(args.model_dir, manifest.model_copy(update={"parameters": parameters}))
    print(  # noqa: T201
        json.dumps(
            {
                "thresholds_without": predictor.info["thresholds_without"],
                "validation_false_per_day_without": predictor.info["validation_false_per_day_without"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
