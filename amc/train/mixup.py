"""Mixup for the classifier, and the statistics of how strongly it really blends.

`mix` draws one lam ~ Beta(alpha, alpha) per batch and a partner permutation. With
`snr_min`, only frames whose own SNR and whose partner's SNR are both >= snr_min are mixed; the
others keep weight 1 on their own label. Where the mixed batch goes is the training loop's call:
classifier-only (default) or every loss (the legacy behaviour of the notes' A4/A5 runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass
class Mixed:
    """A mixed batch: x_cls = lam_i * x + (1 - lam_i) * x[perm] where mask_i, else x."""

    x_cls: torch.Tensor  # (B, 2, L) classifier input
    y_a: torch.Tensor  # (B,) own labels
    y_b: torch.Tensor  # (B,) partner labels (own label where not mixed)
    lam: torch.Tensor  # (B,) weight of y_a: lam where mixed, 1 elsewhere
    perm: torch.Tensor  # (B,) partner index
    mask: torch.Tensor  # (B,) bool, frames actually mixed
    lam_batch: float  # the batch's Beta draw

    def blend(self, t: torch.Tensor) -> torch.Tensor:
        """Blend any per-frame tensor with the same weights (for the legacy all-losses mode)."""
        w = self.lam.view(-1, *([1] * (t.dim() - 1))).to(t.dtype)
        return w * t + (1 - w) * t[self.perm]


def mix(x: torch.Tensor, y: torch.Tensor, snr: torch.Tensor, alpha: float, prob: float,
        snr_min: float | None, rng: np.random.Generator) -> Mixed | None:
    """Mix the batch with probability prob; None when this batch is left unmixed."""
    if prob <= 0 or rng.random() >= prob:
        return None
    lam = float(rng.beta(alpha, alpha))
    b = x.shape[0]
    perm = torch.from_numpy(rng.permutation(b)).to(x.device)
    mask = torch.ones(b, dtype=torch.bool, device=x.device)
    if snr_min is not None:
        mask = (snr >= snr_min) & (snr[perm] >= snr_min)
    lam_i = torch.where(mask, torch.full((b,), lam, device=x.device), torch.ones(b, device=x.device))
    w = lam_i.view(b, 1, 1).to(x.dtype)
    x_cls = w * x + (1 - w) * x[perm]
    y_b = torch.where(mask, y[perm], y)
    return Mixed(x_cls=x_cls, y_a=y, y_b=y_b, lam=lam_i, perm=perm, mask=mask, lam_batch=lam)


def mixed_ce(logits: torch.Tensor, m: Mixed) -> torch.Tensor:
    """lam * CE(y_a) + (1 - lam) * CE(y_b), per frame, averaged."""
    ce = torch.nn.functional.cross_entropy
    la = ce(logits, m.y_a, reduction="none")
    lb = ce(logits, m.y_b, reduction="none")
    return (m.lam * la + (1 - m.lam) * lb).mean()


@dataclass
class MixupStats:
    """Realised mixup statistics over a run (or an epoch)."""

    batches: int = 0
    lams: list[float] = field(default_factory=list)
    frames_mixed: int = 0
    frames: int = 0

    def add(self, m: Mixed | None, batch_size: int) -> None:
        self.batches += 1
        self.frames += batch_size
        if m is not None:
            self.lams.append(m.lam_batch)
            self.frames_mixed += int(m.mask.sum())

    def state(self) -> dict[str, Any]:
        """Plain data for a checkpoint (weights_only loads it)."""
        return {"batches": self.batches, "lams": list(self.lams), "frames_mixed": self.frames_mixed,
                "frames": self.frames}

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> MixupStats:
        return cls(**state) if state else cls()

    def summary(self) -> dict[str, float]:
        lam = np.asarray(self.lams)
        if lam.size == 0:
            return {"batches_mixed": 0.0, "frames_mixed": 0.0, "p_strong": 0.0, "p_near_pure": 0.0,
                    "mean_min_lam": 0.0}
        return {
            "batches_mixed": len(lam) / max(1, self.batches),  # fraction of batches mixed
            "frames_mixed": self.frames_mixed / max(1, self.frames),  # fraction of frames mixed
            "p_strong": float(((lam >= 0.3) & (lam <= 0.7)).mean()),  # P[lam in 0.3..0.7]
            "p_near_pure": float(((lam <= 0.1) | (lam >= 0.9)).mean()),  # P[lam <= 0.1 or >= 0.9]
            "mean_min_lam": float(np.minimum(lam, 1 - lam).mean()),  # E[min(lam, 1 - lam)]
        }
