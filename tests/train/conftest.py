"""A tiny synthetic dataset and tiny-model settings shared by the training tests."""

from __future__ import annotations

import pytest

from amc.config import SynthConfig
from amc.data.build import synth_to_file

TINY = dict(conv_channels=16, rnn_hidden=16, denoiser_channels=8, dense=32, batch_size=64)


@pytest.fixture(scope="session")
def tiny_h5(tmp_path_factory):
    """4 classes x 4 SNRs x 40 frames at L=128, with clean frames."""
    path = tmp_path_factory.mktemp("data") / "tiny.h5"
    synth_to_file(SynthConfig(classes=["BPSK", "QPSK", "AM-DSB", "WBFM"], snrs=[-10.0, 0.0, 10.0, 20.0],
                              frames_per_class_snr=40, seed=1), path)
    return path
