"""Fixtures for export / runtime tests: one tiny trained run (shared by the session) and tiny
untrained checkpoints per preset (no training, made in milliseconds)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from amc.config import DEFAULT_BANDS, RML2016_CLASSES, SynthConfig, preset, to_dict
from amc.models import build_model
from amc.train.checkpoint import NORMALISATION, save_checkpoint

TINY = dict(conv_channels=16, rnn_hidden=16, denoiser_channels=8, dense=32)
PRESETS = ["cldnn", "a3", "a4", "a5"]


def randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-trivial BatchNorm statistics and FiLM, and a head with clear logit margins, so that the
    numbers an export must reproduce mean something."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
        if getattr(model, "film", None) is not None:
            last = model.film.mlp[-1]
            last.weight.copy_(0.3 * torch.randn(last.weight.shape, generator=g))
            last.bias.copy_(0.1 * torch.randn(last.bias.shape, generator=g))
        model.head[-1].weight.mul_(8.0)
    return model.eval()


def make_checkpoint(path: Path, preset_name: str = "a4", frame_length: int = 128,
                    classes: list[str] | None = None, dataset: str = "", seed: int = 0, **model: object) -> Path:
    """An untrained amc checkpoint (randomised as above) with the full self-description; `model`
    overrides ModelConfig fields of the preset (e.g. rnn="gru")."""
    classes = list(classes or RML2016_CLASSES)
    cfg, tcfg = preset(preset_name, **{**TINY, **model})
    cfg = dataclasses.replace(cfg, num_classes=len(classes), frame_length=frame_length)
    torch.manual_seed(seed)
    model = randomise(build_model(cfg), seed)
    snrs = [-10.0, 0.0, 10.0, 20.0]
    state = {"model_state": model.state_dict(), "model_config": to_dict(cfg), "train_config": to_dict(tcfg),
             "classes": classes, "frame_length": frame_length, "snr_grid": snrs,
             "bands": {k: list(v) for k, v in DEFAULT_BANDS.items()}, "normalisation": NORMALISATION,
             "split": {}, "dataset": dataset, "epoch": 0,
             "metrics": {"val_acc": 0.5, "per_snr": {f"{s:g}": 0.5 for s in snrs},
                         "bands": {"low": 0.5, "mid": 0.5, "high": 0.5}}}
    return save_checkpoint(path, state)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-epoch a4 run on a small synthetic dataset: RUN/best.pt, the dataset at RUN/../d.h5."""
    from amc.data.build import synth_to_file
    from amc.train.loop import train

    tmp = tmp_path_factory.mktemp("export_run")
    synth_to_file(SynthConfig(frames_per_class_snr=12, snrs=[-10.0, 0.0, 10.0, 20.0]), tmp / "d.h5")
    m, t = preset("a4", data=str(tmp / "d.h5"), out_dir=str(tmp / "run"), epochs=1, batch_size=64, **TINY)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(m, t, progress=False)
    finally:
        torch.set_num_threads(n)
    return tmp / "run"


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """preset name -> untrained checkpoint (dataset missing, so parity uses synthetic frames)."""
    tmp = tmp_path_factory.mktemp("tiny_ckpts")
    return {p: make_checkpoint(tmp / p / "best.pt", p, dataset=str(tmp / "missing.h5")) for p in PRESETS}


@pytest.fixture(autouse=True)
def small_parity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compare 64 frames, not 512: keeps the export tests fast on a 2-core machine."""
    import amc.export.parity

    monkeypatch.setattr(amc.export.parity, "PARITY_FRAMES", 64)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models: one torch thread is as fast, and spares the (shared, 2-core) machine's OpenMP
    oversubscription when other work is running."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def parity_holds(p: dict) -> bool:
    """The export's parity verdict on an untrained model's few frames: agreement must pass; where near ties
    leave only accuracy to judge, so few frames may honestly be inconclusive (kept with a note), never FAIL."""
    if p.get("judged_on") == "agreement":
        return bool(p["passed"])
    return p.get("verdict") in ("pass", "inconclusive")
