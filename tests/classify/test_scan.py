"""Real-capture front end and the wideband scan (issue 25): rates as people write them, rtl_433 names,
DC / IQ-imbalance removal, transmissions found in time and frequency, one result per transmission."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from amc.classify.detect import detect
from amc.classify.frontend import IQCorrector, name_hints, parse_hz
from amc.classify.sources import SampleFormat, open_source
from amc.classify.synth import Emitter, encode, make_scene
from amc.cli import app
from amc.config import SDR_CLASSES, ConfigError
from tests.export.conftest import make_checkpoint

SCENE = [Emitter("OOK", -70e3, 0.05, 0.20), Emitter("2FSK", 20e3, 0.10, 0.30), Emitter("GFSK", 95e3, 0.36, 0.45)]


@pytest.mark.parametrize("text, hz", [("250k", 250e3), ("2.4M", 2.4e6), ("433.92M", 433.92e6), ("-60e3", -60e3),
                                      ("1.2e6", 1.2e6), ("868.3MHz", 868.3e6), ("100", 100.0), ("-62.5k", -62.5e3)])
def test_parse_hz(text, hz):
    assert parse_hz(text) == pytest.approx(hz)


def test_parse_hz_refuses_what_is_not_a_frequency():
    with pytest.raises(ConfigError, match="'2.4 MS' is not a frequency"):
        parse_hz("2.4 MS", "--sample-rate")


def test_rtl_433_names_give_rate_and_centre(tmp_path):
    h = name_hints("g001_433.92M_250k.cu8")
    assert (h.center_freq, h.sample_rate) == (433.92e6, 250e3)
    h = name_hints("g005_868.3M_1024k.cs8")
    assert (h.center_freq, h.sample_rate) == (868.3e6, 1024e3)
    p = tmp_path / "g001_433.92M_250k.cu8"
    p.write_bytes(bytes(2000))
    rec = open_source(p)
    assert (rec.sample_rate, rec.center_freq, rec.fmt.datatype) == (250e3, 433.92e6, "cu8")
    d = tmp_path / "capture.data"  # rtl_433's own files: cu8 at 250 kHz
    d.write_bytes(bytes(2000))
    rec = open_source(d)
    assert (rec.sample_rate, rec.fmt.datatype, rec.n_samples) == (250e3, "cu8", 1000)


def test_iq_corrector_removes_dc_and_the_image():
    """A tone through an RTL-like front end (DC 0.1, 1 dB gain and 6 deg phase imbalance, 8 bits): the image at
    -f and the DC line drop below -35 dB of the tone after correction (about -25 dB and -11 dB before)."""
    n = 1 << 16
    z = 0.5 * np.exp(2j * np.pi * 0.1 * np.arange(n))
    g, ph = 10 ** (1 / 20), np.deg2rad(6)
    y = z.real * g + 1j * (z.imag * np.cos(ph) + z.real * np.sin(ph)) + (0.1 + 0.05j)
    x = SampleFormat.parse("cu8").decode(np.clip(np.rint(np.stack([y.real, y.imag], -1) * 127 + 127.5), 0,
                                                 255).astype(np.uint8).tobytes())
    corr = IQCorrector()
    out = np.concatenate([corr(b) for b in np.array_split(x, 8)])[n // 2:]  # after the running means settle

    def levels(v):
        s = np.abs(np.fft.fft(v * np.hanning(len(v)))) ** 2
        k = int(0.1 * len(v))
        return 10 * np.log10(s[-k] / s[k]), 10 * np.log10(s[0] / s[k])

    image0, dc0 = levels(x[n // 2:])
    image, dc = levels(out)
    assert image0 > -30 and dc0 > -20
    assert image < -35 and dc < -35


def test_detector_finds_each_emitter_in_time_and_frequency():
    x = make_scene(SCENE, dc=0.05, iq_gain_db=0.5, iq_phase_deg=3, seed=1)
    x = IQCorrector()(x)
    found = detect(x, 250e3)
    assert len(found) == 3, found
    for e, t in zip(sorted(SCENE, key=lambda e: e.start_s), found):
        assert abs(t.center_offset - e.offset_hz) < 3e3, (e, t)
        assert abs(t.start / 250e3 - e.start_s) < 3e-3 and abs(t.stop / 250e3 - e.stop_s) < 3e-3, (e, t)
        assert t.low < e.offset_hz < t.high and t.snr_db > 15


def test_noise_alone_holds_no_transmission():
    for seed in range(3):
        assert detect(make_scene([], duration_s=1.0, seed=seed), 250e3) == []


@pytest.fixture(scope="module")
def sdr_ckpt(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("scan_ckpt") / "best.pt", "cldnn", frame_length=512,
                           classes=SDR_CLASSES)


def test_scan_gives_one_row_one_annotation_and_one_box_per_transmission(sdr_ckpt, tmp_path):
    cap = tmp_path / "g001_433.92M_250k.cu8"
    cap.write_bytes(encode(make_scene(SCENE, dc=0.05, iq_gain_db=0.5, seed=2), "cu8"))
    rows, out, png = tmp_path / "tx.jsonl", tmp_path / "r.json", tmp_path / "tx.png"
    r = CliRunner().invoke(app, ["classify", str(cap), "--model", str(sdr_ckpt), "--model-rate", "125k",
                                 "--rows", str(rows), "--json", str(out), "--plot", str(png), "--no-progress"])
    assert r.exit_code == 0, (r.output, r.exception)
    txs = [json.loads(line) for line in rows.read_text().splitlines()]
    assert len(txs) == 3
    for e, t in zip(sorted(SCENE, key=lambda e: e.start_s), txs):
        assert abs(t["center_freq_hz"] - (433.92e6 + e.offset_hz)) < 3e3
        assert t["freq_lower_edge"] < t["center_freq_hz"] < t["freq_upper_edge"]
        assert t["label"] in [*SDR_CLASSES, "unknown"] and t["windows"] >= 1
    meta = json.loads((tmp_path / (cap.name + ".sigmf-meta")).read_text())
    ann = meta["annotations"]
    assert len(ann) == 3 and [a["core:sample_start"] for a in ann] == [t["sample_start"] for t in txs]
    np.testing.assert_allclose([a["core:freq_lower_edge"] for a in ann], [t["freq_lower_edge"] for t in txs], atol=0.1)
    assert png.stat().st_size > 10_000
    res = json.loads(out.read_text())
    assert res["mode"] == "scan" and res["iq_correction"] is True and len(res["transmissions"]) == 3


def test_a_channel_past_the_band_edge_is_an_error(sdr_ckpt, tmp_path):
    cap = tmp_path / "g001_433.92M_250k.cu8"
    cap.write_bytes(encode(make_scene([], duration_s=0.1), "cu8"))
    r = CliRunner().invoke(app, ["classify", str(cap), "--model", str(sdr_ckpt), "--model-rate", "125k",
                                 "--center-offset", "100k", "--no-progress", "--no-annotate"])
    assert r.exit_code == 2
    assert "reaches past the recording's band edge" in r.stderr and "--bandwidth 50000" in r.stderr


@pytest.mark.parametrize("centre, width, band", [
    (0.0, 3e3, (-12.5e3, 12.5e3)),  # a narrow burst: a fifth of the model's rate
    (0.0, 80e3, (-62.5e3, 62.5e3)),  # a wide one: all of it
    (100e3, 16e3, (84e3, 116e3)),  # twice its bandwidth
    (-120e3, 3e3, (-132.5e3, -107.5e3)),  # reaching past the edge (wrapping) rather than moving off centre
    (121.5e3, 20e3, (101.5e3, 141.5e3)),  # rubicson at +121.5 kHz of 250 kHz
])
def test_a_transmission_near_the_band_edge_gets_a_channel_centred_on_it(centre, width, band):
    """The channel stays on the transmission's centre (the model was trained within 5 kHz of centre), filtered
    to twice its bandwidth within [a fifth, all] of the model's rate; past the edge it wraps, as the sampled
    spectrum does."""
    from amc.classify.channel import RateMatch
    from amc.classify.scan import channel_for

    ch = channel_for(RateMatch.find(250e3, 125e3), centre, width)
    assert ch.center_offset == centre
    assert ch.band == pytest.approx(band, abs=60.0)
