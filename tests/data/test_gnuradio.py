"""The GNU Radio generator: its pure-python parts always; the chain itself where GNU Radio imports."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from amc.cli import app
from amc.config import SynthConfig
from amc.data import gr_chain
from amc.data import grsynth as grd
from amc.data.io import open_dataset

try:
    GR_PYTHON: str | None = grd.find_python()
except grd.GnuRadioMissing:
    GR_PYTHON = None
needs_gr = pytest.mark.skipif(GR_PYTHON is None, reason="GNU Radio is not installed (apt-get install gnuradio)")


def test_constellations_are_gr_mappers_unnormalised_points():
    pts, bps = gr_chain.constellation("QAM16")
    assert bps == 4 and len(set(pts)) == 16
    assert np.mean(np.abs(pts) ** 2) == pytest.approx(10.0)  # +-1, +-3 grid, not unit power
    assert sorted(gr_chain.constellation("PAM4")[0].real) == [-3, -1, 1, 3]
    assert np.mean(np.abs(gr_chain.constellation("QAM64")[0]) ** 2) == pytest.approx(42.0)
    qpsk = gr_chain.constellation("QPSK")[0]
    assert np.allclose(np.abs(qpsk), 1) and np.allclose(np.angle(qpsk[0]), np.pi / 4)  # pi/4-rotated
    # gray map of 8PSK: neighbouring symbol values differ in one bit
    p8 = gr_chain.constellation("8PSK")[0]
    order = np.argsort(np.angle(p8))
    assert all(bin(int(a) ^ int(b)).count("1") == 1 for a, b in zip(order, np.roll(order, 1)))


def test_slicer_follows_the_original_offsets_and_strides():
    rng = np.random.default_rng(0)
    starts = gr_chain.slice_starts(80000, 1000, 128, rng)
    assert 50 <= starts[0] <= 500
    strides = np.diff(starts)
    assert strides.min() >= 128 and strides.max() <= 4000  # 5 % of the run
    assert starts[-1] + 128 < 80000 and 25 <= len(starts) <= 80
    assert gr_chain.slice_starts(80000, 7, 128, np.random.default_rng(0)) == starts[:7]


def test_sources_are_seeded_and_look_like_theirs():
    a = gr_chain.source_bits(10000, np.random.default_rng(3))
    assert np.array_equal(a, gr_chain.source_bits(10000, np.random.default_rng(3)))
    assert set(np.unique(a)) == {0, 1} and abs(a.mean() - 0.5) < 0.03
    audio = gr_chain.speech_audio(44100 * 4, np.random.default_rng(1))
    assert np.array_equal(audio, gr_chain.speech_audio(44100 * 4, np.random.default_rng(1)))
    assert np.abs(audio).max() <= 0.5  # 16-bit samples / 65535
    quiet = np.abs(audio) < 2e-3
    assert 0.1 < quiet.mean() < 0.6  # pauses, as speech has
    spec = np.abs(np.fft.rfft(audio)) ** 2
    f = np.fft.rfftfreq(len(audio), 1 / 44100)
    assert spec[f < 4000].sum() / spec.sum() > 0.9  # speech band
    loud = np.sqrt(np.mean(audio[~quiet] ** 2))
    assert 0.02 < loud < 0.12


def test_fixed_noise_puts_every_frame_at_its_label_and_original_does_not():
    rng = np.random.default_rng(0)
    clean = (rng.standard_normal((400, 128)) * np.repeat([[0.1], [3.0]], 200, axis=0)).astype(np.complex64)
    x = grd.add_noise(clean, 6.0, "fixed", np.random.default_rng(1))
    snr = grd.measured_snr_db(clean, x)
    assert abs(np.median(snr[:200]) - 6.0) < 0.5 and abs(np.median(snr[200:]) - 6.0) < 0.5
    # the original: noise amplitude 10^(-snr/10), power 10^(-snr/5), whatever the signal's power
    x = grd.add_noise(clean, 6.0, "original", np.random.default_rng(1))
    pn = np.mean(np.abs(x - clean) ** 2)
    assert pn == pytest.approx(10 ** (-6 / 5), rel=0.05)
    snr = grd.measured_snr_db(clean, x)
    assert np.median(snr[200:]) > 20 and np.median(snr[:200]) < -5


def test_scaling_is_the_originals_l1_on_both_frames():
    rng = np.random.default_rng(0)
    clean = rng.standard_normal((3, 128)).astype(np.complex64)
    x = grd.add_noise(clean, 0.0, "fixed", rng)
    xs, cs = grd.scale_frames(x, clean)
    assert np.allclose(np.abs(xs).sum(1), 1.0, atol=1e-5)
    assert np.allclose(cs * np.abs(x).sum(1, keepdims=True), clean, atol=1e-5)


def test_missing_gnuradio_is_one_error_line_with_the_install_command(monkeypatch, tmp_path):
    with pytest.raises(grd.GnuRadioMissing, match="apt-get install gnuradio"):
        grd.find_python([sys.executable if GR_PYTHON is None else str(tmp_path / "no-python")])
    monkeypatch.setenv(grd.ENV_PYTHON, str(tmp_path / "no-python"))
    r = CliRunner().invoke(app, ["data", "synth", "--generator", "gnuradio", "--out", str(tmp_path / "g.h5"),
                                 "--frames", "4", "--no-progress"])
    assert r.exit_code == 2
    assert "error:" in r.output and "apt-get install gnuradio" in r.output and "AMC_GR_PYTHON" in r.output
    assert not (tmp_path / "g.h5").exists()


def test_bad_generator_options_are_refused(tmp_path):
    r = CliRunner().invoke(app, ["data", "synth", "--generator", "gnuradi", "--out", str(tmp_path / "g.h5")])
    assert r.exit_code == 2 and "gnuradio" in r.output
    r = CliRunner().invoke(app, ["data", "synth", "--defects", "original", "--out", str(tmp_path / "g.h5")])
    assert r.exit_code == 2 and "--generator gnuradio" in r.output
    with pytest.raises(grd.AmcError, match="rml2016"):
        grd.check_config(SynthConfig(class_set="rml2018"), "fixed")


@needs_gr
@pytest.mark.slow
def test_chain_is_seeded_and_the_defect_option_does_what_it_says(tmp_path):
    cfg = SynthConfig(classes=["QAM16", "AM-SSB", "WBFM"], snrs=[0.0, 10.0], frames_per_class_snr=24, seed=5)
    paths = {}
    for name, defects in [("a", "fixed"), ("b", "fixed"), ("o", "original")]:
        paths[name] = tmp_path / f"{name}.h5"
        s = grd.synth_gnuradio(cfg, paths[name], defects=defects, python=GR_PYTHON)
        assert s["frames"] == 3 * 2 * 24 and not (tmp_path / f"{name}.h5.parts").exists()
    with open_dataset(paths["a"]) as a, open_dataset(paths["b"]) as b, open_dataset(paths["o"]) as o:
        ba, bb, bo = a.read(np.arange(len(a))), b.read(np.arange(len(b))), o.read(np.arange(len(o)))
        assert np.array_equal(ba.x, bb.x) and np.array_equal(ba.clean, bb.clean)  # bit for bit
        assert a.attrs["generator"]["name"] == "gnuradio" and a.sample_rate == 200e3
    ssb = 1
    fixed_ssb = ba.clean[ba.labels == ssb]
    orig_ssb = bo.clean[bo.labels == ssb]
    assert np.all(orig_ssb == 0)  # the original's AM-SSB: a float sine of 0 Hz as carrier, no signal
    assert np.mean(fixed_ssb ** 2) > 0
    # fixed: the label is the measured SNR of every frame
    cx = (ba.clean[:, 0] + 1j * ba.clean[:, 1])
    xx = (ba.x[:, 0] + 1j * ba.x[:, 1])
    snr = grd.measured_snr_db(cx, xx)
    for s in (0.0, 10.0):
        assert abs(np.median(snr[ba.snr == s]) - s) < 0.5
    # another seed, other frames
    other = tmp_path / "c.h5"
    grd.synth_gnuradio(SynthConfig(**{**cfg.__dict__, "seed": 6}), other, python=GR_PYTHON)
    with open_dataset(other) as c:
        assert not np.array_equal(c.read(np.arange(len(c))).x, ba.x)
