"""CUDA numerics, checked on the CPU through torch's own flags: a CUDA TorchEngine (the fp32 reference of
every parity check) turns TF32 off, and training on a CUDA device asks for deterministic algorithms."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from amc.config import preset
from amc.models import build_model
from amc.models.numerics import fp32_state, reproducible_cuda, strict_fp32
from amc.runtime import TorchEngine


@pytest.fixture
def restore_backend_flags():
    """Leave torch's process-wide flags as the test found them."""
    b = torch.backends
    new_api = hasattr(b.cudnn, "conv") and hasattr(b.cudnn.conv, "fp32_precision")
    saved = ((b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision, b.cudnn.rnn.fp32_precision) if new_api
             else (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32))
    det = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
           b.cudnn.deterministic, b.cudnn.benchmark, os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    yield new_api
    if new_api:
        b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision, b.cudnn.rnn.fp32_precision = saved
    else:
        b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32 = saved
    torch.use_deterministic_algorithms(det[0], warn_only=det[1])
    b.cudnn.deterministic, b.cudnn.benchmark = det[2], det[3]
    if det[4] is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


def _tf32_everywhere(new_api: bool) -> None:
    b = torch.backends
    if new_api:
        b.cuda.matmul.fp32_precision = b.cudnn.conv.fp32_precision = b.cudnn.rnn.fp32_precision = "tf32"
    else:
        b.cuda.matmul.allow_tf32 = b.cudnn.allow_tf32 = True


def test_cuda_torch_engine_turns_tf32_off(restore_backend_flags: bool) -> None:
    _tf32_everywhere(restore_backend_flags)
    assert fp32_state() == {"matmul": "tf32", "conv": "tf32", "rnn": "tf32"}
    cfg, _ = preset("a4", conv_channels=8, rnn_hidden=8, denoiser_channels=8, dense=16)
    meta = {"classes": [str(i) for i in range(cfg.num_classes)], "frame_length": cfg.frame_length}
    TorchEngine(build_model(cfg), meta, device="cpu")
    assert fp32_state()["conv"] == "tf32"  # a CPU engine leaves the CUDA flags alone
    try:
        TorchEngine(build_model(cfg), meta, device="cuda")
    except (AssertionError, RuntimeError):  # a CPU-only torch cannot move the model; the flags are set first
        assert not torch.cuda.is_available()
    if restore_backend_flags:  # torch's own settings, as torch >= 2.9 reports them
        b = torch.backends
        assert (b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision, b.cudnn.rnn.fp32_precision) == (
            "ieee", "ieee", "ieee")
    else:
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert strict_fp32() == {"matmul": "ieee", "conv": "ieee", "rnn": "ieee"}


def test_reproducible_cuda_flags(restore_backend_flags: bool) -> None:
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.benchmark = True
    got = reproducible_cuda()
    assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] in (":4096:8", ":16:8")
    assert got["deterministic_algorithms"] is True


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the GPU resume test runs instead")
def test_training_on_cuda_asks_for_determinism(restore_backend_flags: bool, small_h5, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import amc.train.loop as loop

    torch.use_deterministic_algorithms(False)
    monkeypatch.setattr(loop, "_device", lambda: torch.device("cuda"))
    path = small_h5[0]
    m, t = preset("a4", data=str(path), out_dir=str(tmp_path / "run"), epochs=1, conv_channels=8, rnn_hidden=8,
                  denoiser_channels=8, dense=16)
    with pytest.raises((AssertionError, RuntimeError)):  # this torch has no CUDA: the model cannot move there
        loop.train(m, t, progress=False)
    assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic


def test_strict_fp32_scope_sets_and_restores(restore_backend_flags: bool) -> None:
    from amc.models.numerics import strict_fp32_scope

    _tf32_everywhere(restore_backend_flags)
    with strict_fp32_scope() as inside:
        assert inside == fp32_state() == {"matmul": "ieee", "conv": "ieee", "rnn": "ieee"}
    assert fp32_state() == {"matmul": "tf32", "conv": "tf32", "rnn": "tf32"}
    with pytest.raises(RuntimeError), strict_fp32_scope():
        raise RuntimeError
    assert fp32_state() == {"matmul": "tf32", "conv": "tf32", "rnn": "tf32"}


def test_training_reference_passes_run_in_strict_fp32(restore_backend_flags: bool, small_h5) -> None:
    """The pass whose predictions training stores as the reference (amc.train.loop.evaluate) sees TF32 off,
    while training's own setting is back after it."""
    import numpy as np

    from amc.config import DEFAULT_BANDS
    from amc.data.io import open_dataset
    from amc.train.data import FrameSource
    from amc.train.loop import evaluate

    path, *_ = small_h5
    cfg, _ = preset("a4", conv_channels=8, rnn_hidden=8, denoiser_channels=8, dense=16, num_classes=3,
                    frame_length=32)
    model = build_model(cfg)
    seen: list[dict] = []
    model.register_forward_pre_hook(lambda m, a: seen.append(fp32_state()))
    _tf32_everywhere(restore_backend_flags)
    with open_dataset(path) as ds:
        out = evaluate(model, FrameSource(ds, np.arange(len(ds)), 1 << 26, 0), 64, DEFAULT_BANDS,
                       torch.device("cpu"), 3)
    assert len(out["predictions"]) == 120 and seen
    assert all(s == {"matmul": "ieee", "conv": "ieee", "rnn": "ieee"} for s in seen), seen
    assert fp32_state() == {"matmul": "tf32", "conv": "tf32", "rnn": "tf32"}
