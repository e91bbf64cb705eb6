"""The README's quoted outputs are what the code prints today (tests/readme_outputs.py)."""

from __future__ import annotations

import pytest

from tests import readme_outputs as ro

BLOCKS = ro.blocks(ro.README.read_text())


def test_every_marked_block_has_a_recipe_and_every_recipe_a_block():
    names = [b.name for b in BLOCKS]
    assert set(names) <= set(ro.RECIPES), "a README marker has no recipe in tests/readme_outputs.py"
    assert "data-info" in names
    assert len(names) == len(set(names)), "a README block is marked twice"


def test_mask_hides_times_and_rates_only():
    a = "bench batch 64    ONNX Runtime fp32: p50 10.14 ms, 6,245 frames/s"
    b = "bench batch 64    ONNX Runtime fp32: p50 9.87 ms, 16,001 frames/s"
    assert ro.mask(a) == ro.mask(b)
    assert ro.mask("1,719 windows in 1.31 s: 0.84 MS/s, real time x0.8") == ro.mask(
        "1,719 windows in 2.02 s: 0.54 MS/s, real time x0.5")
    # what a user reads as the result is never masked
    assert ro.mask("run/ val_acc 0.3485 at epoch 8") != ro.mask("run/ val_acc 0.3917 at epoch 8")
    assert ro.mask("  fingerprint 3316da673e9d1cde") != ro.mask("  fingerprint b57612e8aa8a2d6f")
    assert ro.mask("model_int8.onnx engine 0.3417 vs ref 0.3485 (-0.68 pp): PASS") != ro.mask(
        "model_int8.onnx engine 0.3773 vs ref 0.3917 (-1.44 pp): PASS")
    assert ro.mask("data.h5           8800 frames") != ro.mask("data.h5           8801 frames")


def test_differences_names_the_line():
    diff = ro.differences(["a 1", "b 2"], ["a 1", "b 3"])
    assert diff == ["line 2:", "  README: b 2", "  code:   b 3"]
    assert ro.differences(["x"], ["x", "y"])[0] == "line 2:"
    assert ro.differences(["t 1.0 s"], ["t 2.5 s"]) == []
    assert ro.differences(["note: a b", "  c d"], ["note: a", "  b c d"]) == []  # wrapped elsewhere, same words
    assert ro.differences(["note: a b", "  c d"], ["note: a", "  b c e"]) != []
    # on another machine kind a trained figure's decimals are masked, its words and counts are not
    assert ro.differences(["val 0.3485 at epoch 8"], ["val 0.3917 at epoch 8"], decimals=True) == []
    assert ro.differences(["val 0.3485 at epoch 8"], ["val 0.3917 at epoch 7"], decimals=True) != []
    assert ro.differences(["engine 0.34 (-0.68 pp): PASS"], ["engine 0.34 (-0.68 pp): DRIFT"], decimals=True) != []


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    return ro.Runner(tmp_path_factory.mktemp("readme"))


@pytest.mark.parametrize(
    "block",
    [pytest.param(b, id=b.name, marks=[pytest.mark.slow] if ro.RECIPES.get(b.name, ro.Recipe(ro._setup_none)).slow
                  else []) for b in BLOCKS])
def test_readme_block_is_what_the_code_prints(block, runner):
    diff = ro.differences(block.lines, runner.output(block), ro.loose(block.name))
    assert not diff, (f"README block '{block.name}' differs from today's output "
                      f"(`python -m tests.readme_outputs --update {block.name}` rewrites it):\n" + "\n".join(diff))
