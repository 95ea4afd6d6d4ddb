"""DTN link: transfer throughput over loopback and the alarm's head-of-line delay behind 10,000 bulk bundles.

Set-up, as in production: two processes, each a node with a durable SQLite store (WAL, synchronous=FULL) and a
group committer, linked by ``edge.dtn.link`` over CurveZMQ on TCP 127.0.0.1. The sender (this process, fixed
gateway ``g1``, static routing) holds the bundles; the receiver (a child process, surface node ``surface1``)
stores each bundle through its group committer and acknowledges it once durable; the sender deletes a bundle only
after that acknowledgement (custody).

Throughput: the sender's store is filled with N surface-bound BULK bundles of ``--sizes`` payload bytes before
the link starts; the clock runs from the first frame sent to the last durable acknowledgement received. Figures:
bundles/s, MB/s of bundle frames (MB = 10^6 bytes), mean group-commit batch on the receiver, per credit window.

Head-of-line: the sender holds ``--hol-bulk`` (10,000) BULK bundles; while they stream, ``--hol-alarms`` ALARM
bundles are created one by one, each when another ``--hol-bulk // (alarms + 1)`` bulk bundles have been
acknowledged, and stored with ``Link.submit`` (durable, then every contact re-selects). For each alarm:

- frames: bulk frames handed to ZeroMQ for the peer after ``submit`` returned and before the alarm's own frame
  (the issue's "an alarm waits at most one in-flight frame"; target <= 1);
- ahead on the wire: bulk frames already sent but not yet acknowledged at that moment (at most the credit
  window): the alarm's bytes follow theirs through the socket;
- ms to frame / ms to durable ack: from ``submit`` returned to the alarm's frame sent, and to the receiver's
  acknowledgement that it is durable there;
- bulk left: bulk bundles not yet acknowledged when the alarm's acknowledgement arrived (it overtook them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._common import NOISE_NOTE, markdown_table, percentile, spawn, stop_process, wait_for_path, write_result
from edge.clock import SystemClock
from edge.dtn.bundle import SURFACE, Bundle, BundleId, Priority
from edge.dtn.committer import GroupCommitter
from edge.dtn.keys import generate, load_keyring
from edge.dtn.link import DialPeer, Link, LinkSettings
from edge.dtn.routing import PeerInfo, PeerKind, make_router
from edge.dtn.store import Accept, BundleStore

NAME = "dtn_transfer"
SENDER, RECEIVER = "g1", "surface1"
CAPACITY_BYTES = 4 * 1024**3
_FILL_CHUNK = 5000


@dataclass
class _Trace:
    sent: list[tuple[float, Bundle]] = field(default_factory=list)
    index: dict[BundleId, int] = field(default_factory=dict)  # position of each bundle's frame in ``sent``
    acked_at: dict[BundleId, float] = field(default_factory=dict)
    acked_bulk: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_sent(self, _peer: PeerInfo, bundle: Bundle, _urgent: bool) -> None:
        self.index[bundle.id] = len(self.sent)
        self.sent.append((time.perf_counter(), bundle))

    def on_acked(self, _peer: PeerInfo, bids: list[BundleId]) -> None:
        now = time.perf_counter()
        for bid in bids:
            self.acked_at[bid] = now
            if self.sent[self.index[bid]][1].priority is Priority.BULK:
                self.acked_bulk += 1
        self.changed.set()


def _fill(store: BundleStore, count: int, payload: int, priority: Priority = Priority.BULK) -> int:
    """Store ``count`` bundles; returns the bytes of their frames."""
    total = 0
    pad = "x" * payload
    for start in range(0, count, _FILL_CHUNK):
        bundles = [
            store.create(
                destination=SURFACE, priority=priority, kind="bench", body={"i": i, "pad": pad}, lifetime_s=86400
            )
            for i in range(start, min(count, start + _FILL_CHUNK))
        ]
        store.put_many([(b, 1) for b in bundles])
        total += sum(b.size for b in bundles)
    return total


async def _wait(trace: _Trace, condition: Any, timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            trace.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await trace.changed.wait()


@contextlib.asynccontextmanager
async def _pair(directory: Path, settings: LinkSettings, trace: _Trace) -> Any:
    """Receiver child process + this process's sender node, linked; yields (store, link, receiver stats path)."""
    keys = directory / "keys"
    for node in (SENDER, RECEIVER):
        generate(keys, node)
    endpoint_file, stats_file = directory / "endpoint", directory / "receiver.json"
    child = spawn(
        [
            "-m",
            "benchmarks.dtn_transfer",
            "--child-receiver",
            str(directory),
            "--credit",
            str(settings.credit),
        ],
        directory / "receiver.log",
    )
    clock = SystemClock()
    store = BundleStore(directory / "sender.db", node_id=SENDER, capacity_bytes=CAPACITY_BYTES, clock=clock)
    committer = GroupCommitter(store)
    link: Link | None = None
    try:
        wait_for_path(endpoint_file, child, timeout_s=30)
        await committer.start()
        link = Link(
            SENDER,
            kind=PeerKind.FIXED,
            hops_to_surface=1,
            keyring=load_keyring(keys, SENDER),
            store=store,
            committer=committer,
            router=make_router("static", node_id=SENDER, node_kind=PeerKind.FIXED, hops_to_surface=1),
            clock=clock,
            dial=[DialPeer(RECEIVER, endpoint_file.read_text(encoding="utf-8").strip())],
            settings=settings,
            on_sent=trace.on_sent,
            on_acked=trace.on_acked,
        )
        yield store, link, stats_file
    finally:
        if link is not None:
            await link.stop()
        await committer.close()
        store.close()
        stop_process(child, timeout_s=30)


