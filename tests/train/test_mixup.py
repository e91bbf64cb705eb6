import numpy as np
import pytest
import torch

from amc.config import ModelConfig, TrainConfig
from amc.models import build_model
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


@pytest.mark.parametrize("cls_only", [True, False])
def test_aux_losses_see_clean_inputs_only_with_cls_only(cls_only):
    """The notes' fix: with cls-only the denoiser / noise / SNR losses get exactly the unmixed tensors."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(num_classes=3, frame_length=32, conv_channels=8, rnn_hidden=8,
                                    denoiser_channels=4, dense=8))
    cfg = TrainConfig(mixup_cls_only=cls_only, lambda_snr=0.1, lambda_feat=0.1)
    step = TrainStep(model, cfg)
    step.record_aux_inputs = True
    x, target, snr, y = _batch()
    m = mix(x, y, snr, alpha=0.2, prob=1.0, snr_min=0.0 if cls_only else None, rng=np.random.default_rng(3))
    out = step(x, target, snr, y, m)
    assert torch.equal(out["cls_x"], m.x_cls)  # the classifier always sees the mixed batch
    # train accuracy: with cls-only, only logits of unmixed (clean-input) frames count
    assert torch.equal(out["acc_mask"], ~m.mask if cls_only else torch.ones_like(m.mask))
    if cls_only:
        assert torch.equal(out["aux_x"], x)
        assert torch.equal(out["aux_target"], target)
        assert torch.equal(out["aux_snr"], snr)
        assert torch.allclose(out["aux_eta"], noise_fraction(snr))
        assert torch.equal(out["id_target"], target[snr >= cfg.id_snr_min])  # identity loss: real clean frames
    else:
        assert torch.equal(out["aux_x"], m.x_cls)
        assert torch.allclose(out["aux_target"], m.blend(target))
        assert torch.allclose(out["aux_snr"], m.lam * snr + (1 - m.lam) * snr[m.perm])
        assert not torch.allclose(out["aux_target"], target)
        blended_snr = m.lam * snr + (1 - m.lam) * snr[m.perm]
        assert torch.allclose(out["id_target"], m.blend(target)[blended_snr >= cfg.id_snr_min])
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
