"""Windows of the model's frame length, batched through the Engine behind a bounded reader thread.

``iter_windows`` is the reusable core of ``amc classify``: it yields one ``WindowBatch`` (positions
and the engine's raw outputs) per engine call. A reader thread reads, checks, mixes, resamples and
frames the samples and hands ready batches over a bounded queue, so inference overlaps I/O and DSP
while memory stays bounded (``queue_depth`` batches in flight). Windows start every ``hop`` samples at
the model's rate. A window speaks for (owns) the ``min(hop, L)`` samples around its centre, where it
sees the most context: with overlapping windows a label boundary lands where the signal changes, not up
to L - hop samples late. The first window also owns the samples before its centre; the samples after
the last regular window's centre are owned by one last window ending at the last sample (flagged
``tail``, overlapping its predecessor), so no sample goes unclassified whatever the hop.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from amc.classify.channel import Channeliser
from amc.classify.sources import Recording, SourceError

DONE = object()


@dataclass
class WindowBatch:
    """One engine call's windows: where they are and what the engine said."""

    start: np.ndarray  # (n,) int64 input-sample index of each window's first sample
    own_start: np.ndarray  # (n,) int64 first input sample this window speaks for (segments, time shares)
    own_end: np.ndarray  # (n,) int64 end (exclusive) of the samples this window speaks for
    probs: np.ndarray  # (n, C) float32 softmax
    eta: np.ndarray  # (n,) float32 noise fraction N / (S + N) (zeros without a noise head)
    snr_db: np.ndarray  # (n,) float32 estimated SNR in the model's band (zeros without a noise head)
    tail: np.ndarray  # (n,) bool: the last window, aligned to the end of the recording
    silent: np.ndarray | None = None  # (n,) bool: below the runtime's power floor (amc.runtime.base.SILENCE_DB)

    def __len__(self) -> int:
        return len(self.start)


@dataclass
class PipelineStats:
    """What the pipeline did, measured as it ran (read by the progress bar and the summary)."""

    samples_read: int = 0  # input samples read so far
    samples_done: int = 0  # input samples covered by classified windows
    windows: int = 0
    batches: int = 0
    infer_s: float = 0.0  # time inside engine.run
    wait_s: float = 0.0  # time the engine waited for the reader
    started: float = field(default_factory=time.perf_counter)
    tail_samples: int = 0  # model-rate samples after the last regular window (classified by the tail window)
    model_samples: int = 0  # samples at the model's rate


class Framer:
    """Model-rate samples -> (starts, frames (n, 2, L) float32) in batches of ``batch`` windows."""

    def __init__(self, length: int, hop: int, batch: int):
        self.length, self.hop, self.batch = length, hop, batch
        self.buf = np.empty(0, np.complex64)
        self.base = 0  # model index of buf[0]
        self.next = 0  # model index of the next window start
        self.total = 0  # model samples seen

    def _frames(self, starts: np.ndarray) -> np.ndarray:
        """(n, 2, L) float32 for evenly spaced starts, copied from a strided view (no index arrays)."""
        first = int(starts[0]) - self.base
        step = int(starts[1] - starts[0]) if len(starts) > 1 else 1
        win = sliding_window_view(self.buf, self.length)[first: first + step * (len(starts) - 1) + 1: step]
        out = np.empty((len(starts), 2, self.length), np.float32)
        out[:, 0] = win.real
        out[:, 1] = win.imag
        return out

    def push(self, y: np.ndarray, final: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        self.buf = np.concatenate([self.buf, y]) if len(self.buf) else y
        self.total += len(y)
        while True:
            n = (self.total - self.length - self.next) // self.hop + 1 if self.total >= self.next + self.length else 0
            if n <= 0 or (n < self.batch and not final):
                break
            starts = self.next + self.hop * np.arange(min(n, self.batch), dtype=np.int64)
            yield starts, self._frames(starts)
            self.next = int(starts[-1]) + self.hop
        keep = min(self.next, self.total - self.length) - self.base  # the tail window needs the last L samples
        if keep > 0:
            self.buf = self.buf[keep:]
            self.base += keep

    def owned_end(self) -> int:
        """End (exclusive, model rate) of the samples the regular windows so far own (centre ownership)."""
        if not self.next:
            return 0
        return self.next - self.hop + (self.length + min(self.hop, self.length)) // 2

    def tail(self) -> tuple[np.ndarray, int] | None:
        """(frame (1, 2, L), start) of a window ending at the last sample, when samples no window owns are left."""
        if self.total < self.length or self.total <= self.owned_end():
            return None
        start = self.total - self.length
        return self._frames(np.array([start], np.int64)), start


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _check_finite(block: np.ndarray, first: int, name: str) -> None:
    ok = np.isfinite(block.view(np.float32))
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0]) // 2
        raise SourceError(f"{name}: sample {first + bad} is NaN or Inf; fix the recording (or cut it before that "
                          "sample); nothing was written")


