"""The exit-code contract of `amc eval-engine`: 0 pass, 1 drift and nothing else, 2 anything the user must fix
(one line on stderr, no traceback), 3 a bug in amc, 130 Ctrl-C. Every bad-input row of
docs/reliability.md's eval-engine table is a case here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from amc.cli import app
from amc.config import SynthConfig
from amc.data.build import synth_to_file
from amc.runtime.artifact import read_metadata, update_metadata
from tests.eval.conftest import CLASSES, SNRS
from tests.export.conftest import make_checkpoint

runner = CliRunner()


@pytest.fixture(scope="module")
def bad(run, onnx_fp32, tmp_path_factory) -> dict[str, Path]:
    """The files a hurried user hands over by mistake."""
    d = tmp_path_factory.mktemp("bad")
    synth_to_file(SynthConfig(classes=CLASSES, snrs=SNRS, frames_per_class_snr=5, frame_length=256), d / "L256.h5")
    synth_to_file(SynthConfig(classes=["BPSK", "QAM64"], snrs=[0.0], frames_per_class_snr=5), d / "qam64.h5")
    synth_to_file(SynthConfig(classes=CLASSES, snrs=SNRS, frames_per_class_snr=5, seed=9), d / "other.h5")
    (d / "notes.txt").write_text("not a dataset\n")
    (d / "garbage.onnx").write_bytes(os.urandom(2048))
    (d / "empty_run").mkdir()
    (d / "report").mkdir()
    (d / "report" / "report.json").write_text("{}")
    make_checkpoint(d / "other_classes" / "best.pt", classes=["BPSK", "QPSK", "8PSK"])
    make_checkpoint(d / "same_classes" / "best.pt", classes=CLASSES)
    here = {"dataset": str(run / "d.h5")}  # copies live in d/: the export's relative dataset path would not resolve
    for name, change in [("moved_data.onnx", {"dataset": str(d / "gone" / "d.h5")}),
                         ("moved_ckpt.onnx", {**here, "checkpoint": str(d / "gone" / "best.pt")}),
                         ("no_split.onnx", {**here, "split": {}})]:
        shutil.copy(onnx_fp32, d / name)
        update_metadata(d / name, {**read_metadata(d / name), **change})
    return {p.name: p for p in d.iterdir()}


# (case, arguments after the engine, words the one-line message must hold); {name} is a file of `bad`
ROWS = [
    ("frame length", ["--data", "{L256.h5}", "--split", "all"], ["256 samples", "engine takes 128", "--data"]),
    ("class set", ["--data", "{qam64.h5}", "--split", "all"], ["QAM64", "dataset: BPSK, QAM64",
                                                               "engine: BPSK, QPSK, AM-DSB, WBFM"]),
    ("--run of another model", ["--run", "{other_classes}"], ["is not the checkpoint this engine was exported from",
                                                              "--force"]),
    ("--run, other classes, --force", ["--run", "{other_classes}", "--force"],
     ["trained on classes BPSK, QPSK, 8PSK", "the engine on BPSK, QPSK, AM-DSB, WBFM"]),
    ("--run without a checkpoint", ["--run", "{empty_run}"], ["no best.pt or last.pt", "--run"]),
    ("--run that does not exist", ["--run", "{empty_run}/nope"], ["no such run directory or checkpoint"]),
    ("--data missing", ["--data", "{empty_run}/d.h5"], ["--data", "no such file"]),
    ("--data not HDF5", ["--data", "{notes.txt}"], ["not an HDF5 file"]),
    ("dataset moved since training", ["@moved_data.onnx"], ["is not there (moved or deleted?)", "pass --data FILE"]),
    ("another file, run's split", ["--data", "{other.h5}"], ["pass the training dataset (or --split all)"]),
    ("another file, --split test", ["--data", "{other.h5}", "--split", "test"], ["pass the training dataset"]),
    ("no reference for these frames", ["@moved_ckpt.onnx", "--split", "all"],
     ["no reference for these frames", "no longer there", "pass --run RUN_DIR"]),
    ("no split identity", ["@no_split.onnx"], ["pass --split all"]),
    ("engine file is garbage", ["@garbage.onnx"], ["not a readable ONNX file"]),
    ("engine file missing", ["@missing.onnx"], ["no such file or directory"]),
    ("report exists", ["--out", "{report}"], ["exists", "--overwrite"]),
    ("unknown split", ["--split", "vall"], ["'vall' is not one of 'auto', 'val', 'test', 'all'"]),
    ("negative tolerance", ["--tolerance-pp", "-1"], ["--tolerance-pp", "greater than or equal to 0"]),
]


@pytest.mark.parametrize("case,args,words", ROWS, ids=[r[0] for r in ROWS])
def test_bad_input_is_exit_2_with_one_line(case, args, words, bad, onnx_fp32):
    engine = str(onnx_fp32)
    if args and args[0].startswith("@"):
        engine, args = str(bad.get(args[0][1:], bad["empty_run"].parent / args[0][1:])), args[1:]
    argv = []
    for a in args:
        for name, path in bad.items():
            a = a.replace("{" + name + "}", str(path))
        argv.append(a)
    r = runner.invoke(app, ["eval-engine", engine, *argv, "--no-progress"])
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert "Traceback" not in r.output and r.stdout == ""
    if case not in ("unknown split", "negative tolerance"):  # Typer's own usage errors frame their message
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for w in words:
        assert w in " ".join(r.stderr.split()), (w, r.stderr)


def test_forced_run_of_the_same_classes_is_the_reference_and_says_so(bad, onnx_fp32, tmp_path):
    r = runner.invoke(app, ["eval-engine", str(onnx_fp32), "--run", str(bad["same_classes"]), "--force",
                            "--no-progress", "--out", str(tmp_path)])
    assert r.exit_code in (0, 1, 4), r.output  # a verdict, whatever it is: an untrained model is the reference
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["reference"]["kind"] == "pytorch"
    assert rep["reference"]["checkpoint"] == str(bad["same_classes"] / "best.pt")
    assert any("--force" in n and "not the engine's source checkpoint" in n for n in rep["notes"])
    assert rep["agreement"] < 0.9  # it really is another model


def test_the_engine_own_run_is_accepted(run, onnx_fp32):
    r = runner.invoke(app, ["eval-engine", str(onnx_fp32), "--run", str(run / "run"), "--split", "all",
                            "--no-progress", "--inconclusive-ok"])
    assert r.exit_code == 0, r.output
    assert f"reference: the source PyTorch model {run / 'run' / 'best.pt'}" in " ".join(r.stdout.split())


@pytest.mark.parametrize("exc,code,words", [(RuntimeError("ORT exploded"), 3, "internal error (RuntimeError: ORT"),
                                            (KeyboardInterrupt(), 130, "interrupted; no verdict")])
def test_a_crash_is_never_exit_1(exc, code, words, onnx_fp32, monkeypatch):
    from amc.runtime.onnx_backend import OnnxEngine

    def boom(self, x):
        raise exc

    monkeypatch.setattr(OnnxEngine, "_forward", boom)
    r = runner.invoke(app, ["eval-engine", str(onnx_fp32), "--no-progress"])
    assert r.exit_code == code and words in r.stderr


def test_a_reader_that_stops_early_does_not_turn_a_pass_into_exit_1(onnx_fp32, tmp_path):
    """`amc eval-engine … | head` under `set -o pipefail`: the pipe closes before the first line (rich
    answers a broken pipe with exit 1, the drift code); the verdict still sets the exit code."""
    read, write = os.pipe()
    with open(tmp_path / "err", "wb") as err:
        p = subprocess.Popen([sys.executable, "-m", "amc", "eval-engine", str(onnx_fp32), "--no-progress",
                              "--split", "val", "--tolerance-pp", "8"],
                             stdout=write, stderr=err, env={**os.environ, "OMP_NUM_THREADS": "1"})
    os.close(write)
    os.close(read)  # the reader is gone before amc prints anything
    assert p.wait(timeout=600) == 0, (tmp_path / "err").read_text()
