"""Synthetic RadioML-style generator: reproducibility, shapes, exact SNR, constellations, spectra."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest
from scipy.signal import resample_poly

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

FIXED = dict(sps=8, rolloff=0.35)  # one realisation of the linear modulations (the RML2016 values)


def evm(frame: np.ndarray, points: np.ndarray, rolloff: float, sps: float, up: int = 16) -> float:
    """EVM after the RRC matched filter, at the best sampling instant (1/(up sps) symbol steps).

    A fractional sps is first resampled to the next integer rate (rational factor).
    """
    base = int(np.ceil(sps))
    if base != sps:
        frac = Fraction(base / sps).limit_denominator(1000)
        frame = resample_poly(frame, frac.numerator, frac.denominator)
    h = rrc_taps(rolloff, base, 24)
    y = resample_poly(np.convolve(frame, h)[len(h) - 1 : len(frame)], up, 1)[up * 20 : -up * 20]
    best = np.inf
    for off in range(base * up):
        s = y[off :: base * up]
        s = s / np.sqrt(np.mean(np.abs(s) ** 2))
        d = points[np.argmin(np.abs(s[:, None] - points), axis=1)]
        g = np.vdot(d, s) / np.vdot(d, d)
        best = min(best, float(np.sqrt(np.mean(np.abs(s - g * d) ** 2) / np.mean(np.abs(g * d) ** 2))))
    return best


def test_constellations_land_on_ideal_points():
    names = ["BPSK", "QPSK", "QAM16", "8PSK"]
    cfg = SynthConfig(classes=names, snrs=[30.0], frames_per_class_snr=3, frame_length=512, **FIXED, **CLEAN)
    r = synthesize(cfg)
    clean = complex_frames(r.clean)
    for i, name in enumerate(names):
        errors = [evm(f, CONSTELLATIONS[name], 0.35, 8) for f in clean[r.labels == i]]
        assert max(errors) < 0.03, (name, errors)
    # The x frames at 30 dB still sit close to the points; a wrong constellation does not.
    assert evm(complex_frames(r.x)[r.labels == 2][0], CONSTELLATIONS["QAM16"], 0.35, 8) < 0.08
    assert evm(clean[r.labels == 2][0], CONSTELLATIONS["QPSK"], 0.35, 8) > 0.2


@pytest.mark.parametrize("sps, rolloff", [(5.3, 0.1), (12.7, 0.5)])
def test_fractional_sps_and_small_rolloff_are_real(sps, rolloff):
    """A fractional rate and a small roll-off still give clean symbols at the true values, not near them."""
    cfg = SynthConfig(classes=["QAM16"], snrs=[30.0], frames_per_class_snr=2, frame_length=1024, sps=sps,
                      rolloff=rolloff, **CLEAN)
    for frame in complex_frames(synthesize(cfg).clean):
        assert evm(frame, CONSTELLATIONS["QAM16"], rolloff, sps) < 0.03
        assert evm(frame, CONSTELLATIONS["QAM16"], rolloff, sps * 1.02) > 0.1


def ring_ratio(frame: np.ndarray, sps: int = 8, up: int = 16) -> float:
    """Outer / inner ring radius of a 16APSK frame: amplitudes at the symbol instant that splits best in two."""
    h = rrc_taps(0.5, sps, 24)
    y = resample_poly(np.convolve(frame, h)[len(h) - 1 : len(frame)], up, 1)[20 * up : -20 * up]
    best, ratio = np.inf, 0.0
    for off in range(sps * up):
        a = np.sort(np.abs(y[off :: sps * up]))
        cut = np.argmax(np.diff(a)) + 1  # the widest gap separates the rings
        inner, outer = a[:cut], a[cut:]
        cost = np.sum((inner - inner.mean()) ** 2) + np.sum((outer - outer.mean()) ** 2)
        if cost < best:
            best, ratio = cost, float(np.mean(outer) / np.mean(inner))
    return ratio


def test_apsk_ring_ratio_varies_per_frame():
    fixed = dict(class_set="rml2018", classes=["16APSK"], snrs=[30.0], sps=8, rolloff=0.5, **CLEAN)
    nominal = [ring_ratio(f) for f in complex_frames(synthesize(SynthConfig(
        frames_per_class_snr=4, apsk_ring_scale=1.0, **fixed)).clean)]
    np.testing.assert_allclose(nominal, 2.7, rtol=0.02)
    ratios = np.array([ring_ratio(f) for f in complex_frames(synthesize(SynthConfig(
        frames_per_class_snr=24, **fixed)).clean)])  # DVB-S2 16APSK code rates: 2.57 .. 3.15
    assert 2.45 < ratios.min() < 2.6 and 3.0 < ratios.max() < 3.25, ratios


# ---------------------------------------------------------------- per-frame ranges, measured

def rml2018(name: str, n: int = 40, **kw) -> np.ndarray:
    cfg = SynthConfig(class_set="rml2018", classes=[name], snrs=[30.0], frames_per_class_snr=n, seed=1,
                      **{**CLEAN, **kw})
    return complex_frames(synthesize(cfg).clean)


def symbol_rate_sps(z: np.ndarray) -> np.ndarray:
    """sps of each frame from the symbol-rate line of |x|^2 (cyclostationarity of RRC pulses)."""
    e = np.abs(z) ** 2
    e -= e.mean(axis=1, keepdims=True)
    p = np.abs(np.fft.rfft(e * np.hanning(z.shape[1]), 8192, axis=1))
    f = np.fft.rfftfreq(8192)
    band = (f > 1 / 18) & (f < 1 / 3.5)
    return 1 / f[band][np.argmax(p[:, band], axis=1)]


def test_sps_spreads_over_its_range_and_a_number_fixes_it():
    for fixed in (4, 5.3, 15.7):
        np.testing.assert_allclose(symbol_rate_sps(rml2018("QPSK", 8, sps=fixed, rolloff=0.5)), fixed, rtol=0.01)
    est = symbol_rate_sps(rml2018("QPSK", 60, rolloff=0.5))  # default range 4..16 at L=1024
    assert est.min() > 3.9 and est.max() < 16.2, est
    assert est.min() < 5 and est.max() > 15 and np.ptp(np.percentile(est, [25, 75])) > 3, est
    # L=128 caps sps at 128 / min_symbols so a frame keeps >= 12 symbols
    assert synth.sps_range(SynthConfig().validate()) == (4.0, 128 / 12)
    assert synth.sps_range(SynthConfig(frame_length=32).validate()) == (4.0, 4.0)


def excess_bandwidth(z: np.ndarray, sps: float) -> np.ndarray:
    """99 % power bandwidth of each frame in units of the symbol rate, minus 1."""
    p = np.fft.fftshift(np.abs(np.fft.fft(z * np.hanning(z.shape[1]), axis=1)) ** 2, axes=1)
    c = np.cumsum(p, axis=1) / p.sum(axis=1, keepdims=True)
    f = np.fft.fftshift(np.fft.fftfreq(z.shape[1]))
    lo = f[np.argmax(c >= 0.005, axis=1)]
    hi = f[np.argmax(c >= 0.995, axis=1)]
    return (hi - lo) * sps - 1


def test_rolloff_spreads_over_its_range():
    narrow = excess_bandwidth(rml2018("QPSK", sps=8, rolloff=0.1), 8)
    wide = excess_bandwidth(rml2018("QPSK", sps=8, rolloff=0.5), 8)
    assert narrow.max() < wide.min(), (narrow, wide)
    spread = excess_bandwidth(rml2018("QPSK", sps=8), 8)  # default 0.1..0.5
    assert np.percentile(spread, 10) < wide.min() and np.percentile(spread, 90) > narrow.max(), spread


def inst_freq(z: np.ndarray) -> np.ndarray:
    return np.angle(z[:, 1:] * np.conj(z[:, :-1])) / (2 * np.pi)  # cycles/sample


def test_fsk_shows_two_tones():
    fixed = dict(sps=8, cpfsk_index=0.5, gfsk_index=0.35, gfsk_bt=0.5)
    names = ["CPFSK", "GFSK"]
    cfg = SynthConfig(classes=names, snrs=[30.0], frames_per_class_snr=4, frame_length=512, **fixed, **CLEAN)
    r = synthesize(cfg)
    freq = inst_freq(complex_frames(r.clean))
    for i, name in enumerate(cfg.class_names):
        tone = fixed["cpfsk_index" if name == "CPFSK" else "gfsk_index"] / (2 * 8)  # h / (2 sps)
        f = freq[r.labels == i].ravel()
        if name == "CPFSK":  # rectangular pulses: the two tones (the resampler rounds the symbol edges)
            assert np.mean(np.isclose(np.abs(f), tone, rtol=2e-3)) > 0.8
        else:  # Gaussian-smoothed: mostly near the two tones
            assert np.mean(np.abs(np.abs(f) - tone) < 0.3 * tone) > 0.6
        assert 0.3 < np.mean(f > 0) < 0.7
        hist, _ = np.histogram(f, bins=[-2 * tone, -0.5 * tone, 0.5 * tone, 2 * tone])
        ratio = 3 if name == "CPFSK" else 2  # BT 0.5 spends longer between the tones
        assert hist[0] > ratio * hist[1] and hist[2] > ratio * hist[1], (name, hist)


def test_fsk_modulation_index_spreads_over_its_range():
    f = inst_freq(rml2018("GMSK", 8, sps=8, gmsk_bt=0.25))  # h = 0.5 by definition
    np.testing.assert_allclose(2 * 8 * np.percentile(np.abs(f), 90, axis=1), 0.5, rtol=0.02)
    cfg = SynthConfig(classes=["CPFSK"], snrs=[30.0], frames_per_class_snr=60, frame_length=512, sps=8, **CLEAN)
    h = 2 * 8 * np.median(np.abs(inst_freq(complex_frames(synthesize(cfg).clean))), axis=1)
    lo, hi = cfg.cpfsk_index
    assert np.all((h > lo * 0.99) & (h < hi * 1.01)), h
    assert h.min() < lo + 0.1 and h.max() > hi - 0.1, h


def am_index(env: np.ndarray) -> np.ndarray:
    """Peak AM index of each frame's envelope: max |env - carrier| / carrier (carrier = mean envelope)."""
    c = env.mean(axis=1, keepdims=True)
    return np.abs(env - c).max(axis=1) / c[:, 0]


