"""Around the gate: paths survive a change of directory, a moved dataset is named with --data, no silent
substitutions (last.pt, overwriting), and int8 with many near ties is judged on accuracy."""

from __future__ import annotations

import asyncio
import json
import os
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from amc.cli import app
from amc.config import SynthConfig, preset
from amc.data.build import synth_to_file
from amc.runtime import Engine
from tests.eval.conftest import CLASSES, TINY

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_eval_export_and_serve_work_from_any_directory(run, onnx_fp32, tmp_path, monkeypatch):
    """The run was trained from its own folder with relative paths; everything works from elsewhere."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    model = os.path.relpath(onnx_fp32, elsewhere)
    r = cli("eval-engine", model, "--no-progress", "--json", "rep.json", "--split", "val", "--inconclusive-ok")
    assert r.exit_code == 0, r.output
    rep = json.loads((elsewhere / "rep.json").read_text())
    assert rep["data"] == str(run / "d.h5") and rep["reference"]["kind"] == "training"
    r = cli("export", os.path.relpath(run / "run", elsewhere), "--out", "m.onnx")
    assert r.exit_code == 0, r.output
    assert "val split frames of d.h5" in r.stdout and "synthetic" not in r.stdout  # no paths (22.8)
    pytest.importorskip("fastapi")
    httpx = pytest.importorskip("httpx")
    from amc.serve.server import create_app

    engine = Engine.load("m.onnx")
    x = np.random.default_rng(0).standard_normal((2, 128)).astype(np.float32)

    async def go():
        a = create_app(engine)
        async with a.router.lifespan_context(a), httpx.AsyncClient(transport=httpx.ASGITransport(app=a),
                                                                   base_url="http://amc") as c:
            return await c.post("/v1/classify", json={"iq": x.tolist()}), await c.get("/v1/model")

    answer, info = asyncio.run(go())
    assert answer.status_code == 200 and answer.json()["predictions"][0]["label"] in CLASSES
    assert "reference" not in info.json()["metadata"]  # per-frame predictions stay out of /v1/model
    recorded = info.json()["metadata"]["dataset"]  # relative to the model file, never absolute (22.8)
    assert not os.path.isabs(recorded) and (elsewhere / recorded).resolve() == (run / "d.h5").resolve()


@pytest.fixture(scope="module")
def moved(tmp_path_factory):
    """A one-epoch run whose dataset is moved after training (and after export)."""
    from amc.export import export
    from amc.train.loop import train

    root = tmp_path_factory.mktemp("moved")
    synth_to_file(SynthConfig(classes=CLASSES, snrs=[0.0, 10.0], frames_per_class_snr=20, seed=5), root / "d.h5")
    m, t = preset("a4", data=str(root / "d.h5"), out_dir=str(root / "run"), epochs=1, batch_size=32, **TINY)
    train(m, t, progress=False, say=None)
    onnx_path = export(root / "run", out=root / "m.onnx").path
    (root / "new").mkdir()
    shutil.move(root / "d.h5", root / "new" / "d.h5")
    return root, onnx_path


def test_a_moved_dataset_is_named_with_data_and_found_with_it(moved):
    root, onnx_path = moved
    r = cli("eval-engine", onnx_path, "--no-progress")
    assert r.exit_code == 2
    assert r.stderr.strip() == (f"error: the engine's dataset {root / 'd.h5'} is not there (moved or deleted?); "
                                "pass --data FILE")
    for split in ("val", "test"):  # the moved file is recognised (fingerprint) and its splits rebuilt
        r = cli("eval-engine", onnx_path, "--data", root / "new" / "d.h5", "--split", split, "--no-progress",
                "--tolerance-pp", "8")
        # found and judged against its own run (24 frames cannot show +-8 pp: INCONCLUSIVE is honest)
        assert r.exit_code in (0, 4) and "eval-engine: DRIFT" not in r.stdout, r.output
        assert f"the training run's {split} predictions" in r.stdout
    r = cli("export", root / "run", "--out", root / "again.onnx")
    assert r.exit_code == 0 and "pass --data to use the training dataset" in r.stdout
    r = cli("export", root / "run", "--out", root / "again2.onnx", "--data", root / "new" / "d.h5")
    assert r.exit_code == 0 and "val split frames of d.h5" in r.stdout, r.stdout  # the file's name (22.8)


def test_export_of_a_run_without_best_pt_says_it_uses_last_pt(run, tmp_path):
    (tmp_path / "run").mkdir()
    shutil.copy(run / "run" / "last.pt", tmp_path / "run" / "last.pt")
    r = cli("export", tmp_path / "run", "--out", tmp_path / "m.onnx")
    assert r.exit_code == 0, r.output
    assert f"note: {tmp_path / 'run'} has no best.pt: exported last.pt (epoch 8), the last epoch, not the " \
           "selected one" in " ".join(r.stdout.split())  # notes are wrapped at 80 columns
    # recorded relative to the model file (no machine path in metadata), and it resolves to the file exported
    assert Engine.load(tmp_path / "m.onnx").metadata["checkpoint"] == "run/last.pt"


def test_export_refuses_to_overwrite_without_overwrite(run, tmp_path):
    target = tmp_path / "m.onnx"
    assert cli("export", run / "run", "--out", target).exit_code == 0
    before = target.read_bytes()
    r = cli("export", run / "run", "--out", target, "--precision", "fp16")
    assert r.exit_code == 2 and r.stderr.strip() == (f"error: {target} exists; pass --overwrite to replace it "
                                                     "(or choose another --out)")
    assert target.read_bytes() == before
    r = cli("export", run / "run", "--out", target, "--precision", "fp16", "--overwrite")
    assert r.exit_code == 0 and Engine.load(target).precision == "fp16"


def test_int8_with_many_near_ties_is_judged_on_accuracy_and_never_fails_an_honest_export(run, tmp_path):
    r = cli("export", run / "run", "--precision", "int8", "--out", tmp_path / "m8.onnx")
    assert r.exit_code == 0, r.output
    parity = Engine.load(tmp_path / "m8.onnx").metadata["parity"]
    assert parity["near_tie_share"] > 0.2  # the tiny model's margins are mostly under int8's 0.25
    assert parity["judged_on"] == "accuracy" and parity["verdict"] in ("pass", "inconclusive")
    acc = parity["accuracy"]
    assert acc["verdict"] != "DRIFT" and acc["summary"] in " ".join(r.stdout.split())
    assert f"-> {parity['verdict']} (int8: CI inside ±1 pp" in " ".join(r.stdout.split())
    for split in ("val", "all"):
        r = cli("eval-engine", tmp_path / "m8.onnx", "--split", split, "--no-progress", "--json", tmp_path / "r.json")
        rep = json.loads((tmp_path / "r.json").read_text())
        assert r.exit_code == rep["exit_code"] in (0, 4), r.output  # never DRIFT
        assert rep["precision"] == "int8" and rep["tolerance_pp"] == 1.0
