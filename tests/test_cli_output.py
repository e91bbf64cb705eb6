"""The CLI where its output goes: an 80-column terminal, a log file, a pipe (CliRunner's stdout is not a
terminal). Tables keep every name and value whole, Markdown parses, validation refuses before work."""

from __future__ import annotations

import json
import re

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from amc.cli import app
from amc.cli.parse import grid
from amc.config import RML2018_CLASSES, ConfigError

runner = CliRunner()
ENV = {"COLUMNS": "80"}


def run(*args, code=0):
    r = runner.invoke(app, [str(a) for a in args], env=ENV)
    assert r.exit_code == code, r.output
    return r


def parse_markdown(text: str) -> list[list[str]]:
    """Rows of a GitHub Markdown table (header first); fails on anything that is not one."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert all(ln.startswith("|") and ln.endswith("|") for ln in lines), text
    rows = [[c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in lines]
    assert all(re.fullmatch(r":?-{3,}:?", c) for c in rows[1]), rows[1]
    assert all(len(r) == len(rows[0]) for r in rows), [len(r) for r in rows]
    return [rows[0], *rows[2:]]


@pytest.fixture(scope="module")
def rml2018_like(tmp_path_factory):
    """An RML2018.01A-layout file (no class names stored): 24 classes x 26 SNRs, 2 frames each, L=32."""
    path = tmp_path_factory.mktemp("out") / "GOLD_like.hdf5"
    snrs = np.arange(-20, 32, 2)
    n = 24 * len(snrs) * 2
    labels = np.repeat(np.arange(24), len(snrs) * 2)
    with h5py.File(path, "w") as f:
        f["X"] = np.random.default_rng(0).standard_normal((n, 32, 2)).astype(np.float32)
        f["Y"] = np.eye(24, dtype=np.int64)[labels]
        f["Z"] = np.tile(np.repeat(snrs, 2), 24).reshape(-1, 1)
    return path


def test_data_info_on_a_24_by_26_grid_fits_80_columns_and_keeps_every_name(rml2018_like):
    out = run("data", "info", rml2018_like).output
    head, body = out.split("\nclass ", 1)  # the header is prose, wrapped at 80 columns; then the table
    lines = out.splitlines()
    table = ("class " + body).splitlines()
    assert all(len(ln) <= 80 for ln in lines), max(lines, key=len)
    for name in RML2018_CLASSES:
        row = next(ln for ln in table if ln.split() and ln.split()[0] == name)
        assert row.split()[1:] == ["52", "-20..30", "step", "2", "(26)", "2"], row
    assert "1248 frames, L=32, 24 classes, 26 SNRs (-20..30 dB)" in " ".join(head.split())
    full = run("data", "info", rml2018_like, "--full").output  # the whole grid: one block in a pipe
    grid = full[full.index("\nclass ") + 1:].splitlines()
    assert grid[0].split() == ["class", *[str(s) for s in range(-20, 32, 2)]]
    assert [ln.split()[0] for ln in grid[2:]] == RML2018_CLASSES and all(ln.split()[1:] == ["2"] * 26
                                                                       for ln in grid[2:])
    assert "…" not in full
    md = parse_markdown(run("data", "info", rml2018_like, "--markdown").output.split("\n\n", 1)[1])
    assert md[0] == ["class", "frames", "SNRs (dB)", "per SNR"] and [r[0] for r in md[1:]] == RML2018_CLASSES
    doc = json.loads(run("data", "info", rml2018_like, "--json", "-").output)
    assert np.asarray(doc["counts"]).shape == (24, 26) and doc["classes"] == RML2018_CLASSES


def test_data_info_full_at_80_columns_keeps_every_class_and_snr_whole(rml2018_like, monkeypatch):
    """In an 80-column terminal the class x SNR grid is cut into blocks of SNR columns, class names whole in each
    (QAM16 and QAM64 both readable, never `QA…`), every count once."""
    import io

    import amc.cli.data as data_cli
    from amc.cli.common import AmcConsole

    buf = io.StringIO()
    monkeypatch.setattr(data_cli, "console", AmcConsole(file=buf, width=80, no_color=True))
    r = run("data", "info", rml2018_like, "--full")
    assert r.exit_code == 0, r.output
    lines = buf.getvalue().splitlines()
    assert all(len(ln) <= 80 for ln in lines) and "…" not in buf.getvalue(), max(lines, key=len)
    headers = [i for i, ln in enumerate(lines) if ln.startswith("class ")]
    assert len(headers) >= 2  # 26 SNR columns do not fit 80 columns at once
    snrs, cells = [], {}
    for i in headers:
        snrs += [int(v) for v in lines[i].split()[1:]]
        for ln in lines[i + 2:i + 2 + 24]:
            name, *counts = ln.split()
            cells.setdefault(name, []).extend(counts)
    assert snrs == list(range(-20, 32, 2))
    assert list(cells) == RML2018_CLASSES and all(c == ["2"] * 26 for c in cells.values())


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    data = d / "d.h5"
    run("data", "synth", "--out", data, "--classes", "BPSK,QPSK,WBFM", "--snrs=-10:10:10", "--frames", "20",
        "--no-progress")
    runs = []
    for name, preset in (("a_rather_long_run_name_for_a_baseline", "cldnn"), ("a4_cls_only_refined", "a4")):
        r = run("train", data, "--preset", preset, "--out", d / name, "--epochs", "2", "--conv-channels", "8",
                "--rnn-hidden", "8", "--denoiser-channels", "8", "--dense", "16", "--batch-size", "64",
                "--no-progress")
        epochs = [ln for ln in r.output.splitlines() if ln.startswith("epoch")]
        assert [ln.split()[1] for ln in epochs] == ["1/2", "2/2"]  # --no-progress: still one line per epoch
        assert all(len(ln) < 80 for ln in epochs), epochs
        runs.append(d / name)
    return runs


def test_compare_markdown_is_valid_and_has_the_table_columns(two_runs):
    md = parse_markdown(run("compare", *two_runs, "--markdown").output)
    assert md[0] == ["run", "epoch", "val_acc %", "low %", "mid %", "high %"]
    assert md[1][0] == str(two_runs[0]) and md[2][0] == str(two_runs[1])  # paths whole, never wrapped
    assert re.fullmatch(r"\d+\.\d\d \([+-]\d+\.\d\d\)", md[2][2]), md[2]  # value (delta pp)
    table = run("compare", *two_runs).output
    for cell in md[2][1:]:
        assert cell in table  # the terminal table shows the same values, uncut
    rows = json.loads(run("compare", *two_runs, "--json", "-").output)
    assert rows[1]["delta"]["val_acc"] == pytest.approx(rows[1]["best_val_acc"] - rows[0]["best_val_acc"])
    assert rows[1]["same_val"] is True and "note:" not in table  # same data, same split: nothing to say


def test_compare_notes_runs_validated_on_other_data_or_other_band_edges(two_runs, tmp_path):
    """A run trained on another dataset (its summary names another fingerprint and validation split), and one
    whose `high` band has other edges: the deltas stay (val_acc) but a note says they compare different frames;
    a band with other edges gets no delta."""
    import shutil

    other = tmp_path / "other_data"
    shutil.copytree(two_runs[1], other)
    s = json.loads((other / "summary.json").read_text())
    s["split"] = {**s["split"], "fingerprint": "0123456789abcdef", "val_sha256": "fedcba9876543210"}
    (other / "summary.json").write_text(json.dumps(s))
    edges = tmp_path / "other_edges"
    shutil.copytree(two_runs[1], edges)
    s = json.loads((edges / "summary.json").read_text())
    s["band_edges"]["high"] = [12.0, None]
    (edges / "summary.json").write_text(json.dumps(s))
    out = run("compare", two_runs[0], other, edges)
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    base_fp = json.loads((two_runs[0] / "summary.json").read_text())["split"]["fingerprint"]
    assert (f"note: {other} was validated on another dataset (fingerprint 0123456789abcdef vs {base_fp}) than "
            f"{two_runs[0]}: its deltas compare accuracy on different frames") in text
    assert f"note: {edges} defines band(s) high with other SNR edges: no delta" in text
    assert str(edges) not in text.split("note:")[1]  # the same-data run gets no dataset note
    rows = json.loads(run("compare", two_runs[0], other, edges, "--json", "-").output)
    assert [r["same_val"] for r in rows] == [True, False, True]
    assert "high" not in rows[2]["delta"] and "high" in rows[1]["delta"]
    md = run("compare", two_runs[0], other, "--markdown").output
    assert "|\n\nnote: " in md  # a blank line ends the Markdown table before the note


@pytest.mark.parametrize("text, expected", [
    ("0:10:3", [0, 3, 6, 9]),
    ("-20:20:2", list(range(-20, 21, 2))),
    ("-20:21:2", list(range(-20, 21, 2))),
    ("-20:18:2", list(range(-20, 19, 2))),
    ("0:1:0.25", [0, 0.25, 0.5, 0.75, 1.0]),
    ("5:5:1", [5]),
    ("-10,0,10", [-10, 0, 10]),
    (" 4 ", [4]),
])
def test_grid_parser_includes_stop_when_it_lands_on_the_grid(text, expected):
    assert grid(text) == pytest.approx(expected)


@pytest.mark.parametrize("text, message", [
    ("20:-20:2", "stop (-20) must be at or above start (20); e.g. --snrs=-20:20:2"),
    ("0:10:0", "step must be > 0"),
    ("-20:30:0.0001", "has 500001 points (more than 1000)"),
    ("a:b:c", "cannot parse --snrs"),
    ("0,0,10", "repeats 0"),
    ("0:nan:1", "finite"),
])
def test_grid_parser_refuses_with_the_fix(text, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        grid(text)


@pytest.mark.parametrize("args, message", [
    (["data", "synth", "--out", "{tmp}/x.h5", "--snrs=-20:30:0.0001", "--frames", "1"], "more than 1000"),
    (["data", "synth", "--out", "{tmp}/x.h5", "--snrs=20:-20:2"], "must be at or above start"),
    (["data", "synth", "--out", "{tmp}/x.h5", "--max-cfo", "5"], "max_cfo (--max-cfo) must be in range 0<=x<0.5"),
    (["data", "synth", "--out", "{tmp}/x.h5", "--classes", "BPSK,BPSK"], "names BPSK more than once"),
    (["data", "synth", "--out", "{tmp}/x.h5", "--class-set", "rml2018", "--frames", "20000"],
     "would take about 146.7 GiB (over 16 GiB)"),
    (["data", "synth"], "no output file: pass --out FILE"),
    (["eval-engine", "{tmp}/m.onnx", "--tolerance-pp", "-1"], "'--tolerance-pp': Input should be greater"),
    (["serve", "{tmp}/m.onnx", "--port", "70000"], "'--port': Input should be less than or equal to 65535"),
    (["train", "{tmp}/none.h5", "--out", "{tmp}/r", "--epochs", "0"], "must be in range 1<=x<=100000, got 0"),
])
def test_validation_before_work_is_one_line_and_exit_2(tmp_path, args, message):
    r = runner.invoke(app, [a.replace("{tmp}", str(tmp_path)) for a in args], env=ENV)
    assert r.exit_code == 2, r.output
    assert message in " ".join(r.output.split()), r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "x.h5").exists() and not list(tmp_path.glob(".x.h5*"))
    errors = [ln for ln in r.output.splitlines() if ln.lower().startswith("error")]
    assert len(errors) == 1, r.output


def test_help_lists_choices_and_defaults_for_every_command():
    for cmd in (["data", "synth"], ["data", "info"], ["train"], ["compare"], ["export"], ["eval-engine"],
                ["serve"], ["bench"], ["quickstart"]):
        text = " ".join(runner.invoke(app, [*cmd, "--help"], env={"COLUMNS": "200"}).output.split())
        assert "{" not in text.split("Options")[0], text[:200]  # usage lines name arguments plainly
        if cmd == ["export"]:
            assert ("--format <onnx|tensorrt|tensorrt-rtx|triton|triton-tensorrt|triton-tensorrt-rtx|"
                    "torch-compiled>") in text
            assert "--precision <fp32|fp16|bf16|int8|int8-dynamic>" in text and "[default: fp32]" in text
        if cmd == ["eval-engine"]:
            assert "--split <auto|val|test|all>" in text and "--provider <auto|cpu|cuda|tensorrt>" in text


def test_a_reader_that_goes_away_gives_141_not_the_drift_code(rml2018_like):
    """`amc data info FILE --full | head -0`: stdout's reader is gone before the first line. Like any Unix
    tool the command stops with 141 (SIGPIPE), never 1 (which means drift for eval-engine)."""
    import subprocess
    import sys

    for args in (["data", "info", str(rml2018_like), "--full"], ["data", "info", str(rml2018_like), "--json", "-"]):
        p = subprocess.Popen([sys.executable, "-m", "amc", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p.stdout.close()  # no reader left: the first write fails with EPIPE
        _, err = p.communicate(timeout=120)
        assert p.returncode == 141, (args, p.returncode, err[-300:])
        assert b"Traceback" not in err


def test_piped_tables_carry_no_padding_blanks_at_line_ends():
    import io

    from amc.cli.common import PIPE_WIDTH, AmcConsole, table

    t = table(["artifact", "result"], [["data.h5", "8800 frames"], ["run/", "val_acc 0.3485 at epoch 8"]])
    outs = {}
    for strip in (False, True):
        buf = io.StringIO()
        AmcConsole(file=buf, width=PIPE_WIDTH, soft_wrap=True, no_color=True, strip_trailing=strip).print(t)
        outs[strip] = buf.getvalue().splitlines()
    assert any(ln.endswith(" ") for ln in outs[False])  # rich pads "8800 frames" to the column's width
    assert not any(ln.endswith(" ") for ln in outs[True])
    assert [ln.rstrip() for ln in outs[False]] == outs[True]  # nothing else changes
