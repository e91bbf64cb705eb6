"""Every numeric setting is finite and in its declared range (checked where it is declared, in amc/config.py),
`--help` shows every range, and a run's config.json never holds NaN / Infinity."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import typer
from typer.testing import CliRunner

from amc.cli import app
from amc.cli.options import flag
from amc.config import (
    Bounds,
    ConfigError,
    ModelConfig,
    ServeConfig,
    SynthConfig,
    TrainConfig,
    bounds_of,
    from_dict,
    to_dict,
)

runner = CliRunner()
CLASSES = (SynthConfig, ModelConfig, TrainConfig, ServeConfig)
NUMERIC = ("int", "float", "Range", "tuple[float", "list[float]")


def _numeric(f: dataclasses.Field) -> bool:
    return str(f.type).replace(" | None", "").startswith(NUMERIC)


@pytest.mark.parametrize("cls", CLASSES)
def test_every_numeric_setting_declares_bounds(cls):
    missing = [f.name for f in dataclasses.fields(cls) if _numeric(f) and bounds_of(f) is None]
    assert missing == []


@pytest.mark.parametrize("cls, name", [(c, f.name) for c in CLASSES for f in dataclasses.fields(c)
                                       if bounds_of(f) is not None and "float" in str(f.type) + "Range"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused_for_every_float_setting(cls, name, bad):
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    kind = str(f.type)
    value = (bad, bad) if kind.startswith("tuple") else [bad] if kind.startswith("list") else bad
    doc = {**to_dict(cls()), name: value}
    with pytest.raises(ConfigError, match=rf"^{name}\b.*must be in range .*\(a finite number\)"):
        from_dict(cls, doc).validate()


@pytest.mark.parametrize("cls", CLASSES)
def test_defaults_lie_within_their_bounds(cls):
    cls().validate()


def test_bounds_read_and_show_like_click():
    assert str(Bounds.parse("[1, 100000]")) == "1<=x<=100000"
    assert str(Bounds.parse("(0, 10]")) == "0<x<=10"
    assert str(Bounds.parse("[0, 1)")) == "0<=x<1"
    assert str(Bounds.parse(">= 0")) == "x>=0" and str(Bounds.parse("> 0")) == "x>0"
    b = Bounds.parse("(0, 1)")
    assert [b.holds(v) for v in (0.0, 0.5, 1.0, math.nan)] == [False, True, False, False]
    assert not Bounds.parse(">= 0").holds(math.inf)  # a bounded setting is finite even with no upper edge


@pytest.mark.parametrize("args, message", [
    (["--lr", "nan"], "lr (--lr) must be in range 0<x<=10 (a finite number), got nan"),
    (["--lr", "inf"], "lr (--lr) must be in range 0<x<=10 (a finite number), got inf"),
    (["--weight-decay", "nan"], "weight_decay (--weight-decay) must be in range 0<=x<=10 (a finite number)"),
    (["--weight-decay", "-1"], "weight_decay (--weight-decay) must be in range 0<=x<=10, got -1"),
    (["--lambda-den", "nan"], "lambda_den (--lambda-den) must be in range"),
    (["--mixup-alpha", "nan"], "mixup_alpha (--mixup-alpha) must be in range"),
    (["--id-snr-min", "nan"], "id_snr_min (--id-snr-min) must be in range"),
    (["--mixup-snr-min", "nan"], "mixup_snr_min (--mixup-snr-min) must be in range"),
    (["--epochs", "99999999999999999999"], "epochs (--epochs) must be in range 1<=x<=100000, got 99999999999999999999"),
    (["--rnn-layers", "0"], "rnn_layers (--rnn-layers) must be in range 1<=x<=16, got 0"),
    (["--degrade-delta-db", "3:nan"], "--degrade-delta-db '3:nan': need lo <= hi"),
])
def test_absurd_train_settings_are_one_error_line_exit_2_and_nothing_written(tmp_path, small_h5, args, message):
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", str(small_h5[0]), "--out", str(out), "--no-progress", *args])
    assert r.exit_code == 2, r.output
    assert message in r.output, r.output
    assert [ln for ln in r.output.splitlines() if ln.strip()] == [r.output.strip()]  # one line
    assert r.output.startswith("error: ")
    assert not out.exists()


def test_config_file_with_non_finite_values_is_refused_before_training(tmp_path, small_h5):
    cfg = tmp_path / "config.json"
    cfg.write_text('{"train": {"lr": NaN}, "model": {}}')  # what older runs could write
    r = runner.invoke(app, ["train", str(small_h5[0]), "--config", str(cfg), "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and "lr (--lr) must be in range" in r.output, r.output
    assert not (tmp_path / "r").exists()


def test_synth_ranges_refused_by_name(tmp_path):
    out = tmp_path / "x.h5"
    for args, message in [(["--sample-rate", "nan"], "sample_rate (--sample-rate) must be in range 0<x<=1e+12"),
                          (["--sps", "1:8"], "sps (--sps) must be in range 2<=x<=1024, got 1:8"),
                          (["--sps", "8:4"], "--sps '8:4': need lo <= hi"),
                          (["--frames", "100000000000"], "(--frames) must be in range 1<=x<=1000000")]:
        r = runner.invoke(app, ["data", "synth", "--out", str(out), *args])
        assert r.exit_code == 2 and message in r.output, (args, r.output)
    assert not out.exists()


@pytest.mark.parametrize("cmd, classes", [(("train",), (ModelConfig, TrainConfig)),
                                          (("data", "synth"), (SynthConfig,))])
def test_help_shows_every_range_and_typed_metavars(cmd, classes):
    command = typer.main.get_command(app)
    for name in cmd:
        command = command.commands[name]  # type: ignore[attr-defined]
    ctx = command.make_context("amc", [], resilient_parsing=True)
    options = {p.opts[0]: p for p in command.params}
    for cls in classes:
        for f in dataclasses.fields(cls):
            b = bounds_of(f)
            if b is None or not f.metadata.get("cli", True):
                continue
            opt = options[flag(f.name)]
            assert f"; {b}]" in opt.help, opt.help
            assert "<str>" not in opt.get_help_record(ctx)[0]
    text = runner.invoke(app, [*cmd, "--help"]).output
    if cmd == ("data", "synth"):
        assert "--length <int|none>" in text and "--sps <lo:hi|x>" in text
    else:
        assert "--epochs <int>" in text and "1<=x<=100000]" in text


def test_config_json_is_strict_json(tmp_path, small_h5):
    out = tmp_path / "r"
    r = runner.invoke(app, ["train", str(small_h5[0]), "--out", str(out), "--epochs", "1", "--no-progress",
                            "--conv-channels", "4", "--rnn-hidden", "4", "--denoiser-channels", "4", "--dense", "8"])
    assert r.exit_code == 0, r.output
    text = (out / "config.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"config.json holds {c}"))
