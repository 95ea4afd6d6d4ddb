"""The inference worker: one thread, coalesced batches, bounded waiting, a responsive event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from benchmarks.tiny_localization_model import TinyModel
from edge.inference.backends import Float32Array
from edge.inference.model import LoadedModel, load_model
from edge.inference.worker import InferenceOverloaded, InferenceWorker, InferenceWorkerClosed


@pytest.fixture
def model(tiny_model: TinyModel) -> LoadedModel:
    return load_model(tiny_model.directory, "model.onnx")


async def test_concurrent_callers_get_their_own_rows_in_few_batches(model: LoadedModel, tiny_model: TinyModel) -> None:
    threads: set[str] = set()
    batch_sizes: list[int] = []

    def run(batch: Float32Array) -> Float32Array:
        threads.add(threading.current_thread().name)
        batch_sizes.append(batch.shape[0])
        return model.predict(batch)

    worker = InferenceWorker(run, name="loc", max_batch_rows=64)
    requests = [tiny_model.raw_windows(1 + i % 4, seed=100 + i) for i in range(40)]
    try:
        results = await asyncio.gather(*(worker.predict(rows) for rows in requests))
    finally:
        await worker.close()
    for rows, got in zip(requests, results, strict=True):
        np.testing.assert_allclose(got, model.predict(rows), atol=1e-5)
    assert sum(batch_sizes) == sum(len(r) for r in requests) == worker.rows_run
    # 100 rows from 40 callers in batches of at most 64 rows: coalesced, not one call per caller.
    assert len(batch_sizes) < 10
    assert max(batch_sizes) <= 64
    assert len(threads) == 1
    assert threads.pop().startswith("inference-loc")


async def test_event_loop_keeps_ticking_while_inference_runs(model: LoadedModel, tiny_model: TinyModel) -> None:
    worker = InferenceWorker(model.predict, name="big", max_batch_rows=100_000, max_pending_rows=100_000)
    rows = np.repeat(tiny_model.raw_windows(100, seed=7), 800, axis=0)  # 80,000 windows: a long inference
    ticks: list[float] = []

    async def timer() -> None:
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.005)

    ticker = asyncio.create_task(timer(), name="ticker")
    try:
        started = time.perf_counter()
        out = await worker.predict(rows)
        took = time.perf_counter() - started
    finally:
        ticker.cancel()
        await worker.close()
    assert out.shape == (80_000, 5)
    assert took > 0.05, f"inference took only {took:.3f} s: the test no longer measures anything"
    gaps = np.diff(ticks)
    assert len(ticks) > took / 0.005 / 4, f"{len(ticks)} ticks in {took:.3f} s: the loop was blocked"
    assert gaps.max() < max(0.05, took / 4), f"longest loop stall {gaps.max():.3f} s during a {took:.3f} s inference"


async def test_overflow_is_rejected_at_once_and_the_rest_is_served(model: LoadedModel, tiny_model: TinyModel) -> None:
    release = threading.Event()
    started = threading.Event()

    def run(batch: Float32Array) -> Float32Array:
        started.set()
        release.wait(timeout=10)
        return model.predict(batch)

    worker = InferenceWorker(run, name="bounded", max_pending_rows=10)
    try:
        first = asyncio.create_task(worker.predict(tiny_model.raw_windows(5, seed=1)))
        await asyncio.to_thread(started.wait, 10)  # the first batch is now running, not waiting
        second = asyncio.create_task(worker.predict(tiny_model.raw_windows(8, seed=2)))
        await asyncio.sleep(0)
        assert worker.pending_rows == 8
        with pytest.raises(InferenceOverloaded, match=r"8 rows already wait and 5 more would pass the bound of 10"):
            await worker.predict(tiny_model.raw_windows(5, seed=3))
        assert worker.rejected_requests == 1
        release.set()
        assert (await first).shape == (5, 5)
        assert (await second).shape == (8, 5)
    finally:
        release.set()
        await worker.close()


async def test_a_failing_batch_fails_its_callers_and_the_worker_goes_on(
    model: LoadedModel, tiny_model: TinyModel
) -> None:
    worker = InferenceWorker(model.predict, name="shapes")
    try:
        with pytest.raises(ValueError, match="takes features of shape"):
            await worker.predict(np.zeros((2, 12, 4), dtype=np.float32))
        assert (await worker.predict(tiny_model.raw_windows(3, seed=4))).shape == (3, 5)
        # Requests of different window shapes are never concatenated: each fails or succeeds on its own.
        good, bad = await asyncio.gather(
            worker.predict(tiny_model.raw_windows(2, seed=5)),
            worker.predict(np.zeros((1, 7, 4), dtype=np.float32)),
            return_exceptions=True,
        )
        assert isinstance(good, np.ndarray)
        assert good.shape == (2, 5)
        assert isinstance(bad, ValueError)
    finally:
        await worker.close()


async def test_empty_request_and_bad_rank(model: LoadedModel) -> None:
    worker = InferenceWorker(model.predict, name="edge-cases")
    try:
        assert (await worker.predict(np.zeros((0, 10, 4), dtype=np.float32))).shape == (0, 5)
        with pytest.raises(ValueError, match="batch of rows"):
            await worker.predict(np.zeros(4, dtype=np.float32))
    finally:
        await worker.close()


async def test_close_is_idempotent_and_fails_waiting_and_later_requests(
    model: LoadedModel, tiny_model: TinyModel
) -> None:
    release = threading.Event()

    def run(batch: Float32Array) -> Float32Array:
        release.wait(timeout=10)
        return model.predict(batch)

    worker = InferenceWorker(run, name="closing")
    running = asyncio.create_task(worker.predict(tiny_model.raw_windows(2, seed=1)))
    await asyncio.sleep(0.05)
    waiting = asyncio.create_task(worker.predict(tiny_model.raw_windows(2, seed=2)))
    await asyncio.sleep(0)
    closing = asyncio.create_task(worker.close())
    await asyncio.sleep(0.05)
    release.set()
    await closing
    await worker.close()
    assert (await running).shape == (2, 5)  # the batch already running completes
    with pytest.raises(InferenceWorkerClosed):
        await waiting
    with pytest.raises(InferenceWorkerClosed, match="'closing' is closed"):
        await worker.predict(tiny_model.raw_windows(1, seed=3))


async def test_close_without_any_request() -> None:
    worker = InferenceWorker(lambda batch: batch, name="idle")
    await worker.close()
    await worker.close()


def test_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        InferenceWorker(lambda batch: batch, name="bad", max_pending_rows=0)
