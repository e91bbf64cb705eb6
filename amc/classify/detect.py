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
4. the spectrum is circular: regions that meet across the +-fs/2 edge are one (a transmission within a
   bandwidth of the edge shows its far side at the other edge);
5. each region: its core, the strongest bins holding half its excess power over the floor; centre = the
   power-weighted mean frequency of the core; edges = the -26 dB emission bandwidth (``edge_db``: the runs of
   bins within 26 dB of the strongest that hold a core bin), or 6 dB above the region's median bin where
   that is higher (a broadband pedestal under a strong burst); start / stop from the first and last seed
   pixel inside those edges; SNR = the core's excess power over the floor's power in the same pixels
   (regions below ``min_snr_db`` are dropped);
6. a transmission at -f, ``image_db`` or more weaker than one at +f over most of its time, is the receiver's
   IQ-imbalance image and is dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.signal import spectrogram

Q = 0.2  # noise floor percentile
Q_BIAS = -math.log(1 - Q)  # the Q-quantile of an exponential with mean 1
PEDESTAL_DB = 6.0  # band edges at least this far above the region's median bin


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
    edge_db: float = 26.0  # band edges: the -26 dB emission bandwidth (FCC / ITU-R SM.443 x-dB bandwidth)
    image_db: float = 10.0  # a weaker mirror image of a transmission (IQ imbalance) this far down is dropped
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
    sm = ndimage.uniform_filter(p, size=(3, 3), mode=("wrap", "nearest"))  # the spectrum is circular
    snr = sm / floor[:, None]
    hi = snr > 10 ** (s.threshold_db / 10)
    lo = snr > 10 ** ((s.threshold_db - s.hysteresis_db) / 10)
    gap = max(1, int(round(s.max_gap_s * fs / hop)))
    closed = ndimage.binary_closing(lo, structure=np.ones((3, gap + 1), bool), border_value=0) | lo
    labels, n = ndimage.label(closed)
    spec = Spectrum(p, f, hop)
    if n == 0:
        return [], spec
    labels = _join_across_edge(labels)
    excess = np.maximum(p - floor[:, None], 0.0)
    min_frames = max(1, int(math.ceil(s.min_duration_s * fs / hop)))
    out = []
    boxes = ndimage.find_objects(labels)
    for k in np.unique(labels[hi & closed]):
        if k == 0 or boxes[k - 1] is None:
            continue
        tx = _region(k, boxes[k - 1], labels, hi, excess, floor, f, fs, hop, nfft, len(x), min_frames, s)
        if tx is not None:
            out.append(tx)
    out = drop_images(out, fs / nfft, s.image_db)
    return sorted(out, key=lambda t: (t.start, t.center_offset)), spec


def _join_across_edge(labels: np.ndarray) -> np.ndarray:
    """One label for regions that meet across the +-fs/2 edge: the spectrum is circular, so a transmission
    within a bandwidth of the edge shows its far side at the other edge (the RTL-SDR's rubicson at +121.5 of
    +-125 kHz)."""
    a, b = labels[0], labels[-1]
    pairs = {(int(u), int(v)) for u, v in zip(a, b) if u and v and u != v}
    if not pairs:
        return labels
    parent = np.arange(labels.max() + 1)

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return int(i)

    for u, v in pairs:
        ru, rv = root(u), root(v)
        if ru != rv:
            parent[max(ru, rv)] = min(ru, rv)
    lut = np.array([root(i) for i in range(len(parent))])
    return lut[labels]


def _band_runs(level_db: np.ndarray, core: np.ndarray, edge_db: float) -> tuple[int, int]:
    """First and last bin of the bins within ``edge_db`` of the strongest, taken in contiguous runs (gaps of
    one bin bridged) and only the runs that hold a core bin: the emission's -X dB bandwidth, without the
    splatter of its key clicks far down the skirts nor an unrelated bin (a receiver's DC) the region touches."""
    above = level_db >= -edge_db
    above[1:-1] |= above[:-2] & above[2:]
    lab, _ = ndimage.label(above)
    keep = np.unique(lab[core])
    keep = keep[keep > 0]
    idx = np.flatnonzero(np.isin(lab, keep))
    if len(idx) == 0:
        idx = core
    return int(idx.min()), int(idx.max())


