"""Dynamic batching for the HTTP service: many small requests, one engine call.

Requests put their frames on a queue and await a future. One worker task takes the oldest
request, keeps gathering until `max_delay_ms` has passed since that request arrived or
`max_batch` frames are waiting, concatenates them, runs ONE engine call in a thread (the event
loop stays free to accept and parse more requests meanwhile) and hands each caller its own
rows, in order. A request larger than `max_batch` is cut into slices that run as separate batches.

Shutdown is graceful: `stop()` refuses new work, runs everything already queued without
waiting for the delay, then ends the worker.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Outputs = dict[str, np.ndarray]


class BatcherClosed(RuntimeError):
    """The batcher is shutting down and takes no new requests."""


@dataclass
class _Item:
    frames: np.ndarray  # (n, 2, L) float32
    future: asyncio.Future[Outputs]
    arrived: float = field(default_factory=time.perf_counter)


@dataclass
class BatcherStats:
    batches: int = 0  # engine calls made
    frames: int = 0  # frames run
    max_batch_seen: int = 0  # largest batch run
    sizes: list[int] = field(default_factory=list)  # the last few batch sizes, newest last


class Batcher:
    """Gather frames from concurrent callers into engine-sized batches.

    ``run_fn(x)`` takes a (B, 2, L) float32 array and returns a dict of arrays whose first
    axis is B. ``on_batch(size, seconds)`` is called after each engine call (metrics).
    """

    def __init__(self, run_fn: Callable[[np.ndarray], Outputs], max_batch: int = 256, max_delay_ms: float = 2.0,
                 on_batch: Callable[[int, float], None] | None = None) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_delay_ms < 0:
            raise ValueError(f"max_delay_ms must be >= 0, got {max_delay_ms}")
        self.run_fn = run_fn
        self.max_batch = int(max_batch)
        self.max_delay = float(max_delay_ms) / 1000.0
        self.on_batch = on_batch
        self.stats = BatcherStats()
        self._items: deque[_Item] = deque()
        self._queued_frames = 0
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done() and not self._closing

    @property
    def queued_frames(self) -> int:
        return self._queued_frames

    async def start(self) -> None:
        if self._worker is not None:
            return
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="amc-engine")
        self._closing = False
        self._worker = asyncio.create_task(self._loop(), name="amc-batcher")

    async def stop(self) -> None:
        """Refuse new requests, run every queued one, then end the worker (idempotent)."""
        self._closing = True
        if self._worker is None:
            return
        assert self._wake is not None
        self._wake.set()
        try:
            await self._worker
        finally:
            self._worker = None
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(*args) on the engine thread, never beside a batch (e.g. warm-up)."""
        if self._executor is None:
            raise BatcherClosed("the batcher is not running")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # -- callers ----------------------------------------------------------------------------
    async def submit(self, frames: np.ndarray) -> Outputs:
        """Queue (n, 2, L) frames and wait for their outputs (row i answers frame i)."""
        if self._closing or self._worker is None:
            raise BatcherClosed("the server is shutting down")
        n = len(frames)
        if n <= self.max_batch:
            return await self._enqueue(frames)
        parts = [self._enqueue(frames[i:i + self.max_batch]) for i in range(0, n, self.max_batch)]
        results = await asyncio.gather(*parts)
        return {k: np.concatenate([r[k] for r in results]) for k in results[0]}

    def _enqueue(self, frames: np.ndarray) -> asyncio.Future[Outputs]:
        assert self._wake is not None
        fut: asyncio.Future[Outputs] = asyncio.get_running_loop().create_future()
        self._items.append(_Item(frames, fut))
        self._queued_frames += len(frames)
        self._wake.set()
        return fut

    # -- worker -----------------------------------------------------------------------------
    async def _loop(self) -> None:
        assert self._wake is not None
        while True:
            while not self._items:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
            # Gather until the oldest request has waited max_delay or the batch is full;
            # when closing, run what is queued at once.
            deadline = self._items[0].arrived + self.max_delay
            loop = asyncio.get_running_loop()
            while self._queued_frames < self.max_batch and not self._closing:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                self._wake.clear()
                timer = loop.call_later(remaining, self._wake.set)  # cheaper than wait_for (no task)
                await self._wake.wait()
                timer.cancel()
            await self._run(self._take())

    def _take(self) -> list[_Item]:
        """Pop queued requests, oldest first, up to max_batch frames (always at least one)."""
        items: list[_Item] = []
        total = 0
        while self._items and (not items or total + len(self._items[0].frames) <= self.max_batch):
            item = self._items.popleft()
            self._queued_frames -= len(item.frames)
            if item.future.done():  # the caller went away (cancelled): skip its frames
                continue
            items.append(item)
            total += len(item.frames)
        return items

    async def _run(self, items: list[_Item]) -> None:
        if not items:
            return
        x = items[0].frames if len(items) == 1 else np.concatenate([it.frames for it in items])
        t0 = time.perf_counter()
        try:
            out = await asyncio.get_running_loop().run_in_executor(self._executor, self.run_fn, x)
        except Exception as e:  # the engine failed: every caller in this batch gets the error
            for it in items:
                if not it.future.done():
                    it.future.set_exception(e)
            return
        seconds = time.perf_counter() - t0
        self._record(len(x), seconds)
        start = 0
        for it in items:
            stop = start + len(it.frames)
            if not it.future.done():
                it.future.set_result({k: v[start:stop] for k, v in out.items()})
            start = stop

    def _record(self, size: int, seconds: float) -> None:
        s = self.stats
        s.batches += 1
        s.frames += size
        s.max_batch_seen = max(s.max_batch_seen, size)
        s.sizes.append(size)
        del s.sizes[:-64]
        if self.on_batch is not None:
            try:
                self.on_batch(size, seconds)
            except Exception:  # metrics must never break serving
                pass

