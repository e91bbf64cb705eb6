"""How a stream ends and what silence is: a partial last sample keeps the results (27.10); digital silence is
noise by the runtime's power floor, not a class (27.6). The model is a tiny untrained checkpoint without a
noise head, so 'noise' can only come from the floor."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from amc.cli import app
from tests.export.conftest import make_checkpoint

ARGS = ["--format", "cu8", "--sample-rate", "400e3", "--model-rate", "200e3", "--no-progress"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("stream_ckpt") / "best.pt", "cldnn", classes=["A", "B", "C"])


def cu8(z: np.ndarray) -> bytes:
    iq = np.stack([z.real, z.imag], -1).ravel() * 127 + 127.5
    return np.clip(np.rint(iq), 0, 255).astype(np.uint8).tobytes()


def test_stream_ending_mid_sample_keeps_the_results_and_warns(ckpt, tmp_path):
    z = np.exp(2j * np.pi * 0.01 * np.arange(10000)) * 0.5
    ann, out = tmp_path / "s.sigmf-meta", tmp_path / "r.json"
    r = CliRunner().invoke(app, ["classify", "-", *ARGS, "--model", str(ckpt), "--annotations", str(ann),
                                 "--json", str(out)], input=cu8(z) + b"\x80")
    assert r.exit_code == 0, (r.output, r.exception)
    assert re.search(r"warning: .*ended mid-sample: 1 trailing byte\(s\) after sample 10000 .*cu8.*dropped",
                     " ".join(r.stderr.split())), r.stderr
    res = json.loads(out.read_text())
    assert res["samples"] == 10000 and res["windows"] > 0 and res["warnings"]
    assert json.loads(ann.read_text())["annotations"]  # the annotations were written, not discarded


def test_digital_silence_is_noise(ckpt, tmp_path):
    z = np.zeros(20000, np.complex64)
    z[10000:] = 0.5 * np.exp(2j * np.pi * 0.01 * np.arange(10000))
    raw = cu8(z)
    raw = bytes(20000 * [128]) + raw[20000:]  # cu8 128 is exactly 0.0 after decoding (127.5 is not a code)
    out = tmp_path / "r.json"
    r = CliRunner().invoke(app, ["classify", "-", *ARGS, "--model", str(ckpt), "--no-annotate", "--json", str(out)],
                           input=raw)
    assert r.exit_code == 0, (r.output, r.exception)
    segs = json.loads(out.read_text())["segments"]
    assert segs[0]["label"] == "noise" and segs[0]["sample_start"] == 0
    assert abs(segs[0]["sample_count"] - 10000) <= 2 * 256  # the silence, to within the resampler's reach
    assert all(s["label"] != "noise" for s in segs[1:])
