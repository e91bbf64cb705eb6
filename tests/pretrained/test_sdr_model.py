"""The packaged `sdr` model: what `amc classify --model sdr` loads, and a card that says how far it trained."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from amc.classify.synth import Emitter, encode, make_scene
from amc.cli import app
from amc.config import SDR_CLASSES
from amc.pretrained import card, model_path, resolve_model
from amc.runtime import Engine


def test_sdr_model_is_the_sdr_class_set_at_125_khz():
    eng = Engine.load(resolve_model("sdr"))
    assert eng.classes == SDR_CLASSES and eng.frame_length == 512
    assert float(eng.metadata["sample_rate"]) == 125e3
    c = card("sdr")
    t = c["training"]
    assert t["epochs_run"] <= t["epochs_planned"] and t["finished"] == (t["epochs_run"] >= t["epochs_planned"])
    md = model_path("sdr").with_name("sdr_card.md").read_text()
    assert ("STOPPED EARLY" in md) == (not t["finished"])
    assert set(c["evaluation"]["per_class"]) == set(SDR_CLASSES)
    assert 0 < c["noise_only"]["threshold_for_2_percent"] <= 1


def test_classify_model_sdr_scans_a_capture(tmp_path):
    cap = tmp_path / "g001_868.3M_250k.cu8"
    cap.write_bytes(encode(make_scene([Emitter("2FSK", -30e3, 0.05, 0.15, snr_db=30)], duration_s=0.2, seed=4),
                           "cu8"))
    out = tmp_path / "r.json"
    r = CliRunner().invoke(app, ["classify", str(cap), "--model", "sdr", "--json", str(out), "--no-annotate",
                                 "--no-progress"])
    assert r.exit_code == 0, (r.output, r.exception)
    res = json.loads(out.read_text())
    assert res["mode"] == "scan" and len(res["transmissions"]) == 1
    t = res["transmissions"][0]
    assert abs(t["center_freq_hz"] - (868.3e6 - 30e3)) < 3e3 and np.isfinite(t["prob"])


def test_sdr_model_metadata_names_no_absolute_path():
    """22.8 for this model too: the build machine's paths never travel with it."""
    from pathlib import PurePosixPath

    eng = Engine.load(resolve_model("sdr"))

    def strings(v):
        if isinstance(v, dict):
            for x in v.values():
                yield from strings(x)
        elif isinstance(v, list):
            for x in v:
                yield from strings(x)
        elif isinstance(v, str):
            yield v

    bad = [s for s in strings(eng.metadata) if any(PurePosixPath(w).is_absolute() for w in s.split() if "/" in w)]
    assert bad == []