def _receiver_stats(stats_file: Path) -> dict[str, Any]:
    try:
        stats: dict[str, Any] = json.loads(stats_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return stats


async def _throughput(directory: Path, *, count: int, payload: int, credit: int) -> dict[str, Any]:
    trace = _Trace()
    settings = LinkSettings(credit=credit)
    async with _pair(directory, settings, trace) as (store, link, stats_file):
        frame_bytes = _fill(store, count, payload)
        await link.start()
        await _wait(trace, lambda: len(trace.acked_at) >= count, timeout_s=max(60.0, count / 200))
        first_sent = trace.sent[0][0]
        last_ack = max(trace.acked_at.values())
        stats = link.peer_stats()[RECEIVER]
    elapsed = last_ack - first_sent
    receiver = _receiver_stats(stats_file)
    return {
        "bundles": count,
        "payload_bytes": payload,
        "credit": credit,
        "frame_bytes": frame_bytes,
        "elapsed_s": elapsed,
        "bundles_per_s": count / elapsed,
        "mb_per_s": frame_bytes / elapsed / 1e6,
        "frames_sent": stats.frames_sent,
        "max_in_flight": stats.max_in_flight,
        "receiver_stored": receiver.get("stored"),
        "receiver_duplicates": receiver.get("duplicates"),
        "receiver_mean_batch": receiver.get("mean_batch"),
        "receiver_credit_violations": receiver.get("credit_violations"),
    }


async def _head_of_line(directory: Path, *, bulk: int, alarms: int, payload: int, credit: int) -> dict[str, Any]:
    trace = _Trace()
    settings = LinkSettings(credit=credit)
    results: list[dict[str, Any]] = []
    async with _pair(directory, settings, trace) as (store, link, _stats_file):
        _fill(store, bulk, payload)
        await link.start()
        step = bulk // (alarms + 1)
        for k in range(1, alarms + 1):
            await _wait(trace, lambda k=k: trace.acked_bulk >= k * step, timeout_s=120)
            alarm = store.create(
                destination=SURFACE,
                priority=Priority.ALARM,
                kind="alarm",
                body={"ch4_pct": 2.1, "k": k},
                lifetime_s=86400,
            )
            await link.submit(alarm)
            stored_at = time.perf_counter()
            mark = len(trace.sent)
            ahead = link.in_flight(RECEIVER)
            await _wait(trace, lambda a=alarm: a.id in trace.acked_at, timeout_s=60)
            bulk_left = bulk - trace.acked_bulk  # read as the alarm's acknowledgement is handled
            position = trace.index[alarm.id]
            results.append(
                {
                    "frames": sum(1 for _, b in trace.sent[mark:position] if b.priority is Priority.BULK),
                    "ahead_on_wire": ahead,
                    "ms_to_frame": (trace.sent[position][0] - stored_at) * 1000,
                    "ms_to_durable_ack": (trace.acked_at[alarm.id] - stored_at) * 1000,
                    "bulk_left": bulk_left,
                }
            )
        await _wait(trace, lambda: len(trace.acked_at) >= bulk + alarms, timeout_s=300)
    return {
        "bulk": bulk,
        "alarms": alarms,
        "payload_bytes": payload,
        "credit": credit,
        "per_alarm": results,
        "max_frames": max(r["frames"] for r in results),
        "max_ahead_on_wire": max(r["ahead_on_wire"] for r in results),
        "ms_to_frame_max": max(r["ms_to_frame"] for r in results),
        "ms_to_durable_ack_p50": percentile([r["ms_to_durable_ack"] for r in results], 50),
        "ms_to_durable_ack_max": max(r["ms_to_durable_ack"] for r in results),
        "min_bulk_left": min(r["bulk_left"] for r in results),
    }


async def _child_receiver(directory: Path, credit: int) -> None:
    """The receiving node: a surface node storing through its group committer, until SIGTERM."""
    clock = SystemClock()
    store = BundleStore(directory / "receiver.db", node_id=RECEIVER, capacity_bytes=CAPACITY_BYTES, clock=clock)
    committer = GroupCommitter(store)
    await committer.start()
    counts = {"stored": 0, "duplicates": 0}

    def on_received(_peer: PeerInfo, _bundle: Bundle, accept: Accept) -> None:
        counts["stored" if accept is Accept.STORED else "duplicates"] += 1

    link = Link(
        RECEIVER,
        kind=PeerKind.SURFACE,
        hops_to_surface=0,
        keyring=load_keyring(directory / "keys", RECEIVER),
        store=store,
        committer=committer,
        router=None,
        clock=clock,
        listen=["tcp://127.0.0.1:*"],
        settings=LinkSettings(credit=credit),
        on_received=on_received,
    )
    await link.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    tmp = directory / "endpoint.tmp"
    tmp.write_text(link.endpoints[0], encoding="utf-8")
    tmp.rename(directory / "endpoint")
    await stop.wait()
    await link.stop()
    await committer.close()
    store.close()
    batches = max(1, committer.batches_committed)
    (directory / "receiver.json").write_text(
        json.dumps(
            {
                **counts,
                "mean_batch": committer.bundles_committed / batches,
                "credit_violations": link.counters.credit_violations,
            }
        ),
        encoding="utf-8",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=int, default=20000, help="bundles per throughput case (fewer for big sizes)")
    parser.add_argument("--max-mb", type=float, default=100.0, help="cap on the bytes of one throughput case")
    parser.add_argument("--sizes", default="200,4096,65536", help="payload bytes per bundle (list)")
    parser.add_argument("--credits", default="16,64", help="credit windows to compare (list)")
    parser.add_argument("--hol-bulk", type=int, default=10000, help="bulk bundles queued for the head-of-line case")
    parser.add_argument("--hol-alarms", type=int, default=5, help="alarms created while the bulk streams")
    parser.add_argument("--hol-payload", type=int, default=1024, help="payload bytes of each bulk bundle")
    parser.add_argument("--results-dir", type=Path, default=None)
    parser.add_argument("--child-receiver", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--credit", type=int, default=64, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_receiver is not None:
        asyncio.run(_child_receiver(args.child_receiver, args.credit))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    credits = [int(c) for c in args.credits.split(",")]
    throughput: list[dict[str, Any]] = []
    hol: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dtn-transfer-") as tmp:
        root = Path(tmp)
        case = 0
        for size in sizes:
            count = max(1, min(args.bundles, int(args.max_mb * 1e6 / (size + 100))))
            for credit in credits:
                case += 1
                throughput.append(asyncio.run(_throughput(root / f"t{case}", count=count, payload=size, credit=credit)))
                print(
                    f"throughput {size} B x {count}, credit {credit}: {throughput[-1]['bundles_per_s']:.0f}/s",
                    file=sys.stderr,
                )
        for credit in credits:
            case += 1
            hol.append(
                asyncio.run(
                    _head_of_line(
                        root / f"h{case}",
                        bulk=args.hol_bulk,
                        alarms=args.hol_alarms,
                        payload=args.hol_payload,
                        credit=credit,
                    )
                )
            )
    print("## DTN link transfer over loopback (durable stores on both sides, CurveZMQ, separate processes)\n")
    print(
        markdown_table(
            ["payload B", "credit", "bundles", "bundles/s", "MB/s", "max in flight", "rx mean batch", "rx dup"],
            [
                [
                    t["payload_bytes"],
                    t["credit"],
                    t["bundles"],
                    t["bundles_per_s"],
                    t["mb_per_s"],
                    t["max_in_flight"],
                    t["receiver_mean_batch"],
                    t["receiver_duplicates"],
                ]
                for t in throughput
            ],
        )
    )
    print(f"\n## Alarm head-of-line delay behind {args.hol_bulk} bulk bundles ({args.hol_payload} B payload)\n")
    print(
        markdown_table(
            [
                "credit",
                "alarms",
                "max frames after stored",
                "max ahead on wire",
                "max ms to frame",
                "p50 ms to durable ack",
                "max ms to durable ack",
                "min bulk left",
            ],
            [
                [
                    h["credit"],
                    h["alarms"],
                    h["max_frames"],
                    h["max_ahead_on_wire"],
                    h["ms_to_frame_max"],
                    h["ms_to_durable_ack_p50"],
                    h["ms_to_durable_ack_max"],
                    h["min_bulk_left"],
                ]
                for h in hol
            ],
        )
    )
    print(f"\n{NOISE_NOTE}")
    best = max(throughput, key=lambda t: t["bundles_per_s"])
    path = write_result(
        NAME,
        {
            "throughput": throughput,
            "head_of_line": hol,
            "summary": {
                "best_bundles_per_s": best["bundles_per_s"],
                "best_mb_per_s": max(t["mb_per_s"] for t in throughput),
                "hol_max_frames": max(h["max_frames"] for h in hol),
                "hol_ms_to_durable_ack_max": max(h["ms_to_durable_ack_max"] for h in hol),
                "target_hol_frames": 1,
            },
        },
        results_dir=args.results_dir,
    )
    print(f"\nresult: {path}")


if __name__ == "__main__":
    main()
