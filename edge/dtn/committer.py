"""Group commit for the bundle store: many concurrent ``await put()`` calls share one transaction and one fsync.

Producers on the event loop (the link receiving frames, the gateway turning alarms into bundles) call
``await committer.put(bundle)``. Each call queues the bundle and waits. One writer task takes everything queued at
that moment (up to ``max_batch``) and hands it to a single dedicated thread, which runs ``BundleStore.put_many``:
one transaction, one fsync. While that fsync is in progress new puts queue up and form the next batch, so the batch
size grows with the load and durability costs one fsync per batch, not per bundle. ``put()`` resolves only after
its batch's commit returned, so "STORED" means durable, and the link may acknowledge it. Throughput is about
(puts outstanding) / (fsync time): with a 4 ms fsync, 8 outstanding puts give ~2,600 bundles/s and 64 give
~14,000/s (benchmarks/dtn_ingest.py), so a link's credit window sets the durable ingest rate.

Threads and SQLite. sqlite3 connections must not be used by two threads at once. Design choice: the store
serialises every write on its one write connection under a lock (opened with ``check_same_thread=False``), and a
file-backed store reads through a second, read-only connection. In WAL mode a reader never waits for the
writer's fsync, so the event loop may call the store's read methods (``pending``, ``get``, ``has_seen``, ``ids``,
``stats``) directly while a batch commits here. Synchronous writes from the loop (``remove``, ``set_copies``,
``expire``, and ``new_id`` once per ``SEQ_BLOCK`` ids when it persists the sequence mark) are correct too, but
wait for the lock and their own fsync; ``call()`` runs such a write on the writer thread instead, in order with
the batches. The committer does not own the store: close the store after ``close()``.

A put whose caller is cancelled may still be stored (the batch may already be in the thread): a caller that was
cancelled must not acknowledge the bundle, and the sender's retry is then a harmless DUPLICATE.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from edge.dtn.bundle import Bundle
from edge.dtn.store import Accept, BundleStore

log = logging.getLogger(__name__)

T = TypeVar("T")

_Waiting = tuple[Bundle, int, "asyncio.Future[Accept]"]


class GroupCommitter:
    """Asyncio front end of a ``BundleStore``: ``await put()`` resolves after its batch is durable."""

    def __init__(self, store: BundleStore, *, max_batch: int = 512) -> None:
        if not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be an integer >= 1, got {max_batch!r}")
        self._store = store
        self._max_batch = max_batch
        self._queue: deque[_Waiting] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dtn-commit")
        self.batches_committed = 0
        self.bundles_committed = 0

    @property
    def store(self) -> BundleStore:
        return self._store

    @property
    def queued(self) -> int:
        """Puts waiting for the next batch (not counting the one being committed)."""
        return len(self._queue)

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("GroupCommitter.start() was already called")
        if self._closing:
            raise RuntimeError("GroupCommitter is closed")
        self._task = asyncio.create_task(self._run(), name="dtn-group-commit")

    async def put(self, bundle: Bundle, *, copies: int = 1) -> Accept:
        """Offer ``bundle`` to the store; returns once its batch is committed (fsynced when durable)."""
        if self._task is None or self._closing:
            raise RuntimeError("GroupCommitter is not running: call start() first, and do not put() after close()")
        # Checked here so a bad argument fails its own caller instead of the whole batch it would join.
        if not isinstance(bundle, Bundle):
            raise TypeError(f"expected a Bundle, got {type(bundle).__name__}")
        if not isinstance(copies, int) or isinstance(copies, bool) or copies < 1:
            raise ValueError(f"copies must be an integer >= 1, got {copies!r}")
        future: asyncio.Future[Accept] = asyncio.get_running_loop().create_future()
        self._queue.append((bundle, copies, future))
        self._wake.set()
        return await future

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (a store write such as ``lambda: store.remove(ids, reason=...)``) on the writer thread."""
        if self._closed:
            raise RuntimeError("GroupCommitter is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def close(self) -> None:
        """Commit everything already queued, then stop the writer task and thread. Idempotent."""
        if self._closed:
            return
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        self._executor.shutdown(wait=True)
        self._closed = True

    async def _run(self) -> None:
        try:
            while True:
                if not self._queue:
                    if self._closing:
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                await self._commit_batch()
        finally:
            # Cancelled (loop shutdown) or crashed: nobody will commit these, so their callers must not wait.
            while self._queue:
                _, _, future = self._queue.popleft()
                if not future.done():
                    future.set_exception(RuntimeError("GroupCommitter stopped before this bundle was committed"))

    async def _commit_batch(self) -> None:
        batch = [self._queue.popleft() for _ in range(min(len(self._queue), self._max_batch))]
        live = [entry for entry in batch if not entry[2].done()]  # a cancelled caller will not acknowledge
        if not live:
            return
        items = [(bundle, copies) for bundle, copies, _ in live]
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._executor, self._store.put_many, items)
        except asyncio.CancelledError:
            for _, _, future in live:
                if not future.done():
                    future.set_exception(RuntimeError("GroupCommitter was cancelled during this bundle's commit"))
            raise
        except Exception as exc:
            # Nothing of the batch is stored (put_many is one transaction): each caller gets the error and does
            # not acknowledge; the senders retry.
            log.exception("bundle store commit of %d bundle(s) failed; none of them is stored", len(items))
            for _, _, future in live:
                if not future.done():
                    future.set_exception(exc)
            return
        self.batches_committed += 1
        self.bundles_committed += len(items)
        for (_, _, future), result in zip(live, results, strict=True):
            if not future.done():
                future.set_result(result)
