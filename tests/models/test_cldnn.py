"""The CLDNN family: shapes, presets, FiLM identity, noise head ranges, gradients, overfitting."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from amc.config import ModelConfig, preset
from amc.models import (
    EXPERT_FEATURES,
    OUTPUT_NAMES,
    InferenceModel,
    build_model,
    count_parameters,
    expert_features,
    flops_per_frame,
    normalise,
    snr_db_from_eta,
    snr_db_from_logit,
)
from amc.models.cldnn import MAX_RNN_STEPS, pool_factors
from amc.models.expert import atan2

PRESETS = ["cldnn", "a3", "a4", "a5"]


def config(name: str, num_classes: int = 11, frame_length: int = 128, tiny: bool = False, **kw) -> ModelConfig:
    cfg, _ = preset(name)
    cfg = dataclasses.replace(cfg, num_classes=num_classes, frame_length=frame_length, **kw)
    if tiny:
        cfg = dataclasses.replace(cfg, conv_channels=16, rnn_hidden=16, dense=32, denoiser_channels=8,
                                  denoiser_depth=2)
    return cfg


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("length,classes", [(128, 11), (1024, 24)])
def test_output_shapes(name: str, length: int, classes: int) -> None:
    torch.manual_seed(0)
    model = build_model(config(name, classes, length))
    out = model(torch.randn(3, 2, length))
    assert out.logits.shape == (3, classes)
    assert out.eta.shape == out.snr_db.shape == out.eta_logit.shape == (3,)
    assert out.denoised.shape == (3, 2, length)
    assert all(torch.isfinite(t).all() for t in out)
    # the sequence the RNN sees is pooled to <= MAX_RNN_STEPS at the configured frame length
    steps = length // math.prod(model.pools)
    assert 0 < steps <= MAX_RNN_STEPS


def test_pool_factors() -> None:
    assert pool_factors(128, 3) == [2, 1, 1]
    assert pool_factors(1024, 3) == [4, 2, 2]
    assert pool_factors(64, 3) == [1, 1, 1]
    assert pool_factors(1024, 1) == [16]


@pytest.mark.parametrize("length", [100, 37])
def test_denoiser_any_length(length: int) -> None:
    model = build_model(config("a4", tiny=True))
    out = model(torch.randn(2, 2, length))
    assert out.denoised.shape == (2, 2, length)
    assert out.logits.shape == (2, 11)


@pytest.mark.parametrize("name", PRESETS)
def test_forward_is_the_parts_composed(name: str) -> None:
    torch.manual_seed(1)
    model = build_model(config(name, tiny=True)).eval()
    x = 5.0 * torch.randn(4, 2, 128)
    with torch.no_grad():
        out = model(x)
        x_n, _ = model.normalise(x)
        den = model.denoise(x_n)
        eta = model.estimate_eta(x_n, den)
        logits = model.classify(x_n, den, eta)
    torch.testing.assert_close(out.logits, logits)
    torch.testing.assert_close(out.denoised, den)
    torch.testing.assert_close(out.eta, eta)
    assert model.stem_features(x_n).shape == (4, model.cfg.conv_channels, 128)
    if name == "cldnn":
        torch.testing.assert_close(den, x_n)


def test_normalise_idempotent_and_unit_power() -> None:
    x = 37.0 * torch.randn(5, 2, 128)
    x_n, scale = normalise(x)
    assert scale.shape == (5, 1, 1)
    power = (x_n[:, 0] ** 2 + x_n[:, 1] ** 2).mean(dim=-1)
    torch.testing.assert_close(power, torch.ones(5))
    torch.testing.assert_close(x_n * scale, x)
    x_nn, scale2 = normalise(x_n)
    torch.testing.assert_close(x_nn, x_n, atol=1e-6, rtol=0)
    torch.testing.assert_close(scale2, torch.ones(5, 1, 1))
    zeros, _ = normalise(torch.zeros(2, 2, 16))
    assert torch.equal(zeros, torch.zeros(2, 2, 16))


@pytest.mark.parametrize("name", ["a3", "a4", "a5"])
def test_eta_and_snr_ranges(name: str) -> None:
    torch.manual_seed(2)
    cfg = config(name, tiny=True)
    model = build_model(cfg).eval()
    x = torch.cat([1e-3 * torch.randn(4, 2, 128), torch.randn(4, 2, 128), 1e4 * torch.randn(4, 2, 128),
                   torch.zeros(1, 2, 128)])
    with torch.no_grad():
        out = model(x)
    assert model.has_noise_head
    assert bool(((out.eta > 0) & (out.eta < 1)).all())
    lo, hi = cfg.snr_range_db
    assert bool(((out.snr_db >= lo) & (out.snr_db <= hi)).all())
    torch.testing.assert_close(out.eta, torch.sigmoid(out.eta_logit))
    torch.testing.assert_close(out.snr_db, snr_db_from_eta(out.eta, cfg.snr_range_db), atol=1e-3, rtol=0)


def test_snr_conversions() -> None:
    rng = (-30.0, 40.0)
    eta = torch.tensor([0.5, 0.1, 0.9, 0.0, 1.0])
    snr = snr_db_from_eta(eta, rng)
    assert snr[0].item() == pytest.approx(0.0, abs=1e-6)
    assert snr[1].item() == pytest.approx(10 * math.log10(9.0), abs=1e-4)
    assert snr[2].item() == pytest.approx(-10 * math.log10(9.0), abs=1e-4)
    assert snr[3].item() == 40.0 and snr[4].item() == -30.0  # clamped, no inf / nan
    logit = torch.tensor([0.0, -math.log(9.0), 100.0, -100.0])
    torch.testing.assert_close(snr_db_from_logit(logit, rng),
                               torch.tensor([0.0, 10 * math.log10(9.0), -30.0, 40.0]))


def test_cldnn_has_no_noise_head() -> None:
    model = build_model(config("cldnn", tiny=True))
    out = model(torch.randn(3, 2, 128))
    assert not model.has_noise_head
    assert torch.equal(out.eta, torch.zeros(3)) and torch.equal(out.snr_db, torch.zeros(3))


def test_film_is_identity_at_init() -> None:
    torch.manual_seed(3)
    model = build_model(config("a4", tiny=True)).eval()
    assert model.film is not None
    eta = torch.tensor([0.01, 0.3, 0.99])
    for gamma, beta in model.film(eta):
        assert torch.equal(gamma, torch.ones_like(gamma)) and torch.equal(beta, torch.zeros_like(beta))
    x_n, _ = normalise(torch.randn(3, 2, 128))
    with torch.no_grad():
        den = model.denoise(x_n)
        a = model.classify(x_n, den, eta)
        b = model.classify(x_n, den, 1.0 - eta)
        assert torch.equal(a, b)  # eta has no effect while FiLM is the identity
        torch.nn.init.normal_(model.film.mlp[-1].weight, std=0.5)
        c = model.classify(x_n, den, 1.0 - eta)
    assert (a - c).abs().max() > 1e-3  # ...and does once FiLM is trained


def test_presets_toggle_parts() -> None:
    parts = ["denoiser", "noise_head", "film", "stem_denoised", "fuse", "expert_norm"]
    expected = {
        "cldnn": set(),
        "a3": {"denoiser", "noise_head", "stem_denoised", "fuse"},
        "a4": {"denoiser", "noise_head", "stem_denoised", "fuse", "film"},
        "a5": {"denoiser", "noise_head", "stem_denoised", "fuse", "film", "expert_norm"},
    }
    counts = []
    for name in PRESETS:
        model = build_model(config(name))
        present = {p for p in parts if getattr(model, p) is not None}
        assert present == expected[name], name
        counts.append(count_parameters(model))
        assert counts[-1] == sum(p.numel() for p in model.parameters())
    assert counts == sorted(counts) and len(set(counts)) == 4, counts
    # denoiser without dual path: one stem, fed the denoised frame
    model = build_model(config("a3", dual_path=False, tiny=True)).eval()
    assert model.stem_denoised is None and model.denoiser is not None
    x_n, _ = normalise(torch.randn(2, 2, 128))
    with torch.no_grad():
        den = model.denoise(x_n)
        torch.testing.assert_close(model.classify(x_n, den, torch.zeros(2)),
                                   model.classify(den, den, torch.zeros(2)))


@pytest.mark.parametrize("name", PRESETS)
def test_gradients_reach_every_parameter(name: str) -> None:
    torch.manual_seed(4)
    model = build_model(config(name, tiny=True, rnn="gru" if name == "a3" else "lstm"))
    x = torch.randn(8, 2, 128)
    out = model(x)
    loss = (F.cross_entropy(out.logits, torch.randint(0, 11, (8,)))
            + F.binary_cross_entropy_with_logits(out.eta_logit, torch.rand(8))
            + F.mse_loss(out.denoised, torch.randn_like(x)))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing
    zero = {n for n, p in model.named_parameters() if not bool(p.grad.abs().gt(0).any())}
    # FiLM's hidden layer sees no gradient at init only because its output layer is zero
    assert zero <= {"film.mlp.0.weight", "film.mlp.0.bias"}
    assert ("film.mlp.2.weight" in dict(model.named_parameters())) == (model.film is not None)


@pytest.mark.slow
def test_tiny_model_overfits_fixed_batch() -> None:
    torch.manual_seed(5)
    model = build_model(config("a4", tiny=True, dropout=0.0))
    x, y = torch.randn(64, 2, 128), torch.randint(0, 11, (64,))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = last = None
    for _ in range(300):
        loss = F.cross_entropy(model(x).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
        last = loss.item()
        if last < first / 10:
            break
    assert last < first / 10, (first, last)


def test_inference_model() -> None:
    model = build_model(config("a4", tiny=True))
    wrapped = InferenceModel(model)
    assert not model.training
    wrapped.train()
    assert not model.training  # stays in eval mode
    outs = wrapped(torch.randn(4, 2, 128))
    assert len(outs) == len(OUTPUT_NAMES) == 4
    logits, probs, eta, snr = outs
    torch.testing.assert_close(probs.sum(-1), torch.ones(4))
    torch.testing.assert_close(probs, torch.softmax(logits, -1))
    with_den = InferenceModel(model, with_denoised=True)
    assert with_den.output_names == OUTPUT_NAMES + ["denoised"]
    assert with_den(torch.randn(4, 2, 128))[-1].shape == (4, 2, 128)


def test_flops_match_analytic_count() -> None:
    cfg = config("cldnn")
    model = build_model(cfg)
    c, k, h, length = cfg.conv_channels, cfg.kernel_size, cfg.rnn_hidden, 128
    expected = 2 * 2 * c * k * length  # stem
    for pool in model.pools:
        expected += 2 * c * c * k * length
        length //= pool
    expected += 2 * 4 * (c + h) * h * length  # LSTM over the pooled steps
    expected += 2 * (2 * h * cfg.dense + cfg.dense * cfg.num_classes)
    assert flops_per_frame(model, 128) == expected
    assert model.training  # mode restored
    assert flops_per_frame(build_model(config("a4")), 128) > expected


def _psk(order: int, n: int, g: torch.Generator) -> torch.Tensor:
    k = torch.randint(0, order, (1, n), generator=g).float()
    phase = 2 * math.pi * k / order + (math.pi / 4 if order == 4 else 0.0)
    return torch.stack([phase.cos(), phase.sin()], dim=1)


def test_expert_features_known_values() -> None:
    g = torch.Generator().manual_seed(0)
    idx = {n: i for i, n in enumerate(EXPERT_FEATURES)}
    bpsk = expert_features(_psk(2, 4096, g))[0]
    qpsk = expert_features(_psk(4, 4096, g))[0]
    gauss = expert_features(torch.randn(1, 2, 65536, generator=g) / math.sqrt(2))[0]
    for feats, values in [(bpsk, dict(c20=1, c40=2, c41=2, c42=2, c61=16, c63=16, amp_mean=1)),
                          (qpsk, dict(c40=1, c42=1, c61=4, c63=4, amp_mean=1))]:
        for name, value in values.items():
            assert feats[idx[name]].item() == pytest.approx(value, abs=1e-3), name
    for name in ("c40", "c41", "c42", "c63"):
        assert gauss[idx[name]].item() < 0.1, name
    assert gauss[idx["amp_kurt"]].item() == pytest.approx(3.245, abs=0.1)  # Rayleigh kurtosis
    assert expert_features(torch.zeros(2, 2, 64)).isfinite().all()
    # a pure tone of f cycles/sample has instantaneous frequency 2 f (units of pi rad/sample), std 0
    t = torch.arange(256.0)
    tone = torch.stack([torch.cos(2 * math.pi * 0.1 * t), torch.sin(2 * math.pi * 0.1 * t)])[None]
    feats = expert_features(tone)[0]
    assert feats[idx["if_abs"]].item() == pytest.approx(0.2, abs=1e-4)
    assert feats[idx["if_std"]].item() < 1e-3


def test_atan2_matches_torch() -> None:
    g = torch.Generator().manual_seed(1)
    y, x = torch.randn(10000, generator=g), torch.randn(10000, generator=g)
    y[:10], x[5:15] = 0.0, 0.0
    torch.testing.assert_close(atan2(y, x), torch.atan2(y, x), atol=1e-6, rtol=0)
