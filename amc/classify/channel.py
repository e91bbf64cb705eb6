"""From the recording's rate and centre to the model's: mix, low-pass, resample, by streaming block.

``RateMatch`` picks the rational factor up/down (``fractions.Fraction``, the smallest denominator whose
rate error is <= 10 ppm, a tenth of the +-100 ppm sample-rate offset the generator trains with; window
positions use the same up/down, so they stay exact in the recording's samples).
``Channeliser`` shifts the wanted channel to 0 Hz (``--center-offset``, a phase-continuous mixer),
then resamples with ``scipy.signal.resample_poly``, whose anti-alias low-pass at the model's Nyquist
is also the channel filter; ``--bandwidth`` narrows it with a ``scipy.signal.firwin`` design passed as
the resampler's filter. Blocks are processed with enough history and look-ahead that the stream gives
the same samples as one ``resample_poly`` call on the whole recording (a test holds it to that), so a
recording of any length is resampled in bounded memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.signal import firwin, resample_poly, upfirdn

from amc.config import AmcError

MAX_PPM = 10.0  # largest accepted error of the rational approximation of the rate ratio
MAX_UP = 16  # the recording may be at most this many times slower than the model's rate
KAISER = ("kaiser", 5.0)  # resample_poly's default window


class RateError(AmcError):
    """The recording's rate (or channel) cannot be matched to the model's."""


@dataclass(frozen=True)
class RateMatch:
    """input rate * up / down = model rate (to within ``error_ppm``)."""

    input_rate: float
    model_rate: float
    up: int
    down: int
    error_ppm: float

    @classmethod
    def find(cls, input_rate: float, model_rate: float) -> RateMatch:
        if not (math.isfinite(model_rate) and model_rate > 0):
            raise RateError(f"model rate {model_rate!r} Hz is not a positive number; set it with --model-rate")
        ratio = model_rate / input_rate
        if ratio > MAX_UP:
            raise RateError(f"the recording ({input_rate:g} Hz) is more than {MAX_UP}x slower than the model's rate "
                            f"({model_rate:g} Hz): its frames would hold almost no signal; record at >= "
                            f"{model_rate / MAX_UP:g} Hz or give the model's true rate with --model-rate")
        for limit in (16, 64, 256, 1024, 4096, 16384, 65536):
            f = Fraction(ratio).limit_denominator(limit)
            err = abs(float(f) / ratio - 1) * 1e6
            if f.numerator >= 1 and err <= MAX_PPM:
                return cls(input_rate, model_rate, f.numerator, f.denominator, err)
        raise RateError(f"cannot resample {input_rate:g} Hz to the model's {model_rate:g} Hz with a rational factor "
                        f"within {MAX_PPM:g} ppm (denominators up to 65536); check --sample-rate / --model-rate")

    @property
    def ratio(self) -> float:
        """Input samples per model sample."""
        return self.down / self.up

    def to_input(self, model_index: np.ndarray | int) -> np.ndarray:
        """Model-rate sample index -> input sample index (resample_poly keeps time zero aligned)."""
        return np.floor(np.asarray(model_index, dtype=np.float64) * self.down / self.up + 1e-9).astype(np.int64)


class StreamResampler:
    """resample_poly(x, up, down, window=h) over a stream of blocks, equal to one call on the whole.

    Each call sees the block plus ``pad`` input samples of history and of look-ahead (``pad`` is a
    multiple of ``down`` and covers the filter's half length), and keeps only the outputs that the
    padding does not reach; the stream starts and ends with zeros as resample_poly's own padding does.
    """

    def __init__(self, up: int, down: int, h: np.ndarray | None = None):
        self.up, self.down = up, down
        if h is None:
            half = 10 * max(up, down)
            h = firwin(2 * half + 1, 1.0 / max(up, down), window=KAISER)
        self.h = np.asarray(h, dtype=np.float32)
        self.half = (len(self.h) - 1) // 2
        self.pad = math.ceil((self.half // up + 2) / down) * down
        self.buf = np.zeros(self.pad, np.complex64)  # history (zeros before the first sample) + pending

    def _run(self, seg: np.ndarray) -> np.ndarray:
        # I and Q as two float32 columns: the filter is real, and scipy's real path is ~1.5x its complex one
        iq = seg.view(np.float32).reshape(-1, 2)
        if self.up == self.down == 1:  # resample_poly returns a copy unfiltered at 1/1; filter explicitly
            y = upfirdn(self.h, iq, axis=0)[self.half:self.half + len(seg)]
        else:
            y = resample_poly(iq, self.up, self.down, axis=0, window=self.h)
        return np.ascontiguousarray(y, dtype=np.float32).view(np.complex64).reshape(-1)

    def push(self, x: np.ndarray) -> np.ndarray:
        self.buf = np.concatenate([self.buf, x.astype(np.complex64, copy=False)])
        n = (len(self.buf) - 2 * self.pad) // self.down * self.down
        if n <= 0:
            return np.empty(0, np.complex64)
        y = self._run(self.buf[: 2 * self.pad + n])
        lo = self.pad * self.up // self.down
        out = y[lo: lo + n * self.up // self.down]
        self.buf = self.buf[n:]
        return out

    def flush(self) -> np.ndarray:
        """The rest, with zeros after the last sample (as resample_poly pads)."""
        m = len(self.buf) - self.pad
        if m <= 0:
            return np.empty(0, np.complex64)
        y = self._run(self.buf)
        lo = self.pad * self.up // self.down
        out = y[lo: lo + -(-m * self.up // self.down)]
        self.buf = self.buf[:0]
        return out


class Channeliser:
    """Input blocks at the recording's rate -> complex64 at the model's rate, centred on the channel."""

    def __init__(self, match: RateMatch, center_offset: float = 0.0, bandwidth: float | None = None,
                 wrap: bool = False):
        """``wrap``: the channel may reach past the band edge (the scan's channel for a transmission that does:
        the spectrum of a sampled signal is circular, so its far side is at the other edge)."""
        fs = match.input_rate
        if not abs(center_offset) < fs / 2 * (2 if wrap else 1):
            raise RateError(f"--center-offset {center_offset:g} Hz lies outside the recording's band "
                            f"(+-{fs / 2:g} Hz at {fs:g} Hz)")
        self.match = match
        self.center_offset = float(center_offset)
        self.step = center_offset / fs  # cycles per input sample
        self.n = 0  # input samples mixed so far (the mixer's phase is continuous across blocks)
        self._ramp = np.empty(0, np.complex64)
        keep = min(fs, match.model_rate)  # what resample_poly's own low-pass keeps
        if bandwidth is not None and not (math.isfinite(bandwidth) and 0 < bandwidth <= match.model_rate):
            raise RateError(f"--bandwidth {bandwidth:g} Hz must be > 0 and at most the model's rate "
                            f"({match.model_rate:g} Hz)")
        self.bandwidth = float(bandwidth) if bandwidth else keep
        # a channel narrower than the recording must lie inside it (at the full width the shift only rotates it)
        if (not wrap and self.bandwidth < fs * (1 - 1e-9)
                and abs(center_offset) + self.bandwidth / 2 > fs / 2 * (1 + 1e-9)):
            room = 2 * (fs / 2 - abs(center_offset))
            raise RateError(f"the channel {center_offset:+g} Hz +-{self.bandwidth / 2:g} Hz reaches past the "
                            f"recording's band edge (+-{fs / 2:g} Hz): its far side would fold in from the other "
                            f"edge; narrow it with --bandwidth {room:.0f} (or less) or move --center-offset within "
                            f"+-{max(fs / 2 - self.bandwidth / 2, 0):g} Hz")
        h = None
        if bandwidth is not None and bandwidth < keep * 0.999:
            fs_up = fs * match.up
            half = math.ceil(10 * fs_up / bandwidth)
            h = firwin(2 * half + 1, bandwidth / 2, fs=fs_up, window=KAISER)
        self.resampler = (StreamResampler(match.up, match.down, h)
                          if (match.up, match.down) != (1, 1) or h is not None else None)

    @property
    def band(self) -> tuple[float, float]:
        """(lower, upper) edge of what the model sees, in Hz relative to the recording's centre."""
        return self.center_offset - self.bandwidth / 2, self.center_offset + self.bandwidth / 2

    def _mix(self, x: np.ndarray) -> np.ndarray:
        if not self.step:
            return x
        if len(x) != len(self._ramp):  # exp(-j 2 pi step k), k = 0..n-1, made once per block length
            self._ramp = np.exp(-2j * np.pi * self.step * np.arange(len(x))).astype(np.complex64)
        start = np.complex64(np.exp(-2j * np.pi * ((self.step * self.n) % 1.0)))  # phase at the block's start
        self.n += len(x)
        return x * (self._ramp * start)

    def push(self, x: np.ndarray) -> np.ndarray:
        y = self._mix(x)
        return self.resampler.push(y) if self.resampler is not None else y

    def flush(self) -> np.ndarray:
        return self.resampler.flush() if self.resampler is not None else np.empty(0, np.complex64)