def _reader(rec: Recording, channel: Channeliser, framer: Framer, q: queue.Queue, stop: threading.Event,
            stats: PipelineStats, chunk: int, on_block: Callable[[np.ndarray, int], None] | None) -> None:
    try:
        float_data = not rec.fmt.fixed_point
        for block in rec.blocks(chunk):
            if stop.is_set():
                return
            if float_data:
                _check_finite(block, stats.samples_read, rec.name)
            if on_block is not None:
                on_block(block, stats.samples_read)
            stats.samples_read += len(block)
            for starts, frames in framer.push(channel.push(block)):
                if not _put(q, ("batch", starts, frames), stop):
                    return
        for starts, frames in framer.push(channel.flush(), final=True):
            if not _put(q, ("batch", starts, frames), stop):
                return
        _put(q, ("tail", framer.tail(), framer.owned_end(), framer.total), stop)
    except BaseException as e:  # noqa: BLE001 - handed to the consuming thread, which raises it
        _put(q, e, stop)


def iter_windows(rec: Recording, engine: Any, channel: Channeliser, hop: int | None = None, batch: int = 256,
                 chunk: int = 1 << 16, queue_depth: int = 4, stats: PipelineStats | None = None,
                 on_block: Callable[[np.ndarray, int], None] | None = None) -> Generator[WindowBatch, None, None]:
    """Classify a recording window by window: one WindowBatch per engine call, in order.

    ``engine`` is an ``amc.runtime.Engine`` (anything with ``frame_length`` and ``run``); ``hop`` is in
    samples at the model's rate (default: the frame length, no overlap); ``on_block(block, first)`` sees
    every input block in the reader thread (the spectrogram uses it).
    """
    length = int(engine.frame_length)
    hop = int(hop or length)
    if hop < 1 or batch < 1 or chunk < 1 or queue_depth < 1:
        raise ValueError("hop, batch, chunk and queue_depth must be >= 1")
    stats = stats if stats is not None else PipelineStats()
    match = channel.match
    own = min(hop, length)
    lead = (length - own) // 2  # a window owns [start + lead, start + lead + own): the own samples at its centre
    framer = Framer(length, hop, batch)
    q: queue.Queue = queue.Queue(maxsize=queue_depth)
    stop = threading.Event()
    thread = threading.Thread(target=_reader, args=(rec, channel, framer, q, stop, stats, chunk, on_block),
                              name="amc-classify-reader", daemon=True)
    thread.start()
    try:
        while True:
            t0 = time.perf_counter()
            item = q.get()
            stats.wait_s += time.perf_counter() - t0
            if isinstance(item, BaseException):
                raise item
            if item[0] == "tail":
                _, tail, owned, total = item
                stats.model_samples = total
                if stats.windows == 0 and tail is None:
                    raise SourceError(f"{rec.name}: {total} samples at the model's rate "
                                      f"({match.model_rate:g} Hz) are fewer than one {length}-sample window; "
                                      "nothing to classify")
                end = rec.n_samples if rec.n_samples is not None else stats.samples_read
                if tail is not None:
                    frame, start = tail
                    stats.tail_samples = total - owned
                    out = engine.run(frame)
                    yield _batch(np.array([start]), np.array([owned]), None, out, match, end, tail=True)
                    stats.windows += 1
                stats.samples_done = end
                return
            _, starts, frames = item
            t0 = time.perf_counter()
            out = engine.run(frames)
            stats.infer_s += time.perf_counter() - t0
            own_start = np.where(starts == 0, 0, starts + lead)  # the first window owns the samples before it too
            wb = _batch(starts, own_start, starts + lead + own, out, match, rec.n_samples, tail=False)
            stats.windows += len(starts)
            stats.batches += 1
            stats.samples_done = int(wb.own_end[-1])
            yield wb
    finally:
        stop.set()
        while True:  # unblock the reader if it waits on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                break
        thread.join(timeout=5)


def _batch(starts: np.ndarray, own_start: np.ndarray, own_end: np.ndarray | None, out: dict[str, np.ndarray],
           match: Any, end: int | None, tail: bool) -> WindowBatch:
    s_in = match.to_input(starts)
    o_start = match.to_input(own_start)
    o_end = np.full(len(starts), end, np.int64) if own_end is None else match.to_input(own_end)
    if end is not None:
        s_in, o_start, o_end = (np.minimum(a, end) for a in (s_in, o_start, o_end))
    return WindowBatch(start=s_in, own_start=o_start, own_end=o_end, probs=out["probs"],
                       eta=out.get("eta", np.zeros(len(starts), np.float32)),
                       snr_db=out.get("snr_db", np.zeros(len(starts), np.float32)),
                       tail=np.full(len(starts), tail), silent=out.get("silent"))
