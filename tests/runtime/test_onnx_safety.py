"""ONNX external data: a location inside the model's folder loads; one that escapes it is refused first.

The escaping cases point at a real, readable copy of the weights outside the folder, so the only thing
standing between the model and that file is the check (this onnxruntime refuses them as well, older
ones did not; the spy below shows amc refuses before ONNX Runtime is even asked).
"""

from __future__ import annotations

import builtins
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from amc.data.io import DataError
from amc.runtime import Engine
from amc.runtime.artifact import read_metadata
from amc.runtime.safety import check_external_data, external_tensors
from tests.serve.test_server import frames, model_files  # noqa: F401 - the session's tiny trained model

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def external(model_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """The tiny model with its weights in one external file, models/model.onnx + models/w.bin.

    Tensors under 1 KiB stay inline, as onnx.save_model does by default: ONNX Runtime's shape inference
    cannot read a small constant (Unsqueeze's axes) from external data (size_threshold=0 fails to load).
    """
    folder = tmp_path_factory.mktemp("ext") / "models"
    folder.mkdir()
    proto = onnx.load(str(model_files[1]))
    onnx.save_model(proto, str(folder / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="w.bin", size_threshold=1024)
    return folder / "model.onnx"


def test_legitimate_external_data_loads_and_predicts(external: Path, model_files: tuple[Path, Path]) -> None:  # noqa: F811
    proto = onnx.load(str(external), load_external_data=False)
    locations = {loc for _, loc in external_tensors(proto)}
    assert locations == {"w.bin"}
    inline = sum(len(t.raw_data) for t in proto.graph.initializer)
    assert (external.parent / "w.bin").stat().st_size > 10 * inline  # the weights really are outside
    check_external_data(external)
    assert read_metadata(external)["classes"] == read_metadata(model_files[1])["classes"]
    x = frames(7, seed=11)
    got, want = Engine.load(external, provider="cpu").predict(x), Engine.load(model_files[1], provider="cpu").predict(x)
    assert got.label == want.label
    np.testing.assert_allclose(got.logits, want.logits, atol=1e-5)


def _rewrite(src: Path, dst: Path, location: str) -> Path:
    """A copy of `src` whose external-data entries all point at `location` (graph bytes only)."""
    proto = onnx.load(str(src), load_external_data=False)
    n = 0
    for t in proto.graph.initializer:
        for entry in t.external_data:
            if entry.key == "location":
                entry.value, n = location, n + 1
    assert n > 0
    dst.write_bytes(proto.SerializeToString())
    return dst


REFUSALS = [
    ("parent", "climbs out of the model's folder with '..'"),
    ("backslash parent", "climbs out of the model's folder with '..'"),
    ("inner parent", "climbs out of the model's folder with '..'"),
    ("absolute", "is an absolute path"),
    ("windows drive", "is an absolute path"),
    ("symlink file", "resolves (through a symlink) outside the model's folder"),
    ("symlink dir", "resolves (through a symlink) outside the model's folder"),
    ("missing", "does not exist"),
    ("directory", "is not a file"),
    ("empty", "names no file"),
]


@pytest.mark.parametrize("case,reason", REFUSALS, ids=[c for c, _ in REFUSALS])
def test_escaping_external_data_is_refused_before_anything_reads_it(
        external: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, reason: str) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copyfile(external.parent / "w.bin", folder / "w.bin")
    evil = tmp_path / "evil.bin"  # outside the folder: the same weights, so a model reading it would "work"
    shutil.copyfile(external.parent / "w.bin", evil)
    (tmp_path / "outside").mkdir()
    shutil.copyfile(evil, tmp_path / "outside" / "evil.bin")
    (folder / "sub").mkdir()
    location = {
        "parent": "../evil.bin", "backslash parent": "..\\evil.bin", "inner parent": "sub/../../evil.bin",
        "absolute": str(evil), "windows drive": "C:\\evil.bin", "symlink file": "link.bin",
        "symlink dir": "linked/evil.bin", "missing": "gone.bin", "directory": "sub", "empty": "",
    }[case]
    if case == "symlink file":
        os.symlink(evil, folder / "link.bin")
    if case == "symlink dir":
        os.symlink(tmp_path / "outside", folder / "linked", target_is_directory=True)
    model = _rewrite(external, folder / "model.onnx", location)

    sessions: list[Any] = []
    opened: list[str] = []
    real_open = builtins.open
    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **k: sessions.append(a) or pytest.fail("ORT opened it"))

    def spy_open(file: Any, *a: Any, **k: Any) -> Any:
        opened.append(os.path.realpath(file) if isinstance(file, str | os.PathLike) else str(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", spy_open)
    for load in (lambda: Engine.load(model, provider="cpu"), lambda: read_metadata(model),
                 lambda: check_external_data(model)):
        with pytest.raises(DataError) as e:
            load()
        msg = str(e.value)
        assert "\n" not in msg and msg.startswith(f"{model}: tensor ")
        assert f"keeps its data in {location!r}, which {reason}; refusing to load it" in msg
    assert sessions == []  # refused before ONNX Runtime was asked to open anything
    outside = {os.path.realpath(p) for p in (evil, tmp_path / "outside" / "evil.bin")}
    assert not outside & set(opened), opened
    assert evil.read_bytes() == (folder / "w.bin").read_bytes()  # the bait was readable all along


def test_attribute_and_subgraph_tensors_are_checked_too(tmp_path: Path) -> None:
    """A Constant inside an If branch pointing outside is found like an initializer."""
    from onnx import TensorProto, helper

    const = helper.make_tensor("c", TensorProto.FLOAT, [1], [0.0])
    const.ClearField("float_data")
    const.data_location = TensorProto.EXTERNAL
    entry = const.external_data.add()
    entry.key, entry.value = "location", "../../secret"
    then = helper.make_graph([helper.make_node("Constant", [], ["y"], value=const)], "then", [],
                             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    other = helper.make_graph([helper.make_node("Constant", [], ["y"], value_floats=[1.0])], "else", [],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    graph = helper.make_graph([helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other)], "g",
                              [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    assert list(external_tensors(onnx.load(str(path), load_external_data=False))) == [("c", "../../secret")]
    with pytest.raises(DataError, match=r"tensor 'c' keeps its data in '\.\./\.\./secret', which climbs out"):
        read_metadata(path)


def test_cli_refuses_an_escaping_model_in_one_line(external: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from amc.cli import app

    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copyfile(external.parent / "w.bin", tmp_path / "w.bin")
    model = _rewrite(external, folder / "model.onnx", "../w.bin")
    for cmd in (["serve", str(model)], ["bench", str(model)], ["eval-engine", str(model), "--no-progress"]):
        r = CliRunner().invoke(app, cmd)
        text = " ".join(r.output.split())
        assert r.exit_code == 2, (cmd, r.output)
        assert "error: " in text and "keeps its data in '../w.bin', which climbs out of the model's folder" in text
        assert "Traceback" not in r.output
