"""One small trained run shared by the eval tests, trained the way a user would: from the folder that
holds the data, with relative paths; its fp32 ONNX export; a second dataset of the same classes; an
ONNX engine damaged after export (weights perturbed, metadata kept)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from amc.config import SynthConfig, preset
from amc.data.build import synth_to_file

CLASSES = ["BPSK", "QPSK", "AM-DSB", "WBFM"]
SNRS = [0.0, 10.0, 20.0]
TINY = dict(conv_channels=16, rnn_hidden=16, denoiser_channels=8, dense=32)


@pytest.fixture(autouse=True)
def one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def run(tmp_path_factory) -> Path:
    """ROOT/d.h5 and ROOT/run, trained with cwd = ROOT and relative paths; returns ROOT."""
    from amc.train.loop import train

    root = tmp_path_factory.mktemp("evalrun")
    synth_to_file(SynthConfig(classes=CLASSES, snrs=SNRS, frames_per_class_snr=160, seed=3), root / "d.h5")
    m, t = preset("a4", data="d.h5", out_dir="run", epochs=8, batch_size=32, lr=3e-3, **TINY)
    here, n = os.getcwd(), torch.get_num_threads()
    os.chdir(root)
    torch.set_num_threads(1)
    try:
        train(m, t, progress=False, say=None)
    finally:
        os.chdir(here)
        torch.set_num_threads(n)
    return root


@pytest.fixture(scope="session")
def onnx_fp32(run) -> Path:
    from amc.export import export

    return export(run / "run", fmt="onnx", precision="fp32", out=run / "model.onnx").path


@pytest.fixture(scope="session")
def second_file(run) -> Path:
    """Foreign data: the same classes and SNRs, another seed (no training reference covers it)."""
    path = run / "second.h5"
    synth_to_file(SynthConfig(classes=CLASSES, snrs=SNRS, frames_per_class_snr=40, seed=11), path)
    return path


def damage(onnx_path: Path, scale: float, out: Path) -> Path:
    """The export with its weight matrices perturbed (`scale` sigma noise): same metadata, same source
    checkpoint hash, a different model: what a broken converter or a corrupted deployment would give."""
    proto = onnx.load(str(onnx_path))
    g = np.random.default_rng(0)
    for init in proto.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.dtype == np.float32 and w.ndim > 1 and w.size > 16:
            noisy = w + scale * w.std() * g.standard_normal(w.shape)
            init.CopyFrom(numpy_helper.from_array(noisy.astype(np.float32), init.name))
    onnx.save(proto, str(out))
    return out


@pytest.fixture(scope="session")
def damaged_onnx(run, onnx_fp32) -> Path:
    return damage(onnx_fp32, 1.0, run / "damaged.onnx")


@pytest.fixture(scope="session")
def mildly_damaged_onnx(run, onnx_fp32) -> Path:
    return damage(onnx_fp32, 0.5, run / "mildly_damaged.onnx")
