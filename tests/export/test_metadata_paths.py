"""Artifacts name no directory of the machine that made them (issue 22, item 8): the metadata's paths are
relative to the model file, so /v1/model serves no absolute path and a moved run still finds its files."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from amc.checkpoint import load_checkpoint, save_checkpoint
from amc.eval.engine_eval import EvalSettings, evaluate_engine
from amc.export import export
from amc.pretrained import PACKAGED, card, model_path
from amc.runtime.artifact import read_metadata

ABSOLUTE = re.compile(r"(?<![\w.~-])/[\w.-]+/")  # an absolute path token anywhere in a text: /x/...


def absolute_paths(obj, where=""):
    if isinstance(obj, dict):  # per-frame predictions are base64 (its alphabet has '/'), not text
        return [p for k, v in obj.items() if k != "predictions" for p in absolute_paths(v, f"{where}.{k}")]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in absolute_paths(v, f"{where}[{i}]")]
    if isinstance(obj, str) and (ABSOLUTE.search(obj) or str(Path.home()) in obj):
        return [f"{where}: {obj[:120]}"]
    return []


def test_the_checker_sees_absolute_paths():
    assert absolute_paths({"a": ["/home/x/best.pt"], "b": "512 val split frames of /tmp/d/data.h5"}) == [
        ".a[0]: /home/x/best.pt", ".b: 512 val split frames of /tmp/d/data.h5"]
    assert absolute_paths({"a": "../d.h5", "b": "70 / 15 / 15 stratified", "c": "best.pt"}) == []


@pytest.mark.parametrize("name", sorted(PACKAGED))
def test_packaged_models_carry_no_absolute_path(name):
    meta = read_metadata(model_path(name))
    assert absolute_paths(meta) == []
    assert absolute_paths(card(name)) == []


def test_an_export_stores_relative_paths_and_a_moved_run_still_resolves_them(trained_run, tmp_path):
    # a copy of the run and its dataset, exported, then moved: only relative paths can still resolve
    src = tmp_path / "a"
    shutil.copytree(trained_run.parent, src, ignore=shutil.ignore_patterns("*.onnx", "triton*"))
    ckpt = load_checkpoint(src / "run" / "best.pt")  # the copy's run trained on the copy's dataset
    ckpt["dataset"] = str(src / "d.h5")
    save_checkpoint(src / "run" / "best.pt", {k: v for k, v in ckpt.items() if k != "format"})
    onnx = export(src / "run", out=src / "run" / "m.onnx", simplify=False).path
    repo = export(src / "run", fmt="triton", out=src / "repo", simplify=False).path
    meta, repo_meta = read_metadata(onnx), read_metadata(repo)
    assert absolute_paths(meta) == [] and absolute_paths(repo_meta) == [], json.dumps(meta)[:400]
    assert meta["checkpoint"] == "best.pt" and meta["dataset"] == "../d.h5"
    assert repo_meta["checkpoint"] == "../../../run/best.pt"  # from repo/NAME/1/model.onnx
    moved = tmp_path / "moved"
    src.rename(moved)
    report = evaluate_engine(EvalSettings(model=str(moved / "run" / "m.onnx"), split="val"))
    assert Path(report["data"]) == (moved / "d.h5").resolve()  # found through the relative path, no --data
    # the run's own val predictions were found through the relative checkpoint path: a verdict, never drift
    # (88 val frames cannot show fp32's 0.1 pp, so INCONCLUSIVE is the honest answer on this tiny split)
    assert report["reference"]["kind"] == "training", report["reference"]
    assert report["exit_code"] in (0, 4) and report["verdict"] != "DRIFT", report.get("notes")


def test_v1_model_serves_no_absolute_path(trained_run):
    """/v1/model of a run directory (TorchEngine) and of the packaged ONNX model."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from amc.runtime import Engine
    from amc.serve.server import create_app

    for model in (trained_run, model_path()):
        engine = Engine.load(model)
        with TestClient(create_app(engine)) as client:
            info = client.get("/v1/model").json()
        assert absolute_paths(info) == [], (model, absolute_paths(info))
        assert info["metadata"]["dataset"]
