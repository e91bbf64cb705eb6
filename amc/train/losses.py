"""One training step's losses, as a module (so DistributedDataParallel can wrap it).

    L = CE_mix + lambda_den * MSE(denoised, clean) + lambda_id * MSE(denoiser(clean_hi), clean_hi)
        + lambda_eta * BCE(eta_hat, eta) + lambda_snr * SNR-consistency + lambda_feat * feature loss

Classifier-only mixup (default): the classification loss sees the mixed batch (x_cls, y_a, y_b,
lam); the denoiser, noise, SNR and feature losses see the unmixed batch (x_aux, clean, snr_aux).
All-losses mixup (legacy, the notes' A4/A5): every loss sees the mixed inputs and blended
targets, which are not physical frames; that is what corrupted the denoiser.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from amc.config import TrainConfig
from amc.models import CLDNN
from amc.train.mixup import Mixed, mixed_ce

DB_PER_NEPER = 10.0 / math.log(10.0)


def noise_fraction(snr_db: Tensor) -> Tensor:
    """eta = N / (S + N) = 1 / (1 + 10^(SNR/10))."""
    return torch.sigmoid(-snr_db / DB_PER_NEPER)


class TrainStep(nn.Module):
    """forward(batch) -> dict of losses and the tensors the metrics need."""

    def __init__(self, model: CLDNN, cfg: TrainConfig):
        super().__init__()
        self.model = model
        self.cfg = cfg

    def forward(self, x: Tensor, target: Tensor, snr: Tensor, y: Tensor, mixed: Mixed | None) -> dict[str, Tensor]:
        """x, target: normalised (B, 2, L) input and denoiser target; snr: (B,) dB of x."""
        m, cfg = self.model, self.cfg
        legacy = mixed is not None and not cfg.mixup_cls_only
        x_aux, target_aux, snr_aux = x, target, snr
        eta_aux = noise_fraction(snr)
        if legacy:
            assert mixed is not None
            x_aux, target_aux = mixed.x_cls, mixed.blend(target)
            eta_aux, snr_aux = mixed.blend(eta_aux), mixed.blend(snr)

        acc_mask = torch.ones_like(y, dtype=torch.bool)  # frames whose logits count for train accuracy
        den = m.denoise(x_aux)
        eta_logit = m.eta_logit(x_aux, den)
        eta_hat = torch.sigmoid(eta_logit) if m.has_noise_head else eta_logit
        if mixed is None:
            logits = m.classify(x_aux, den, eta_hat)
            ce = F.cross_entropy(logits, y)
            acc_logits = logits
        elif legacy:
            logits = m.classify(x_aux, den, eta_hat)
            ce = mixed_ce(logits, mixed)
            acc_logits = logits  # the legacy run logged accuracy from mixed logits
        else:
            den_m = m.denoise(mixed.x_cls)
            logits = m.classify(mixed.x_cls, den_m, m.estimate_eta(mixed.x_cls, den_m))
            ce = mixed_ce(logits, mixed)
            # Train accuracy from clean-input logits only: the frames left unmixed (x_cls == x there).
            # A second classifier pass over the clean batch just for logging would cost ~20 % per step.
            acc_logits, acc_mask = logits, ~mixed.mask

        zero = ce.new_zeros(())
        out = {"ce": ce, "den": zero, "eta": zero, "snr": zero, "id": zero, "feat": zero}
        if m.denoiser is not None and cfg.lambda_den > 0:
            out["den"] = F.mse_loss(den.float(), target_aux.float())
        if m.has_noise_head and cfg.lambda_eta > 0:
            out["eta"] = F.binary_cross_entropy_with_logits(eta_logit.float(), eta_aux.float())
        if m.has_noise_head and cfg.lambda_snr > 0:
            lo, hi = m.cfg.snr_range_db
            snr_hat = (-DB_PER_NEPER * eta_logit.float()).clamp(lo, hi)
            out["snr"] = F.smooth_l1_loss(snr_hat / 10.0, snr_aux.float().clamp(lo, hi) / 10.0)
        if m.denoiser is not None and cfg.lambda_id > 0:
            hi_mask = snr_aux >= cfg.id_snr_min  # cls-only: the real frames; all-losses: the blended ones
            if bool(hi_mask.any()):
                clean_hi = target_aux[hi_mask]
                clean_hi = clean_hi / torch.sqrt(2.0 * (clean_hi * clean_hi).mean(dim=(1, 2), keepdim=True) + 1e-8)
                out["id"] = F.mse_loss(m.denoise(clean_hi).float(), clean_hi.float())
        if m.denoiser is not None and cfg.lambda_feat > 0:
            with torch.no_grad():
                ref = m.stem_features(target_aux)
            out["feat"] = F.mse_loss(m.stem_features(den).float(), ref.float())
        out["total"] = (ce + cfg.lambda_den * out["den"] + cfg.lambda_id * out["id"] + cfg.lambda_eta * out["eta"]
                        + cfg.lambda_snr * out["snr"] + cfg.lambda_feat * out["feat"])
        out["acc_logits"] = acc_logits.detach()
        out["acc_mask"] = acc_mask
        return out
