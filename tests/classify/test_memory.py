"""Bounded memory: classifying a 16x larger recording does not raise the peak resident memory.

One child process classifies a 4 MiB and then a 64 MiB sparse cu8 file (the disk holds no blocks,
the reads still go through every byte), resampled 10:1, rows written; the kernel's peak RSS
(``VmHWM``) is read after each. The 1 GiB figure is measured by ``benchmarks/bench_classify.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.export.conftest import make_checkpoint

CHILD = r"""
import json, sys


def hwm_mib():
    # peak resident memory of this process image; ru_maxrss would include the parent's, inherited by fork
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024


from amc.classify import ClassifySettings, classify
peaks = []
for path in sys.argv[2:]:
    r = classify(ClassifySettings(input=path, model=sys.argv[1], format="cu8", sample_rate=2e6, model_rate=200e3,
                                  hop=1280, rows=path + ".jsonl", progress=False, threads=1))
    peaks.append({"samples": r["samples"], "windows": r["windows"],
                  "peak_mib": hwm_mib()})
print(json.dumps(peaks))
"""


@pytest.mark.slow  # classifies 64 MiB in a child process
def test_peak_memory_does_not_grow_with_the_recording(tmp_path):
    ckpt = make_checkpoint(tmp_path / "best.pt", "cldnn", classes=["A", "B", "C"])
    files = []
    for mib in (4, 64):
        p = tmp_path / f"zeros_{mib}.cu8"
        with open(p, "wb") as fh:
            fh.truncate(mib << 20)
        files.append(str(p))
    res = subprocess.run([sys.executable, "-c", CHILD, str(ckpt), *files], capture_output=True, text=True,
                         timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    small, big = json.loads(res.stdout)
    assert big["samples"] == 32 << 20 and small["samples"] == 2 << 20
    assert big["windows"] > 15 * small["windows"]
    assert big["peak_mib"] - small["peak_mib"] < 32, (small, big)  # the samples alone would be 256 MiB as complex64
    assert sum(1 for _ in open(files[1] + ".jsonl")) == big["windows"]
