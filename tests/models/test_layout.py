"""The channels-last training path computes what the (B, C, L) path computes: losses, gradients, BN buffers."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from amc.config import preset
from amc.models import build_model, cldnn
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


def test_channels_last_is_training_only_and_faithful_in_float32(monkeypatch) -> None:
    # float32 takes oneDNN's channels-last kernels (float64 above does not): the same to float rounding.
    ncl, cl, _ = _steps("a4", torch.float32)
    x, clean, snr, y = _batch(torch.float32)
    calls = {"n": 0}
    real_to_cl = cldnn.to_cl

    def counting_to_cl(t):
        calls["n"] += 1
        return real_to_cl(t)

    monkeypatch.setattr(cldnn, "to_cl", counting_to_cl)
    totals = []
    for step in (ncl, cl):
        torch.manual_seed(7)
        out = step(x, clean, snr, y, None)
        out["total"].backward()
        totals.append(float(out["total"].detach()))
        if step is ncl:
            assert calls["n"] == 0  # the (B, C, L) path never converts
    assert calls["n"] >= 4  # the channels-last path really ran (denoiser, noise head, both stems)
    assert abs(totals[0] - totals[1]) < 1e-5 * abs(totals[0])
    ga, gb = ([p.grad.flatten() for p in s.parameters() if p.grad is not None] for s in (ncl, cl))
    ga, gb = torch.cat(list(ga)), torch.cat(list(gb))
    assert float((ga - gb).norm() / ga.norm()) < 1e-4  # measured 1.5e-6 (1 vs 2 threads on one path: 6e-7)
    for b1, b2 in zip(ncl.model.buffers(), cl.model.buffers()):
        assert torch.allclose(b1.float(), b2.float(), atol=1e-5)
    calls["n"] = 0
    # eval mode (validation, export, inference) never takes the channels-last path: with the same weights
    # and BN statistics the outputs are bit-identical
    cl.model.load_state_dict(ncl.model.state_dict())
    ncl.model.eval(), cl.model.eval()
    with torch.no_grad():
        assert torch.equal(ncl.model(x).logits, cl.model(x).logits)
    assert calls["n"] == 0  # eval mode never converts


def test_training_on_the_cpu_takes_the_channels_last_path(tmp_path, monkeypatch) -> None:
    from amc.config import SynthConfig
    from amc.data.build import synth_to_file
    from amc.train.loop import train

    seen: list[bool] = []
    real = cldnn.CLDNN.classify

    def spy(self, *args):
        seen.append(self._cl())
        return real(self, *args)

    monkeypatch.setattr(cldnn.CLDNN, "classify", spy)
    synth_to_file(SynthConfig(classes=["BPSK", "QPSK"], snrs=[10.0], frames_per_class_snr=40, seed=0),
                  tmp_path / "d.h5")
    m, t = preset("a4", data=str(tmp_path / "d.h5"), out_dir=str(tmp_path / "run"), epochs=1, batch_size=16,
                  conv_channels=8, rnn_hidden=8, denoiser_channels=8, dense=16)
    train(m, t, progress=False, say=None)
    assert True in seen and False in seen  # training steps channels-last, validation (eval mode) not


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
