"""A small model trained on amc's own generator, and a SigMF recording with known segments.

The model (3 classes, width 16, 12 epochs, ~40 s on one core) is trained once per session; the
recording puts BPSK, silence, WBFM and QPSK (in that order) at twice the model's rate, 60.2 kHz off
centre, with an AM-DSB interferer in another channel and white noise at 20 dB in the model's band.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from amc.classify.synth import make_iq, write_sigmf
from amc.config import SynthConfig, preset

CLASSES = ["BPSK", "QPSK", "WBFM"]
MODEL_RATE = 200e3
UP = 2  # the recording runs at twice the model's rate
OFFSET = 60.2e3  # the channel's true offset; the tests ask for 60 kHz (a 200 Hz residual carrier offset)
PLAN = [("BPSK", 6000), (None, 4000), ("WBFM", 6000), ("QPSK", 6000)]  # samples at the model's rate
INTERFERER = [("AM-DSB", -120e3, 0.0)]  # another channel, as strong as the wanted one
CENTER_FREQ = 915e6


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained run directory (best.pt) whose metadata states its 200 kHz rate."""
    from amc.data.build import synth_to_file
    from amc.train.loop import train

    tmp = tmp_path_factory.mktemp("classify_model")
    synth_to_file(SynthConfig(classes=CLASSES, snrs=[-20.0, 0.0, 10.0, 20.0], frames_per_class_snr=200, seed=3,
                              fading="none", sample_rate=MODEL_RATE), tmp / "d.h5")
    m, t = preset("a4", data=str(tmp / "d.h5"), out_dir=str(tmp / "run"), epochs=12, batch_size=64, lr=1e-2,
                  mixup_prob=0.0, aug_shift=False, conv_channels=16, rnn_hidden=16, denoiser_channels=8, dense=32)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(m, t, progress=False)
    finally:
        torch.set_num_threads(n)
    return tmp / "run"


@pytest.fixture(scope="session")
def onnx_model(trained_model: Path) -> Path:
    from amc.export import export

    return Path(export(trained_model, precision="fp32", out=trained_model / "model.onnx").path)


@pytest.fixture(scope="session")
def recording_iq():
    """(complex64 samples at 400 kHz, true segments)."""
    return make_iq(PLAN, model_rate=MODEL_RATE, up=UP, offset_hz=OFFSET, snr_db=20.0, interferers=INTERFERER, seed=1)


@pytest.fixture
def recording(tmp_path: Path, recording_iq) -> tuple[Path, list]:
    """A fresh cf32_le SigMF recording (meta path, truth) per test: annotations get written into it."""
    x, truth = recording_iq
    return write_sigmf(tmp_path / "rec", x, MODEL_RATE * UP, "cf32_le", center_freq=CENTER_FREQ), truth


@pytest.fixture(autouse=True)
def one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
