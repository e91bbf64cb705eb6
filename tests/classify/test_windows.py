"""The window pipeline, observed from the engine's side: what it receives, and when."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest

from amc.classify.channel import Channeliser, RateMatch
from amc.classify.sources import SourceError, open_source
from amc.classify.windows import Framer, iter_windows


class FakeEngine:
    """Records the frames it is given; answers class 0 for every frame."""

    def __init__(self, length: int = 16, on_run=None):
        self.frame_length = length
        self.seen: list[np.ndarray] = []
        self.on_run = on_run

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        if self.on_run is not None:
            self.on_run(len(self.seen))
        self.seen.append(x.copy())
        n = len(x)
        probs = np.zeros((n, 2), np.float32)
        probs[:, 0] = 1
        return {"probs": probs, "eta": np.zeros(n, np.float32), "snr_db": np.full(n, 20.0, np.float32)}


def cf32_stream(z: np.ndarray):
    return open_source("-", fmt="cf32", sample_rate=1e3, stdin=io.BytesIO(z.astype("<c8").tobytes()))


def ramp(n: int) -> np.ndarray:
    return (np.arange(n) + 1j * -np.arange(n)).astype(np.complex64)


@pytest.mark.parametrize("hop", [16, 5, 23])
def test_engine_gets_exactly_the_windows(hop):
    z = ramp(1000)
    eng = FakeEngine(16)
    rec = cf32_stream(z)
    batches = list(iter_windows(rec, eng, Channeliser(RateMatch.find(1e3, 1e3)), hop=hop, batch=7, chunk=50))
    frames = np.concatenate(eng.seen)
    starts = np.concatenate([b.start for b in batches])
    regular = (1000 - 16) // hop + 1
    assert starts[:regular].tolist() == [k * hop for k in range(regular)]
    for s, f in zip(starts, frames):
        np.testing.assert_array_equal(f[0], z.real[s:s + 16])
        np.testing.assert_array_equal(f[1], z.imag[s:s + 16])
    tail = np.concatenate([b.tail for b in batches])
    own = min(hop, 16)
    owned = (regular - 1) * hop + (16 + own) // 2  # the last regular window owns up to its centre + own / 2
    if owned < 1000:  # the rest is classified by one window ending at the last sample
        assert tail[-1] and starts[-1] == 1000 - 16 and tail.sum() == 1
        assert batches[-1].own_start[-1] == owned and batches[-1].own_end[-1] == 1000
    else:
        assert not tail.any()
    assert all(len(f) <= 7 for f in eng.seen)


@pytest.mark.parametrize("hop", [4, 5, 16])
def test_owned_samples_tile_the_recording(hop):
    """Every sample is owned by exactly one window, whatever the hop (22.6: with hop < L the last L - hop
    samples used to be in no window)."""
    batches = list(iter_windows(cf32_stream(ramp(1000)), FakeEngine(16), Channeliser(RateMatch.find(1e3, 1e3)),
                                hop=hop, batch=7, chunk=50))
    lo = np.concatenate([b.own_start for b in batches])
    hi = np.concatenate([b.own_end for b in batches])
    assert lo[0] == 0 and hi[-1] == 1000
    np.testing.assert_array_equal(lo[1:], hi[:-1])  # no gap, no overlap
    assert (hi > lo).all()


class StepEngine(FakeEngine):
    """Class 1 when most of the frame is 'on' (real part > 0.5), else class 0."""

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        n = len(x)
        on = (x[:, 0] > 0.5).mean(1) > 0.5
        probs = np.zeros((n, 2), np.float32)
        probs[np.arange(n), on.astype(int)] = 1
        return {"probs": probs, "eta": np.zeros(n, np.float32), "snr_db": np.full(n, 20.0, np.float32)}


def test_a_boundary_lands_where_the_signal_changes():
    """A window owns its centre: with L = 64 and hop 8 the label changes within hop / 2 of the true step
    (owning its first hop samples put it L / 2 - hop / 2 = 28 samples early)."""
    z = np.zeros(2000, np.complex64)
    z[1001:] = 1
    batches = list(iter_windows(cf32_stream(z), StepEngine(64), Channeliser(RateMatch.find(1e3, 1e3)), hop=8,
                                batch=16, chunk=100))
    lab = np.concatenate([b.probs.argmax(1) for b in batches])
    lo = np.concatenate([b.own_start for b in batches])
    boundary = int(lo[np.flatnonzero(lab == 1)[0]])
    assert abs(boundary - 1001) <= 4


def test_reader_works_ahead_while_the_engine_runs():
    """While the engine is inside its first call, the reader keeps reading: I/O overlaps inference."""
    z = ramp(64 * 100)
    read_ahead = threading.Event()
    blocks = []

    def on_block(block, first):
        blocks.append(first)
        if first >= 64 * 4 * 2:  # the reader is past the second batch of windows
            read_ahead.set()

    def first_call_waits(i):
        if i == 0:
            assert read_ahead.wait(timeout=20), "the reader did not read ahead during inference"

    eng = FakeEngine(16, on_run=first_call_waits)
    out = list(iter_windows(cf32_stream(z), eng, Channeliser(RateMatch.find(1e3, 1e3)), batch=4, chunk=64,
                            queue_depth=8, on_block=on_block))
    assert sum(len(b) for b in out) == 400


def test_reader_errors_reach_the_caller_and_stop_the_thread():
    z = ramp(5000)
    z[3217] = np.nan
    with pytest.raises(SourceError, match="sample 3217 is NaN or Inf"):
        list(iter_windows(cf32_stream(z), FakeEngine(16), Channeliser(RateMatch.find(1e3, 1e3)), batch=4, chunk=100))
    assert not [t for t in threading.enumerate() if t.name == "amc-classify-reader"]


def test_closing_early_stops_the_reader():
    gen = iter_windows(cf32_stream(ramp(100000)), FakeEngine(16), Channeliser(RateMatch.find(1e3, 1e3)), batch=4,
                       chunk=64, queue_depth=1)
    next(gen)
    gen.close()
    assert not [t for t in threading.enumerate() if t.name == "amc-classify-reader"]


def test_resampled_positions_map_back_to_the_recording():
    z = ramp(5000)
    eng = FakeEngine(16)
    rec = open_source("-", fmt="cf32", sample_rate=4e3, stdin=io.BytesIO(z.astype("<c8").tobytes()))
    batches = list(iter_windows(rec, eng, Channeliser(RateMatch.find(4e3, 1e3)), batch=8, chunk=333))
    starts = np.concatenate([b.start for b in batches])
    assert starts[:5].tolist() == [0, 64, 128, 192, 256]  # 16 model samples = 64 recording samples
    assert batches[-1].own_end[-1] == 5000


def test_framer_keeps_bounded_history():
    f = Framer(length=128, hop=128, batch=4)
    for _ in range(1000):
        list(f.push(np.zeros(1000, np.complex64)))
        assert len(f.buf) < 128 * 4 + 1000 + 128
