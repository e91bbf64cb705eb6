"""eval-engine on a small trained run: fp32 passes, a damaged engine drifts, the rule, the report."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from amc.cli import app
from amc.config import SynthConfig, preset
from amc.data.build import synth_to_file
from amc.eval.engine_eval import EvalSettings, drift_rule, evaluate_engine
from amc.train.checkpoint import load_checkpoint, save_checkpoint
from amc.train.loop import train

runner = CliRunner()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalrun")
    synth_to_file(SynthConfig(classes=["BPSK", "QPSK", "AM-DSB", "WBFM"], snrs=[0.0, 10.0, 20.0],
                              frames_per_class_snr=80, seed=3), root / "d.h5")
    m, t = preset("a4", data=str(root / "d.h5"), out_dir=str(root / "run"), epochs=8, batch_size=32, lr=3e-3,
                  conv_channels=16, rnn_hidden=16, denoiser_channels=8, dense=32)
    train(m, t, progress=False)
    return root


@pytest.fixture(scope="module")
def onnx_fp32(run):
    from amc.export import export

    return export(run / "run", fmt="onnx", precision="fp32", out=run / "model.onnx").path


def test_fp32_onnx_passes_and_agrees_with_torch(run, onnx_fp32, tmp_path):
    r = evaluate_engine(EvalSettings(model=str(onnx_fp32), run=str(run / "run"), report_dir=str(tmp_path),
                                     progress=False))
    assert r["passed"] and r["drifted_snrs"] == []
    assert r["torch_agreement"] >= 0.999 and r["torch_max_abs_dlogit"] < 1e-3
    summary = json.loads((run / "run" / "summary.json").read_text())
    assert r["engine_acc"] == pytest.approx(summary["best_val_acc"], abs=0.002)
    assert r["frames"] == 4 * 3 * 12  # the run's own validation frames: 15 % of 80 per (class, SNR)
    for name in ("report.json", "report.md", "per_snr.png"):
        assert (tmp_path / name).is_file()
    rep = json.loads((tmp_path / "report.json").read_text())
    md = (tmp_path / "report.md").read_text()
    for row in rep["per_snr"]:  # every number the markdown shows is in the JSON
        assert f"| {row['snr']:g} | {row['n']} | {100 * row['train']:.2f} % | {100 * row['engine']:.2f} % |" in md
    for band, b in rep["bands"].items():
        assert f"| {band} | {100 * b['train']:.2f} % | {100 * b['engine']:.2f} % | {b['delta_pp']:+.2f} |" in md
    assert f"{rep['delta_pp']:+.2f} pp" in md and rep["rule"] in md


def test_damaged_engine_fails_with_exit_1_and_names_snrs(run, tmp_path):
    from amc.export import export

    ck = load_checkpoint(run / "run" / "best.pt")
    g = torch.Generator().manual_seed(0)
    ck["model_state"] = {k: (v + 0.5 * v.std() * torch.randn(v.shape, generator=g)
                             if v.is_floating_point() and v.dim() > 1 else v) for k, v in ck["model_state"].items()}
    ck.pop("format")
    save_checkpoint(tmp_path / "damaged.pt", ck)  # same training metrics, perturbed weights
    onnx_path = export(tmp_path / "damaged.pt", fmt="onnx", precision="fp32", out=tmp_path / "damaged.onnx").path
    r = runner.invoke(app, ["eval-engine", str(onnx_path), "--report", str(tmp_path / "rep"), "--no-progress"])
    assert r.exit_code == 1, r.output
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert not rep["passed"] and rep["drifted_snrs"]
    assert "drifted SNRs (dB): " + ", ".join(f"{s:g}" for s in rep["drifted_snrs"]) in " ".join(r.output.split())
    for row in rep["per_snr"]:  # each named SNR really is outside tolerance and interval
        assert row["drift"] == (row["snr"] in rep["drifted_snrs"])
        if row["drift"]:
            assert abs(row["delta_pp"]) > rep["tolerance_pp"] and not row["ci"][0] <= row["engine"] <= row["ci"][1]


def test_cli_pass_and_usage_errors(run, onnx_fp32, tmp_path):
    r = runner.invoke(app, ["eval-engine", str(onnx_fp32), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "# eval-engine: PASS" in r.output
    other = tmp_path / "other.h5"
    synth_to_file(SynthConfig(classes=["BPSK", "QPSK", "AM-DSB", "WBFM"], snrs=[0.0], frames_per_class_snr=5), other)
    r = runner.invoke(app, ["eval-engine", str(onnx_fp32), "--data", str(other), "--no-progress"])
    assert r.exit_code == 2 and "--split all" in " ".join(r.output.split())
    r = runner.invoke(app, ["eval-engine", str(onnx_fp32), "--data", str(other), "--split", "all", "--no-progress",
                            "--tolerance-pp", "100"])
    assert r.exit_code == 0, r.output
    unknown = tmp_path / "unknown.h5"
    synth_to_file(SynthConfig(classes=["BPSK", "QAM64"], snrs=[0.0], frames_per_class_snr=5), unknown)
    r = runner.invoke(app, ["eval-engine", str(onnx_fp32), "--data", str(unknown), "--split", "all", "--no-progress"])
    assert r.exit_code == 2 and "QAM64" in r.output
    r = runner.invoke(app, ["eval-engine", str(onnx_fp32), "--split", "vall"])
    assert r.exit_code == 2 and "'vall' is not one of 'val', 'test', 'all'" in r.output


@pytest.mark.parametrize("train_counts,train_acc,engine_acc,n,tol,drift", [
    ((90, 100), 0.90, 0.899, 100, 0.1, False),  # within tolerance
    ((90, 100), 0.90, 0.85, 100, 0.1, False),  # 5 pp, but inside the 99 % interval of 100 frames
    ((90, 100), 0.90, 0.70, 100, 0.1, True),  # 20 pp: outside the interval and the tolerance
    ((9000, 10000), 0.90, 0.88, 10000, 0.1, True),  # 2 pp on 10,000 frames is real drift
    ((9000, 10000), 0.90, 0.88, 10000, 5.0, False),  # ... unless the tolerance allows it
    (None, 0.50, 0.46, 30, 1.0, False),  # 30 frames cannot tell 4 pp apart
])
def test_drift_rule_on_hand_made_counts(train_counts, train_acc, engine_acc, n, tol, drift):
    bad, (lo, hi) = drift_rule(train_counts, train_acc, engine_acc, n, tol)
    assert bad is drift and lo < train_acc < hi
