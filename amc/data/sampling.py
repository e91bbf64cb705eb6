"""Sampling: SNR-balanced epochs, degradation pairs for real data, time-shift augmentation.

Index samplers are pure numpy with an explicit Generator; the tensor transforms run in torch on
whole batches and take an explicit torch.Generator, so every random choice is seeded.
"""

from __future__ import annotations

import numpy as np
import torch


def epoch_order(n: int, rng: np.random.Generator, max_frames: int | None = None) -> np.ndarray:
    """A shuffled pass over range(n) (capped at max_frames)."""
    order = rng.permutation(n)
    return order[:max_frames] if max_frames else order


def snr_balanced_order(snr: np.ndarray, rng: np.random.Generator, max_frames: int | None = None) -> np.ndarray:
    """An epoch in which every SNR value is drawn equally often (with replacement inside a group).

    The epoch has as many frames as the data (or max_frames); each SNR contributes n / n_snr.
    """
    snr = np.asarray(snr)
    values = np.unique(snr)
    n = max_frames or len(snr)
    per = int(np.ceil(n / len(values)))
    picks = []
    for v in values:
        group = np.flatnonzero(snr == v)
        picks.append(rng.choice(group, size=per, replace=per > len(group)))
    order = np.concatenate(picks)
    return order[rng.permutation(len(order))][:n]


def signal_fraction(snr_db: torch.Tensor) -> torch.Tensor:
    """S / (S + N) for a unit-power frame at the given SNR."""
    return 1.0 / (1.0 + torch.pow(10.0, -snr_db / 10.0))


def degrade(x: torch.Tensor, snr_db: torch.Tensor, delta_db: tuple[float, float],
            gen: torch.Generator, focus: tuple[float, float] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Add Delta dB of extra AWGN to unit-power frames x (B, 2, L) labelled snr_db.

    Delta is uniform in delta_db, or, with a focus band, chosen so the new SNR lands in the band
    (clipped to delta_db). Returns (x_degraded, new_snr_db); the caller uses x as the target.
    """
    b = x.shape[0]
    lo, hi = delta_db
    u = torch.rand(b, generator=gen, device="cpu").to(x.device)
    if focus is None:
        delta = lo + (hi - lo) * u
    else:
        f_lo, f_hi = focus
        f_hi = min(f_hi, 40.0)
        target = f_lo + (f_hi - f_lo) * u
        delta = (snr_db - target).clamp(lo, hi)
    s_frac = signal_fraction(snr_db)
    n_frac = 1.0 - s_frac
    new_snr = snr_db - delta
    extra = (s_frac * torch.pow(10.0, -new_snr / 10.0) - n_frac).clamp_min(0.0)  # added noise power
    noise = torch.randn(x.shape, generator=gen, device="cpu").to(x.device, x.dtype)
    noise = noise * torch.sqrt(extra / 2.0).view(b, 1, 1).to(x.dtype)
    return x + noise, new_snr


def time_shift(tensors: list[torch.Tensor], gen: torch.Generator) -> list[torch.Tensor]:
    """Circularly shift each frame by a random offset; the same offset for every tensor given."""
    b, _, length = tensors[0].shape
    shift = torch.randint(0, length, (b, 1, 1), generator=gen).to(tensors[0].device)
    idx = (torch.arange(length, device=tensors[0].device).view(1, 1, -1) - shift) % length
    idx = idx.expand(b, 2, length)
    return [t.gather(2, idx) for t in tensors]