def test_am_index_and_over_modulation():
    env = np.abs(rml2018("AM-DSB-WC", 80))
    pinched = env.min(axis=1) < 1e-6 * env.max(axis=1)  # over-modulated: the envelope is cut at zero
    assert 0.05 < pinched.mean() < 0.4, pinched.mean()
    index = am_index(env[~pinched])
    assert index.min() < 0.3 and index.max() > 0.9, index
    env = np.abs(rml2018("AM-DSB-WC", 40, am_index=(0.2, 1.0)))
    assert env.min() > 0
    np.testing.assert_allclose(am_index(np.abs(rml2018("AM-DSB-WC", 8, am_index=0.5))), 0.5, atol=0.03)


@pytest.mark.parametrize("sideband, upper_share", [("both", None), ("upper", 1.0), ("lower", 0.0)])
def test_ssb_sideband_placement(sideband, upper_share):
    z = rml2018("AM-SSB-SC", 40, ssb_sideband=sideband)
    p = np.abs(np.fft.fft(z, axis=1)) ** 2
    f = np.fft.fftfreq(z.shape[1])
    upper = (p * (f > 0)).sum(axis=1) / (p * (f != 0)).sum(axis=1)
    assert np.all((upper > 0.97) | (upper < 0.03)), upper  # one sideband per frame
    if upper_share is None:
        assert 0.2 < np.mean(upper > 0.5) < 0.8
    else:
        assert np.mean(upper > 0.5) == upper_share


