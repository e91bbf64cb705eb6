"""The packaged default model loads, matches its card, and classifies amc's high-SNR frames as the card says."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy.stats import binomtest

from amc.config import AmcError, SynthConfig
from amc.data.synth import synthesize
from amc.pretrained import card, default_model
from amc.runtime import Engine


def test_packaged_model_matches_its_card():
    path, c = default_model(), card()
    assert path.suffix == ".onnx" and path.stat().st_size == c["bytes"] < 8e6  # a few MB at most
    assert hashlib.sha256(path.read_bytes()).hexdigest() == c["sha256"]
    engine = Engine.load(path, threads=1)
    assert list(engine.classes) == c["classes"] == SynthConfig().class_names
    assert engine.frame_length == c["frame_length"] == 128


def inside(rate: float) -> float:
    """A card's 1.000 was measured on a few thousand frames: as a true rate it is below 1 - 1/4000."""
    return min(max(rate, 2.5e-4), 1 - 2.5e-4)


def test_high_snr_accuracy_is_what_the_card_states():
    """Fresh frames (a seed neither training nor the card used): the card's high-band accuracy must lie in
    what the frames measured here allow (exact binomial test at 0.1 %), overall and per class."""
    c = card()
    cfg = SynthConfig(snrs=[10.0, 12.0, 14.0, 16.0, 18.0], frames_per_class_snr=30,
                      seed=c["evaluation"]["data"]["seed"] + 7)
    r = synthesize(cfg)
    pred = Engine.load(default_model(), threads=1).run(r.x)["logits"].argmax(1)
    right = pred == r.labels
    # exact two-sided binomial tests at 0.1 % each (a Wilson interval misjudges rates near 1: 149 of 150
    # right is what a 0.999-accurate class gives one time in seven)
    p = binomtest(int(right.sum()), len(right), inside(c["evaluation"]["bands"]["high"])).pvalue
    assert p > 1e-3, (right.mean(), c["evaluation"]["bands"]["high"], p)
    for i, name in enumerate(r.classes):  # per class too: 150 frames each
        k = r.labels == i
        p = binomtest(int(right[k].sum()), int(k.sum()), inside(c["evaluation"]["per_class_high"][name])).pvalue
        assert p > 1e-3, (name, right[k].mean(), c["evaluation"]["per_class_high"][name], p)
    assert right.mean() > 1.5 / len(r.classes)  # and it is a classifier, not chance


def test_a_missing_model_is_one_clear_error(monkeypatch):
    import amc.pretrained as pretrained

    gone = pretrained.Packaged("nothing-here.onnx", "card.json", "python -m amc.pretrained.build", "gone")
    monkeypatch.setitem(pretrained.PACKAGED, "default", gone)
    with pytest.raises(AmcError, match="python -m amc.pretrained.build"):
        pretrained.default_model()


def test_model_names_resolve_files_first(tmp_path, monkeypatch):
    import amc.pretrained as pretrained

    assert pretrained.resolve_model(None) == pretrained.resolve_model("rml2016") == pretrained.default_model()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").mkdir()  # a run directory that happens to share a packaged name wins
    assert pretrained.resolve_model("default") == tmp_path.joinpath("default").relative_to(tmp_path)
    with pytest.raises(AmcError, match="neither a file nor a packaged model.*default, .*rml2016"):
        pretrained.resolve_model("defualt")


def test_card_numbers_are_consistent():
    e = card()["evaluation"]
    per_snr = np.array(list(e["per_snr"].values()))
    assert abs(per_snr.mean() - e["overall"]) < 1e-6  # equal frames per SNR
    high = [v for k, v in e["per_snr"].items() if float(k) >= 10]
    assert abs(np.mean(high) - e["bands"]["high"]) < 1e-9
    assert abs(np.mean(list(e["per_class_high"].values())) - e["bands"]["high"]) < 1e-6


def test_classify_and_serve_default_to_the_packaged_model(tmp_path, monkeypatch):
    """No model argument: `amc classify` and `amc serve` use the packaged default model."""
    import json

    import uvicorn
    from typer.testing import CliRunner

    from amc.classify.synth import make_iq, write_sigmf
    from amc.cli import app

    x, _ = make_iq([("BPSK", 4096), ("WBFM", 4096)], model_rate=200e3, up=1, snr_db=20.0)
    meta = write_sigmf(tmp_path / "rec", x, 200e3)
    r = CliRunner().invoke(app, ["classify", str(meta), "--no-progress", "--no-annotate", "--json", "-"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["model"] == str(default_model())
    bound: list = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: bound.append(sockets[0].getsockname()))
    r = CliRunner().invoke(app, ["serve", "--port", "0"])
    assert r.exit_code == 0 and len(bound) == 1, r.output
    assert f"serving {default_model()} (onnxruntime fp32" in r.output
