"""eval-engine as a release gate: an honest fp32 export passes on every split and on foreign data, a
damaged engine fails with exit 1 naming the SNRs, the reference is like with like, the report and the
figure say the same thing."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from amc.cli import app
from amc.data.io import open_dataset
from amc.data.split import split_from_identity
from amc.eval.engine_eval import EvalSettings, evaluate_engine
from amc.runtime import Engine
from amc.runtime.artifact import read_metadata, update_metadata
from amc.train.checkpoint import load_checkpoint
from amc.train.reference import decode_predictions

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["eval-engine", *[str(a) for a in args], "--no-progress"])


def split_index(run, split):
    meta = load_checkpoint(run / "run" / "best.pt")
    with open_dataset(run / "d.h5") as ds:
        s = split_from_identity(ds.labels, ds.snr, meta["split"], ds.fingerprint())
        return getattr(s, split), ds.labels, ds.snr


def test_training_stores_val_and_test_references_that_the_model_reproduces(run, onnx_fp32):
    ck = load_checkpoint(run / "run" / "best.pt")
    summary = json.loads((run / "run" / "summary.json").read_text())
    torch_model = Engine.load(run / "run" / "best.pt", provider="cpu")
    with open_dataset(run / "d.h5") as ds:
        s = split_from_identity(ds.labels, ds.snr, ck["split"], ds.fingerprint())
        for name in ("val", "test"):
            index = getattr(s, name)
            rec = ck["reference"][name]
            pred = decode_predictions(rec)
            # the stored predictions are what best.pt predicts now, frame by frame, in split order
            again = torch_model.run(ds.read(index, with_clean=False).x)["logits"].argmax(1)
            assert rec["frames"] == len(index) == 4 * 3 * 24 and np.array_equal(pred, again)
            assert rec["index_sha256"] == ck["split"][f"{name}_sha256"] and rec["epoch"] == ck["epoch"]
            assert rec["acc"] == pytest.approx(float((pred == ds.labels[index]).mean()))
            assert summary["reference"][name]["acc"] == rec["acc"] and "predictions" not in summary["reference"][name]
    assert summary["reference"]["val"]["acc"] == summary["best_val_acc"]
    meta = Engine.load(onnx_fp32).metadata  # the export carries them, and where its checkpoint is
    assert meta["reference"]["test"]["predictions"] == ck["reference"]["test"]["predictions"]
    assert (onnx_fp32.parent / meta["checkpoint"]).resolve() == (run / "run" / "best.pt").resolve()  # relative


@pytest.mark.parametrize("case", ["val", "test", "all", "second file"])
def test_honest_fp32_is_never_drift_and_passes_where_the_frames_can_show_it(case, run, onnx_fp32, second_file,
                                                                           tmp_path):
    split = "all" if case == "second file" else case
    extra = ["--data", second_file] if case == "second file" else []
    # fp32's 0.1 pp needs thousands of frames even with no flip at all: these few cannot show it
    r = invoke(onnx_fp32, "--split", split, *extra, "--json", tmp_path / "few.json")
    few = json.loads((tmp_path / "few.json").read_text())
    assert r.exit_code == 4 and few["verdict"] == "INCONCLUSIVE" and few["exit_code"] == 4, r.output
    assert few["limits"] and all(lim["total_frames_needed"] > few["frames"] for lim in few["limits"])
    assert r.stdout.startswith("eval-engine: INCONCLUSIVE (the interval leaves ±0.1 pp: ")
    assert "resolve:" in r.stdout and invoke(onnx_fp32, "--split", split, *extra, "--inconclusive-ok").exit_code == 0
    r = invoke(onnx_fp32, "--split", split, *extra, "--tolerance-pp", "8", "--out", tmp_path / "rep")
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert rep["passed"] and rep["verdict"] == "PASS" and rep["drifted_snrs"] == [] and rep["exit_code"] == 0
    assert rep["agreement"] == 1.0 and rep["overall"]["ref_only"] == rep["overall"]["engine_only"] == 0
    assert all(b["within"] for b in rep["bands"].values()) and rep["overall"]["within"]
    summary = json.loads((run / "run" / "summary.json").read_text())
    if split in ("val", "test"):  # like with like: the training run's reference of that very split
        assert rep["reference"]["kind"] == "training" and rep["reference"]["paired"]
        assert rep["reference_acc"] == pytest.approx(summary["reference"][split]["acc"])
        assert rep["frames"] == summary["reference"][split]["frames"]
    else:  # no training reference for these frames: the source model, scored on them
        assert rep["reference"]["kind"] == "pytorch" and rep["reference"]["paired"]
        assert rep["reference"]["checkpoint"] == str((run / "run" / "best.pt").resolve())
        assert rep["torch_max_abs_dlogit"] < 1e-3
        with open_dataset(second_file if extra else run / "d.h5") as ds:
            assert rep["frames"] == len(ds)
    assert "eval-engine: PASS" in r.stdout and rep["reference"]["description"] in " ".join(r.stdout.split())


def test_auto_adds_test_then_fresh_frames_until_fp32_is_shown_within_tolerance(run, onnx_fp32, tmp_path):
    """The default: val, then test, then fresh frames of the file's generator settings, as many as the
    rates seen call for; an honest fp32 export then passes at its own 0.1 pp."""
    r = invoke(onnx_fp32, "--out", tmp_path)
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "report.json").read_text())
    parts = [p["part"] for p in rep["parts"]]
    assert parts[:2] == ["val", "test"] and parts[2].startswith("fresh seed ") and rep["verdict"] == "PASS"
    assert [p["reference"] for p in rep["parts"]][:3] == ["training", "training", "pytorch"]
    assert rep["overall"]["ci_pp"][0] > -0.1 and rep["overall"]["ci_pp"][1] < 0.1
    assert rep["frames"] == sum(p["frames"] for p in rep["parts"]) > 6000
    assert "frames:    " in r.stdout and "fresh seed" in r.stdout


def test_test_split_is_not_judged_against_validation_accuracy(run, onnx_fp32):
    r = evaluate_engine(EvalSettings(model=str(onnx_fp32), split="test", progress=False))
    summary = json.loads((run / "run" / "summary.json").read_text())
    test_acc, val_acc = summary["reference"]["test"]["acc"], summary["best_val_acc"]
    assert test_acc != val_acc  # else this test proves nothing
    assert r["engine_acc"] == pytest.approx(test_acc) and r["reference_acc"] == pytest.approx(test_acc)


@pytest.mark.parametrize("split,mild", [("val", False), ("all", False), ("val", True), ("all", True)])
def test_damaged_engine_is_never_passed_and_heavy_damage_is_drift(split, mild, run, damaged_onnx,
                                                                  mildly_damaged_onnx, tmp_path):
    r = invoke(mildly_damaged_onnx if mild else damaged_onnx, "--split", split, "--out", tmp_path / "rep")
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert not rep["passed"] and r.exit_code == rep["exit_code"] != 0
    if not mild:  # 1-sigma noise on every weight: every SNR loses tens of points
        assert rep["verdict"] == "DRIFT" and r.exit_code == 1 and rep["drifted_snrs"] == [0.0, 10.0, 20.0]
        named = ", ".join(f"{s:g}" for s in rep["drifted_snrs"])
        assert r.stdout.splitlines()[0].startswith(f"eval-engine: DRIFT (drift at SNR {named} dB")
    tol = rep["tolerance_pp"]
    for row in [*rep["per_snr"], *rep["bands"].values(), rep["overall"]]:  # DRIFT: shown beyond tolerance (Holm)
        assert row["drift"] == (abs(row["delta_pp"]) > tol and row["p_holm"] < 0.01)
        if row["drift"]:
            assert row["ci_pp"][1] < -tol or row["ci_pp"][0] > tol
        assert row["ci_pp"][0] <= row["delta_pp"] <= row["ci_pp"][1]
    assert rep["reference"]["kind"] == ("training" if split == "val" else "pytorch")


def test_report_json_holds_every_number_the_markdown_and_terminal_show(run, onnx_fp32, tmp_path):
    r = invoke(onnx_fp32, "--split", "val", "--tolerance-pp", "8", "--out", tmp_path, "--json", tmp_path / "copy.json")
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "report.json").read_text())
    assert json.loads((tmp_path / "copy.json").read_text()) == rep
    md = (tmp_path / "report.md").read_text()
    for row in rep["per_snr"]:
        assert (f"| {row['snr']:g} | {row['n']} | {100 * row['reference']:.2f} | {100 * row['engine']:.2f} | "
                f"{row['delta_pp']:+.2f} | [{row['ci_pp'][0]:+.2f}, {row['ci_pp'][1]:+.2f}] |") in md
    assert list(rep["bands"]) == ["mid", "high"]  # the run's SNRs (0, 10, 20 dB) never reach 'low'
    for name, b in rep["bands"].items():
        assert f"| {name} | " in md and f"| {100 * b['reference']:.2f} | {100 * b['engine']:.2f} | " in md
        assert f" {100 * b['engine']:.2f} " in r.stdout
    assert rep["rule"]["text"] in md and " ".join(rep["rule"]["text"].split()) in " ".join(r.stdout.split())


def test_figure_draws_the_report(run, damaged_onnx, tmp_path, monkeypatch):
    """What per_snr.png draws (read back from the figure's artists) is what report.json holds."""
    import matplotlib.figure

    drawn = []
    save = matplotlib.figure.Figure.savefig

    def keep(fig, *a, **k):
        drawn.append(fig)
        return save(fig, *a, **k)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    r = invoke(damaged_onnx, "--out", tmp_path)
    assert r.exit_code == 1
    rep = json.loads((tmp_path / "report.json").read_text())
    assert (tmp_path / "per_snr.png").stat().st_size > 10_000
    fig = drawn[-1]
    top, low = fig.axes
    lines = {ln.get_label(): ln for ln in top.get_lines()}
    ref_line = next(v for k, v in lines.items() if k.startswith("reference:"))
    eng_line = lines["engine (fp32)"]
    rows = [x for x in rep["per_snr"] if x["reference"] is not None]
    assert list(ref_line.get_xdata()) == [x["snr"] for x in rows]
    np.testing.assert_allclose(ref_line.get_ydata(), [x["reference"] for x in rows])
    np.testing.assert_allclose(eng_line.get_ydata(), [x["engine"] for x in rows])
    crosses = lines["drifted SNR"]
    assert list(crosses.get_xdata()) == rep["drifted_snrs"]
    assert "training run's val predictions (paired)" in ref_line.get_label()
    named = ", ".join(f"{s:g}" for s in rep["drifted_snrs"])
    assert fig._suptitle.get_text() == "eval-engine: DRIFT" and rep["summary"] in top.get_title()
    assert named
    points = [c for c in low.containers]  # one errorbar per SNR: Δ and its interval
    assert len(points) == len(rows)
    for c, x in zip(points, rows):
        (xd,), (yd,) = c.lines[0].get_xdata(), c.lines[0].get_ydata()
        assert xd == x["snr"] and yd == pytest.approx(x["delta_pp"])
        seg = c.lines[2][0].get_segments()[0]
        assert seg[0][1] == pytest.approx(x["ci_pp"][0]) and seg[1][1] == pytest.approx(x["ci_pp"][1])
    band = next(p for p in low.patches if p.get_label().startswith("± tolerance")).get_bbox()
    assert band.y0 == pytest.approx(-rep["tolerance_pp"]) and band.y1 == pytest.approx(rep["tolerance_pp"])


def test_pipe_output_is_short_and_fits_80_columns(run, damaged_onnx):
    r = invoke(damaged_onnx)
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert len(lines) < 30  # bands and drifted SNRs only; the full per-SNR table is in report.md / --json
    assert max(len(ln.rstrip()) for ln in lines if str(run) not in ln) <= 80  # long paths are not broken
    assert lines[-1].startswith("per-SNR table (3 SNRs): --out DIR or --json PATH")


def test_json_to_stdout_is_the_report_alone(run, onnx_fp32):
    r = invoke(onnx_fp32, "--split", "val", "--tolerance-pp", "8", "--json", "-")
    assert r.exit_code == 0
    rep = json.loads(r.stdout)
    assert rep["verdict"] == "PASS" and len(rep["per_snr"]) == 3


def test_existing_report_is_refused_without_overwrite(run, onnx_fp32, tmp_path):
    assert invoke(onnx_fp32, "--split", "val", "--out", tmp_path).exit_code == 4
    before = (tmp_path / "report.json").read_bytes()
    r = invoke(onnx_fp32, "--split", "test", "--out", tmp_path)
    assert r.exit_code == 2 and "--overwrite" in r.stderr and (tmp_path / "report.json").read_bytes() == before
    r = invoke(onnx_fp32, "--split", "test", "--out", tmp_path, "--overwrite", "--inconclusive-ok")
    assert r.exit_code == 0 and json.loads((tmp_path / "report.json").read_text())["split"] == "test"


def test_an_engine_exported_before_references_falls_back_honestly(run, onnx_fp32, damaged_onnx, tmp_path):
    """No per-frame predictions and no recorded checkpoint path (older amc): the run's per-SNR counts, unpaired;
    with --run, the PyTorch model on the same frames, paired; the test split needs --run."""
    for src, name in ((onnx_fp32, "old.onnx"), (damaged_onnx, "old_damaged.onnx")):
        shutil.copy(src, tmp_path / name)
        meta = read_metadata(tmp_path / name)
        del meta["reference"], meta["checkpoint"]
        meta["dataset"] = str(run / "d.h5")  # the copy lives elsewhere: its relative dataset path would not resolve
        update_metadata(tmp_path / name, meta)
    r = invoke(tmp_path / "old.onnx", "--json", tmp_path / "r.json")
    rep = json.loads((tmp_path / "r.json").read_text())
    assert r.exit_code == 4 and rep["verdict"] == "INCONCLUSIVE", r.output  # unpaired: 0.1 pp is far out of reach
    assert "fresh frames need the source PyTorch model" in " ".join(rep["notes"])
    assert rep["reference"]["kind"] == "training-counts" and not rep["rule"]["paired"] and rep["agreement"] is None
    summary = json.loads((run / "run" / "summary.json").read_text())
    for row in rep["per_snr"]:  # Newcombe: both sides' counts
        k = f"{row['snr']:g}"
        assert row["n_ref"] == summary["reference"]["val"]["counts"][k][1] and not row["paired"]
        assert (row["p"] < 0.01) == (not row["ci_pp"][0] <= 0 <= row["ci_pp"][1])  # the interval inverted
    assert "Newcombe unpaired interval" in rep["rule"]["text"]
    r = invoke(tmp_path / "old_damaged.onnx", "--json", tmp_path / "d.json")
    assert r.exit_code == 1 and json.loads((tmp_path / "d.json").read_text())["drifted_snrs"]
    r = invoke(tmp_path / "old.onnx", "--split", "test")
    assert r.exit_code == 2 and "the engine's metadata holds no test reference" in r.stderr
    assert "pass --run RUN_DIR" in r.stderr
    r = invoke(tmp_path / "old.onnx", "--split", "test", "--run", run / "run", "--json", tmp_path / "t.json")
    rep = json.loads((tmp_path / "t.json").read_text())
    assert r.exit_code == 4 and rep["reference"]["kind"] == "pytorch" and rep["agreement"] == 1.0