def _region(k: int, box: tuple[slice, slice], labels: np.ndarray, hi: np.ndarray, excess: np.ndarray,
            floor: np.ndarray, f: np.ndarray, fs: float, hop: int, nfft: int, n_samples: int, min_frames: int,
            s: DetectSettings) -> Transmission | None:
    """The transmission of region k in its bounding box (None when it is too short or too weak)."""
    tsl = box[1]
    nf, df = len(f), fs / nfft
    mask, hi, excess, freqs = labels[:, tsl] == k, hi[:, tsl], excess[:, tsl], f
    rows = np.flatnonzero(mask.any(1))
    if rows[0] == 0 and rows[-1] == nf - 1 and len(rows) < nf:  # across the edge: work in a rolled spectrum
        shift = nf // 2
        mask, hi, excess, floor = (np.roll(a, shift, axis=0) for a in (mask, hi, excess, floor))
        freqs = np.roll(f, shift)
        freqs[shift:] += fs  # ascending from 0 to fs: the region no longer crosses an edge
        rows = np.flatnonzero(mask.any(1))
    fsl = slice(rows[0], rows[-1] + 1)
    region = mask[fsl]
    ex = excess[fsl] * region
    per_bin = ex.sum(1)
    total = per_bin.sum()
    if total <= 0:
        return None
    fk = freqs[fsl]
    # the core: the strongest bins that hold half the excess power (splatter and key clicks of a strong OOK
    # transmitter spread thinly over the band and would dilute an occupied-band figure)
    order = np.argsort(-per_bin)
    core = order[: int(np.searchsorted(np.cumsum(per_bin[order]) / total, 0.5)) + 1]
    level_db = 10 * np.log10(np.maximum(per_bin, 1e-300) / per_bin.max())
    # the -26 dB edges, or 6 dB above the region's typical bin where that lies higher (a broadband pedestal: an
    # RTL-SDR under a strong burst raises its whole band ~20 dB below the carrier)
    edge_db = float(np.clip(-np.median(level_db) - PEDESTAL_DB, PEDESTAL_DB, s.edge_db))
    a, b = _band_runs(level_db, core, edge_db)
    # in time: from the first to the last seed pixel inside the band (not a seed at an unrelated bin)
    seeds = np.flatnonzero((hi[fsl][a:b + 1] & region[a:b + 1]).any(0))
    if len(seeds) == 0 or seeds[-1] + 1 - seeds[0] < min_frames:
        return None
    t0, t1 = tsl.start + int(seeds[0]), tsl.start + int(seeds[-1]) + 1
    centre = float((per_bin[core] * fk[core]).sum() / per_bin[core].sum())
    noise = float((floor[fsl][core, None] * region[core]).sum())
    snr_db = float(10 * np.log10(per_bin[core].sum() / max(noise, 1e-30)))
    if snr_db < s.min_snr_db:
        return None
    low, high = float(fk[a] - df / 2), float(fk[b] + df / 2)
    if centre >= fs / 2:  # a rolled region: report it from the nearer edge (it may reach past +-fs/2)
        centre, low, high = centre - fs, low - fs, high - fs
    return Transmission(start=int(t0 * hop), stop=int(min(n_samples, (t1 - 1) * hop + nfft)), center_offset=centre,
                        low=low, high=high, snr_db=snr_db)


def drop_images(found: list[Transmission], df: float, image_db: float) -> list[Transmission]:
    """Without the mirror images: a transmission at -f that overlaps a stronger one at +f for most of its time
    and is ``image_db`` or more weaker is the receiver's IQ-imbalance image (an RTL-SDR's is 15..40 dB down
    after correction), not an emitter."""
    out = []
    for t in found:
        image = any(
            u is not t and u.snr_db - t.snr_db >= image_db
            and abs(u.center_offset + t.center_offset) <= max(2 * df, u.bandwidth / 2)
            and min(u.stop, t.stop) - max(u.start, t.start) >= 0.5 * (t.stop - t.start)
            for u in found)
        if not image:
            out.append(t)
    return out
