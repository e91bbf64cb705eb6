"""The picture of a classified recording: spectrogram, class timeline, top probability (and SNR).

Both the spectrogram and the timeline are accumulated in a bounded number of time bins while the
recording streams past (``TimeBins``: when a stream outgrows the bins, neighbours merge and the bin
width doubles), so the picture of a 1 GB recording costs as much memory as that of a short one.
matplotlib is imported only when the picture is drawn (Agg backend).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from amc.classify.segments import NOISE, UNKNOWN
from amc.files import atomic_path

MAX_BINS = 1200  # time columns of the picture
NFFT = 256  # spectrogram FFT length (input rate)
FFTS_PER_BIN = 8  # FFT frames averaged per time bin at most (the rest are skipped: the picture is a summary)


class TimeBins:
    """Sums of per-bin feature vectors over input-sample time; bins double in width when full."""

    def __init__(self, width: int, features: int):
        self.width = max(1, int(width))
        self.sum = np.zeros((MAX_BINS, features), np.float64)
        self.count = np.zeros(MAX_BINS, np.float64)
        self.used = 0

    def add(self, index: np.ndarray, values: np.ndarray, weight: np.ndarray | None = None) -> None:
        if not len(index):
            return
        b = np.asarray(index, np.int64) // self.width
        while b.max() >= MAX_BINS:
            self._merge()
            b = np.asarray(index, np.int64) // self.width
        w = np.ones(len(b)) if weight is None else np.asarray(weight, np.float64)
        np.add.at(self.sum, b, values * w[:, None])
        np.add.at(self.count, b, w)
        self.used = max(self.used, int(b.max()) + 1)

    def _merge(self) -> None:
        half = MAX_BINS // 2
        self.sum[:half] = self.sum.reshape(half, 2, -1).sum(1)
        self.sum[half:] = 0
        self.count[:half] = self.count.reshape(half, 2).sum(1)
        self.count[half:] = 0
        self.width *= 2
        self.used = (self.used + 1) // 2

    def means(self) -> tuple[np.ndarray, np.ndarray]:
        """(bin start sample, mean vector) of the bins that hold data."""
        n = self.used
        ok = self.count[:n] > 0
        idx = np.flatnonzero(ok)
        return idx * self.width, self.sum[:n][ok] / self.count[:n][ok, None]


class Spectrogram:
    """Hann-windowed |FFT|^2 of up to FFTS_PER_BIN frames per bin, called from the reader thread."""

    def __init__(self, n_samples: int | None, min_width: int):
        width = max(min_width, NFFT, math.ceil(n_samples / MAX_BINS) if n_samples else 0)
        self.bins = TimeBins(width, NFFT)
        self.window = np.hanning(NFFT).astype(np.float32)

    def __call__(self, block: np.ndarray, first: int) -> None:
        n = len(block) // NFFT
        if not n:
            return
        stride = max(1, self.bins.width // NFFT // FFTS_PER_BIN)
        starts = np.arange(0, n, stride) * NFFT
        frames = block[starts[:, None] + np.arange(NFFT)] * self.window
        psd = np.abs(np.fft.fft(frames, axis=1)) ** 2
        self.bins.add(first + starts, np.fft.fftshift(psd, axes=1))


class Timeline:
    """Per bin: time share of each label, mean top probability, mean SNR estimate."""

    def __init__(self, names: list[str], n_samples: int | None, min_width: int):
        self.names = names
        width = max(min_width, math.ceil(n_samples / MAX_BINS) if n_samples else 0)
        self.bins = TimeBins(width, len(names) + 2)

    def add(self, own_start: np.ndarray, own_end: np.ndarray, label: np.ndarray, prob: np.ndarray,
            snr: np.ndarray) -> None:
        v = np.zeros((len(label), len(self.names) + 2))
        v[np.arange(len(label)), label] = 1.0
        v[:, -2] = prob
        v[:, -1] = snr
        self.bins.add(own_start, v, np.maximum(own_end - own_start, 1))


def label_colors(names: list[str]) -> dict[str, Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if len(names) <= 12 else "tab20"]
    out: dict[str, Any] = {}
    k = 0
    for n in names:
        if n == NOISE:
            out[n] = (0.55, 0.55, 0.55, 1.0)
        elif n == UNKNOWN:
            out[n] = (0.85, 0.85, 0.85, 1.0)
        else:
            out[n] = cmap(k % cmap.N)
            k += 1
    return out


def draw(path: str | Path, spec: Spectrogram, timeline: Timeline, info: dict[str, Any]) -> Path:
    """Three panels sharing the time axis; written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rate = info["sample_rate"]
    fig, axes = plt.subplots(3, 1, figsize=(10, 6.4), sharex=True, height_ratios=[3, 0.8, 1.6])
    ax_s, ax_c, ax_p = axes
    t_end = info["n_samples"] / rate
    # spectrogram
    starts, psd = spec.bins.means()
    if len(starts):
        centre = info.get("center_freq")
        scale, unit = (1e6, "MHz") if centre is not None else (1e3, "kHz")
        f0 = (centre or 0.0) / scale
        half = rate / 2 / scale
        db = 10 * np.log10(psd.T + 1e-20)
        lo, hi = np.percentile(db, [5, 99.5])
        edges = np.append(starts, starts[-1] + spec.bins.width) / rate
        ax_s.pcolormesh(edges, np.linspace(f0 - half, f0 + half, psd.shape[1] + 1), db, shading="flat",
                        cmap="viridis", vmin=lo, vmax=hi, rasterized=True)
        for edge in info["band"]:
            ax_s.axhline(f0 + edge / scale, color="white", ls="--", lw=0.8, alpha=0.8)
        ax_s.set_ylabel(f"frequency ({unit})" if centre is not None else f"offset ({unit})")
    ax_s.set_title(info["title"], fontsize=10)
    # class timeline: majority label per bin
    names = timeline.names
    colors = label_colors(names)
    tstarts, vals = timeline.bins.means()
    width = timeline.bins.width / rate
    if len(tstarts):
        major = vals[:, : len(names)].argmax(1)
        for k, name in enumerate(names):
            sel = np.flatnonzero(major == k)
            if len(sel):
                ax_c.broken_barh([(tstarts[a] / rate, (tstarts[b] - tstarts[a]) / rate + width) for a, b in _runs(sel)],
                                 (0, 1), facecolors=colors[name])
        ax_c.legend(handles=[Patch(color=colors[n], label=n) for n in names if (major == names.index(n)).any()],
                    loc="upper center", bbox_to_anchor=(0.5, -0.05), ncol=8, fontsize=8, frameon=False)
    ax_c.set_yticks([])
    ax_c.set_ylabel("class\n(per window)", rotation=0, ha="right", va="center", fontsize=9)
    # top probability and SNR estimate
    if len(tstarts):
        mid = (tstarts + timeline.bins.width / 2) / rate
        ax_p.plot(mid, vals[:, -2], color="C0", lw=1.0, label="top probability")
        ax_p.axhline(info["min_prob"], color="C0", ls=":", lw=0.8)
        if info.get("has_snr"):
            ax_r = ax_p.twinx()
            ax_r.plot(mid, vals[:, -1], color="C3", lw=0.8, alpha=0.8, label="SNR estimate")
            if info.get("min_snr") is not None:
                ax_r.axhline(info["min_snr"], color="C3", ls=":", lw=0.8)
            ax_r.set_ylabel("SNR est. (dB)", color="C3")
    ax_p.set_ylim(0, 1.02)
    ax_p.set_ylabel("top prob.", color="C0")
    ax_p.set_xlabel("time (s)")
    ax_p.set_xlim(0, t_end)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)


def _runs(sel: np.ndarray) -> list[tuple[int, int]]:
    """Runs of consecutive integers in sorted ``sel`` as (first, last) positions into it, one bar each."""
    cut = np.flatnonzero(np.diff(sel) != 1)
    firsts = np.concatenate([[0], cut + 1])
    lasts = np.concatenate([cut, [len(sel) - 1]])
    return [(int(sel[a]), int(sel[b])) for a, b in zip(firsts, lasts)]
