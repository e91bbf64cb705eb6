"""Outputs a hurried user points at the wrong place: inputs, directories, unwritable places, a run directory,
two options naming one file. Each is one `error:` line, exit 2, checked before any work, and nothing the user
had is lost (the file's bytes are compared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from amc.cli import app
from tests.export.conftest import make_checkpoint

runner = CliRunner()


def one_error_line(r, code: int = 2) -> str:
    assert r.exit_code == code, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    return lines[0]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from amc.export import export

    tmp = tmp_path_factory.mktemp("safety")
    ckpt = make_checkpoint(tmp / "run" / "best.pt", "cldnn", dataset=str(tmp / "missing.h5"))
    return export(ckpt, out=tmp / "m.onnx").path


@pytest.fixture
def h5(small_h5) -> Path:
    return small_h5[0]


def test_json_never_replaces_an_input(h5: Path, model: Path) -> None:
    small_h5 = h5
    before = small_h5.read_bytes()
    line = one_error_line(runner.invoke(app, ["data", "info", str(small_h5), "--json", str(small_h5)]))
    assert "is an input of this command" in line and small_h5.read_bytes() == before
    model_bytes = model.read_bytes()
    line = one_error_line(runner.invoke(app, ["bench", str(model), "--batch", "1", "--seconds", "0.01",
                                              "--no-progress", "--json", str(model)]))
    assert "is an input" in line and model.read_bytes() == model_bytes


def test_json_replaces_an_earlier_report_but_nothing_else(h5: Path, tmp_path: Path) -> None:
    small_h5 = h5
    other = tmp_path / "notes.txt"
    other.write_text("my notes\n")
    line = one_error_line(runner.invoke(app, ["data", "info", str(small_h5), "--json", str(other)]))
    assert "exists; choose another path" in line and other.read_text() == "my notes\n"
    report = tmp_path / "info.json"
    report.write_text('{"old": true}\n')
    r = runner.invoke(app, ["data", "info", str(small_h5), "--json", str(report)])
    assert r.exit_code == 0, r.output
    assert json.loads(report.read_text())["frames"] == 120  # 3 classes x 4 SNRs x 10 frames
    line = one_error_line(runner.invoke(app, ["data", "info", str(small_h5), "--json", str(tmp_path)]))
    assert "is a directory" in line


def test_unwritable_places_are_refused_by_the_path_given(h5: Path, model: Path, tmp_path: Path) -> None:
    small_h5 = h5
    line = one_error_line(runner.invoke(app, ["data", "info", str(small_h5), "--json", "/proc/x.json"]))
    assert "/proc is not a writable directory" in line
    run = model.parent / "run"
    line = one_error_line(runner.invoke(app, ["export", str(run), "--out", "/proc/x.onnx", "--no-progress"]))
    assert line == "error: --out /proc/x.onnx: /proc is not a writable directory; choose another path"  # as --json


def test_eval_engine_does_not_write_into_a_run_or_onto_a_file(model: Path, tmp_path: Path) -> None:
    run = model.parent / "run"
    listing = sorted(p.name for p in run.iterdir())
    line = one_error_line(runner.invoke(app, ["eval-engine", str(model), "--out", str(run), "--overwrite",
                                              "--no-progress"]))
    assert "is a training run directory" in line and sorted(p.name for p in run.iterdir()) == listing
    f = tmp_path / "r.txt"
    f.write_text("x")
    line = one_error_line(runner.invoke(app, ["eval-engine", str(model), "--out", str(f), "--overwrite",
                                              "--no-progress"]))
    assert "is a file; the report is a directory" in line and f.read_text() == "x"


def test_export_data_named_but_missing_is_an_error(model: Path, tmp_path: Path) -> None:
    out = tmp_path / "i8.onnx"
    line = one_error_line(runner.invoke(app, ["export", str(model.parent / "run"), "--precision", "int8",
                                              "--data", str(tmp_path / "nosuch.h5"), "--out", str(out),
                                              "--no-progress"]))
    assert "--data" in line and "no such file" in line and not out.exists()


def test_negative_seed_is_refused(tmp_path: Path) -> None:
    line = one_error_line(runner.invoke(app, ["data", "synth", "--out", str(tmp_path / "x.h5"), "--classes", "BPSK",
                                              "--snrs", "0", "--frames", "3", "--seed", "-1", "--no-progress"]))
    assert "seed" in line and not (tmp_path / "x.h5").exists()


def test_mistyped_options_are_one_line_exit_2_from_the_real_entry_point(model: Path) -> None:
    for args, needle in ((["export", str(model.parent / "run"), "--max-batch", "0"], "--max-batch"),
                         (["export", str(model.parent / "run"), "--format", "foo"], "'foo' is not one of"),
                         (["export"], "Missing argument 'RUN'"), (["nosuch"], "No such command")):
        p = subprocess.run([sys.executable, "-m", "amc", *args], capture_output=True, text=True, timeout=120)
        assert p.returncode == 2 and p.stdout == "", (args, p.stdout, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], (args, p.stderr)
        assert "--help" in lines[0]


def test_classify_outputs_collide_or_point_at_the_recording(model: Path, tmp_path: Path) -> None:
    from amc.classify.synth import make_iq, write_sigmf

    x, _ = make_iq([("BPSK", 2048)], model_rate=200e3, up=1, snr_db=20.0)
    meta = write_sigmf(tmp_path / "rec", x, 200e3)
    base = ["classify", str(meta), "--model", str(model), "--model-rate", "200e3", "--no-progress"]
    line = one_error_line(runner.invoke(app, [*base, "--rows", str(tmp_path / "r.csv"), "--json",
                                              str(tmp_path / "r.csv")]))
    assert "--rows and --json both write to" in line and not (tmp_path / "r.csv").exists()
    line = one_error_line(runner.invoke(app, [*base, "--json", str(tmp_path / "rec.sigmf-data"), "--overwrite"]))
    assert "is an input" in line
    line = one_error_line(runner.invoke(app, [*base, "--center-freq", "nan"]))
    assert "--center-freq must be a finite number" in line
    # --annotations naming the recording's own metadata adds to it: its captures and samples stay readable
    r = runner.invoke(app, [*base, "--annotations", str(meta)])
    assert r.exit_code == 0, r.output
    m = json.loads(meta.read_text())
    assert not m["global"].get("core:metadata_only") and m["captures"] and m["annotations"]
    assert runner.invoke(app, base).exit_code == 0  # and it still classifies


def test_classify_directory_and_malformed_metadata(model: Path, tmp_path: Path) -> None:
    line = one_error_line(runner.invoke(app, ["classify", str(tmp_path), "--model", str(model),
                                              "--sample-rate", "2e5", "--no-progress"]))
    assert "a directory" in line
    (tmp_path / "bad.sigmf-data").write_bytes(np.zeros(512, np.complex64).tobytes())
    (tmp_path / "bad.sigmf-meta").write_text(json.dumps({
        "global": {"core:datatype": "cf32_le", "core:sample_rate": 2e5, "core:num_channels": "two",
                   "core:version": "1.0.0"}, "captures": [{"core:sample_start": 0}], "annotations": []}))
    line = one_error_line(runner.invoke(app, ["classify", str(tmp_path / "bad"), "--model", str(model),
                                              "--no-progress"]))
    assert "malformed SigMF metadata" in line
