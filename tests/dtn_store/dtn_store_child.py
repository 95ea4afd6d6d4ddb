"""A process that ingests bundles until it is killed, printing each id once its put() has returned STORED.

Run as ``python tests/dtn_store/dtn_store_child.py <store path> put|committer`` with the repository on
PYTHONPATH. The parent SIGKILLs it mid-ingest and checks that every printed id survived.
"""

from __future__ import annotations

import asyncio
import sys

from edge.clock import SystemClock
from edge.dtn.bundle import Bundle, Priority
from edge.dtn.committer import GroupCommitter
from edge.dtn.store import Accept, BundleStore

NODE = "gw-child"


def _bundle(store: BundleStore, n: int) -> Bundle:
    priority = Priority.ALARM if n % 7 == 0 else Priority.TELEMETRY
    return store.create(destination="surface", priority=priority, kind="readings", body={"n": n}, lifetime_s=3600)


def _report(bundle: Bundle, accept: Accept) -> None:
    if accept is not Accept.STORED:
        raise SystemExit(f"unexpected {accept} for {bundle.id}")
    sys.stdout.write(f"{bundle.id}\n")
    sys.stdout.flush()


def ingest_put(store: BundleStore) -> None:
    n = 0
    while True:
        bundle = _bundle(store, n)
        _report(bundle, store.put(bundle))
        n += 1


async def ingest_committer(store: BundleStore, producers: int = 8) -> None:
    committer = GroupCommitter(store)
    await committer.start()

    async def produce(first: int) -> None:
        n = first
        while True:
            bundle = _bundle(store, n)
            _report(bundle, await committer.put(bundle))
            n += producers

    await asyncio.gather(*(produce(i) for i in range(producers)))


def main() -> None:
    path, mode = sys.argv[1], sys.argv[2]
    store = BundleStore(path, node_id=NODE, capacity_bytes=1 << 30, clock=SystemClock())
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if mode == "put":
        ingest_put(store)
    else:
        asyncio.run(ingest_committer(store))


if __name__ == "__main__":
    main()
