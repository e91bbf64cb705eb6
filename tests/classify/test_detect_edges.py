"""The detector's boxes: the spectrum's edge is circular, IQ-imbalance images are not emitters, band edges are
the emission's -26 dB points (not the splatter or a receiver's DC the region touches). Synthetic scenes from
amc.classify.synth, and real RTL-SDR captures from ../shared/recordings where that folder is present."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from amc.classify.detect import detect
from amc.classify.frontend import IQCorrector
from amc.classify.sources import SampleFormat
from amc.classify.synth import Emitter, make_scene

FS = 250e3
RECORDINGS = Path(__file__).resolve().parents[2].parent / "shared" / "recordings"


@pytest.mark.parametrize("label, offset", [("OOK", 122.5e3), ("2FSK", -120e3)])
def test_a_transmission_across_the_band_edge_is_one_transmission_at_its_centre(label, offset):
    """Its far side shows at the other edge (the sampled spectrum is circular): one transmission, not two."""
    found = detect(make_scene([Emitter(label, offset, 0.1, 0.4, 30)], seed=1), FS)
    assert len(found) == 1, found
    t = found[0]
    assert abs(t.center_offset - offset) < 3e3 and t.low < offset < t.high
    assert abs(t.start / FS - 0.1) < 3e-3 and abs(t.stop / FS - 0.4) < 3e-3


def test_the_receivers_mirror_image_is_not_an_emitter_but_a_real_pair_is_two():
    strong = make_scene([Emitter("OOK", 60e3, 0.1, 0.4, 40)], iq_gain_db=2, iq_phase_deg=10, seed=1)
    found = detect(strong, FS)  # uncorrected: the image at -60 kHz is ~20 dB down, well above the floor
    assert [round(t.center_offset / 1e3) for t in found] == [60]
    pair = make_scene([Emitter("GFSK", 60e3, 0.1, 0.4, 25), Emitter("OOK", -60e3, 0.1, 0.4, 25)], seed=1)
    assert sorted(round(t.center_offset / 1e3) for t in detect(pair, FS)) == [-60, 60]


def test_a_hard_keyed_carrier_gets_its_26_db_band_not_its_skirts():
    """A 49 dB carrier keyed on / off every 100 samples splatters over the whole band far down; the box is the
    part within 26 dB of its peak (an 85 kHz box reaching DC used to cover noise beside it)."""
    rng = np.random.default_rng(0)
    n = int(0.5 * FS)
    k = np.arange(n)
    keyed = ((k // 100) % 3 == 0) & (k > 25000) & (k < 100000)
    x = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * np.sqrt(0.5)
    x = (x + keyed * 300 * np.exp(2j * np.pi * (-80e3 / FS) * k)).astype(np.complex64)
    (t,) = detect(x, FS)
    assert abs(t.center_offset + 80e3) < 1e3
    assert 3e3 < t.bandwidth < 40e3 and t.high < -60e3


def _capture(name: str) -> tuple[np.ndarray, dict[str, str]]:
    if not (RECORDINGS / "manifest.csv").is_file():
        pytest.skip(f"the shared recordings are not at {RECORDINGS}")
    row = next(r for r in csv.DictReader(open(RECORDINGS / "manifest.csv")) if r["file"].endswith(name))
    x = SampleFormat.parse("cu8").decode((RECORDINGS / row["file"]).read_bytes())
    return IQCorrector()(x), row


@pytest.mark.parametrize("name", ["PT2262/01/gfile001.cu8", "PT2262/01/gfile002.cu8",
                                  "rubicson/01/gfile004.cu8", "oregon_scientific/03/gfile004.cu8"])
def test_real_bursts_get_one_box_around_the_burst(name):
    """Real RTL-SDR captures that used to give oversized boxes: a PT2262 remote at -75..-83 kHz (its box reached
    0 Hz), a Rubicson sensor at +118.6 kHz of +-125 kHz (its far side came out as a second transmission at
    -125 kHz), an Oregon sensor at DC under a broadband pedestal (its box was the whole band)."""
    x, row = _capture(name)
    found = detect(x, FS)
    bo, bw = float(row["burst_offset_hz"]), float(row["burst_width_hz"])
    near = [t for t in found if abs(t.center_offset - bo) < 10e3]
    assert len(near) == 1, found
    t = near[0]
    assert t.bandwidth < max(4 * bw, 20e3), t
    assert abs(t.start / FS - float(row["burst_start_s"])) < 0.1 and abs(t.stop / FS - float(row["burst_end_s"])) < 0.1
