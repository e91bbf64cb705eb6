"""Channelising by streaming block equals scipy on the whole signal; the mixer and filters do their job."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import firwin, resample_poly, upfirdn

from amc.classify.channel import Channeliser, RateError, RateMatch, StreamResampler


def noise(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)


def stream(r, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    out, i, k = [], 0, 0
    while i < len(x):
        out.append(r.push(x[i:i + sizes[k % len(sizes)]]))
        i += sizes[k % len(sizes)]
        k += 1
    out.append(r.flush())
    return np.concatenate(out)


@pytest.mark.parametrize("fs_in", [400e3, 1e6, 2.4e6, 2.048e6, 150e3, 61.44e6])
def test_streamed_resampling_equals_one_resample_poly_call(fs_in):
    m = RateMatch.find(fs_in, 200e3)
    x = noise(60011)
    want = resample_poly(x, m.up, m.down)
    got = stream(StreamResampler(m.up, m.down), x, [1, 7, 5000, 20000, 3])
    assert len(got) == len(want)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_streamed_resampling_with_a_channel_filter_and_at_ratio_one():
    x = noise(30000, 1)
    h = firwin(401, 20e3, fs=800e3)
    np.testing.assert_allclose(stream(StreamResampler(1, 2, h), x, [999, 4096]), resample_poly(x, 1, 2, window=h),
                               atol=1e-5)
    h1 = firwin(101, 30e3, fs=200e3)
    want = upfirdn(h1, x)[50:50 + len(x)]  # zero-phase FIR at 1/1 (resample_poly would return x unfiltered)
    np.testing.assert_allclose(stream(StreamResampler(1, 1, h1), x, [1000, 77]), want, atol=1e-5)


def test_rate_match():
    assert (RateMatch.find(2.048e6, 200e3).up, RateMatch.find(2.048e6, 200e3).down) == (25, 256)
    odd = RateMatch.find(1e6, 200_000.5)  # 2.5 ppm from 1/5: close enough (the model trains with +-100 ppm)
    assert (odd.up, odd.down) == (1, 5) and abs(odd.error_ppm - 2.5) < 1e-3
    fine = RateMatch.find(1e6, 200_020.0)  # 100 ppm from 1/5: a finer factor
    assert fine.error_ppm <= 10 and fine.down > 5
    assert RateMatch.find(1e6, 200e3).to_input(np.array([0, 1, 128])).tolist() == [0, 5, 640]
    with pytest.raises(RateError, match="more than 16x slower"):
        RateMatch.find(10e3, 200e3)


def psd_db_at(y: np.ndarray, freq: float, fs: float) -> float:
    spec = np.abs(np.fft.fft(y * np.hanning(len(y)))) ** 2
    f = np.fft.fftfreq(len(y), 1 / fs)
    return 10 * np.log10(spec[np.argmin(np.abs(f - freq))] / spec.max())


def test_channeliser_centres_the_channel_and_rejects_the_neighbour():
    fs, n = 400e3, 1 << 16
    k = np.arange(n)
    wanted = np.exp(2j * np.pi * 61e3 / fs * k)  # the channel at +60 kHz, a tone 1 kHz above its centre
    neighbour = np.exp(2j * np.pi * -120e3 / fs * k)  # another channel, as strong
    x = (wanted + neighbour).astype(np.complex64)
    ch = Channeliser(RateMatch.find(fs, 200e3), center_offset=60e3)
    y = stream(ch, x, [10000, 333])[1000:-1000]
    assert ch.band == (60e3 - 100e3, 60e3 + 100e3)
    spec = np.abs(np.fft.fftshift(np.fft.fft(y * np.hanning(len(y)))))
    f = np.fft.fftshift(np.fft.fftfreq(len(y), 1 / 200e3))
    assert abs(f[spec.argmax()] - 1e3) < 10  # the wanted tone now sits 1 kHz above 0 Hz
    assert psd_db_at(y, -180e3 + 200e3, 200e3) < -50  # the neighbour (-180 kHz after the shift) is gone


def test_bandwidth_narrows_the_channel():
    fs, n = 200e3, 1 << 15
    k = np.arange(n)
    x = (np.exp(2j * np.pi * 5e3 / fs * k) + np.exp(2j * np.pi * 40e3 / fs * k)).astype(np.complex64)
    y = stream(Channeliser(RateMatch.find(fs, 200e3), bandwidth=30e3), x, [4096])[2000:-2000]
    assert psd_db_at(y, 5e3, fs) > -1 and psd_db_at(y, 40e3, fs) < -40
    with pytest.raises(RateError, match="--bandwidth"):
        Channeliser(RateMatch.find(fs, 200e3), bandwidth=300e3)
    with pytest.raises(RateError, match="--center-offset"):
        Channeliser(RateMatch.find(fs, 200e3), center_offset=120e3)


def test_mixer_phase_is_continuous_across_blocks():
    fs = 1e6
    x = np.ones(10007, np.complex64)
    ch = Channeliser(RateMatch.find(fs, fs), center_offset=-123.4e3)
    y = stream(ch, x, [1, 500, 999])
    np.testing.assert_allclose(y, np.exp(2j * np.pi * 123.4e3 / fs * np.arange(len(x))), atol=2e-6)
