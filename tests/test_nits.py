"""Small wording and picture fixes (issue 27.15): each checked where it is produced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from amc.cli import app
from amc.cli.common import plural

runner = CliRunner()


def test_plural():
    assert [plural(n, "window") for n in (0, 1, 2, 1024)] == ["0 windows", "1 window", "2 windows", "1,024 windows"]


def test_confusion_colour_bar_is_in_percent_like_its_cells(tmp_path, monkeypatch):
    import amc.plots as plots

    figs = []
    monkeypatch.setattr(plots, "save", lambda fig, path: figs.append(fig) or Path(path))
    cm = np.array([[8, 2], [1, 9]])
    plots.plot_confusion(tmp_path / "c.png", cm, ["A", "B"])
    fig = figs[0]
    bar = fig.axes[-1]
    assert bar.get_ylim() == (0.0, 100.0) and bar.get_ylabel() == "% of the true class"
    image = fig.axes[0].images[0]
    assert np.allclose(image.get_array(), [[80, 20], [10, 90]])
    cells = sorted(t.get_text() for t in fig.axes[0].texts)
    assert cells == ["10", "20", "80", "90"]


def test_parity_source_names_frames_once(small_h5):
    from amc.export.parity import _from_dataset

    path = small_h5[0]
    ckpt = {"dataset": str(path), "frame_length": 32, "split": {}, "classes": ["A", "B", "C"]}
    frames = _from_dataset(ckpt, None, "val", 16)  # no split to rebuild: frames from the whole file
    assert frames.source == f"16 frames of {path.name}"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs a place no one can write (/proc)")
def test_unwritable_out_is_refused_with_one_message_on_every_command(tmp_path, small_h5):
    data = str(small_h5[0])
    cases = {
        "--out": [["data", "synth", "--out", "/proc/amc/x.h5", "--frames", "1"],
                  ["train", data, "--out", "/proc/amc/run"],
                  ["export", str(tmp_path / "run"), "--out", "/proc/amc/m.onnx"],
                  ["eval-engine", str(tmp_path / "m.onnx"), "--data", data, "--out", "/proc/amc/rep"]],
        "--json": [["data", "info", data, "--json", "/proc/amc/x.json"]],
    }
    for option, commands in cases.items():
        for args in commands:
            r = runner.invoke(app, args)
            target = args[args.index(option) + 1]
            assert r.exit_code == 2, (args, r.output)
            assert r.output == f"error: {option} {target}: /proc is not a writable directory; choose another path\n"


def test_tensorrt_install_hints_name_the_index_where_pypi_lacks_the_wheels():
    from amc.runtime.trt_flavours import FLAVOURS

    assert "--extra-index-url https://pypi.nvidia.com" in FLAVOURS["tensorrt"].install_hint()
    assert FLAVOURS["tensorrt-rtx"].install_hint() == "pip install 'amc[trt-rtx]'"  # on PyPI
