"""Synthetic RadioML-style generator: reproducibility, shapes, exact SNR, constellations, spectra."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from amc.config import RML2016_CLASSES, RML2018_CLASSES, ConfigError, SynthConfig
from amc.data import synth
from amc.data.synth import (
    CONSTELLATIONS,
    apply_cfo,
    apply_fading,
    apply_sro,
    generate,
    iter_synthesize,
    rrc_taps,
    synthesize,
)

CLEAN = dict(fading="none", max_cfo=0.0, max_sro_ppm=0.0, random_phase=False)


def small(**kw) -> SynthConfig:
    base = dict(snrs=[-10.0, 0.0, 10.0], frames_per_class_snr=3, seed=7)
    return SynthConfig(**{**base, **kw})


def complex_frames(a: np.ndarray) -> np.ndarray:
    return a[:, 0].astype(np.float64) + 1j * a[:, 1].astype(np.float64)


def same(a: synth.SynthResult, b: synth.SynthResult) -> bool:
    return (np.array_equal(a.x, b.x) and np.array_equal(a.clean, b.clean)
            and np.array_equal(a.labels, b.labels) and np.array_equal(a.snr, b.snr)
            and a.classes == b.classes)


# ---------------------------------------------------------------- reproducibility

def test_same_config_same_frames_other_seed_differs():
    cfg = small()
    a, b = synthesize(cfg), synthesize(dataclasses.replace(cfg))
    assert same(a, b)
    c = synthesize(dataclasses.replace(cfg, seed=8))
    assert not np.array_equal(a.x, c.x)
    assert not np.array_equal(a.clean, c.clean)
    assert np.array_equal(a.labels, c.labels) and np.array_equal(a.snr, c.snr)


@pytest.mark.parametrize("chunk", [1, 7, 40, 10_000])
def test_iter_chunks_concatenate_to_synthesize(monkeypatch, chunk):
    monkeypatch.setattr(synth, "BLOCK_SAMPLES", 128 * 16)  # 16 frames per block (the minimum)
    cfg = small(classes=["QPSK", "WBFM", "GFSK"], frames_per_class_snr=8)  # 24 frames per class
    assert synth.block_size(cfg.length) == 16
    whole = synthesize(cfg)
    parts = list(iter_synthesize(cfg, chunk=chunk))
    assert all(len(p.labels) == chunk for p in parts[:-1]) and 0 < len(parts[-1].labels) <= chunk
    assert same(synth.concat(parts), whole)


def test_class_subset_reproduces_its_classes():
    full = synthesize(small())
    sub = synthesize(small(classes=["QPSK", "BPSK"]))
    for i, name in enumerate(sub.classes):
        j = RML2016_CLASSES.index(name)
        assert np.array_equal(sub.x[sub.labels == i], full.x[full.labels == j])


def test_generate_is_seeded_and_mixes_classes():
    cfg = small().validate()
    labels = np.array([3, 0, 3, 9, 0])
    snr = np.array([0.0, 10.0, 5.0, -5.0, 20.0])
    x1, c1 = generate(RML2016_CLASSES, labels, snr, cfg, np.random.default_rng(1))
    x2, c2 = generate(RML2016_CLASSES, labels, snr, cfg, np.random.default_rng(1))
    assert x1.shape == c1.shape == (5, 2, 128) and x1.dtype == np.float32
    assert np.array_equal(x1, x2) and np.array_equal(c1, c2)
    clean, noise = complex_frames(c1), complex_frames(x1) - complex_frames(c1)
    measured = 10 * np.log10(np.mean(np.abs(clean) ** 2, axis=1) / np.mean(np.abs(noise) ** 2, axis=1))
    np.testing.assert_allclose(measured, snr, atol=1.5)  # per frame, 128 samples


# ---------------------------------------------------------------- shapes, labels, power

@pytest.mark.parametrize("class_set, names, length", [
    ("rml2016", RML2016_CLASSES, 128),
    ("rml2018", RML2018_CLASSES, 1024),
])
def test_shapes_labels_grid_unit_power(class_set, names, length):
    snrs = [-20.0, 0.0, 18.0]
    cfg = SynthConfig(class_set=class_set, snrs=snrs, frames_per_class_snr=2, seed=1)
    r = synthesize(cfg)
    n = len(names) * len(snrs) * 2
    assert r.classes == names
    assert r.x.shape == r.clean.shape == (n, 2, length)
    assert r.x.dtype == r.clean.dtype == np.float32
    assert r.labels.dtype == np.int64 and r.snr.dtype == np.float32
    assert np.array_equal(r.labels, np.repeat(np.arange(len(names)), len(snrs) * 2))
    assert np.array_equal(r.snr, np.tile(np.repeat(np.float32(snrs), 2), len(names)))
    assert np.isfinite(r.x).all() and np.isfinite(r.clean).all()
    p = np.mean(np.abs(complex_frames(r.x)) ** 2, axis=1)
    np.testing.assert_allclose(p, 1.0, atol=1e-4)


def test_subset_and_frame_length():
    r = synthesize(small(classes=["WBFM", "8PSK"], frame_length=64))
    assert r.classes == ["WBFM", "8PSK"] and r.x.shape == (18, 2, 64)
    assert set(r.labels.tolist()) == {0, 1}


# ---------------------------------------------------------------- SNR

@pytest.mark.parametrize("class_set", ["rml2016", "rml2018"])
def test_measured_snr_matches_label(class_set):
    snrs = [-10.0, 0.0, 10.0, 20.0]
    fpcs = 10 if class_set == "rml2016" else 2
    r = synthesize(SynthConfig(class_set=class_set, snrs=snrs, frames_per_class_snr=fpcs, seed=3))
    clean = complex_frames(r.clean)
    noise = complex_frames(r.x) - clean
    measured = 10 * np.log10(np.mean(np.abs(clean) ** 2, axis=1) / np.mean(np.abs(noise) ** 2, axis=1))
    for s in snrs:
        assert abs(measured[r.snr == s].mean() - s) < 0.3, s


# ---------------------------------------------------------------- constellations

def evm(frame: np.ndarray, points: np.ndarray, cfg: SynthConfig) -> float:
    """EVM after the RRC matched filter, at the best of the sps symbol phases."""
    h = rrc_taps(cfg.rolloff, cfg.sps)
    y = np.convolve(frame, h)
    best = np.inf
    for off in range(cfg.sps):
        s = y[len(h) - 1 + off : len(frame) : cfg.sps]
        s = s / np.sqrt(np.mean(np.abs(s) ** 2))
        d = points[np.argmin(np.abs(s[:, None] - points), axis=1)]
        g = np.vdot(d, s) / np.vdot(d, d)
        best = min(best, float(np.sqrt(np.mean(np.abs(s - g * d) ** 2) / np.mean(np.abs(g * d) ** 2))))
    return best


def test_constellations_land_on_ideal_points():
    names = ["BPSK", "QPSK", "QAM16", "8PSK"]
    cfg = SynthConfig(classes=names, snrs=[30.0], frames_per_class_snr=3, frame_length=512, **CLEAN)
    r = synthesize(cfg)
    clean = complex_frames(r.clean)
    for i, name in enumerate(names):
        errors = [evm(f, CONSTELLATIONS[name], cfg) for f in clean[r.labels == i]]
        assert max(errors) < 0.05, (name, errors)
    # The x frames at 30 dB still sit close to the points; a wrong constellation does not.
    assert evm(complex_frames(r.x)[r.labels == 2][0], CONSTELLATIONS["QAM16"], cfg) < 0.08
    assert evm(clean[r.labels == 2][0], CONSTELLATIONS["QPSK"], cfg) > 0.2


# ---------------------------------------------------------------- spectra

def occupied_bw(frames: np.ndarray, share: float = 0.99) -> float:
    """Two-sided bandwidth (cycles/sample) holding `share` of the mean power spectrum."""
    z = complex_frames(frames)
    p = np.fft.fftshift(np.mean(np.abs(np.fft.fft(z * np.hanning(z.shape[1]), axis=1)) ** 2, axis=0))
    f = np.fft.fftshift(np.fft.fftfreq(z.shape[1]))
    c = np.cumsum(p) / p.sum()
    return float(f[np.searchsorted(c, 1 - (1 - share) / 2)] - f[np.searchsorted(c, (1 - share) / 2)])


def test_occupied_bandwidths():
    names = ["QPSK", "AM-DSB", "AM-SSB", "WBFM"]
    cfg = SynthConfig(classes=names, snrs=[30.0], frames_per_class_snr=12, frame_length=1024, **CLEAN)
    r = synthesize(cfg)
    bw = {n: occupied_bw(r.clean[r.labels == i]) for i, n in enumerate(names)}
    assert 0.12 < bw["QPSK"] < (1 + cfg.rolloff) / cfg.sps * 1.05, bw
    assert bw["AM-DSB"] < bw["QPSK"] and bw["AM-SSB"] < bw["QPSK"], bw
    assert bw["WBFM"] > bw["AM-DSB"] and bw["WBFM"] > bw["AM-SSB"], bw
    sc = ["AM-DSB-SC", "AM-SSB-SC"]
    cfg = SynthConfig(class_set="rml2018", classes=sc, snrs=[30.0], frames_per_class_snr=48, **CLEAN)
    r = synthesize(cfg)  # 48 frames: each frame draws its own message bandwidth
    dsb, ssb = (occupied_bw(r.clean[r.labels == i]) for i in range(2))
    assert 0.4 < ssb / dsb < 0.6, (dsb, ssb)


def test_fsk_shows_two_tones():
    names = ["CPFSK", "GFSK"]
    cfg = SynthConfig(classes=names, snrs=[30.0], frames_per_class_snr=4, frame_length=512, **CLEAN)
    r = synthesize(cfg)
    z = complex_frames(r.clean)
    freq = np.angle(z[:, 1:] * np.conj(z[:, :-1])) / (2 * np.pi)  # cycles/sample
    for i, name in enumerate(cfg.class_names):
        tone = synth.CPM[name][0] / (2 * cfg.sps)  # h / (2 sps)
        f = freq[r.labels == i].ravel()
        if name == "CPFSK":  # rectangular pulses: exactly the two tones
            np.testing.assert_allclose(np.abs(f), tone, rtol=1e-3)
        else:  # Gaussian-smoothed: mostly near the two tones
            assert np.mean(np.abs(np.abs(f) - tone) < 0.3 * tone) > 0.6
        assert 0.3 < np.mean(f > 0) < 0.7
        hist, _ = np.histogram(f, bins=[-2 * tone, -0.5 * tone, 0.5 * tone, 2 * tone])
        assert hist[0] > 3 * hist[1] and hist[2] > 3 * hist[1], (name, hist)


def test_fm_deviation_and_am_carrier():
    names = ["FM", "AM-DSB-WC", "AM-DSB-SC", "OQPSK"]
    cfg = SynthConfig(class_set="rml2018", classes=names, snrs=[30.0], frames_per_class_snr=6, **CLEAN)
    r = synthesize(cfg)
    z = complex_frames(r.clean)
    fm = z[r.labels == 0]
    dev = np.sqrt(np.mean((np.angle(fm[:, 1:] * np.conj(fm[:, :-1])) / (2 * np.pi)) ** 2, axis=1))
    lo, hi = (d / cfg.sps for d in synth.FM_DEVIATION)
    assert np.all((dev > lo * 0.99) & (dev < hi * 1.01)), dev
    carrier = np.abs(z.mean(axis=1))  # unit-power frames: the DC share of the amplitude
    assert np.all(carrier[r.labels == 1] > 0.7) and np.all(carrier[r.labels == 2] < 0.3)
    # Offset QPSK: the best I and Q sampling phases after the matched filter are half a symbol apart.
    h = rrc_taps(cfg.rolloff, cfg.sps)
    for frame in z[r.labels == 3]:
        y = np.convolve(frame, h)[len(h) : -len(h)]
        eye = [[np.mean(np.abs(part[o :: cfg.sps])) for o in range(cfg.sps)] for part in (y.real, y.imag)]
        assert (np.argmax(eye[1]) - np.argmax(eye[0])) % cfg.sps == cfg.sps // 2


# ---------------------------------------------------------------- channel pieces

def test_apply_cfo_matches_direct_rotation():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3, 300)) + 1j * rng.standard_normal((3, 300))).astype(np.complex64)
    cfo, phase = np.array([0.01, -0.003, 0.0]), np.array([0.5, 2.0, 0.0])
    want = x * np.exp(1j * (phase[:, None] + 2 * np.pi * cfo[:, None] * np.arange(300)))
    np.testing.assert_allclose(apply_cfo(x.copy(), cfo, phase), want, atol=1e-5)


@pytest.mark.parametrize("ppm", [80.0, 5000.0])  # within one sample of drift, and beyond it
def test_apply_sro_resamples_a_tone(ppm):
    f, n = 0.02, 400
    x = np.exp(2j * np.pi * f * np.arange(n + 10)).astype(np.complex64)[None].repeat(2, 0)
    ratio = np.array([1 + ppm * 1e-6, 1 - ppm * 1e-6])
    start = np.array([2, 3])
    y = apply_sro(x, ratio, start, n)
    t = start[:, None] + np.arange(n) * ratio[:, None]
    np.testing.assert_allclose(y, np.exp(2j * np.pi * f * t), atol=2e-4)
    exact = apply_sro(x, np.ones(2), start, n)  # ratio 1: an exact crop
    assert np.array_equal(exact, x[np.arange(2)[:, None], start[:, None] + np.arange(n)])


def test_apply_fading_delays_taps():
    x = np.arange(10, dtype=np.complex64)[None]
    y = apply_fading(x, np.array([[1.0, 0.5j, 0.0]], np.complex64))
    np.testing.assert_allclose(y[0], np.arange(2, 10) + 0.5j * np.arange(1, 9))


def test_fading_changes_only_the_channel():
    cfg = small(classes=["QPSK"], snrs=[30.0], frames_per_class_snr=8, fading="rayleigh", fading_taps=1)
    r = synthesize(cfg)
    assert np.isfinite(r.x).all()
    flat = synthesize(dataclasses.replace(cfg, fading="none"))
    assert not np.array_equal(r.clean, flat.clean)


# ---------------------------------------------------------------- errors

def test_unknown_class_raises_config_error_naming_it():
    with pytest.raises(ConfigError, match="QPKS"):
        synthesize(small(classes=["QPSK", "QPKS"]))
    with pytest.raises(ConfigError, match="FOO"):
        generate(["FOO"], np.zeros(1, np.int64), np.zeros(1), small().validate(), np.random.default_rng(0))
    with pytest.raises(ConfigError, match="fading"):
        synthesize(small(fading="awful"))
