"""The channels-last training path computes what the (B, C, L) path computes: losses, gradients, BN buffers."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from amc.config import preset
from amc.models import build_model
from amc.models.layout import from_cl, run, to_cl
from amc.train.losses import TrainStep
from amc.train.mixup import mix


def _steps(name: str, dtype: torch.dtype, length: int = 128):
    model_cfg, cfg = preset(name)
    model_cfg.frame_length = length
    torch.manual_seed(0)
    ncl = TrainStep(build_model(model_cfg).to(dtype), cfg)
    cl = copy.deepcopy(ncl)
    cl.model.channels_last = True
    return ncl, cl, cfg


def _batch(dtype: torch.dtype, length: int = 128, b: int = 48):
    g = torch.Generator().manual_seed(1)
    clean = torch.randn(b, 2, length, generator=g, dtype=dtype)
    clean = clean / clean.pow(2).sum(1).mean(-1).sqrt().view(-1, 1, 1)
    snr = torch.randint(-20, 20, (b,), generator=g).to(dtype)
    x = clean + 0.3 * torch.randn(b, 2, length, generator=g, dtype=dtype)
    return x, clean, snr, torch.randint(0, 11, (b,), generator=g)


@pytest.mark.parametrize("name", ["a4", "a3", "cldnn", "a5"])
@pytest.mark.parametrize("mixed", [False, True])
def test_channels_last_training_step_equals_the_1d_path_in_float64(name: str, mixed: bool) -> None:
    # (a length not divisible by 2**depth also exercises the denoiser's padding and cropping)
    ncl, cl, cfg = _steps(name, torch.float64, length=100)
    x, clean, snr, y = _batch(torch.float64, length=100)
    m = mix(x, y, snr, 0.2, 1.0, None, np.random.default_rng(3)) if mixed else None
    outs = []
    for step in (ncl, cl):
        torch.manual_seed(7)  # the same dropout masks
        out = step(x, clean, snr, y, m)
        out["total"].backward()
        outs.append(out)
    for key in ("total", "ce", "den", "eta", "id"):
        assert torch.allclose(outs[0][key], outs[1][key], rtol=1e-10, atol=1e-12), key
    for (name_p, p1), p2 in zip(ncl.named_parameters(), cl.parameters()):
        assert (p1.grad is None) == (p2.grad is None), name_p
        if p1.grad is not None:
            assert torch.allclose(p1.grad, p2.grad, rtol=1e-8, atol=1e-12), name_p
    for (name_b, b1), b2 in zip(ncl.model.named_buffers(), cl.model.buffers()):
        assert torch.equal(b1, b2) if b1.dtype == torch.long else torch.allclose(b1, b2, atol=1e-12), name_b
    assert int(cl.model.body[0].bn.num_batches_tracked) >= 1  # the buffers really were updated


def test_channels_last_is_training_only_and_faithful_in_float32() -> None:
    ncl, cl, _ = _steps("a4", torch.float32)
    x, clean, snr, y = _batch(torch.float32)
    torch.manual_seed(7)
    a = float(ncl(x, clean, snr, y, None)["total"].detach())
    torch.manual_seed(7)
    b = float(cl(x, clean, snr, y, None)["total"].detach())
    assert abs(a - b) < 1e-5 * abs(a)
    # eval mode (validation, export, inference) never takes the channels-last path: with the same weights
    # and BN statistics the outputs are bit-identical
    cl.model.load_state_dict(ncl.model.state_dict())
    ncl.model.eval(), cl.model.eval()
    with torch.no_grad():
        assert torch.equal(ncl.model(x).logits, cl.model(x).logits)


def test_run_maps_each_module_to_its_2d_form() -> None:
    torch.manual_seed(0)
    h = torch.randn(5, 6, 33)
    mods = [nn.Conv1d(6, 4, 5, padding="same"), nn.Conv1d(6, 4, 3, stride=2, padding=1, dilation=2),
            nn.ConvTranspose1d(6, 3, 4, stride=2, padding=1), nn.MaxPool1d(2), nn.MaxPool1d(3, stride=2),
            nn.Sequential(nn.Conv1d(6, 6, 7, padding=3, bias=False), nn.BatchNorm1d(6), nn.ReLU()),
            nn.Identity()]
    for m in mods:
        assert torch.allclose(from_cl(run(m, to_cl(h))), m(h), atol=1e-5), m
    assert run(mods[0], h) is not None and torch.equal(run(mods[0], h), mods[0](h))  # 3-D: the module itself
    assert to_cl(h).is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(TypeError, match="no channels-last form for GRU"):
        run(nn.GRU(6, 4), to_cl(h))
