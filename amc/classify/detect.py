"""Find transmissions in a capture: energy detection on the spectrogram, in time and frequency.

``detect(x, fs)`` returns one ``Transmission`` per emitter burst: start / stop sample, centre offset,
occupied band edges, SNR. Steps (scipy.signal / scipy.ndimage):

1. spectrogram (``scipy.signal.spectrogram``, Hann, ``nfft`` ~ 1 kHz bins, 50 % overlap), smoothed over
   3 bins x 3 frames (``uniform_filter``: the per-pixel chi-square spread of 2 degrees of freedom becomes
   ~18, so a threshold a few dB above the floor is rarely crossed by noise alone);
2. noise floor per frequency bin: the 20th percentile over time (transmissions rarely fill 80 % of a
   bin's time), divided by the percentile's own bias for exponential power (-ln 0.8 for one periodogram);
   a carrier that is on for more than 80 % of the capture (a receiver's spur, a broadcast) is floor;
3. hysteresis: pixels ``threshold_db`` above the floor seed a transmission, pixels ``threshold_db -
   hysteresis_db`` above it extend it; gaps up to ``max_gap_s`` in time (OOK pulses, repeated packets) and
   2 bins in frequency (FSK's two tones) are bridged by a binary closing; ``scipy.ndimage.label`` gives one
   connected region per transmission; regions shorter than ``min_duration_s`` are dropped;
4. each region: start / stop from its first and last seed pixel's frames; edges of its occupied
   bandwidth (the bins holding ``obw`` of its excess power over the floor); its core: the strongest bins
   holding half the excess power; centre = the power-weighted mean frequency of the core; SNR = the core's
   excess power over the floor's power in the same pixels (regions below ``min_snr_db`` are dropped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.signal import spectrogram

Q = 0.2  # noise floor percentile
Q_BIAS = -math.log(1 - Q)  # the Q-quantile of an exponential with mean 1


@dataclass
class Transmission:
    start: int  # first sample (input rate)
    stop: int  # end, exclusive
    center_offset: float  # Hz from the capture's centre
    low: float  # Hz: lower edge, relative to the capture's centre
    high: float  # Hz: upper edge
    snr_db: float  # in-band SNR over the region's pixels

    @property
    def bandwidth(self) -> float:
        return self.high - self.low

    def as_dict(self, fs: float, center_freq: float | None) -> dict:
        rf = center_freq or 0.0
        return {"sample_start": self.start, "sample_count": self.stop - self.start,
                "start_s": round(self.start / fs, 6), "stop_s": round(self.stop / fs, 6),
                "center_offset_hz": round(self.center_offset, 1),
                "center_freq_hz": None if center_freq is None else round(rf + self.center_offset, 1),
                "bandwidth_hz": round(self.bandwidth, 1), "freq_lower_edge": round(rf + self.low, 1),
                "freq_upper_edge": round(rf + self.high, 1), "snr_db": round(self.snr_db, 2)}


@dataclass
class DetectSettings:
    threshold_db: float = 10.0  # a region needs pixels this far above the floor
    hysteresis_db: float = 4.0  # and extends over pixels threshold - hysteresis above it
    min_duration_s: float = 4e-3  # one 512-sample window at 125 kHz; shorter: gain-step clicks of the receiver
    max_gap_s: float = 0.02  # gaps bridged in time (OOK pulse gaps, packet repeats)
    bin_hz: float = 1e3  # wanted frequency resolution (nfft = the power of two nearest fs / bin_hz)
    obw: float = 0.9  # occupied bandwidth: the band holding this share of the excess power
    min_snr_db: float = 10.0  # regions whose SNR over their occupied band is lower are dropped


def nfft_for(fs: float, bin_hz: float) -> int:
    return int(min(4096, max(32, 2 ** round(math.log2(max(fs / bin_hz, 1.0))))))


def noise_floor(power: np.ndarray) -> np.ndarray:
    """(F,) mean noise power per bin from a (F, T) spectrogram (smoothed or not: the bias is for one frame)."""
    return np.quantile(power, Q, axis=1) / Q_BIAS


@dataclass
class Spectrum:
    """The detector's spectrogram: (F, T) power, fftshifted, frame k starting at sample k * hop."""

    power: np.ndarray
    freqs: np.ndarray
    hop: int


