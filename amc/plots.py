"""Matplotlib figures shared by training and eval-engine: per-SNR curves and confusion."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from amc.files import atomic_path
from amc.stats import level_text


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


REFERENCE_LABELS = {"training": "training run's {split} predictions (paired)",
                    "pytorch": "source PyTorch model, same frames (paired)",
                    "training-counts": "training run's {split} counts (unpaired)"}


def plot_engine_drift(path: str | Path, report: dict, bands: dict) -> Path:
    """eval-engine's picture: engine vs reference accuracy per SNR with the tolerance band (top), and
    Δ = engine - reference with its interval and the ±tolerance band (bottom); drifted SNRs in red, the
    verdict and the reference in the title. Every value drawn comes from `report` (report.json)."""
    plt = _pyplot()
    rows = [r for r in report["per_snr"] if r["reference"] is not None]
    tol = report["tolerance_pp"]
    drift_colour, ok_colour = "#c0392b", "C0"
    fig, (top, low) = plt.subplots(2, 1, figsize=(8, 6.6), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    xs = [r["snr"] for r in rows]
    ref = np.array([r["reference"] for r in rows])
    eng = np.array([r["engine"] for r in rows])
    x_lo, x_hi = (min(xs) - 2, max(xs) + 2) if xs else (-1, 1)
    for i, (name, (lo, hi)) in enumerate(bands.items()):
        lo, hi = max(lo - 1, x_lo), min(hi + 1, x_hi)
        if lo < hi:
            top.axvspan(lo, hi, color=f"C{i + 3}", alpha=0.07, lw=0)
            top.text((lo + hi) / 2, 1.01, name, ha="center", va="bottom", fontsize=8)
    ref_label = REFERENCE_LABELS.get(report["reference"]["kind"], "reference").format(split=report["split"])
    top.fill_between(xs, ref - tol / 100, ref + tol / 100, color="0.5", alpha=0.3, lw=0,
                     label=f"reference ± tolerance ({tol:g} pp)")
    top.plot(xs, ref, color="0.25", marker="o", ms=3, lw=1.2, label=f"reference: {ref_label}")
    top.plot(xs, eng, color=ok_colour, marker="s", ms=3, lw=1.2, label=f"engine ({report['precision']})")
    drifted = [r for r in rows if r["drift"]]
    for r in drifted:
        for ax in (top, low):
            ax.axvspan(r["snr"] - 0.9, r["snr"] + 0.9, color=drift_colour, alpha=0.12, lw=0)
    if drifted:
        top.plot([r["snr"] for r in drifted], [r["engine"] for r in drifted], ls="none", marker="x", ms=9, mew=2,
                 color=drift_colour, label="drifted SNR")
    top.set(ylabel="accuracy", ylim=(0, 1.08))
    top.grid(alpha=0.3)
    top.legend(loc="lower right", fontsize=8)
    passed = report["passed"]
    verdict = "PASS" if passed else ("DRIFT at " + ", ".join(f"{s:g}" for s in report["drifted_snrs"]) + " dB"
                                     if report["drifted_snrs"] else "DRIFT (overall)")
    fig.suptitle(f"eval-engine: {verdict}", fontsize=14, fontweight="bold", color="#1e8449" if passed else drift_colour)
    top.set_title(f"{Path(report['model']).name} ({report['precision']}), {report['frames']} frames of split "
                  f"{report['split']}: overall {100 * report['reference_acc']:.2f} % → "
                  f"{100 * report['engine_acc']:.2f} % (Δ {report['delta_pp']:+.2f} pp)", fontsize=9)
    low.axhspan(-tol, tol, color="0.5", alpha=0.3, lw=0, label=f"± tolerance {tol:g} pp")
    low.axhline(0, color="0.25", lw=0.8)
    level = level_text(report["rule"]["snr_level"])
    for r in rows:
        colour = drift_colour if r["drift"] else ok_colour
        lo_ci, hi_ci = r["ci_pp"]
        low.errorbar([r["snr"]], [r["delta_pp"]], yerr=[[r["delta_pp"] - lo_ci], [hi_ci - r["delta_pp"]]],
                     fmt="o", ms=4, color=colour, ecolor=colour, capsize=2, lw=1)
    low.plot([], [], "o", color=ok_colour, ms=4, label=f"Δ with {level} interval "
             f"({'paired, exact McNemar' if report['rule']['paired'] else 'unpaired, Newcombe'})")
    spans = [abs(v) for r in rows for v in (*r["ci_pp"], r["delta_pp"])] + [2 * tol]
    lim = 1.15 * max(spans)
    low.set(xlabel="SNR (dB)", ylabel="Δ accuracy (pp)\nengine − reference", ylim=(-lim, lim), xlim=(x_lo, x_hi))
    low.grid(alpha=0.3)
    low.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)
