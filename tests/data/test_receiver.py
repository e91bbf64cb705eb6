"""The sdr class set's generator (amc.data.receiver): each range measured on the frames it made."""

from __future__ import annotations

import numpy as np
import pytest

from amc.config import SDR_CLASSES, SynthConfig
from amc.data import receiver as R
from amc.data.synth import frames, synthesize

CFG = SynthConfig(class_set="sdr", max_cfo=0.04, fading="none", sample_rate=125e3)
N = 256


def make(name: str, snr: float = 40.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x, c = frames(name, np.full(N, snr), CFG, np.random.default_rng(seed))
    return x[:, 0] + 1j * x[:, 1], c[:, 0] + 1j * c[:, 1]


def test_class_set_shape_and_reproducibility():
    cfg = SynthConfig(class_set="sdr", frames_per_class_snr=2, snrs=[0.0, 20.0], seed=5)
    a, b = synthesize(cfg), synthesize(cfg)
    assert a.classes == SDR_CLASSES and len(SDR_CLASSES) == 16 and a.x.shape == (64, 2, 512)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_allclose((a.x.astype(np.float64) ** 2).sum((1, 2)) / 512, 1.0, rtol=1e-3)  # unit power


def test_ook_and_ask_levels():
    """OOK is off (0) or on; 2-ASK's lowest level lies in ASK_FLOOR of the top; pulses 8..160 samples."""
    _, c = make("OOK")
    env = np.abs(c)
    top = np.quantile(env, 0.95, axis=1)
    on = env > top[:, None] / 2
    off = np.quantile(env, 0.02, axis=1) / top
    assert np.median(off) < 0.02  # off is off (edges smoothed; a frame inside one pulse has no off part)
    runs = [np.diff(np.flatnonzero(np.diff(r.astype(int)))) for r in on]
    widths = np.concatenate([w for w in runs if len(w)])
    assert widths.min() >= R.ASK_SPS[0] - 2 * R.ASK_RISE[1] and np.median(widths) > 16
    _, c = make("2ASK")
    env = np.abs(c)
    mask = env > 1e-6  # outside the burst's silence
    lo = np.array([np.quantile(e[m], 0.05) / np.quantile(e[m], 0.95) for e, m in zip(env, mask) if m.sum() > 100])
    assert 0.08 < np.median(lo) < 0.5 and lo.min() > 0.05


def test_fsk_deviation_and_index_ranges():
    """2-FSK: |instantaneous frequency - carrier| in FSK_DEV; index h spans well past 2 (wide FSK)."""
    _, c = make("2FSK")
    f = np.angle(c[:, 1:] * np.conj(c[:, :-1])) / (2 * np.pi)
    live = np.abs(c[:, 1:]) > 1e-6
    dev = np.array([(np.quantile(fi[m], 0.9) - np.quantile(fi[m], 0.1)) / 2 for fi, m in zip(f, live)])
    two = dev > 0.005  # frames that hold both tones (a long symbol may fill a whole frame)
    assert two.mean() > 0.7
    assert dev[two].min() > R.FSK_DEV[0] * 0.8 and dev.max() < R.FSK_DEV[1] * 1.1
    assert np.quantile(dev, 0.9) > 0.15  # wide deviations are there (up to 40 kHz at 125 kHz)


def test_carrier_offset_within_max_cfo():
    _, c = make("2FSK", seed=1)
    f = np.angle(c[:, 1:] * np.conj(c[:, :-1])) / (2 * np.pi)
    live = np.abs(c[:, 1:]) > 1e-6
    centre = np.array([np.median(fi[m]) for fi, m in zip(f, live)])
    assert np.abs(centre).max() < CFG.max_cfo + 0.33 and np.abs(np.mean(centre)) < 0.02


def test_burst_share_and_silence():
    _, c = make("BPSK")
    silent = (np.abs(c) < 1e-6).mean(1)
    cut = silent > 0.01
    assert abs(cut.mean() - R.BURST_P) < 0.1 and silent.max() <= R.BURST_SILENT[1] + 0.01


def test_eight_bit_quantisation():
    """The receiver's ADC: each frame's I and Q take at most 255 levels on one grid."""
    x, _ = make("QAM16", snr=20.0)
    for row in x[:16]:
        v = np.concatenate([row.real, row.imag])
        step = np.min(np.diff(np.unique(v)))
        assert len(np.unique(v)) <= 255
        np.testing.assert_allclose(v / step, np.rint(v / step), atol=1e-2)


@pytest.mark.parametrize("snr", [0.0, 20.0])
def test_snr_against_the_active_part(snr):
    x, c = make("GFSK", snr=snr, seed=2)
    on = np.abs(c) > 1e-6
    ps = (np.abs(c) ** 2 * on).sum(1) / on.sum(1)
    pn = (np.abs(x - c) ** 2).mean(1)  # noise + DC + IQ + quantisation
    assert abs(np.median(10 * np.log10(ps / pn)) - snr) < 1.5  # the receiver's DC / IQ / ADC errors add a little
