"""Settings declared once: every config field is a CLI option with its default in --help, a run's
config.json fed back in reproduces the run bit for bit, and bands are data (any names, any number)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from amc.cli import app
from amc.cli.options import flag
from amc.config import ModelConfig, SynthConfig, TrainConfig, run_config
from amc.train.checkpoint import load_checkpoint

runner = CliRunner()
TINY = ["--conv-channels", "8", "--rnn-hidden", "8", "--denoiser-channels", "8", "--dense", "16",
        "--batch-size", "64", "--no-progress"]


def _help(*cmd: str) -> str:
    r = runner.invoke(app, [*cmd, "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    return r.output


@pytest.mark.parametrize("cmd, classes", [(("train",), (ModelConfig, TrainConfig)),
                                          (("data", "synth"), (SynthConfig,))])
def test_help_lists_every_config_field_with_its_default(cmd, classes):
    text = _help(*cmd)
    lines = text[text.index("Options:"):].splitlines()
    for cls in classes:
        for f in dataclasses.fields(cls):
            if not f.metadata.get("cli", True):
                continue
            name = flag(f.name)
            line = next((i for i, ln in enumerate(lines) if ln.strip().startswith((name, f"{name}/"))
                         or f", {name}" in ln or name + " " in ln.strip()[: len(name) + 1]), None)
            assert line is not None, f"{name} missing from `amc {' '.join(cmd)} --help`"
            block = " ".join(lines[line:line + 4])
            assert "[default: " in block, f"{name} shows no default"


def test_help_shows_preset_specific_defaults():
    text = " ".join(_help("train").split())
    assert "--dropout <float> dropout in the dense head [default: 0.2 (a4; cldnn 0.15, a3 0.15); 0<=x<1]" in text
    assert "--epochs <int> epochs [default: 10; 1<=x<=100000]" in text


def test_unknown_keys_in_a_config_file_name_the_closest():
    with pytest.raises(ValueError, match="unknown TrainConfig key 'epoch' \\(did you mean 'epochs'\\?\\)"):
        run_config(config={"train": {"epoch": 3}})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("settings") / "d.h5"
    r = runner.invoke(app, ["data", "synth", "--out", str(path), "--classes", "BPSK,QPSK,WBFM", "--snrs", "-10:10:10",
                            "--frames", "20", "--no-progress"])
    assert r.exit_code == 0, r.output
    return path


def _rows(run):
    keep = ("epoch", "loss_total", "val_acc", "per_snr", "bands", "train_acc")
    return [{k: r[k] for k in keep} for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]


def test_config_json_reproduces_the_run_bit_for_bit(data, tmp_path):
    x, y = tmp_path / "x", tmp_path / "y"
    r = runner.invoke(app, ["train", str(data), "--out", str(x), "--preset", "a4", "--epochs", "2", "--lr", "0.004",
                            "--weight-decay", "0.001", "--kernel-size", "5", "--split-seed", "3", *TINY])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train", "--config", str(x / "config.json"), "--out", str(y), "--no-progress"])
    assert r.exit_code == 0, r.output
    cx, cy = (json.loads((d / "config.json").read_text()) for d in (x, y))
    assert cx["model"] == cy["model"] and {**cx["train"], "out_dir": ""} == {**cy["train"], "out_dir": ""}
    assert cy["model"]["kernel_size"] == 5 and cy["train"]["split_seed"] == 3 and cy["train"]["lr"] == 0.004
    assert _rows(x) == _rows(y)
    a, b = load_checkpoint(x / "last.pt"), load_checkpoint(y / "last.pt")
    assert all(torch.equal(a["model_state"][k], b["model_state"][k]) for k in a["model_state"])


def test_custom_bands_end_to_end(data, tmp_path):
    """--bands weak=...,strong=... flows through the epoch line, summary, compare, export metadata, eval-engine."""
    run = tmp_path / "r"
    r = runner.invoke(app, ["train", str(data), "--out", str(run), "--epochs", "1",
                            "--bands", "weak=-20:-5,strong=5:inf", "--select-metric", "band:strong", *TINY])
    assert r.exit_code == 0, r.output
    epoch_line = next(ln for ln in r.output.splitlines() if ln.startswith("epoch"))
    assert " weak " in epoch_line and " strong " in epoch_line and " low " not in epoch_line
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["bands"]) == {"weak", "strong"}
    r = runner.invoke(app, ["compare", str(run), str(run), "--markdown"])
    assert r.exit_code == 0 and r.output.startswith("| run | epoch | val_acc % | weak % | strong % |")
    model = tmp_path / "m.onnx"
    r = runner.invoke(app, ["export", str(run), "--out", str(model), "--no-simplify"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["eval-engine", str(model), "--no-progress", "--split", "val", "--inconclusive-ok"])
    assert r.exit_code == 0, r.output
    bands = [ln.split()[0] for ln in r.output.splitlines() if ln.split()[:1] in (["weak"], ["strong"])]
    assert bands == ["weak", "strong"]  # eval-engine's band table


def test_python_dash_m_amc_runs_the_cli():
    r = subprocess.run([sys.executable, "-m", "amc", "--version"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("amc "), r.stderr
    r = subprocess.run([sys.executable, "-m", "amc", "data", "info", "/nonexistent.h5"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("error: /nonexistent.h5: no such file"), r.stderr


def test_a_resume_that_changed_epochs_is_recorded_and_config_says_it_is_no_exact_repeat(data, tmp_path):
    """The LR schedule follows the total epochs: config.json keeps the --epochs history, and `train --config`
    says the run is not a bit-for-bit repeat and how to repeat it."""
    run = tmp_path / "r"
    base = ["train", str(data), "--out", str(run), *TINY]
    assert runner.invoke(app, [*base, "--epochs", "1"]).exit_code == 0
    assert json.loads((run / "config.json").read_text())["schedule"] == [{"from_epoch": 0, "epochs": 1}]
    r = runner.invoke(app, [*base, "--epochs", "2", "--resume"])
    assert r.exit_code == 0, r.output
    doc = json.loads((run / "config.json").read_text())
    assert doc["schedule"] == [{"from_epoch": 0, "epochs": 1}, {"from_epoch": 1, "epochs": 2}]
    assert doc["train"]["epochs"] == 2
    r = runner.invoke(app, ["train", "--config", str(run / "config.json"), "--out", str(tmp_path / "again"),
                            "--epochs", "1", "--no-progress"])  # the note comes before any training
    text = " ".join(r.output.split())
    assert r.exit_code == 0, r.output
    assert ("comes from a run resumed with other --epochs (--epochs 1 from epoch 0, then --epochs 2 from epoch 1); "
            "the LR schedule follows the total, so this run (--epochs 1 from the start) is not a bit-for-bit "
            "repeat: to repeat it, train --epochs 1 then --resume --epochs 2") in text
