"""The packaged gr2016 model (trained on RML2016.10a's GNU Radio chain) loads, matches its card, and
classifies fresh GNU Radio frames as the card says (where GNU Radio imports)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy.stats import binomtest

from amc.config import SynthConfig
from amc.data import grsynth
from amc.data.io import open_dataset
from amc.pretrained import card, model_path, resolve_model
from amc.runtime import Engine

try:
    GR_PYTHON: str | None = grsynth.find_python()
except grsynth.GnuRadioMissing:
    GR_PYTHON = None


def test_gr_model_matches_its_card_and_resolves_by_name():
    path, c = model_path("gr2016"), card("gr2016")
    assert resolve_model("gr2016") == path
    assert path.suffix == ".onnx" and path.stat().st_size == c["bytes"] < 8e6
    assert hashlib.sha256(path.read_bytes()).hexdigest() == c["sha256"]
    engine = Engine.load(path, threads=1)
    assert list(engine.classes) == c["classes"] == SynthConfig().class_names and engine.frame_length == 128
    assert 1 <= c["training"]["best_epoch"] <= c["training"]["epochs_run"] <= c["training"]["epochs_planned"]


def test_gr_card_numbers_are_consistent_with_themselves_and_the_default_card():
    c = card("gr2016")
    e = c["evaluation"]
    per_snr = np.array(list(e["per_snr"].values()))
    assert abs(per_snr.mean() - e["overall"]) < 1e-6
    high = [v for k, v in e["per_snr"].items() if float(k) >= 10]
    assert abs(np.mean(high) - e["bands"]["high"]) < 1e-9
    assert c["cross"]["gr2016"]["gnuradio"]["overall"] == pytest.approx(e["overall"])
    # the default model scored on the default card's own evaluation frames gives the default card's figure
    assert c["cross"]["default"]["numpy"]["overall"] == pytest.approx(card()["evaluation"]["overall"], abs=1e-6)


@pytest.mark.slow
@pytest.mark.skipif(GR_PYTHON is None, reason="GNU Radio is not installed (apt-get install gnuradio)")
def test_gr_model_high_snr_accuracy_is_what_the_card_states(tmp_path):
    c = card("gr2016")
    cfg = SynthConfig(snrs=[10.0, 14.0, 18.0], frames_per_class_snr=30, seed=c["evaluation"]["data"]["seed"] + 7)
    grsynth.synth_gnuradio(cfg, tmp_path / "f.h5", python=GR_PYTHON)
    with open_dataset(tmp_path / "f.h5") as ds:
        b = ds.read(np.arange(len(ds)), with_clean=False)
    right = Engine.load(model_path("gr2016"), threads=1).run(b.x)["logits"].argmax(1) == b.labels
    rate = min(max(c["evaluation"]["bands"]["high"], 2.5e-4), 1 - 2.5e-4)
    assert binomtest(int(right.sum()), len(right), rate).pvalue > 1e-3, (right.mean(), rate)
    assert right.mean() > 1.5 / 11
