"""A packaged-style model's re-check on a fresh machine: its training file made again with the same
generator call (in another process whose numpy takes other SIMD paths, as another CPU would) is still
the model's dataset, and `amc eval-engine --split test` on it exits 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from amc.cli import app
from amc.data.io import open_dataset
from amc.data.split import probe_matches
from amc.runtime.artifact import read_metadata
from tests.eval.conftest import CLASSES, SNRS

runner = CliRunner()
# numpy's runtime-dispatched vector units, as found on this CPU: switching them off in a child process
# gives what a machine without them computes (sin / exp differ in the last bits there)
SIMD = [f for f in ("AVX512_SPR", "AVX512_ICL", "AVX512_CNL", "AVX512_CLX", "AVX512_SKX", "X86_V4", "X86_V3")
        if __import__("numpy._core._multiarray_umath", fromlist=["x"]).__cpu_features__.get(f)]


def synth_elsewhere(path, seed: int = 3) -> None:
    """The eval run's data (tests/eval/conftest.py), made again the way a user would, on 'another machine'."""
    code = ("from amc.config import SynthConfig; from amc.data.build import synth_to_file; "
            f"synth_to_file(SynthConfig(classes={CLASSES!r}, snrs={SNRS!r}, frames_per_class_snr=160, seed={seed}), "
            f"{str(path)!r})")
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(SIMD)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_the_training_file_made_again_elsewhere_passes_the_recheck(run, onnx_fp32, tmp_path):
    again = tmp_path / "again.h5"
    synth_elsewhere(again)
    with open_dataset(run / "d.h5") as a, open_dataset(again) as b:
        xa, xb = a.read(np.arange(len(a)), with_clean=False).x, b.read(np.arange(len(b)), with_clean=False).x
        if SIMD:  # the bytes really differ (a fingerprint over them would refuse this file) ...
            assert not np.array_equal(xa, xb) and a.legacy_fingerprint() != b.legacy_fingerprint()
        assert np.abs(xa - xb).max() < 1e-4  # ... by float32 rounding only
        assert a.fingerprint() == b.fingerprint() and probe_matches(a.probe(), b.probe())
        mine = (a.fingerprint(), a.probe())
    meta = read_metadata(onnx_fp32)
    assert (meta["split"]["fingerprint"], meta["split"]["probe"]) == mine
    # the file is accepted as the run's (its split rebuilt, the stored predictions its reference); 288 frames
    # cannot show fp32's 0.1 pp, so the tolerance is one they can resolve
    r = runner.invoke(app, ["eval-engine", str(onnx_fp32), "--data", str(again), "--split", "test", "--no-progress",
                            "--tolerance-pp", "8", "--json", "-"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["reference"]["kind"] == "training" and rep["frames"] == 4 * 3 * 24 and rep["verdict"] == "PASS"


def test_other_samples_under_the_same_settings_are_refused(run, onnx_fp32, tmp_path):
    """The fingerprint no longer hashes a synthetic file's samples; the probe still tells other frames apart."""
    other = tmp_path / "other.h5"
    synth_elsewhere(other, seed=4)
    with h5py.File(other, "r+") as f:  # claim the run's settings: labels and SNRs line up, samples do not
        gen = json.loads(f.attrs["generator"])
        f.attrs["generator"] = json.dumps({**gen, "seed": 3})
    with open_dataset(other) as ds, open_dataset(run / "d.h5") as mine:
        assert ds.fingerprint() == mine.fingerprint() and not probe_matches(mine.probe(), ds.probe())
    r = runner.invoke(app, ["eval-engine", str(onnx_fp32), "--data", str(other), "--split", "test", "--no-progress"])
    assert r.exit_code == 2 and "samples differ" in r.stderr, r.output


def test_the_packaged_model_records_no_machine_path_and_todays_identity():
    import amc.pretrained as p
    from amc.pretrained.build import DATA, RECHECK

    meta = read_metadata(p.default_model())
    for key in ("checkpoint", "dataset"):
        assert not os.path.isabs(str(meta[key])), meta[key]
    assert "probe" in meta["split"] and len(meta["split"]["probe"]) == 8
    c = p.card()
    assert c["recheck"] == RECHECK and f"--frames {DATA['frames_per_class_snr']} --seed {DATA['seed']}" in RECHECK[0]
    assert RECHECK[1].startswith("amc eval-engine default ")


@pytest.mark.slow
def test_the_default_model_card_recheck_exits_0(tmp_path):
    """The card's own commands, as printed (220,000 frames: about 3 minutes on 2 cores)."""
    import shlex

    import amc.pretrained as p

    cmds = [shlex.split(c.split("#")[0]) for c in p.card()["recheck"]]
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(SIMD)}
    assert cmds[0][:3] == ["amc", "data", "synth"]
    subprocess.run([sys.executable, "-m", "amc", *cmds[0][1:]], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    r = subprocess.run([sys.executable, "-m", "amc", *cmds[1][1:], "--no-progress"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
