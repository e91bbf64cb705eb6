"""Export on a full disk: the previous artifact stays byte-identical and no staging file is left behind."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import amc.data.io
from amc.cli import app
from amc.export import export
from amc.runtime.artifact import read_metadata


def _full_disk(*_: Any, **__: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("where", ["fsync", "write"])
def test_export_on_a_full_disk_keeps_the_previous_artifact(tiny_checkpoints: dict[str, Path], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    import onnx

    ckpt = tiny_checkpoints["cldnn"]
    good = export(ckpt, out=tmp_path / "m.onnx", simplify=False).path
    before = good.read_bytes()
    if where == "fsync":  # the bytes reached the page cache, the flush to disk fails
        monkeypatch.setattr(amc.data.io.os, "fsync", _full_disk)
    else:  # the writer runs out of space halfway through the file
        real_save = onnx.save

        def half_then_full(proto: Any, f: Any, *a: Any, **k: Any) -> None:
            real_save(proto, f, *a, **k)
            data = Path(f).read_bytes()
            Path(f).write_bytes(data[: len(data) // 2])
            _full_disk()

        monkeypatch.setattr(onnx, "save", half_then_full)
    with pytest.raises(OSError, match="No space left on device"):
        export(ckpt, out=tmp_path / "m.onnx", simplify=False, overwrite=True)
    assert good.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no .m.onnx.*.tmp.onnx staging file
    assert read_metadata(good)["classes"]  # and it still reads as the artifact it was

    r = CliRunner().invoke(app, ["export", str(ckpt), "--out", str(tmp_path / "m.onnx"), "--no-simplify",
                                 "--overwrite"])
    assert r.exit_code == 2, r.output  # the CLI: one line, no traceback
    assert "error: No space left on device" in r.output and "Traceback" not in r.output
    assert good.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
