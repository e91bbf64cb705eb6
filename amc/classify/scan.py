"""A wideband scan: every transmission the detector finds, shifted to baseband, resampled, classified whole.

``scan_recording`` reads a file recording by chunks (``CHUNK`` samples, bounded memory), runs the front end
(DC / IQ-imbalance removal for fixed-point formats), detects transmissions in each chunk
(``amc.classify.detect``) and classifies each one: mixed to 0 Hz by its measured centre, filtered to twice
its bandwidth and resampled to the model's rate (``Channeliser``: ``scipy.signal.resample_poly``; near the
capture's edge the channel wraps past it rather than leave the transmission's centre), cut into windows of
the model's length (half-overlapping; windows more than ``QUIET_DB`` below the burst's strongest are
skipped: the gaps of an OOK packet train hold no signal) and the windows' log-probabilities averaged. A
transmission whose averaged top probability is below ``min_prob`` is ``unknown``. Time outside every
transmission is noise by the detector: the model never sees it. A transmission that crosses a chunk
boundary is reported as two.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from amc.classify.channel import Channeliser, RateMatch
from amc.classify.detect import DetectSettings, Spectrum, Transmission, detect_with_spectrum
from amc.classify.frontend import IQCorrector
from amc.classify.plot import TimeBins
from amc.classify.sources import Recording
from amc.classify.windows import _check_finite

CHUNK = 1 << 22  # input samples per detection pass (32 MiB complex64)
CHANNEL_WIDTHS = 2.0  # a transmission's channel filter, in multiples of its -26 dB bandwidth
QUIET_DB = 10.0  # windows this far below the burst's strongest window are not classified
UNKNOWN = "unknown"


@dataclass
class Classified:
    tx: Transmission
    label: str
    prob: float
    top: list[tuple[str, float]]
    windows: int

    def as_dict(self, fs: float, center_freq: float | None) -> dict[str, Any]:
        d = self.tx.as_dict(fs, center_freq)
        d.update(label=self.label, prob=round(self.prob, 4), top3=[[c, round(p, 4)] for c, p in self.top],
                 windows=self.windows)
        return d


@dataclass
class ScanResult:
    transmissions: list[Classified] = field(default_factory=list)
    samples: int = 0
    windows: int = 0
    infer_s: float = 0.0
    detect_s: float = 0.0
    spectrum: TimeBins | None = None
    freqs: np.ndarray | None = None


def channel_for(match: RateMatch, centre: float, width: float = 0.0) -> Channeliser:
    """A channel centred on a transmission (the model was trained within a few kHz of centre) and filtered to
    ``CHANNEL_WIDTHS`` x its bandwidth, at least a fifth and at most all of the model's rate: a neighbour, a
    spur or noise beside it does not reach the model. Near the capture's edge it reaches past the edge
    (wrapping, as the sampled spectrum does) rather than moving off the transmission's centre."""
    fs = match.input_rate
    keep = min(fs, match.model_rate)
    want = min(keep, max(CHANNEL_WIDTHS * width, keep / 5))
    room = 2 * (fs / 2 - abs(centre))
    return Channeliser(match, centre, want if want < keep * 0.999 else None, wrap=room < want)


def classify_burst(x: np.ndarray, tx: Transmission, lo: int, match: RateMatch, engine: Any
                   ) -> tuple[np.ndarray | None, int]:
    """Mean log-probabilities over the burst's windows (None when it has none), and the window count.

    x is the chunk (complex64 at the input rate) whose first sample is recording sample ``lo``."""
    length = int(engine.frame_length)
    need = int(math.ceil(length * match.ratio)) + 1
    a, b = tx.start - lo, tx.stop - lo
    if b - a < need:  # shorter than one window: take the window centred on it
        mid = (a + b) // 2
        a, b = mid - need // 2, mid - need // 2 + need
    a, b = max(0, a), min(len(x), b)
    ch = channel_for(match, tx.center_offset, tx.bandwidth)
    y = np.concatenate([ch.push(x[a:b]), ch.flush()])
    if len(y) < length:
        y = np.concatenate([y, np.zeros(length - len(y), np.complex64)])
    hop = length // 2
    starts = np.arange(0, len(y) - length + 1, hop)
    if starts[-1] + length < len(y):
        starts = np.append(starts, len(y) - length)
    win = np.stack([y[s:s + length] for s in starts])
    power = np.mean(np.abs(win) ** 2, axis=1)
    keep = power >= power.max() * 10 ** (-QUIET_DB / 10)
    win = win[keep]
    frames = np.empty((len(win), 2, length), np.float32)
    frames[:, 0], frames[:, 1] = win.real, win.imag
    out = engine.run(frames)
    logp = np.log(np.clip(out["probs"].astype(np.float64), 1e-12, 1.0))
    return logp.mean(0), len(win)


def scan_recording(rec: Recording, engine: Any, match: RateMatch, min_prob: float, detect: DetectSettings,
                   correct_iq: bool = True, chunk: int = CHUNK, bins: TimeBins | None = None) -> ScanResult:
    """Detect and classify every transmission of a file recording (see the module docstring)."""
    res = ScanResult(spectrum=bins)
    classes = list(engine.classes)
    corrector = IQCorrector() if correct_iq and rec.fmt.fixed_point else None
    pos = 0
    for block in rec.blocks(chunk):
        if not rec.fmt.fixed_point:
            _check_finite(block, pos, rec.name)
        x = corrector(block) if corrector is not None else block
        t0 = time.perf_counter()
        found, spec = detect_with_spectrum(x, rec.sample_rate, detect)
        res.detect_s += time.perf_counter() - t0
        if bins is not None and spec is not None:
            _add_spectrum(bins, spec, pos)
            res.freqs = spec.freqs
        for tx in found:
            tx = Transmission(tx.start + pos, tx.stop + pos, tx.center_offset, tx.low, tx.high, tx.snr_db)
            t0 = time.perf_counter()
            logp, n = classify_burst(x, tx, pos, match, engine)
            res.infer_s += time.perf_counter() - t0
            res.windows += n
            assert logp is not None
            p = np.exp(logp - logp.max())
            p /= p.sum()
            order = np.argsort(-p)[:3]
            top = [(classes[i], float(p[i])) for i in order]
            label = top[0][0] if top[0][1] >= min_prob else UNKNOWN
            res.transmissions.append(Classified(tx, label, top[0][1], top, n))
        pos += len(block)
    res.samples = pos
    return res


def _add_spectrum(bins: TimeBins, spec: Spectrum, pos: int) -> None:
    step = max(1, spec.power.shape[1] // 4096)  # at most a few thousand columns per chunk into the picture
    cols = spec.power[:, ::step].T
    bins.add(pos + np.arange(0, spec.power.shape[1], step) * spec.hop, cols)
