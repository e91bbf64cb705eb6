"""amc train --threads, passive OpenMP waiting, and the rate / ETA of long runs."""

from __future__ import annotations

import os
import subprocess
import sys

import torch

from amc.train import progress as progress_mod
from amc.train.progress import EpochProgress, duration
from amc.train.threads import configure


def test_configure_sets_torch_threads(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert configure(1) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # torchrun: the cores are shared among local ranks
        assert configure(0) == max(1, (os.cpu_count() or 1) // 2) == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def _policy(env: dict[str, str]) -> list[str]:
    code = ("from amc.train.threads import passive_wait; ok = passive_wait(); import os, torch; "
            "print(ok, os.environ['OMP_WAIT_POLICY'], passive_wait())")
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_passive_wait_before_torch_and_user_policy_kept():
    assert _policy({}) == ["True", "PASSIVE", "False"]  # in time before torch; too late after
    assert _policy({"OMP_WAIT_POLICY": "ACTIVE"})[1] == "ACTIVE"


def test_plain_status_lines_show_rate_and_eta(monkeypatch, capsys):
    now = [0.0]
    monkeypatch.setattr(progress_mod.time, "perf_counter", lambda: now[0])
    bar = EpochProgress(enabled=True, epochs=3, steps=10, every_s=0.0)  # stderr is not a terminal here
    assert bar.plain
    with bar:
        bar.start_epoch(0)
        for step in range(1, 5):  # one step per second, 256 frames each
            now[0] = float(step)
            bar.advance(1.0, 256)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 4
    # 1024 frames in 4 s; 6 steps of 1 s left in the epoch, 26 in the run
    assert lines[-1] == "epoch 1/3  batch 4/10  256 fr/s  ETA epoch 0:06, run 0:26"


def test_duration():
    assert duration(59.6) == "1:00" and duration(3725) == "1:02:05" and duration(-3) == "0:00"
