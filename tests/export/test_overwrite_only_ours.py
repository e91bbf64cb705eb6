"""--overwrite on eval-engine reports and Triton repositories replaces only amc's own output (issue 22.2)."""

from __future__ import annotations

import pytest

from amc.eval.engine_eval import EvalSettings, evaluate_engine
from amc.export import ExportError, export
from amc.files import DirectoryError


def tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.fixture
def photos(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    (d / "a.jpg").write_text("a picture")
    return d


@pytest.mark.slow
def test_eval_engine_overwrite_refuses_a_folder_that_is_not_a_report(trained_run, photos, tmp_path):
    onnx = export(trained_run, out=tmp_path / "m.onnx", simplify=False).path
    with pytest.raises(DirectoryError, match="photos is not a eval-engine report directory"):
        evaluate_engine(EvalSettings(model=str(onnx), report_dir=str(photos), overwrite=True))
    assert tree(photos) == ["a.jpg"]
    report = tmp_path / "report"
    evaluate_engine(EvalSettings(model=str(onnx), report_dir=str(report)))
    evaluate_engine(EvalSettings(model=str(onnx), report_dir=str(report), overwrite=True))  # its own: replaced
    assert (report / "report.json").is_file()


def test_triton_overwrite_replaces_a_repository_and_nothing_else(trained_run, photos, tmp_path):
    with pytest.raises(ExportError, match="not a Triton model repository"):
        export(trained_run, fmt="triton", out=photos, simplify=False, overwrite=True)
    assert tree(photos) == ["a.jpg"]
    repo = tmp_path / "repo"
    export(trained_run, fmt="triton", out=repo, simplify=False)
    export(trained_run, fmt="triton", out=repo, simplify=False, overwrite=True)
    assert any(repo.glob("*/config.pbtxt")) and sorted(p.name for p in tmp_path.iterdir()) == ["photos", "repo"]
    assert not list(tmp_path.glob(".repo.*")), "the old repository was left aside"
