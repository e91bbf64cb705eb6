"""The bad-input table of `amc classify`: one line naming the problem, exit 2, nothing written.

Each case is what a hurried user types; the model is a tiny untrained checkpoint (no stored rate,
so cases that are not about the rate pass --model-rate)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from amc.cli import app
from tests.export.conftest import make_checkpoint

RATE = ["--model-rate", "200e3"]
NO_MODEL = "<no --model>"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("bad_ckpt") / "best.pt", "cldnn", classes=["A", "B", "C"])


def sigmf(d: Path, name: str = "rec", datatype: str = "cf32_le", n: int = 4096, rate=400e3, data: bytes | None = None,
          **glob) -> Path:
    g = {"core:datatype": datatype, "core:version": "1.2.0", **({"core:sample_rate": rate} if rate else {}), **glob}
    (d / f"{name}.sigmf-meta").write_text(json.dumps({"global": g, "captures": [{"core:sample_start": 0}],
                                                      "annotations": []}))
    raw = data if data is not None else np.zeros(2 * n, "<f4").tobytes()
    (d / f"{name}.sigmf-data").write_bytes(raw)
    return d / f"{name}.sigmf-meta"


def nan_at(n: int, k: int) -> bytes:
    z = np.ones(n, np.complex64)
    z[k] = np.nan
    return z.astype("<c8").tobytes()


CASES = [  # id, setup(tmp) -> args, stdin bytes, pattern of the one-line error
    ("data not whole samples", lambda d: ([_w(d / "x.cf32", b"\0" * 4003), "--sample-rate", "1e6", *RATE], None),
     r"4003 bytes of samples is not a whole number of cf32_le samples \(8 bytes each; 3 byte\(s\) left over\)"),
    ("sigmf without rate", lambda d: ([sigmf(d, rate=None), *RATE], None), r"no core:sample_rate; give it with "
     r"--sample-rate"),
    ("unknown sigmf datatype", lambda d: ([sigmf(d, datatype="cq32_le"), *RATE], None),
     r"unknown SigMF datatype 'cq32_le'; amc reads cf32_le"),
    ("real sigmf datatype", lambda d: ([sigmf(d, datatype="rf32_le"), *RATE], None), r"holds real samples"),
    ("non-finite sample", lambda d: ([sigmf(d, data=nan_at(50000, 43210)), *RATE, "--rows", d / "rows.csv"], None),
     r"sample 43210 is NaN or Inf"),
    ("model without rate", lambda d: ([sigmf(d)], None), r"does not state the sample rate .* --model-rate"),
    ("shorter than a window", lambda d: ([sigmf(d, n=200), *RATE], None),
     r"200 samples .* fewer than one 128-sample window"),
    ("stream shorter than a window", lambda d: (["-", "--format", "cu8", "--sample-rate", "400e3", *RATE],
                                                b"\x80" * 200), r"fewer than one 128-sample window"),
    ("raw without format", lambda d: ([_w(d / "x.bin", b"\0" * 800), "--sample-rate", "1e6", *RATE], None),
     r"not a SigMF recording .* give --format"),
    ("raw without rate", lambda d: ([_w(d / "x.cu8", b"\0" * 800), *RATE], None), r"give --sample-rate"),
    ("stdin without format", lambda d: (["-", "--sample-rate", "1e6", *RATE], b""), r"needs --format"),
    ("unknown format", lambda d: ([_w(d / "x.bin", b"\0" * 800), "--format", "iq16", "--sample-rate", "1e6", *RATE],
                                  None), r"--format: unknown SigMF datatype 'iq16'"),
    ("no such input", lambda d: ([d / "nope.sigmf-meta", *RATE], None), r"no such SigMF metadata file"),
    ("no such file", lambda d: ([d / "nope.iq", *RATE], None), r"nope.iq: no such file"),
    ("directory input", lambda d: ([d, *RATE], None), r"a directory"),
    ("offset beyond nyquist", lambda d: ([sigmf(d), *RATE, "--center-offset", "250e3"], None),
     r"--center-offset 250000 Hz lies outside the recording's band"),
    ("zero sample rate", lambda d: ([_w(d / "x.cu8", b"\0" * 800), "--sample-rate", "0", *RATE], None),
     r"--sample-rate must be a positive number"),
    ("nan sample rate", lambda d: (["-", "--format", "cu8", "--sample-rate", "nan", *RATE], b""),
     r"--sample-rate must be a positive number"),
    ("conflicting sample rate", lambda d: ([sigmf(d), "--sample-rate", "1e6", *RATE], None),
     r"metadata says core:sample_rate 400000 Hz but --sample-rate says 1e\+06"),
    ("conflicting format", lambda d: ([sigmf(d), "--format", "cu8", *RATE], None),
     r"metadata says cf32_le but --format says cu8"),
    ("far too slow recording", lambda d: ([sigmf(d, rate=8e3), *RATE], None), r"more than 16x slower"),
    ("bandwidth beyond the model", lambda d: ([sigmf(d), *RATE, "--bandwidth", "1e6"], None),
     r"--bandwidth 1e\+06 Hz must be > 0 and at most the model's rate"),
    ("negative model rate", lambda d: ([sigmf(d), "--model-rate", "-5"], None), r"--model-rate must be a positive"),
    ("zero hop", lambda d: ([sigmf(d), *RATE, "--hop", "0"], None), r"--hop must be >= 1"),
    ("min-prob above one", lambda d: ([sigmf(d), *RATE, "--min-prob", "50"], None), r"--min-prob must be in \[0, 1\]"),
    ("rows suffix", lambda d: ([sigmf(d), *RATE, "--rows", d / "rows.txt"], None), r"unknown suffix '.txt'"),
    ("plot suffix", lambda d: ([sigmf(d), *RATE, "--plot", d / "pic.jpg"], None), r"the picture is a PNG"),
    ("existing rows", lambda d: ([sigmf(d), *RATE, "--rows", _w(d / "rows.csv", b"keep")], None),
     r"rows.csv exists; pass --overwrite"),
    ("multi-channel sigmf", lambda d: ([sigmf(d, **{"core:num_channels": 2}), *RATE], None),
     r"2 interleaved channels"),
    ("metadata not json", lambda d: ([_w(d / "m.sigmf-meta", b"{oops"), *RATE], None), r"not valid JSON"),
    ("missing dataset", lambda d: ([_unlink_data(sigmf(d)), *RATE], None), r"dataset rec.sigmf-data is missing"),
    ("sigmf archive", lambda d: ([_w(d / "r.sigmf", b"\0" * 1024), *RATE], None), r"a SigMF archive; extract it"),
    ("missing model", lambda d: ([sigmf(d), *RATE, "--model", d / "m.onnx"], None), r"m.onnx: no such file"),
    ("annotations not sigmf-meta", lambda d: ([sigmf(d), *RATE, "--annotations", d / "a.json"], None),
     r"end in .sigmf-meta"),
]


def _w(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


def _unlink_data(meta: Path) -> Path:
    meta.with_suffix(".sigmf-data").unlink()
    return meta


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, ckpt, tmp_path):
    _, setup, pattern = case
    args, stdin = setup(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    model = [] if any(a in ("--model", NO_MODEL) for a in args) else ["--model", str(ckpt)]
    args = [str(a) for a in args if a != NO_MODEL]
    r = CliRunner().invoke(app, ["classify", *args, *model, "--no-progress"], input=stdin)
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    import re

    assert re.search(pattern, lines[0]), lines[0]
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # nothing written, nothing changed, no temp files left behind
