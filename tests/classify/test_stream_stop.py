"""A live stream stopped by the user keeps what was classified; a closed stdout ends the run quietly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest

from amc.classify.outputs import validate
from tests.export.conftest import make_checkpoint


@pytest.mark.timeout(180)
def test_ctrl_c_on_a_live_stream_writes_what_was_classified(tmp_path):
    ckpt = make_checkpoint(tmp_path / "best.pt", "a4", classes=["A", "B", "C"])
    ann = tmp_path / "live.sigmf-meta"
    proc = subprocess.Popen([sys.executable, "-m", "amc", "classify", "-", "--format", "cu8", "--sample-rate", "1e6",
                             "--model", str(ckpt), "--model-rate", "1e6", "--rows", "-", "--batch-size", "16",
                             "--annotations", str(ann), "--no-progress"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    chunk = np.random.default_rng(0).integers(0, 256, 2 * 8192, dtype=np.uint8).tobytes()
    proc.stdin.write(chunk * 4)  # the stream stays open: more could come
    proc.stdin.flush()
    first = json.loads(proc.stdout.readline())  # an event: rows are flowing (unbuffered: none lost here)
    assert first["sample_start"] == 0
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)  # closes stdin, as the SDR writer would on Ctrl-C
    assert proc.returncode == 130, err.decode()
    assert b"interrupted (Ctrl-C): the outputs cover the first" in err
    m = json.loads(ann.read_text())
    assert validate(m) is None and m["annotations"]
    last = m["annotations"][-1]
    n_rows = 1 + len(rest.splitlines())
    assert last["core:sample_start"] + last["core:sample_count"] <= 4 * 8192
    assert sum(a["amc:windows"] for a in m["annotations"]) == n_rows  # every row written is in a segment


@pytest.mark.timeout(180)
def test_rows_to_a_closed_stdout(tmp_path):
    ckpt = make_checkpoint(tmp_path / "best.pt", "cldnn", classes=["A", "B", "C"])
    data = np.zeros(2 * 200000, np.uint8).tobytes()
    cmd = (f"{sys.executable} -m amc classify - --format cu8 --sample-rate 1e6 --model-rate 1e6 --model {ckpt} "
           "--rows - --batch-size 16 --no-progress | head -n 3")
    res = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], input=data, capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    assert len(res.stdout.splitlines()) == 3
    assert b"Traceback" not in res.stderr and b"stdout closed by its reader" in res.stderr
