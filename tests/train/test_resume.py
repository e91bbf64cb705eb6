"""Resume equals uninterrupted, and refuses what would make it not: seed, batch size, data, settings."""

from __future__ import annotations

import json
import shutil

import pytest

from amc.config import ConfigError, SynthConfig, preset
from amc.data.build import synth_to_file
from amc.train import loop
from amc.train.checkpoint import load_checkpoint
from tests.train.conftest import TINY


def _run(data, out, resume=False, **kw):
    m, t = preset("a4", data=str(data), out_dir=str(out), **{"epochs": 2, **TINY, **kw})
    lines: list[str] = []
    s = loop.train(m, t, resume=resume, progress=False, say=lines.append)
    return s, lines


@pytest.mark.parametrize("field, value", [("seed", 5), ("batch_size", 32), ("lr", 1e-3), ("mixup_prob", 0.0)])
def test_resume_refuses_other_settings_naming_the_field(tiny_h5, tmp_path, field, value):
    out = tmp_path / "r"
    _run(tiny_h5, out, epochs=1)
    before = (out / "last.pt").read_bytes()
    with pytest.raises(ConfigError, match=rf"was trained with {field}=.*not {value}"):
        _run(tiny_h5, out, resume=True, **{field: value})
    assert (out / "last.pt").read_bytes() == before  # nothing touched


def test_resume_refuses_other_data(tiny_h5, tmp_path):
    out = tmp_path / "r"
    _run(tiny_h5, out, epochs=1)
    other = tmp_path / "other.h5"
    synth_to_file(SynthConfig(classes=["BPSK", "QPSK", "AM-DSB", "WBFM"], snrs=[-10.0, 0.0, 10.0, 20.0],
                              frames_per_class_snr=40, seed=2), other)
    with pytest.raises(ConfigError, match="was trained on other data .*fingerprint"):
        _run(other, out, resume=True)


@pytest.mark.slow
def test_resume_may_extend_epochs_and_says_where_it_continues(tiny_h5, tmp_path):
    out = tmp_path / "r"
    _run(tiny_h5, out, epochs=1)
    moved = tmp_path / "moved.h5"
    shutil.copy(tiny_h5, moved)  # the data may move: its fingerprint is what counts
    s, lines = _run(moved, out, resume=True, epochs=2)
    assert lines[0].startswith(f"resuming {out} after epoch 1 of 2")
    assert [ln.split()[1] for ln in lines if ln.startswith("epoch")] == ["2/2"]
    assert s["epochs_run"] == 2


@pytest.mark.slow
def test_an_early_stopped_run_does_not_train_on_resume(tiny_h5, tmp_path):
    out = tmp_path / "r"
    # lr 0 keeps val_acc flat: no improvement after epoch 1, so patience 1 stops after epoch 2
    s, lines = _run(tiny_h5, out, epochs=5, patience=1, lr=1e-12)
    stopped = load_checkpoint(out / "last.pt")["epoch"]
    assert stopped == 2 and any(ln.startswith("stopping:") for ln in lines)
    s2, lines2 = _run(tiny_h5, out, resume=True, epochs=5, patience=1, lr=1e-12)
    assert load_checkpoint(out / "last.pt")["epoch"] == stopped
    assert not [ln for ln in lines2 if ln.startswith("epoch")]
    assert any("stopped early at epoch 2" in ln for ln in lines2)
    assert s2["epochs_run"] == 2


def test_run_wide_state_travels_in_last_pt(tiny_h5, tmp_path):
    out = tmp_path / "r"
    _run(tiny_h5, out, epochs=1)
    ck = load_checkpoint(out / "last.pt")
    mixup = ck["mixup_state"]
    summary = json.loads((out / "summary.json").read_text())["mixup"]
    assert mixup["batches"] > 0 and len(mixup["lams"]) == round(summary["batches_mixed"] * mixup["batches"])
    assert "scaler_state" in ck
