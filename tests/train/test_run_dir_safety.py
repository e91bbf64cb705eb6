"""`amc train` touches its run directory only after every input is checked, replaces only a run directory,
and a failed run leaves nothing behind (issues 22.2, 27.5, 27.11)."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from amc.cli import app
from amc.data.io import write_dataset
from tests.train.conftest import TINY

runner = CliRunner()
FLAGS = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()] + ["--epochs", "1", "--no-progress"]


def invoke(*args):
    r = runner.invoke(app, [str(a) for a in args])
    return r.exit_code, " ".join(r.output.split())


def tree(path):
    return sorted(str(p.relative_to(path)) + ("/" if p.is_dir() else "=" + p.read_text(errors="replace"))
                  for p in path.rglob("*"))


@pytest.fixture
def photos(tmp_path):
    d = tmp_path / "photos"
    (d / "2024").mkdir(parents=True)
    (d / "2024" / "a.jpg").write_text("a picture")
    (d / "notes.txt").write_text("keep me")
    return d


@pytest.fixture
def too_few(tmp_path):
    """A readable dataset whose (class, SNR) groups are too small to split: training fails after it opens."""
    path = tmp_path / "few.h5"
    x = np.random.default_rng(0).standard_normal((4, 2, 128)).astype(np.float32)
    write_dataset(path, x, np.array([0, 0, 1, 1]), np.zeros(4, np.float32), ["A", "B"])
    return path


def test_missing_dataset_with_overwrite_keeps_a_folder_of_unrelated_files(photos, tmp_path):
    before = tree(photos)
    code, out = invoke("train", tmp_path / "MISSING.h5", "--out", photos, "--overwrite", *FLAGS)
    assert code == 2 and "MISSING.h5" in out, out
    assert tree(photos) == before


def test_overwrite_refuses_a_directory_that_is_not_a_run(photos, tiny_h5):
    before = tree(photos)
    code, out = invoke("train", tiny_h5, "--out", photos, "--overwrite", *FLAGS)
    assert code == 2 and f"{photos} is not a run directory" in out and "nothing was deleted" in out, out
    assert tree(photos) == before


def test_a_failed_run_leaves_nothing_and_a_replaced_run_comes_back(too_few, tiny_h5, tmp_path):
    new = tmp_path / "new"
    code, out = invoke("train", too_few, "--out", new, *FLAGS)
    assert code == 2 and "too few frames" in out, out
    assert not new.exists()  # no empty run directory
    code, out = invoke("train", tiny_h5, "--out", new, "--lr", "nan", *FLAGS)  # a NaN setting (its message: 27.4)
    assert code != 0 and not new.exists()
    run = tmp_path / "run"
    code, out = invoke("train", tiny_h5, "--out", run, *FLAGS)
    assert code == 0, out
    before = tree(run)
    code, out = invoke("train", too_few, "--out", run, "--overwrite", *FLAGS)
    assert code == 2 and "too few frames" in out, out
    assert tree(run) == before  # the old run is back, byte for byte
    assert sorted(p.name for p in tmp_path.iterdir()) == ["few.h5", "run"]  # no hidden leftovers


def test_inputs_given_twice_and_resume_without_a_run(tiny_h5, tmp_path):
    code, out = invoke("train", tiny_h5, "--data", tmp_path / "other.h5", "--out", tmp_path / "r", *FLAGS)
    assert code == 2 and str(tiny_h5) in out and "other.h5" in out and "give it once" in out, out
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out = invoke("train", "--out", empty, "--resume", *FLAGS)
    assert code == 2 and f"no run to resume in {empty}" in out, out
    code, out = invoke("data", "synth", tmp_path / "a.h5", "--out", tmp_path / "b.h5", "--frames", "1")
    assert code == 2 and "a.h5" in out and "b.h5" in out and "given twice" in out, out
    code, out = invoke("data", "synth", "--out", tmp_path, "--frames", "1")
    assert code == 2 and f"--out {tmp_path} is a directory" in out, out
    assert not list(tmp_path.glob("*.h5")) and not list(tmp_path.glob(".*"))  # refused before synthesis