def detect(x: np.ndarray, fs: float, s: DetectSettings | None = None) -> list[Transmission]:
    """Transmissions in complex baseband x (input rate fs), in order of start."""
    return detect_with_spectrum(x, fs, s)[0]


def detect_with_spectrum(x: np.ndarray, fs: float, s: DetectSettings | None = None
                         ) -> tuple[list[Transmission], Spectrum | None]:
    """detect, and the spectrogram it worked on (None when x is too short for one)."""
    s = s or DetectSettings()
    nfft = nfft_for(fs, s.bin_hz)
    if len(x) < 4 * nfft:
        return [], None
    hop = nfft // 2
    f, _, p = spectrogram(x, fs=fs, window="hann", nperseg=nfft, noverlap=nfft - hop, return_onesided=False,
                          detrend=False, scaling="density", mode="psd")
    p = np.fft.fftshift(p, axes=0).astype(np.float64)
    f = np.fft.fftshift(f)
    # the smoothed frames' mean equals the raw mean; the floor's percentile is taken on the raw frames
    floor = np.maximum(noise_floor(p), 1e-30)
    sm = ndimage.uniform_filter(p, size=(3, 3), mode="nearest")
    snr = sm / floor[:, None]
    hi = snr > 10 ** (s.threshold_db / 10)
    lo = snr > 10 ** ((s.threshold_db - s.hysteresis_db) / 10)
    gap = max(1, int(round(s.max_gap_s * fs / hop)))
    closed = ndimage.binary_closing(lo, structure=np.ones((3, gap + 1), bool), border_value=0) | lo
    labels, n = ndimage.label(closed)
    spec = Spectrum(p, f, hop)
    if n == 0:
        return [], spec
    seeded = np.unique(labels[hi & closed])
    seeded = seeded[seeded > 0]
    excess = np.maximum(p - floor[:, None], 0.0)
    out = []
    min_frames = max(1, int(math.ceil(s.min_duration_s * fs / hop)))
    boxes = ndimage.find_objects(labels)
    df = fs / nfft
    for k in seeded:
        fsl, tsl = boxes[k - 1]
        seeds = np.flatnonzero((hi[fsl, tsl] & (labels[fsl, tsl] == k)).any(0))
        tsl = slice(tsl.start + int(seeds[0]), tsl.start + int(seeds[-1]) + 1)  # in time: from first to last seed
        region = labels[fsl, tsl] == k
        if tsl.stop - tsl.start < min_frames:
            continue
        ex = excess[fsl, tsl] * region
        total = ex.sum()
        if total <= 0:
            continue
        fk = f[fsl]
        per_bin = ex.sum(1)
        c = np.cumsum(per_bin) / total  # occupied bandwidth: the bins holding OBW of the excess power
        a = int(np.searchsorted(c, (1 - s.obw) / 2))
        b = min(len(c) - 1, int(np.searchsorted(c, 1 - (1 - s.obw) / 2)))
        # SNR in the core: the strongest bins that hold half the excess power (splatter and key clicks of a
        # strong OOK transmitter spread thinly over the band and would dilute an occupied-band figure)
        order = np.argsort(-per_bin)
        core = order[: int(np.searchsorted(np.cumsum(per_bin[order]) / total, 0.5)) + 1]
        centre = float((per_bin[core] * fk[core]).sum() / per_bin[core].sum())
        noise = float((floor[fsl][core, None] * region[core]).sum())
        snr_db = float(10 * np.log10(per_bin[core].sum() / max(noise, 1e-30)))
        if snr_db < s.min_snr_db:
            continue
        out.append(Transmission(start=int(tsl.start * hop), stop=int(min(len(x), (tsl.stop - 1) * hop + nfft)),
                                center_offset=centre, low=float(fk[a] - df / 2), high=float(fk[b] + df / 2),
                                snr_db=snr_db))
    return sorted(out, key=lambda t: (t.start, t.center_offset)), spec
