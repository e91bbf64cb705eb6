"""Faults survived: SIGKILL mid-epoch and mid-checkpoint-write, a full disk, untrusted checkpoints."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from amc.config import SynthConfig, preset
from amc.data.build import synth_to_file
from amc.data.io import DataError, write_dataset
from amc.train import checkpoint as ck
from amc.train.loop import train

TINY = ["--conv-channels", "16", "--rnn-hidden", "16", "--denoiser-channels", "8", "--dense", "32",
        "--batch-size", "32", "--no-progress", "--preset", "a4"]

# Runs `amc train` with checkpoint writes slowed down (and optionally signalled), so a test can kill it
# at a chosen moment. Only the test harness patches anything; the code under test is the real CLI.
HARNESS = textwrap.dedent("""
    import os, sys, time
    import torch
    import amc.train.checkpoint as ck
    real_save = torch.save
    def slow_save(obj, path, *a, **k):
        real_save(obj, path, *a, **k)
        if os.environ.get("AMC_TEST_SLOW_WRITE") and ".last.pt." in str(path):
            with open(path, "r+b") as fh:   # a half-written temp file, as if killed mid-write
                fh.truncate(os.path.getsize(path) // 2)
            open(os.environ["AMC_TEST_MARK"], "w").close()
            time.sleep(60)
    ck.torch.save = slow_save
    if os.environ.get("AMC_TEST_PAUSE_EPOCH"):  # pause in the first batch of that epoch, after a marker
        import amc.train.loop as loop
        real_prepare, pause = loop.prepare, int(os.environ["AMC_TEST_PAUSE_EPOCH"])
        def paused_prepare(*a, **k):
            done = open(os.path.join(sys.argv[sys.argv.index("--out-dir") + 1], "metrics.jsonl")).read().count("\\n")
            if done == pause - 1:
                open(os.environ["AMC_TEST_MARK"], "w").close()
                time.sleep(60)
            return real_prepare(*a, **k)
        loop.prepare = paused_prepare
    from amc.cli import app
    app(sys.argv[1:], prog_name="amc")
""")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("rel") / "d.h5"
    synth_to_file(SynthConfig(classes=["BPSK", "QPSK", "AM-DSB"], snrs=[0.0, 10.0], frames_per_class_snr=40), path)
    return path


def _cmd(data, out, epochs, *extra):
    return [sys.executable, "-c", HARNESS, "train", "--data", str(data), "--out-dir", str(out),
            "--epochs", str(epochs), *TINY, *extra]


def _weights(path):
    return ck.load_checkpoint(path)["model_state"]


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def _wait_for(pred, timeout=120.0):
    t0 = time.time()
    while not pred():
        if time.time() - t0 > timeout:
            raise TimeoutError
        time.sleep(0.05)


@pytest.mark.slow  # trains in subprocesses
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(data, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    full = tmp_path / "full"
    subprocess.run(_cmd(data, full, 3), check=True, env=env, capture_output=True, timeout=300)
    out = tmp_path / "killed"
    mark = tmp_path / "in-epoch-2"
    proc = subprocess.Popen(_cmd(data, out, 3), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**env, "AMC_TEST_PAUSE_EPOCH": "2", "AMC_TEST_MARK": str(mark)})
    _wait_for(mark.exists)  # inside the first batch of epoch 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ck.load_checkpoint(out / "last.pt")["epoch"] == 1
    subprocess.run(_cmd(data, out, 3, "--resume"), check=True, env=env, capture_output=True, timeout=300)
    assert ck.load_checkpoint(out / "last.pt")["epoch"] == 3
    assert _same(_weights(full / "last.pt"), _weights(out / "last.pt"))
    assert (full / "metrics.jsonl").read_text() .count("\n") == (out / "metrics.jsonl").read_text().count("\n") == 3


@pytest.mark.slow  # trains in subprocesses
def test_sigkill_mid_checkpoint_write_leaves_previous_checkpoint(data, tmp_path):
    out = tmp_path / "run"
    mark = tmp_path / "writing"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_cmd(data, out, 1), check=True, env=env, capture_output=True, timeout=300)
    before = _weights(out / "last.pt")
    proc = subprocess.Popen(_cmd(data, out, 2, "--resume"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**env, "AMC_TEST_SLOW_WRITE": "1", "AMC_TEST_MARK": str(mark)})
    _wait_for(mark.exists)  # the epoch-2 checkpoint is half written
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(out.glob(".last.pt.*")), "the half-written temp file should be the only casualty"
    c = ck.load_checkpoint(out / "last.pt")  # still the complete epoch-1 checkpoint
    assert c["epoch"] == 1 and _same(before, c["model_state"])
    subprocess.run(_cmd(data, out, 2, "--resume"), check=True, env=env, capture_output=True, timeout=300)
    assert ck.load_checkpoint(out / "last.pt")["epoch"] == 2
    assert not list(out.glob(".*.tmp")), "resume removes the dead write's temp file"


def test_too_small_dataset_is_a_clear_error(tmp_path):
    path = tmp_path / "tiny.h5"
    write_dataset(path, np.random.default_rng(0).standard_normal((4, 2, 32)).astype(np.float32), [0, 0, 1, 1],
                  [0, 10, 0, 10], ["a", "b"])
    m, t = preset("cldnn", data=str(path), out_dir=str(tmp_path / "run"), epochs=1, conv_channels=8, rnn_hidden=8,
                  dense=8, batch_size=2)
    with pytest.raises(DataError, match="too few frames"):
        train(m, t, progress=False)


def test_disk_full_while_writing_a_checkpoint_keeps_the_previous_one(data, tmp_path, monkeypatch):
    m, t = preset("a4", data=str(data), out_dir=str(tmp_path / "run"), epochs=1, conv_channels=16, rnn_hidden=16,
                  denoiser_channels=8, dense=32, batch_size=32)
    train(m, t, progress=False)
    good = (tmp_path / "run" / "last.pt").read_bytes()
    real_save = torch.save

    def full_disk(obj, path, *a, **k):
        real_save(obj, path, *a, **k)
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(ck.torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        ck.save_checkpoint(tmp_path / "run" / "last.pt", {"x": torch.zeros(3)})
    assert (tmp_path / "run" / "last.pt").read_bytes() == good
    assert not list((tmp_path / "run").glob(".last.pt.*"))  # temp file cleaned up


def test_disk_full_while_writing_a_dataset(tmp_path, monkeypatch):
    path = tmp_path / "d.h5"
    x = np.ones((4, 2, 16), np.float32)
    write_dataset(path, x, [0, 1, 0, 1], [0, 0, 0, 0], ["a", "b"])
    good = path.read_bytes()
    import amc.data.io as io

    def full_fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io.os, "fsync", full_fsync)
    with pytest.raises(OSError, match="No space left"):
        write_dataset(path, x * 2, [0, 1, 0, 1], [0, 0, 0, 0], ["a", "b"])
    assert path.read_bytes() == good and [p.name for p in tmp_path.iterdir()] == ["d.h5"]


def test_checkpoint_carrying_code_is_refused(tmp_path, monkeypatch):
    evil = tmp_path / "evil.pt"
    torch.save({"format": ck.FORMAT, "model_state": {}, "hook": os.system}, evil)
    with pytest.raises(ck.CheckpointError, match="refused"):
        ck.load_checkpoint(evil)
    truncated = tmp_path / "t.pt"
    torch.save({"format": ck.FORMAT, "w": torch.randn(1000)}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:300])
    with pytest.raises(ck.CheckpointError, match="truncated or corrupted"):
        ck.load_checkpoint(truncated)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(ck.CheckpointError, match="not an amc checkpoint"):
        ck.load_checkpoint(other)
    dataset = tmp_path / "d.h5"  # a hurried `amc export data.h5`: said plainly, not as a security refusal
    dataset.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(ck.CheckpointError, match="not a PyTorch checkpoint"):
        ck.load_checkpoint(dataset)
