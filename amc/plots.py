"""Matplotlib figures shared by training and eval-engine: per-SNR curves and confusion."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from amc.files import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_per_snr(path: str | Path, curves: dict[str, dict[str, float]], bands: dict, title: str = "") -> Path:
    """Accuracy vs SNR, one line per curve, the SNR bands shaded."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    xs_all = [float(s) for c in curves.values() for s in c]
    for i, (name, (lo, hi)) in enumerate(bands.items()):
        hi = max(xs_all) if xs_all and math.isinf(hi) else hi
        ax.axvspan(lo - 1, hi + 1, color=f"C{i + 3}", alpha=0.08)
        ax.text((lo + hi) / 2, 1.01, name, ha="center", va="bottom", fontsize=8)
    for name, per in curves.items():
        xs = sorted(per, key=float)
        ax.plot([float(s) for s in xs], [per[s] for s in xs], marker="o", ms=3, label=name)
    ax.set(xlabel="SNR (dB)", ylabel="accuracy", ylim=(0, 1.05), title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)


def plot_confusion(path: str | Path, confusion: np.ndarray, classes: list[str], title: str = "") -> Path:
    """Row-normalised confusion matrix (true class rows, predicted columns)."""
    plt = _pyplot()
    cm = confusion.astype(float) / np.maximum(confusion.sum(1, keepdims=True), 1)
    n = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.45 * n, 0.8 + 0.45 * n))
    ax.imshow(cm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(n), classes, fontsize=7)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)
