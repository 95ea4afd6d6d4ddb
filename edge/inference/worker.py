"""Inference off the event loop: one dedicated thread, and the requests of many callers coalesced into batches.

Callers ``await worker.predict(rows)``; the worker's dispatcher task takes every request that arrived while the
previous batch ran, runs them as one batch on its single thread (model runtimes are not re-entrant, and one
batch of 100 windows costs far less than 100 calls), and hands each caller its own rows back.

Overflow policy: at most ``max_pending_rows`` rows wait (not counting the batch running). A request that would
exceed it is rejected at once with ``InferenceOverloaded`` rather than queued: location predictions are
recomputed every cycle from the newest records, so a dropped request is replaced by a fresher one, while an
unbounded queue would only serve ever staler answers and grow memory on a small gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from edge.inference.backends import Float32Array

__all__ = ["InferenceOverloaded", "InferenceWorker", "InferenceWorkerClosed"]

_log = logging.getLogger(__name__)


class InferenceOverloaded(RuntimeError):
    """More rows are waiting than the worker's bound; retry on the next cycle."""


class InferenceWorkerClosed(RuntimeError):
    """The worker was closed before this request ran."""


@dataclass(slots=True)
class _Request:
    rows: Float32Array
    future: asyncio.Future[Float32Array] = field(repr=False)


class InferenceWorker:
    """Runs ``run(batch) -> outputs`` (row i of the output belongs to row i of the input) on one thread.

    ``run`` is typically ``LoadedModel.predict`` or ``LoadedModel.predict_proba``. Create and use the worker
    inside one event loop; ``close()`` it when done (idempotent).
    """

    def __init__(
        self,
        run: Callable[[Float32Array], Float32Array],
        *,
        name: str,
        max_batch_rows: int = 512,
        max_pending_rows: int = 4096,
        close_timeout_s: float = 10.0,
    ) -> None:
        if max_batch_rows < 1 or max_pending_rows < 1:
            raise ValueError(f"max_batch_rows and max_pending_rows must be >= 1 ({max_batch_rows}, {max_pending_rows})")
        self.name = name
        self._run = run
        self._max_batch_rows = max_batch_rows
        self._max_pending_rows = max_pending_rows
        self._close_timeout_s = close_timeout_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"inference-{name}")
        self._pending: deque[_Request] = deque()
        self._pending_rows = 0
        self._wakeup = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._closed = False
        self.batches_run = 0
        self.rows_run = 0
        self.rejected_requests = 0

    @property
    def pending_rows(self) -> int:
        return self._pending_rows

    async def predict(self, rows: np.ndarray) -> Float32Array:
        """The outputs for ``rows`` (B, ...), computed in a batch with whatever else is waiting.

        Raises ``InferenceOverloaded`` at once when the wait bound would be exceeded, ``InferenceWorkerClosed``
        after ``close()``, and whatever ``run`` raised for the batch this request was part of.
        """
        if self._closed:
            raise InferenceWorkerClosed(f"inference worker {self.name!r} is closed")
        batch = np.ascontiguousarray(rows, dtype=np.float32)
        if batch.ndim < 2:
            raise ValueError(f"predict takes a batch of rows (B, ...), got shape {batch.shape}")
        count = batch.shape[0]
        if count == 0:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._run, batch)
        if self._pending_rows + count > self._max_pending_rows:
            self.rejected_requests += 1
            raise InferenceOverloaded(
                f"inference worker {self.name!r}: {self._pending_rows} rows already wait and {count} more would "
                f"pass the bound of {self._max_pending_rows}; request dropped (it is recomputed next cycle). "
                "If this repeats, inference is slower than the input rate: raise max_pending_rows or use a "
                "faster (int8) model file"
            )
        future: asyncio.Future[Float32Array] = asyncio.get_running_loop().create_future()
        self._pending.append(_Request(batch, future))
        self._pending_rows += count
        self._ensure_dispatcher()
        self._wakeup.set()
        return await future

    def _ensure_dispatcher(self) -> None:
        if self._dispatcher is None:
            self._dispatcher = asyncio.get_running_loop().create_task(
                self._dispatch(), name=f"inference-{self.name}-dispatch"
            )

    def _take_batch(self) -> list[_Request]:
        """Waiting requests with the first one's row shape, up to ``max_batch_rows`` (the first always goes)."""
        taken: list[_Request] = []
        rows = 0
        skipped: deque[_Request] = deque()
        shape: tuple[int, ...] | None = None
        while self._pending:
            request = self._pending.popleft()
            if request.future.done():  # the caller gave up (cancelled): do not compute for nobody
                self._pending_rows -= request.rows.shape[0]
                continue
            count = request.rows.shape[0]
            if shape is None:
                shape = request.rows.shape[1:]
            elif request.rows.shape[1:] != shape or rows + count > self._max_batch_rows:
                skipped.append(request)
                continue
            taken.append(request)
            rows += count
            self._pending_rows -= count
        self._pending = skipped
        return taken

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed or self._pending:
            if not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            requests = self._take_batch()
            if not requests:
                continue
            batch = requests[0].rows if len(requests) == 1 else np.concatenate([r.rows for r in requests])
            try:
                outputs = await loop.run_in_executor(self._executor, self._run, batch)
            except asyncio.CancelledError:
                for request in requests:
                    _fail(request, InferenceWorkerClosed(f"inference worker {self.name!r} closed while running"))
                raise
            except Exception as exc:  # the model's failure belongs to its callers, not to this task
                _log.warning("inference worker %s: batch of %d rows failed: %s", self.name, batch.shape[0], exc)
                for request in requests:
                    _fail(request, exc)
                continue
            self.batches_run += 1
            self.rows_run += batch.shape[0]
            if outputs.shape[0] != batch.shape[0]:
                error = RuntimeError(f"model returned {outputs.shape[0]} rows for a batch of {batch.shape[0]}")
                for request in requests:
                    _fail(request, error)
                continue
            start = 0
            for request in requests:
                end = start + request.rows.shape[0]
                if not request.future.done():
                    request.future.set_result(outputs[start:end])
                start = end

    async def close(self) -> None:
        """Stop taking requests, fail those still waiting, let a running batch finish; idempotent."""
        if self._closed:
            return
        self._closed = True
        closed = InferenceWorkerClosed(f"inference worker {self.name!r} is closed")
        while self._pending:
            _fail(self._pending.popleft(), closed)
        self._pending_rows = 0
        self._wakeup.set()
        if self._dispatcher is not None:
            try:
                async with asyncio.timeout(self._close_timeout_s):
                    await asyncio.shield(self._dispatcher)
            except TimeoutError:
                _log.warning(
                    "inference worker %s: a batch still ran after %.1f s; abandoning it",
                    self.name,
                    self._close_timeout_s,
                )
                self._dispatcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._dispatcher
        # The thread is idle now (or stuck in a native call that cannot be interrupted): do not block the loop on it.
        self._executor.shutdown(wait=False, cancel_futures=True)


def _fail(request: _Request, error: BaseException) -> None:
    if not request.future.done():
        request.future.set_exception(error)