def test_fm_deviation_spreads_from_narrow_to_wide_band():
    peak = np.abs(inst_freq(rml2018("FM", 60))).max(axis=1)
    lo, hi = SynthConfig().fm_deviation
    assert np.all((peak > lo * 0.5) & (peak <= hi * 1.01)), peak  # the frame's peak is at most the deviation
    assert peak.min() < 0.03 and peak.max() > 0.25, peak  # NBFM (2.5 kHz at 200 kHz) .. broadcast (75 kHz)
    fixed = np.abs(inst_freq(rml2018("FM", 8, fm_deviation=0.1))).max(axis=1)
    assert np.all((fixed > 0.08) & (fixed <= 0.101)), fixed


def test_message_bandwidth_spreads():
    narrow = excess_bandwidth(rml2018("AM-DSB-SC", 30, message_bw=0.02), 1) + 1
    wide = excess_bandwidth(rml2018("AM-DSB-SC", 30, message_bw=0.07), 1) + 1
    assert narrow.max() < wide.min(), (narrow, wide)  # DSB: about twice the message bandwidth
    spread = excess_bandwidth(rml2018("AM-DSB-SC", 60), 1) + 1
    assert spread.min() < np.median(narrow) * 1.2 and spread.max() > np.median(wide) * 0.9, spread


