"""Matplotlib figures shared by training, eval-engine and the benchmarks: per-SNR curves and confusion.

Drawn for an RF engineer to keep: the chance level on every accuracy plot, legends outside the data,
colour bars and row-normalised percentages in every confusion matrix. matplotlib is imported only when
a figure is drawn.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from amc.files import atomic_path
from amc.stats import level_text


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Write a figure atomically as PNG and close it."""
    plt = pyplot()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def shade_bands(ax: Any, bands: dict, xs: list[float]) -> None:
    """Shade each SNR band and name it above the plot."""
    for i, (name, (lo, hi)) in enumerate(bands.items()):
        hi = max(xs) if xs and math.isinf(hi) else hi
        lo = min(xs) if xs and math.isinf(lo) else lo
        ax.axvspan(lo - 1, hi + 1, color=f"C{i + 3}", alpha=0.08, lw=0)
        ax.text((lo + hi) / 2, 1.01, name, ha="center", va="bottom", fontsize=8, transform=ax.get_xaxis_transform())


def plot_per_snr(path: str | Path, curves: dict[str, dict[str, float]], bands: dict, title: str = "",
                 chance: float | None = None, errors: dict[str, dict[str, float]] | None = None) -> Path:
    """Accuracy vs SNR, one line per curve (with +- error bars where `errors` has them), bands shaded, the
    chance level dashed; the legend sits below the axes so it never hides a point."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    xs_all = [float(s) for c in curves.values() for s in c]
    shade_bands(ax, bands, xs_all)
    for i, (name, per) in enumerate(curves.items()):
        xs = sorted(per, key=float)
        err = (errors or {}).get(name)
        ys = [per[s] for s in xs]
        if err:  # curves with error bars are dodged sideways a little so the bars stay apart
            dodge = (i - (len(curves) - 1) / 2) * 0.18
            ax.errorbar([float(s) + dodge for s in xs], ys, yerr=[err.get(s, 0.0) for s in xs], marker="o", ms=3,
                        capsize=2, lw=1.2, elinewidth=0.8, label=name)
        else:
            ax.plot([float(s) for s in xs], ys, marker="o", ms=3, lw=1.2, label=name)
    if chance:
        ax.axhline(chance, color="0.4", ls="--", lw=0.9, label=f"chance (1/{round(1 / chance)})")
    ax.set(xlabel="SNR (dB)", ylabel="accuracy", ylim=(0, 1.02))
    if title:
        ax.set_title(title, pad=14)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=min(4, len(curves) + bool(chance)),
              fontsize=8, frameon=False)
    return save(fig, path)


def plot_confusion(path: str | Path, panels: dict[str, np.ndarray] | np.ndarray, classes: list[str],
                   title: str = "") -> Path:
    """Row-normalised confusion matrices side by side (true class rows, predicted columns), each cell
    annotated with its percentage, the row's frame count at the right, one colour bar for all."""
    plt = pyplot()
    if isinstance(panels, np.ndarray):
        panels = {"": panels}
    n, k = len(classes), len(panels)
    size = 1.6 + 0.42 * n
    fig, axes = plt.subplots(1, k, figsize=(size * k + 1.6, size + 0.4), squeeze=False, layout="constrained")
    image = None
    for ax, (name, cm) in zip(axes[0], panels.items()):
        counts = cm.sum(1)
        rows = cm.astype(float) / np.maximum(counts[:, None], 1)
        image = ax.imshow(100 * rows, cmap="Blues", vmin=0, vmax=100)  # % like the cell labels
        font = 7 if n <= 12 else 5 if n <= 24 else 0
        for i in range(n) if font else ():
            for j in range(n):
                if rows[i, j] >= 0.005:
                    ax.text(j, i, f"{100 * rows[i, j]:.0f}", ha="center", va="center", fontsize=font,
                            color="white" if rows[i, j] > 0.6 else "black")
        ax.set_xticks(range(n), classes, rotation=90, fontsize=7)
        ax.set_yticks(range(n), [f"{c} ({int(m)})" for c, m in zip(classes, counts)], fontsize=7)
        ax.set(xlabel="predicted", ylabel="true class (frames)",
               title=f"{name}: {int(cm.sum())} frames" if name else "")
    fig.colorbar(image, ax=axes[0].tolist(), fraction=0.025, pad=0.02, label="% of the true class")
    if title:
        fig.suptitle(title)
    return save(fig, path)


