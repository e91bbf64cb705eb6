import numpy as np
import pytest
import torch
import torch.nn.functional as F

from amc.config import ModelConfig, TrainConfig
from amc.models import build_model
from amc.train import losses
from amc.train.losses import TrainStep, noise_fraction
from amc.train.mixup import MixupStats, mix, mixed_ce


def _batch(b=16, length=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 2, length, generator=g)
    target = x * 0.5
    snr = torch.tensor([-10.0, 0.0, 10.0, 20.0] * (b // 4))
    y = torch.arange(b) % 3
    return x, target, snr, y


def test_mix_blends_inputs_and_labels():
    x, _, snr, y = _batch()
    m = mix(x, y, snr, alpha=0.2, prob=1.0, snr_min=None, rng=np.random.default_rng(0))
    lam = m.lam_batch
    assert torch.allclose(m.x_cls, lam * x + (1 - lam) * x[m.perm], atol=1e-5)
    assert torch.equal(m.y_b, y[m.perm]) and torch.equal(m.y_a, y)
    assert mix(x, y, snr, 0.2, 0.0, None, np.random.default_rng(0)) is None


def test_mixup_snr_min_mixes_only_clean_enough_frames():
    x, _, snr, y = _batch()
    m = mix(x, y, snr, alpha=0.2, prob=1.0, snr_min=6.0, rng=np.random.default_rng(1))
    expected = (snr >= 6) & (snr[m.perm] >= 6)
    assert torch.equal(m.mask, expected) and bool(expected.any()) and not bool(expected.all())
    assert torch.equal(m.x_cls[~m.mask], x[~m.mask])  # low-SNR frames untouched
    assert torch.all(m.lam[~m.mask] == 1.0)


def test_mixed_ce_is_the_lam_weighted_sum():
    logits = torch.randn(8, 3)
    y = torch.arange(8) % 3
    m = mix(torch.randn(8, 2, 4), y, torch.zeros(8), 0.4, 1.0, None, np.random.default_rng(2))
    ce = torch.nn.functional.cross_entropy
    lam = m.lam_batch
    expected = lam * ce(logits, y).item() + (1 - lam) * ce(logits, y[m.perm]).item()
    assert mixed_ce(logits, m).item() == pytest.approx(expected, rel=1e-5)


class Observed:
    """What the model's modules and the loss functions actually received during one TrainStep:
    forward hooks on the denoiser, noise head and classifier stem, and wrappers around the loss functions
    the step calls (the arguments as passed, not a record the step keeps of itself)."""

    def __init__(self, model, monkeypatch):
        self.calls: dict[str, list] = {"denoiser": [], "noise_head": [], "stem": [], "mse": [], "bce": [],
                                       "smooth_l1": []}
        for name in ("denoiser", "noise_head", "stem"):
            getattr(model, name).register_forward_hook(
                lambda mod, inputs, output, name=name: self.calls[name].append(inputs[0].detach().clone()))
        for key, fn in (("mse", "mse_loss"), ("bce", "binary_cross_entropy_with_logits"),
                        ("smooth_l1", "smooth_l1_loss")):
            real = getattr(F, fn)

            def wrapped(a, b, *args, real=real, key=key, **kw):
                self.calls[key].append((a.detach().clone(), b.detach().clone()))
                return real(a, b, *args, **kw)

            monkeypatch.setattr(losses.F, fn, wrapped)


@pytest.mark.parametrize("cls_only", [True, False])
def test_aux_losses_see_clean_inputs_only_with_cls_only(cls_only, monkeypatch):
    """The notes' fix: with cls-only the denoiser / noise / SNR / identity losses get exactly the unmixed
    tensors and the classifier the mixed batch; with all-losses (legacy) everything sees the blend."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(num_classes=3, frame_length=32, conv_channels=8, rnn_hidden=8,
                                    denoiser_channels=4, dense=8))
    cfg = TrainConfig(mixup_cls_only=cls_only, lambda_snr=0.1, lambda_feat=0.1)
    seen = Observed(model, monkeypatch)
    x, target, snr, y = _batch()
    m = mix(x, y, snr, alpha=0.2, prob=1.0, snr_min=0.0 if cls_only else None, rng=np.random.default_rng(3))
    out = TrainStep(model, cfg)(x, target, snr, y, m)
    c = seen.calls
    aux_x, aux_target = (x, target) if cls_only else (m.x_cls, m.blend(target))
    aux_snr = snr if cls_only else m.lam * snr + (1 - m.lam) * snr[m.perm]
    # the denoiser loss: the denoiser ran on aux_x and its output was compared with aux_target
    assert torch.equal(c["denoiser"][0], aux_x)
    assert torch.allclose(c["mse"][0][1], aux_target)
    # the noise-fraction loss: the noise head saw aux_x, the BCE target is eta of aux_snr
    assert torch.equal(c["noise_head"][0], aux_x)
    eta = noise_fraction(snr)
    assert torch.allclose(c["bce"][0][1], eta if cls_only else m.blend(eta))
    # the SNR-consistency loss compares with aux_snr
    assert torch.allclose(c["smooth_l1"][0][1], aux_snr.clamp(-30, 40) / 10.0)
    # the identity loss: the denoiser ran on the high-SNR frames of aux_target (power-normalised)
    hi = aux_target[aux_snr >= cfg.id_snr_min]
    hi = hi / torch.sqrt(2.0 * (hi * hi).mean(dim=(1, 2), keepdim=True) + 1e-8)
    assert any(t.shape == hi.shape and torch.allclose(t, hi) for t in c["denoiser"])
    # the classifier's stem saw the mixed batch in both modes
    assert any(torch.equal(t, m.x_cls) for t in c["stem"])
    if cls_only:
        assert not torch.equal(c["denoiser"][0], m.x_cls)  # the mixed batch never fed an auxiliary loss
    else:
        assert not torch.allclose(c["mse"][0][1], target)
    # train accuracy: with cls-only, only logits of unmixed (clean-input) frames count
    assert torch.equal(out["acc_mask"], ~m.mask if cls_only else torch.ones_like(m.mask))
    for k in ("ce", "den", "eta", "snr", "id", "feat"):
        assert torch.isfinite(out[k]) and out[k].item() > 0, k
    out["total"].backward()


def test_realised_mixup_statistics_for_alpha_02():
    """The notes: ~13.5 % strongly blended, ~67.3 % near-pure, E[min(lam, 1-lam)] ~ 0.101."""
    rng = np.random.default_rng(0)
    stats = MixupStats()
    x, _, snr, y = _batch(b=4, length=4)
    for _ in range(20000):
        stats.add(mix(x, y, snr, 0.2, 0.5, None, rng), 4)
    s = stats.summary()
    assert s["batches_mixed"] == pytest.approx(0.5, abs=0.01)
    assert s["p_strong"] == pytest.approx(0.135, abs=0.01)
    assert s["p_near_pure"] == pytest.approx(0.673, abs=0.01)
    assert s["mean_min_lam"] == pytest.approx(0.101, abs=0.004)