def test_a_number_is_a_range_of_one_value_and_bad_ranges_are_named():
    a = synthesize(small(classes=["QPSK", "GFSK", "WBFM"], sps=8, rolloff=0.35, gfsk_index=0.3))
    b = synthesize(small(classes=["QPSK", "GFSK", "WBFM"], sps=(8, 8), rolloff=[0.35, 0.35], gfsk_index=(0.3, 0.3)))
    assert same(a, b)
    with pytest.raises(ConfigError, match=r"sps \(--sps\) range .16, 4. is empty"):
        small(sps=(16, 4)).validate()
    with pytest.raises(ConfigError, match=r"rolloff \(--rolloff\) must be in range 0<=x<=1, got 0.2:1.5"):
        small(rolloff=(0.2, 1.5)).validate()
    with pytest.raises(ConfigError, match="did you mean 'upper'"):
        small(ssb_sideband="uper").validate()
    with pytest.raises(ConfigError, match=r"am_index \(--am-index\) must be a number"):
        small(am_index="wide").validate()


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
    cfg = SynthConfig(classes=names, snrs=[30.0], frames_per_class_snr=12, frame_length=1024, **FIXED,
                      message_bw=(0.02, 0.05), **CLEAN)
    r = synthesize(cfg)
    bw = {n: occupied_bw(r.clean[r.labels == i]) for i, n in enumerate(names)}
    assert 0.12 < bw["QPSK"] < (1 + 0.35) / 8 * 1.05, bw
    assert bw["AM-DSB"] < bw["QPSK"] and bw["AM-SSB"] < bw["QPSK"], bw
    assert bw["WBFM"] > bw["AM-DSB"] and bw["WBFM"] > bw["AM-SSB"], bw
    sc = ["AM-DSB-SC", "AM-SSB-SC"]
    cfg = SynthConfig(class_set="rml2018", classes=sc, snrs=[30.0], frames_per_class_snr=48, ssb_sideband="upper",
                      **CLEAN)
    r = synthesize(cfg)  # 48 frames: each frame draws its own message bandwidth
    dsb, ssb = (occupied_bw(r.clean[r.labels == i]) for i in range(2))
    assert 0.4 < ssb / dsb < 0.6, (dsb, ssb)


def test_am_carrier_and_oqpsk_offset():
    names = ["AM-DSB-WC", "AM-DSB-SC", "OQPSK"]
    cfg = SynthConfig(class_set="rml2018", classes=names, snrs=[30.0], frames_per_class_snr=6, **FIXED, **CLEAN)
    r = synthesize(cfg)
    z = complex_frames(r.clean)
    carrier = np.abs(z.mean(axis=1))  # unit-power frames: the DC share of the amplitude
    assert np.all(carrier[r.labels == 0] > 0.7) and np.all(carrier[r.labels == 1] < 0.3)
    # Offset QPSK: the best I and Q sampling phases after the matched filter are half a symbol apart.
    h = rrc_taps(0.35, 8)
    for frame in z[r.labels == 2]:
        y = np.convolve(frame, h)[len(h) : -len(h)]
        eye = [[np.mean(np.abs(part[o :: 8])) for o in range(8)] for part in (y.real, y.imag)]
        assert (np.argmax(eye[1]) - np.argmax(eye[0])) % 8 in (3, 4, 5)


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
