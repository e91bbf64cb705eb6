"""Dynamic batching for the HTTP service: many small requests, one engine call.

Requests put their frames on a queue and await a future. One worker task takes the oldest
request, keeps gathering until `max_delay_ms` has passed since that request arrived or
`max_batch` frames are waiting, concatenates them, runs ONE engine call in a thread (the event
loop stays free to accept and parse more requests meanwhile) and hands each caller its own
rows, in order. A request larger than `max_batch` is cut into slices that run as separate batches.

The queue is bounded in frames, not requests: `max_queue_frames` in all, and at most
`client_frames` for one client (its address), so one flooding client cannot crowd out the others.
Batches take clients in turns (the one served longest ago first), so a client with many
frames queued delays another by about one batch. A request that does not fit is refused at once
with `Overloaded` (the service answers 503 with a Retry-After estimated from the recent engine
rate). Every request carries a deadline: work still queued when it passes is dropped before
inference (`DeadlineExpired`, queued=True); a caller that goes away (cancelled: the client
disconnected) frees its place in the queue at once.

Shutdown is graceful: `stop()` refuses new work, runs everything already queued without
waiting for the delay, then ends the worker.
"""

from __future__ import annotations

import asyncio
import math
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


class Overloaded(RuntimeError):
    """The queue has no room for a request: `reason` 'queue_full' or 'client_share'; retry after `retry_after` s."""

    def __init__(self, reason: str, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.reason, self.retry_after = reason, retry_after


class DeadlineExpired(RuntimeError):
    """A request's deadline passed: while still queued (`queued`, never run) or while in the engine."""

    def __init__(self, queued: bool, retry_after: int = 1) -> None:
        super().__init__("the request's deadline passed while it waited in the queue (the service is overloaded)"
                         if queued else "the request's deadline passed while the engine ran it")
        self.queued, self.retry_after = queued, retry_after


@dataclass(eq=False)
class _Item:
    frames: np.ndarray  # (n, 2, L) float32
    future: asyncio.Future[Outputs]
    client: str = ""
    deadline: float = math.inf  # time.perf_counter() after which the item is dropped unrun
    arrived: float = field(default_factory=time.perf_counter)
    started: bool = False  # taken into a batch
    counted: bool = True  # its frames still count in the queue totals


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
                 on_batch: Callable[[int, float], None] | None = None, max_queue_frames: int | None = None,
                 client_frames: int | None = None) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_delay_ms < 0:
            raise ValueError(f"max_delay_ms must be >= 0, got {max_delay_ms}")
        self.run_fn = run_fn
        self.max_batch = int(max_batch)
        self.max_delay = float(max_delay_ms) / 1000.0
        self.on_batch = on_batch
        self.max_queue_frames = max_queue_frames  # None: unbounded
        self.client_frames = client_frames  # None: no per-client limit
        self.stats = BatcherStats()
        self._items: deque[_Item] = deque()
        self._queued_frames = 0
        self._by_client: dict[str, int] = {}
        self._served: dict[str, int] = {}  # client -> the batch that last took its frames (fair turns)
        self._seconds_per_frame = 0.0  # recent engine cost (moving average), for Retry-After
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

    def client_queued(self, client: str) -> int:
        return self._by_client.get(client, 0)

    def retry_after(self, frames: int | None = None) -> int:
        """Whole seconds until about `frames` (default: the whole queue) have run at the recent engine rate."""
        n = self._queued_frames if frames is None else frames
        return int(min(60, max(1, math.ceil(n * self._seconds_per_frame))))

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
    async def submit(self, frames: np.ndarray, client: str = "", timeout: float | None = None) -> Outputs:
        """Queue (n, 2, L) frames and wait for their outputs (row i answers frame i).

        Refused at once with Overloaded when the queue, or this client's share of it, has no room for n
        frames; DeadlineExpired when `timeout` seconds pass first (queued work is then dropped unrun).
        Cancelling the caller (a client that disconnected) removes its queued frames."""
        if self._closing or self._worker is None:
            raise BatcherClosed("the server is shutting down")
        n = len(frames)
        self.admit(n, client)
        deadline = math.inf if timeout is None else time.perf_counter() + timeout
        items = [self._enqueue(frames[i:i + self.max_batch], client, deadline) for i in range(0, n, self.max_batch)]
        futures = [it.future for it in items]
        try:
            results = await asyncio.wait_for(asyncio.gather(*futures), timeout)
        except TimeoutError:
            raise DeadlineExpired(queued=not any(it.started for it in items),
                                  retry_after=self.retry_after()) from None
        finally:
            for f in futures:  # a caller cancelled or timed out: its queued slices go (and free their room)
                f.cancel()
        if len(results) == 1:
            return results[0]
        return {k: np.concatenate([r[k] for r in results]) for k in results[0]}

    def admit(self, n: int, client: str = "") -> None:
        """Raise Overloaded unless n more frames from `client` fit in the queue."""
        if self.client_frames is not None and self._by_client.get(client, 0) + n > self.client_frames:
            raise Overloaded("client_share", f"this client already has {self._by_client.get(client, 0)} frames "
                                             f"queued; one client may queue at most {self.client_frames}",
                             self.retry_after(self._by_client.get(client, 0)))
        if self.max_queue_frames is not None and self._queued_frames + n > self.max_queue_frames:
            raise Overloaded("queue_full", f"the queue is full ({self._queued_frames} of {self.max_queue_frames} "
                                           f"frames waiting)", self.retry_after())

    def _enqueue(self, frames: np.ndarray, client: str = "", deadline: float = math.inf) -> _Item:
        assert self._wake is not None
        fut: asyncio.Future[Outputs] = asyncio.get_running_loop().create_future()
        item = _Item(frames, fut, client, deadline)
        self._items.append(item)
        self._queued_frames += len(frames)
        self._by_client[client] = self._by_client.get(client, 0) + len(frames)
        fut.add_done_callback(lambda _: self._release(item))  # cancelled or answered: its room is free
        self._wake.set()
        return item

    def _release(self, item: _Item) -> None:
        """Take an item's frames out of the queue totals (once)."""
        if not item.counted:
            return
        item.counted = False
        n = len(item.frames)
        self._queued_frames -= n
        left = self._by_client.get(item.client, 0) - n
        if left > 0:
            self._by_client[item.client] = left
        else:
            self._by_client.pop(item.client, None)

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
        """Pop up to max_batch frames of queued requests; drop those cancelled or past their deadline.

        Clients take turns: the one served longest ago first, one request each per round, each client's
        requests in their order; a request that does not fit waits for a later batch (at least one runs)."""
        now = time.perf_counter()
        live: dict[str, deque[_Item]] = {}
        for item in self._items:
            if item.future.done():  # the caller went away (cancelled): skip its frames
                continue
            if now >= item.deadline:  # nobody waits for this answer any more: never run it
                item.future.set_exception(DeadlineExpired(queued=True, retry_after=self.retry_after()))
                continue
            live.setdefault(item.client, deque()).append(item)
        turns = sorted(live, key=lambda c: self._served.get(c, -1))  # stable: ties by oldest request
        items: list[_Item] = []
        total = 0
        while turns and total < self.max_batch:
            still = []
            for client in turns:
                queue = live[client]
                if items and total + len(queue[0].frames) > self.max_batch:
                    continue  # waits for a later batch; its later requests wait behind it
                item = queue.popleft()
                items.append(item)
                total += len(item.frames)
                self._served[client] = self.stats.batches
                if queue:
                    still.append(client)
            turns = still
        taken = {id(it) for it in items}
        self._items = deque(it for it in self._items if not it.future.done() and id(it) not in taken)
        for item in items:
            self._release(item)  # in the engine now: no longer queued
            item.started = True
        if len(self._served) > 4096:  # forget clients with nothing queued (they come back as new: first)
            self._served = {c: b for c, b in self._served.items() if c in self._by_client}
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
        per_frame = seconds / max(size, 1)
        self._seconds_per_frame = per_frame if not self._seconds_per_frame else \
            0.8 * self._seconds_per_frame + 0.2 * per_frame
        if self.on_batch is not None:
            try:
                self.on_batch(size, seconds)
            except Exception:  # metrics must never break serving
                pass

