"""The logbook on this machine: add latency (tag + encode + fsynced commit), similar() latency over a case base,
recent() over a shift, and re-encoding throughput, for the hashed encoder and MiniLM (when ``make models`` has
built ``models/text/minilm/minilm_l6_int8.onnx``), plus an add without an encoder (what ``minegate log add`` does).

    python -m benchmarks.logbook [--entries 2000] [--adds 200] [--queries 100]

Real SQLite files (WAL, synchronous=FULL) in a temporary directory on the disk that holds it; the texts are
generated log entries (``export.text.logdata``). One thread, one process.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import NOISE_NOTE, REPO, markdown_table, percentile, write_result
from edge.clock import SystemClock
from edge.hazard.contract import LogKind
from edge.logbook.records import EntryFields
from edge.logbook.store import FileCursor, LogStore
from edge.text.encoder import Encoder
from export.text.logdata import dataset

MINILM_DIR = REPO / "models" / "text" / "minilm"


def _texts(n: int) -> list[str]:
    texts: list[str] = []
    seed = 0
    while len(texts) < n:
        texts += [e.text for e in dataset([seed], seed=11, days=4.0, hazard_rounds=2)]
        seed += 1
    return texts[:n]


def _timed(calls: Sequence[Callable[[], object]]) -> list[float]:
    out = []
    for call in calls:
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000.0)
    return out


def _stats(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": statistics.median(ms), "p95_ms": percentile(ms, 95), "max_ms": max(ms)}


def _case(name: str, encoder: Encoder | None, texts: list[str], args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    clock = SystemClock()
    store = LogStore.open(tmp / f"{name}.sqlite", encoder=encoder, clock=clock)
    try:
        fill = texts[: args.entries]
        rows = [(EntryFields(t, kind=LogKind.MAINTENANCE, incident=j % 7 == 0), "bench") for j, t in enumerate(fill)]
        start = time.perf_counter()
        for i in range(0, len(rows), 200):
            store.ingest(rows[i : i + 200], FileCursor("bench", 0, 0, i, i))
        fill_s = time.perf_counter() - start
        new = texts[args.entries : args.entries + args.adds]
        add_ms = _timed([lambda t=t: store.add(t, source="bench") for t in new])  # type: ignore[misc]
        result: dict[str, Any] = {
            "encoder": encoder.name if encoder is not None else "none",
            "entries": store.count(),
            "fill_entries_per_s": len(fill) / fill_s,
            "add": _stats(add_ms),
        }
        since = clock.wall() - 8 * 3600
        result["recent_8h"] = _stats(_timed([lambda: store.recent(since) for _ in range(20)]))
        if encoder is not None:
            queries = texts[: args.queries]
            store.similar(queries[0], 5)  # the first call loads the vector cache
            result["similar_k5"] = _stats(_timed([lambda q=q: store.similar(q, 5) for q in queries]))  # type: ignore[misc]
            result["similar_k5_incidents"] = _stats(
                _timed([lambda q=q: store.similar(q, 5, incidents_only=True) for q in queries])  # type: ignore[misc]
            )
    finally:
        store.close()
    if encoder is not None:
        # a model change: every stored vector re-encoded
        again = LogStore.open(tmp / f"{name}.sqlite", encoder=_renamed(encoder), clock=clock)
        try:
            start = time.perf_counter()
            done = again.reencode()
            result["reencode_entries_per_s"] = done / (time.perf_counter() - start)
        finally:
            again.close()
    return result


class _Renamed:
    """The same encoder under another name: what the store sees after a model update."""

    def __init__(self, inner: Encoder) -> None:
        self._inner = inner

    @property
    def name(self) -> str:
        return f"{self._inner.name}-bench"

    @property
    def dim(self) -> int:
        return self._inner.dim

    def encode(self, texts: Sequence[str]) -> Any:
        return self._inner.encode(texts)


def _renamed(encoder: Encoder) -> Encoder:
    return _Renamed(encoder)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=2000, help="entries in the logbook before timing")
    parser.add_argument("--adds", type=int, default=200)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--dir", default=None, help="where the SQLite files go (default: a temporary directory)")
    args = parser.parse_args(argv)
    texts = _texts(args.entries + args.adds)
    from edge.text.hashed import HashedNgramEncoder  # noqa: PLC0415

    encoders: dict[str, Encoder | None] = {"none": None, "hashed": HashedNgramEncoder()}
    skipped = []
    if (MINILM_DIR / "minilm_l6_int8.onnx").is_file():
        from edge.text.minilm import MiniLmEncoder  # noqa: PLC0415

        encoders["minilm-int8"] = MiniLmEncoder.load(MINILM_DIR)
    else:
        skipped.append(f"minilm-int8: no minilm_l6_int8.onnx in {MINILM_DIR} (run `make models`)")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        for name, encoder in encoders.items():
            results[name] = _case(name, encoder, texts, args, Path(directory))
    rows = []
    for name, r in results.items():
        similar = r.get("similar_k5")
        rows.append(
            [
                name,
                r["entries"],
                r["add"]["p50_ms"],
                r["add"]["p95_ms"],
                similar["p50_ms"] if similar else "-",
                similar["p95_ms"] if similar else "-",
                r["recent_8h"]["p50_ms"],
                r["fill_entries_per_s"],
                r.get("reencode_entries_per_s", "-"),
            ]
        )
    print(
        markdown_table(
            [
                "encoder",
                "entries",
                "add p50 ms",
                "add p95 ms",
                "similar k=5 p50 ms",
                "p95 ms",
                "recent(8h) p50 ms",
                "bulk ingest /s",
                "re-encode /s",
            ],
            rows,
        )
    )
    for line in skipped:
        print(f"skipped: {line}")
    print(NOISE_NOTE)
    path = write_result("logbook", {"cases": results, "skipped": skipped, "args": vars(args)})
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
