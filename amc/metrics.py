"""Per-SNR accuracy, SNR-band means, confusion and estimator errors.

The one place both the training loop and `amc eval-engine` compute them, so that an exported
engine is judged by the very code that judged training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from amc.config import DEFAULT_BANDS


def snr_key(snr: float) -> str:
    """JSON key of an SNR value: '-6', '10', '2.5'."""
    return f"{float(snr):g}"


def band_means(per_snr: dict[str, float], bands: dict[str, tuple[float, float]] | None = None) -> dict[str, float]:
    """Mean of the per-SNR accuracies whose SNR lies in each band (inclusive); NaN if none."""
    bands = bands or DEFAULT_BANDS
    out = {}
    for name, (lo, hi) in bands.items():
        vals = [acc for s, acc in per_snr.items() if lo <= float(s) <= hi]
        out[name] = float(np.mean(vals)) if vals else float("nan")
    return out


@dataclass
class Accumulator:
    """Streams predictions in and reports accuracy per SNR, per band, overall, confusion."""

    num_classes: int
    correct: dict[float, int] = field(default_factory=dict)
    total: dict[float, int] = field(default_factory=dict)
    confusion: np.ndarray | None = None
    confusion_by_snr: dict[float, np.ndarray] = field(default_factory=dict)
    eta_abs_err: float = 0.0
    snr_sq_err: float = 0.0
    n_est: int = 0
    loss_sum: float = 0.0
    n_loss: int = 0

    def __post_init__(self) -> None:
        if self.confusion is None:
            self.confusion = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, pred: np.ndarray, labels: np.ndarray, snr: np.ndarray,
               eta_hat: np.ndarray | None = None, snr_hat: np.ndarray | None = None,
               loss_sum: float | None = None) -> None:
        pred, labels, snr = np.asarray(pred), np.asarray(labels), np.asarray(snr, dtype=np.float64)
        ok = pred == labels
        for s in np.unique(snr):
            m = snr == s
            self.correct[float(s)] = self.correct.get(float(s), 0) + int(ok[m].sum())
            self.total[float(s)] = self.total.get(float(s), 0) + int(m.sum())
        known = pred >= 0  # -1: an engine class the dataset does not have (wrong, and not in the matrix)
        np.add.at(self.confusion, (labels[known], pred[known]), 1)  # type: ignore[arg-type]
        for s in np.unique(snr):
            m = (snr == s) & known
            cm = self.confusion_by_snr.setdefault(float(s), np.zeros_like(self.confusion))
            np.add.at(cm, (labels[m], pred[m]), 1)
        if eta_hat is not None and snr_hat is not None:
            eta_true = noise_fraction(snr)
            self.eta_abs_err += float(np.abs(np.asarray(eta_hat, dtype=np.float64) - eta_true).sum())
            self.snr_sq_err += float(((np.asarray(snr_hat, dtype=np.float64) - snr) ** 2).sum())
            self.n_est += len(snr)
        if loss_sum is not None:
            self.loss_sum += loss_sum
            self.n_loss += len(labels)

    def confusion_in(self, lo: float, hi: float) -> np.ndarray:
        """The confusion matrix of the frames whose SNR lies in lo..hi (inclusive)."""
        out = np.zeros_like(self.confusion)
        for s, cm in self.confusion_by_snr.items():
            if lo <= s <= hi:
                out += cm
        return out

    def per_snr(self) -> dict[str, float]:
        return {snr_key(s): self.correct[s] / self.total[s] for s in sorted(self.total)}

    def counts(self) -> dict[str, list[int]]:
        return {snr_key(s): [self.correct[s], self.total[s]] for s in sorted(self.total)}

    def summary(self, bands: dict[str, tuple[float, float]] | None = None) -> dict:
        n = sum(self.total.values())
        per_snr = self.per_snr()
        out = {
            "acc": sum(self.correct.values()) / n if n else float("nan"),
            "frames": n,
            "per_snr": per_snr,
            "counts": self.counts(),
            "bands": band_means(per_snr, bands),
        }
        if self.n_est:
            out["eta_mae"] = self.eta_abs_err / self.n_est
            out["snr_rmse_db"] = math.sqrt(self.snr_sq_err / self.n_est)
        if self.n_loss:
            out["loss"] = self.loss_sum / self.n_loss
        return out


def noise_fraction(snr_db: np.ndarray | float) -> np.ndarray:
    """eta = N / (S + N) = 1 / (1 + 10^(SNR/10))."""
    return 1.0 / (1.0 + np.power(10.0, np.asarray(snr_db, dtype=np.float64) / 10.0))


def wilson_interval(correct: int, total: int, z: float = 2.576) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (z = 2.576: 99 %)."""
    if total == 0:
        return (0.0, 1.0)
    p = correct / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))
