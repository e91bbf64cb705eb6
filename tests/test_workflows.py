"""Whole workflows through the CLI, as a user runs them: the quickstart on tiny settings, and real-style
data (an RML2016 pickle, no clean frames) -> training with degradation sampling -> export -> eval-engine."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from typer.testing import CliRunner

from amc.cli import app
from amc.config import SynthConfig
from amc.data.synth import synthesize

runner = CliRunner()
SMALL = ["--conv-channels", "8", "--rnn-hidden", "8", "--denoiser-channels", "8", "--dense", "16",
         "--batch-size", "64", "--no-progress"]


def run(*args, code=0):
    r = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "80"})
    assert r.exit_code == code, r.output
    return r


@pytest.mark.slow  # end to end: data, training, export, eval
def test_quickstart_on_tiny_settings(tmp_path):
    out = tmp_path / "qs"
    r = run("quickstart", "--out", out, "--epochs", "1", "--frames", "3", "--no-int8", "--bench-seconds", "0.05",
            "--no-progress", "--json", tmp_path / "qs.json")
    steps = [ln.split()[0] for ln in r.output.splitlines() if ln[:1].isdigit() and "/" in ln.split()[0]]
    assert steps == ["1/5", "2/5", "3/5", "4/5", "5/5"]
    table = r.output[r.output.index("amc quickstart: everything is in"):].splitlines()[1:]
    assert all(len(ln) <= 80 for ln in table), table
    assert any(ln.split()[0] == "model_fp32.onnx" and "PASS" in ln for ln in table if ln.split())
    made = json.loads((tmp_path / "qs.json").read_text())
    assert made["data"]["frames"] == 11 * 20 * 3 and made["eval"]["fp32"]["passed"] is True
    for name in ("data.h5", "run/best.pt", "model_fp32.onnx", "eval_fp32/report.json"):
        assert (out / name).is_file(), name
    run("quickstart", "--out", out, code=2)  # an existing quickstart folder is kept


@pytest.mark.slow  # end to end: data, training, export, eval
def test_rml2016_pickle_to_degradation_training_to_a_verified_engine(tmp_path):
    """Real-style data: the pickle has no clean frames, so the denoiser learns from degradation pairs."""
    cfg = SynthConfig(classes=["BPSK", "QPSK", "WBFM"], snrs=[-10.0, 0.0, 10.0, 18.0], frames_per_class_snr=24,
                      seed=3)
    syn = synthesize(cfg)
    data = {(name, int(s)): syn.x[(syn.labels == i) & (syn.snr == s)] for i, name in enumerate(cfg.class_names)
            for s in cfg.snrs}
    pkl = tmp_path / "RML2016.10a_dict.pkl"
    pkl.write_bytes(pickle.dumps(data, protocol=2))
    h5 = tmp_path / "real.h5"
    run("data", "import", "rml2016", pkl, "--out", h5)
    assert "clean frames: no" in run("data", "info", h5).output
    rundir = tmp_path / "run"
    r = run("train", h5, "--out", rundir, "--epochs", "2", "--degrade-focus", "low", *SMALL)
    assert "best val_acc" in r.output
    rows = [json.loads(ln) for ln in (rundir / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(row["loss_den"]) and row["loss_den"] > 0 for row in rows)
    assert json.loads((rundir / "config.json").read_text())["train"]["degrade_focus"] == "low"
    model = tmp_path / "m.onnx"
    r = run("export", rundir, "--out", model, "--no-progress")
    assert "-> pass" in r.output
    r = run("eval-engine", model, "--no-progress", code=4)  # imported data: no fresh frames to add
    assert "INCONCLUSIVE" in r.output and "no fresh frames can be made" in " ".join(r.output.split())
    run("train", h5, "--out", tmp_path / "r2", "--degrade-focus", "weak", *SMALL, code=2)
