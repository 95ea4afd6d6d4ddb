"""Quality of the text encoders on the tasks the gateway needs, and the report's ``results.json``.

    python -m export.text.evaluate [--model-dir var/text/minilm] [--out export/reports/text] [--no-bench]

Data (``export.text.logdata``): training entries from mines (layout seeds) 0-7 with generator seed 1, held-out
entries from mines 100-107 with seed 2: other names for every belt drive, fan, face and crosscut, other draws.
Entries are de-duplicated, and held-out entries whose exact text occurs in training are dropped, so a held-out
entry is at least a new name in a known template. The hand-written paraphrases (``export.text.paraphrases``)
are new wording altogether.

Tasks, per encoder (vectors only; every encoder gets the same classifier and the same case base):

* classification: routine vs bait vs hazard, logistic regression on the embeddings (class-balanced), macro F1
  on held-out entries and on the paraphrases;
* retrieval: the case base is every training entry (routine and bait ones included, as a real log would have
  them); for each held-out hazard entry, are the nearest 1 / 5 cases hazard entries of the same hazard type and
  equipment role (precision@1, @5);
* the same retrieval for the paraphrased hazard entries, and for paraphrased bait how often the nearest case is
  a hazard (a false lead).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from edge.text.encoder import Encoder, Float32Array
from edge.text.hashed import HashedNgramEncoder
from export.text.logdata import LABELS, LabelledEntry, dataset, unique
from export.text.paraphrases import PARAPHRASES

log = logging.getLogger(__name__)

TRAIN_LAYOUTS = range(8)
TEST_LAYOUTS = range(100, 108)
TRAIN_SEED, TEST_SEED = 1, 2
DAYS = 8.0
HAZARD_ROUNDS = 2


def splits() -> tuple[list[LabelledEntry], list[LabelledEntry]]:
    train = unique(dataset(TRAIN_LAYOUTS, TRAIN_SEED, days=DAYS, hazard_rounds=HAZARD_ROUNDS))
    seen = {e.text for e in train}
    test = [
        e
        for e in unique(dataset(TEST_LAYOUTS, TEST_SEED, days=DAYS, hazard_rounds=HAZARD_ROUNDS))
        if e.text not in seen
    ]
    return train, test


def _counts(entries: Sequence[LabelledEntry]) -> dict[str, int]:
    return {label: sum(e.label == label for e in entries) for label in LABELS}


def retrieval(
    queries: Sequence[LabelledEntry], q: Float32Array, cases: Sequence[LabelledEntry], c: Float32Array, k: int = 5
) -> dict[str, float]:
    """precision@1 and @k of hazard queries against the case base (relevant: a hazard case of the same type and
    equipment role)."""
    hazard = [i for i, e in enumerate(queries) if e.label == "hazard"]
    if not hazard:
        return {}
    sims = q[hazard] @ c.T
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    relevant = np.array(
        [
            [cases[j].label == "hazard" and cases[j].case == queries[i].case for j in row]
            for i, row in zip(hazard, top, strict=True)
        ]
    )
    return {"queries": len(hazard), "p_at_1": float(relevant[:, 0].mean()), f"p_at_{k}": float(relevant.mean())}


def bait_false_leads(
    queries: Sequence[LabelledEntry], q: Float32Array, cases: Sequence[LabelledEntry], c: Float32Array
) -> float:
    """Share of bait queries whose nearest case is a hazard entry."""
    bait = [i for i, e in enumerate(queries) if e.label == "bait"]
    nearest = (q[bait] @ c.T).argmax(axis=1)
    return float(np.mean([cases[j].label == "hazard" for j in nearest]))


def nearest_cases(
    queries: Sequence[LabelledEntry], q: Float32Array, cases: Sequence[LabelledEntry], c: Float32Array
) -> list[dict[str, Any]]:
    """For each hazard query: its nearest case, the cosine, and whether it is relevant (for reading the misses)."""
    out: list[dict[str, Any]] = []
    for i, query in enumerate(queries):
        if query.label != "hazard":
            continue
        sims = c @ q[i]
        j = int(sims.argmax())
        hit = cases[j].label == "hazard" and cases[j].case == query.case
        out.append({"query": query.text, "nearest": cases[j].text, "cosine": round(float(sims[j]), 3), "relevant": hit})
    return out


def evaluate_encoder(encoder: Encoder, train: Sequence[LabelledEntry], test: Sequence[LabelledEntry]) -> dict[str, Any]:
    x_train = encoder.encode([e.text for e in train])
    x_test = encoder.encode([e.text for e in test])
    x_para = encoder.encode([e.text for e in PARAPHRASES])
    y_train = [e.label for e in train]
    classifier = LogisticRegression(C=10.0, class_weight="balanced", max_iter=5000)
    classifier.fit(x_train, y_train)
    test_pred = classifier.predict(x_test)
    para_pred = classifier.predict(x_para)
    para_labels = [e.label for e in PARAPHRASES]
    return {
        "encoder": encoder.name,
        "dim": encoder.dim,
        "classification_macro_f1": {
            "held_out": float(f1_score([e.label for e in test], test_pred, average="macro", labels=list(LABELS))),
            "paraphrases": float(f1_score(para_labels, para_pred, average="macro", labels=list(LABELS))),
        },
        "paraphrase_predictions": {e.text: str(p) for e, p in zip(PARAPHRASES, para_pred, strict=True)},
        "retrieval_held_out": retrieval(test, x_test, train, x_train),
        "retrieval_paraphrases": retrieval(PARAPHRASES, x_para, train, x_train),
        "paraphrase_bait_nearest_is_hazard": bait_false_leads(PARAPHRASES, x_para, train, x_train),
        "paraphrase_nearest_case": nearest_cases(PARAPHRASES, x_para, train, x_train),
    }


def encoders(model_dir: Path) -> list[tuple[str, Encoder | str]]:
    out: list[tuple[str, Encoder | str]] = [
        ("hashed:256", HashedNgramEncoder(256)),
        ("hashed:512", HashedNgramEncoder(512)),
    ]
    from edge.text.minilm import MiniLmEncoder  # noqa: PLC0415

    for precision, file in (("fp32", "minilm_l6_fp32.onnx"), ("int8", "minilm_l6_int8.onnx")):
        spec = f"minilm:{precision}"
        if (model_dir / file).is_file():
            out.append((spec, MiniLmEncoder.load(model_dir, file)))
        else:
            out.append((spec, f"no {file} in {model_dir}"))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "evaluate")
    parser.add_argument("--model-dir", type=Path, default=Path("var/text/minilm"))
    parser.add_argument("--out", type=Path, default=Path("export/reports/text"))
    parser.add_argument("--no-bench", action="store_true", help="skip the latency/RSS measurement")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    train, test = splits()
    results: dict[str, Any] = {
        "data": {
            "train": {"layout_seeds": list(TRAIN_LAYOUTS), "seed": TRAIN_SEED, "unique_entries": _counts(train)},
            "held_out": {"layout_seeds": list(TEST_LAYOUTS), "seed": TEST_SEED, "unique_entries": _counts(test)},
            "paraphrases": _counts(PARAPHRASES),
        },
        "quality": {},
    }
    for spec, encoder in encoders(args.model_dir):
        if isinstance(encoder, str):
            results["quality"][spec] = {"skipped": encoder}
            continue
        log.info("evaluating %s", spec)
        results["quality"][spec] = evaluate_encoder(encoder, train, test)
    parity = args.model_dir / "parity.json"
    if parity.is_file():
        results["minilm_export_parity"] = json.loads(parity.read_text(encoding="utf-8"))
    if not args.no_bench:
        from benchmarks.text_encoder import run_cases  # noqa: PLC0415

        results["cost"] = run_cases(args.model_dir, {1: 300, 32: 40})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    for spec, figures in results["quality"].items():
        if "skipped" in figures:
            print(f"{spec}: skipped ({figures['skipped']})")  # noqa: T201
            continue
        f1, rh, rp = figures["classification_macro_f1"], figures["retrieval_held_out"], figures["retrieval_paraphrases"]
        print(  # noqa: T201
            f"{spec}: F1 held-out {f1['held_out']:.3f} paraphrases {f1['paraphrases']:.3f} | retrieval held-out "
            f"P@1 {rh['p_at_1']:.3f} P@5 {rh['p_at_5']:.3f} | paraphrases P@1 {rp['p_at_1']:.3f} P@5 {rp['p_at_5']:.3f}"
            f" | bait->hazard {figures['paraphrase_bait_nearest_is_hazard']:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
