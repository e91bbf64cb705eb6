import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from amc.config import ConfigError, preset
from amc.train import loop
from amc.train.checkpoint import load_checkpoint
from tests.train.conftest import TINY


def _run(tiny_h5, out, name="a4", **kw):
    m, t = preset(name, data=str(tiny_h5), out_dir=str(out), **{"epochs": 2, **TINY, **kw})
    return loop.train(m, t, progress=False)


def _rows(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_run_directory_and_metrics(tiny_h5, tmp_path):
    out = tmp_path / "run"
    s = _run(tiny_h5, out)
    for name in ("config.json", "metrics.jsonl", "best.pt", "last.pt", "summary.json", "per_snr.png", "confusion.png"):
        assert (out / name).is_file(), name
    rows = _rows(out)
    assert [r["epoch"] for r in rows] == [1, 2]
    r = rows[-1]
    for key in ("loss_total", "loss_ce", "loss_den", "loss_id", "loss_eta", "train_acc", "val_loss", "val_acc",
                "eta_mae", "snr_rmse_db", "denoiser_gain_db", "lr", "epoch_time_s", "samples_per_s"):
        assert r[key] is not None and np.isfinite(r[key]), key
    assert set(r["per_snr"]) == {"-10", "0", "10", "20"}
    assert r["bands"]["low"] == pytest.approx(r["per_snr"]["-10"])
    assert r["bands"]["mid"] == pytest.approx(r["per_snr"]["0"])
    assert r["bands"]["high"] == pytest.approx((r["per_snr"]["10"] + r["per_snr"]["20"]) / 2)
    assert 0 < r["mixup"]["batches_mixed"] <= 1  # a4 mixes half the batches
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train"]["mixup_cls_only"] is True and cfg["model"]["film"] is True and cfg["model"]["num_classes"] == 4
    ck = load_checkpoint(out / "best.pt")  # weights_only=True
    assert ck["classes"] == ["BPSK", "QPSK", "AM-DSB", "WBFM"] and ck["frame_length"] == 128
    assert ck["epoch"] == s["best_epoch"] and ck["metrics"]["val_acc"] == s["best_val_acc"]
    assert ck["split"]["val_sha256"] == s["split"]["val_sha256"]


@pytest.mark.slow  # 10 epochs / two processes
def test_training_beats_chance_at_high_snr(tmp_path):
    from amc.config import SynthConfig
    from amc.data.build import synth_to_file

    data = tmp_path / "hi.h5"
    synth_to_file(SynthConfig(classes=["BPSK", "QPSK", "AM-DSB", "WBFM"], snrs=[10.0, 20.0],
                              frames_per_class_snr=120, seed=2), data)
    s = _run(data, tmp_path / "r", name="a4", epochs=10, lr=3e-3, batch_size=32)
    assert s["bands"]["high"] >= 0.7, s["bands"]  # 4 classes: chance is 0.25


@pytest.mark.slow
def test_resume_equals_uninterrupted(tiny_h5, tmp_path, monkeypatch):
    full = tmp_path / "full"
    _run(tiny_h5, full, epochs=3)
    real_eval = loop.evaluate
    calls = {"n": 0}

    def dying_eval(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # killed during epoch 3, after two checkpoints
        return real_eval(*a, **k)

    part = tmp_path / "part"
    monkeypatch.setattr(loop, "evaluate", dying_eval)
    with pytest.raises(loop.Interrupted, match=r"interrupted after epoch 2 of 3; .*last.pt holds it: resume with "
                                                r"`amc train --out .* --resume`"):
        _run(tiny_h5, part, epochs=3)
    monkeypatch.setattr(loop, "evaluate", real_eval)
    assert load_checkpoint(part / "last.pt")["epoch"] == 2
    loop.train(*preset("a4", data=str(tiny_h5), out_dir=str(part), epochs=3, **TINY), resume=True, progress=False)
    a, b = load_checkpoint(full / "last.pt"), load_checkpoint(part / "last.pt")
    for k in a["model_state"]:
        assert torch.equal(a["model_state"][k], b["model_state"][k]), k
    ra, rb = _rows(full), _rows(part)
    assert [r["val_acc"] for r in ra] == [r["val_acc"] for r in rb]
    assert [r["loss_total"] for r in ra] == [r["loss_total"] for r in rb]
    # the run-wide mixup statistics survive the resume (summary.json counts all three epochs)
    sa, sb = (json.loads((d / "summary.json").read_text())["mixup"] for d in (full, part))
    assert sa == sb and sa["batches_mixed"] > 0


@pytest.mark.slow
def test_flags_change_what_they_should(tiny_h5, tmp_path):
    _run(tiny_h5, tmp_path / "b", epochs=1, mixup_prob=0.0)
    base = _rows(tmp_path / "b")
    assert base[0]["mixup"]["batches_mixed"] == 0.0 and base[0]["loss_feat"] == 0.0
    _run(tiny_h5, tmp_path / "f", epochs=1, lambda_feat=1.0, mixup_prob=0.0)
    feat = _rows(tmp_path / "f")
    assert feat[0]["loss_feat"] > 0 and feat[0]["loss_total"] != base[0]["loss_total"]
    noden = _run(tiny_h5, tmp_path / "n", epochs=1, lambda_den=0.0, lambda_id=0.0, mixup_prob=0.0)
    assert noden and _rows(tmp_path / "n")[0]["loss_den"] == 0.0
    other_seed = _run(tiny_h5, tmp_path / "s", epochs=1, mixup_prob=0.0, seed=7)
    assert other_seed and _rows(tmp_path / "s")[0]["loss_total"] != base[0]["loss_total"]
    amp = _run(tiny_h5, tmp_path / "amp", epochs=1, amp=True)  # bf16 autocast on CPU must not crash
    assert amp and np.isfinite(_rows(tmp_path / "amp")[0]["loss_total"])
    gated = _run(tiny_h5, tmp_path / "g", epochs=1, mixup_prob=1.0, mixup_snr_min=10.0)
    assert gated and 0 < _rows(tmp_path / "g")[0]["mixup"]["frames_mixed"] < 0.5  # only >= 10 dB pairs mix
    cldnn = _run(tiny_h5, tmp_path / "c", name="cldnn", epochs=1)
    r = _rows(tmp_path / "c")[0]
    assert cldnn and r["loss_den"] == 0.0 and r["loss_eta"] == 0.0 and r["denoiser_gain_db"] is None


def test_prepare_aug_shift_and_degradation():
    from amc.config import TrainConfig

    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 2, 64)
    clean = x * 0.7
    snr = torch.full((8,), 10.0)
    x1, t1, s1 = loop.prepare(x, clean, snr, TrainConfig(aug_shift=False), g)
    assert torch.allclose(t1, x1 * 0.7, atol=1e-6) and torch.equal(s1, snr)
    x2, t2, _ = loop.prepare(x, clean, snr, TrainConfig(aug_shift=True), g)
    assert not torch.allclose(x2, x1) and torch.allclose(t2, x2 * 0.7, atol=1e-6)  # same shift for both
    x3, t3, s3 = loop.prepare(x, None, snr, TrainConfig(degrade_delta_db=(6.0, 6.0)), g)  # no clean frames
    assert torch.allclose(s3, torch.full((8,), 4.0))
    assert torch.allclose(x3.pow(2).sum(1).mean(-1), torch.ones(8), atol=1e-4)
    assert (t3.pow(2).sum(1).mean(-1) < 1).all()  # target: the original frame at the degraded input's scale


@pytest.mark.slow
def test_patience_and_select_metric(tiny_h5, tmp_path):
    s = _run(tiny_h5, tmp_path / "p", epochs=6, lr=1e-9, patience=1, select_metric="band:low")
    assert s["epochs_run"] < 6 and s["select_metric"] == "band:low"


def test_run_dir_refused_unless_overwrite(tiny_h5, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="--overwrite"):
        _run(tiny_h5, out, epochs=1)
    assert (out / "keep.txt").exists()


@pytest.mark.slow
def test_resume_with_other_config_refused(tiny_h5, tmp_path):
    out = tmp_path / "r"
    _run(tiny_h5, out, epochs=1)
    m, t = preset("a4", data=str(tiny_h5), out_dir=str(out), epochs=2, **{**TINY, "conv_channels": 8})
    with pytest.raises(ConfigError, match="was trained with conv_channels=16, not 8"):
        loop.train(m, t, resume=True, progress=False)


@pytest.mark.slow  # 10 epochs / two processes
def test_torchrun_two_cpu_processes(tiny_h5, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "amc", "train", "--data", str(tiny_h5), "--out-dir", str(out), "--epochs", "2",
           "--preset", "a4", "--conv-channels", "16", "--rnn-hidden", "16", "--denoiser-channels", "8",
           "--dense", "32", "--batch-size", "32", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _rows(out)
    assert [r["epoch"] for r in rows] == [1, 2]  # rank 0 alone wrote one line per epoch
    assert (out / "best.pt").is_file() and (out / "summary.json").is_file()
    assert not list(out.glob("*.tmp"))


@pytest.mark.parametrize("workers", [0, 1])
def test_streaming_source_equals_in_memory(tiny_h5, workers):
    """A split over the memory budget streams from HDF5 and yields exactly the in-memory batches."""
    from amc.data.io import open_dataset
    from amc.train.data import FrameSource

    with open_dataset(tiny_h5) as ds:
        index = np.arange(3, len(ds), 3)  # a non-contiguous split, as real splits are
        mem = FrameSource(ds, index)
        stream = FrameSource(ds, index, memory_budget=0, num_workers=workers)
        assert mem.in_memory and not stream.in_memory
        order = np.random.default_rng(0).permutation(len(index))
        for a, b in zip(mem.batches(order, 16), stream.batches(order, 16), strict=True):
            assert all(type(u) is type(v) for u, v in zip(a, b))
            for u, v in zip(a, b):
                np.testing.assert_array_equal(u, v)
        np.testing.assert_array_equal(mem.labels, ds.labels[index])