REFERENCE_LABELS = {"training": "training run's {split} predictions (paired)",
                    "pytorch": "source PyTorch model, same frames (paired)",
                    "training-counts": "training run's {split} counts (unpaired)",
                    "card": "the packaged model's card, per-SNR counts (unpaired)"}


def plot_engine_drift(path: str | Path, report: dict, bands: dict) -> Path:
    """eval-engine's picture: engine vs reference accuracy per SNR with the tolerance band (top), and
    Δ = engine - reference with its interval and the ±tolerance band (bottom); drifted SNRs in red, the
    verdict and the reference in the title. Every value drawn comes from `report` (report.json)."""
    plt = pyplot()
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
            top.text((lo + hi) / 2, 1.01, name, ha="center", va="bottom", fontsize=8,
                     transform=top.get_xaxis_transform())
    first = (report.get("parts") or [{"part": report["split"]}])[0]["part"]  # auto: the split it started with
    ref_label = REFERENCE_LABELS.get(report["reference"]["kind"], "reference").format(split=first)
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
    chance = 1 / len(report["classes"])
    top.axhline(chance, color="0.4", ls="--", lw=0.9, label=f"chance (1/{len(report['classes'])})")
    top.set(ylabel="accuracy", ylim=(0, 1.02))
    top.grid(alpha=0.3)
    word = report["verdict"]
    colour = {"PASS": "#1e8449", "DRIFT": drift_colour}.get(word, "#b9770e")
    fig.suptitle(f"eval-engine: {word}", fontsize=14, fontweight="bold", color=colour)
    top.set_title(f"{Path(report['model']).name} ({report['precision']}), {report['frames']} frames: overall "
                  f"{100 * report['reference_acc']:.2f} % → {100 * report['engine_acc']:.2f} %, "
                  f"{report['summary']}", fontsize=9, pad=14)
    low.axhspan(-tol, tol, color="0.5", alpha=0.3, lw=0, label=f"± tolerance {tol:g} pp")
    low.axhline(0, color="0.25", lw=0.8)
    level = level_text(report["rule"]["level"])
    for r in rows:
        colour = drift_colour if r["drift"] else ok_colour if r.get("within") else "0.55"
        lo_ci, hi_ci = r["ci_pp"]
        low.errorbar([r["snr"]], [r["delta_pp"]], yerr=[[r["delta_pp"] - lo_ci], [hi_ci - r["delta_pp"]]],
                     fmt="o", ms=4, color=colour, ecolor=colour, capsize=2, lw=1)
    method = "Tango paired" if report["rule"]["paired"] else "Newcombe unpaired"
    low.plot([], [], "o", color=ok_colour, ms=4, label=f"Δ, {level} CI ({method}) inside ± tolerance")
    low.plot([], [], "o", color="0.55", ms=4, label="Δ, CI leaves ± tolerance (unresolved)")
    spans = [abs(v) for r in rows for v in (*r["ci_pp"], r["delta_pp"])] + [2 * tol]
    lim = 1.15 * max(spans)
    low.set(xlabel="SNR (dB)", ylabel="Δ accuracy (pp)\nengine − reference", ylim=(-lim, lim), xlim=(x_lo, x_hi))
    low.grid(alpha=0.3)
    handles = [h for ax in (top, low) for h in ax.get_legend_handles_labels()[0]]
    low.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    return save(fig, path)
