"""End to end: a synthetic SigMF recording with known segments, classified by a model trained here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from amc.classify import ClassifySettings, classify
from amc.classify.outputs import validate
from amc.classify.synth import encode
from amc.cli import app
from tests.classify.conftest import CENTER_FREQ, MODEL_RATE, UP

WINDOW = 128 * UP  # one window in recording samples


def main_segments(segments: list[dict], truth: list) -> None:
    """The segments are the true ones, in order, each boundary within one window."""
    assert [s["label"] for s in segments] == [t.label for t in truth], segments
    for s, t in zip(segments, truth):
        assert abs(s["sample_start"] - t.start) <= WINDOW, (s, t)
        assert abs(s["sample_start"] + s["sample_count"] - (t.start + t.count)) <= WINDOW, (s, t)


def test_sigmf_recording_segments_annotations_rows_picture(recording, onnx_model, tmp_path):
    meta, truth = recording
    rows = tmp_path / "rows.jsonl"
    r = classify(ClassifySettings(input=str(meta), model=str(onnx_model), center_offset=60e3, min_windows=3,
                                  rows=str(rows), plot=str(tmp_path / "rec.png"), progress=False))
    main_segments(r["segments"], truth)
    assert r["resample"] == {"up": 1, "down": 2, "error_ppm": 0.0}
    assert r["model_rate"] == MODEL_RATE  # read from the model's own metadata
    # the noise segment is silence; its SNR estimate is far below the signals'
    noise = r["segments"][1]
    assert noise["snr_db"] < -10 < 5 < min(s["snr_db"] for s in r["segments"] if s["label"] != "noise")
    # every window has a row; inside the true segments (a window away from the edges) the windows' own
    # labels are >= 90 % right overall and >= 75 % in each (the tiny model slips on some WBFM windows)
    lines = [json.loads(line) for line in rows.read_text().splitlines()]
    assert len(lines) == r["windows"] and lines[-1]["tail"] and not lines[0]["tail"]
    right = []
    for t in truth:
        inner = [x["label"] for x in lines if t.start + WINDOW <= x["sample_start"] <= t.start + t.count - 2 * WINDOW]
        assert inner and np.mean([lab == t.label for lab in inner]) >= 0.75, (t, inner)
        right += [lab == t.label for lab in inner]
    assert np.mean(right) >= 0.9
    assert [c for c, _ in lines[0]["top3"]] == sorted(["BPSK", "QPSK", "WBFM"], key=lambda c: -dict(
        lines[0]["top3"])[c])
    # annotations: written into the recording's own metadata, valid for sigmf, amc namespace declared
    m = json.loads(meta.read_text())
    assert validate(m) is None
    ann = m["annotations"]
    assert [a["core:label"] for a in ann] == [t.label for t in truth]
    assert {"name": "amc", "version": "1.0.0", "optional": True} in m["global"]["core:extensions"]
    for a, s in zip(ann, r["segments"]):
        assert (a["core:sample_start"], a["core:sample_count"]) == (s["sample_start"], s["sample_count"])
        assert a["core:freq_lower_edge"] == CENTER_FREQ + 60e3 - MODEL_RATE / 2
        assert a["core:freq_upper_edge"] == CENTER_FREQ + 60e3 + MODEL_RATE / 2
        assert a["amc:model_sha256"] == r["model_sha256"] and 0 < a["amc:probability"] <= 1
    assert m["global"]["core:sha512"]  # the recording's own fields are kept
    res = subprocess.run([sys.executable, "-m", "sigmf.validate", str(meta)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "rec.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a second run with the same model replaces its annotations instead of adding more
    classify(ClassifySettings(input=str(meta), model=str(onnx_model), center_offset=60e3, min_windows=3,
                              progress=False))
    assert len(json.loads(meta.read_text())["annotations"]) == len(truth)


def test_without_the_channel_shift_the_answer_changes(recording, onnx_model):
    """--center-offset matters: at 0 Hz the model sees the channel 60 kHz off and the interferer."""
    meta, truth = recording
    r = classify(ClassifySettings(input=str(meta), model=str(onnx_model), min_windows=3, annotate=False,
                                  progress=False))
    assert [s["label"] for s in r["segments"]] != [t.label for t in truth]


def test_stdin_cu8_stream(recording_iq, trained_model, tmp_path):
    """The same recording as rtl_sdr would pipe it: cu8 on stdin, through the CLI in a subprocess."""
    x, truth = recording_iq
    ann = tmp_path / "stream.sigmf-meta"
    cmd = [sys.executable, "-m", "amc", "classify", "-", "--format", "cu8", "--sample-rate", f"{MODEL_RATE * UP:g}",
           "--center-freq", f"{CENTER_FREQ:g}", "--model", str(trained_model), "--center-offset", "60e3",
           "--min-windows", "3", "--json", "-", "--no-progress", "--annotations", str(ann)]
    res = subprocess.run(cmd, input=encode(x, "cu8"), capture_output=True, timeout=300)
    assert res.returncode == 0, res.stderr.decode()
    r = json.loads(res.stdout)
    assert r["kind"] == "stdin" and r["datatype"] == "cu8" and r["samples"] == len(x)
    main_segments(r["segments"], truth)
    m = json.loads(ann.read_text())
    assert validate(m) is None and m["global"]["core:metadata_only"] is True
    assert [a["core:label"] for a in m["annotations"]] == [t.label for t in truth]


def test_raw_file_gets_a_sigmf_meta_beside_it_and_reads_back(recording_iq, onnx_model, tmp_path):
    x, truth = recording_iq
    raw = tmp_path / "capture.cs16"  # the suffix names the format (ci16)
    raw.write_bytes(encode(x, "ci16_le"))
    runner = CliRunner()
    res = runner.invoke(app, ["classify", str(raw), "--sample-rate", "400e3", "--model", str(onnx_model),
                              "--center-offset", "60e3", "--min-windows", "3", "--no-progress", "--json", "-"])
    assert res.exit_code == 0, res.output
    main_segments(json.loads(res.stdout)["segments"], truth)
    meta = tmp_path / "capture.cs16.sigmf-meta"
    m = json.loads(meta.read_text())
    assert m["global"]["core:dataset"] == "capture.cs16" and m["global"]["core:datatype"] == "ci16_le"
    assert validate(m) is None
    # sigmf reads the raw samples through the new metadata
    import sigmf

    sf = sigmf.fromfile(str(meta))
    got = sf.read_samples(0, 1000)
    want = np.frombuffer(encode(x, "ci16_le"), "<i2")[:2000].astype(np.float32).view(np.complex64) / 32768
    np.testing.assert_allclose(got, want, atol=1e-6)
    # and the next run needs neither --format nor --sample-rate: the file is a SigMF recording now
    res = runner.invoke(app, ["classify", str(raw), "--model", str(onnx_model), "--center-offset", "60e3",
                              "--min-windows", "3", "--no-progress", "--json", "-"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["kind"] == "sigmf"
    assert len(json.loads(meta.read_text())["annotations"]) == len(truth)


def test_summary_fits_80_columns_in_a_pipe(recording, trained_model):
    meta, _ = recording
    res = CliRunner().invoke(app, ["classify", str(meta), "--model", str(trained_model), "--center-offset", "60e3",
                                   "--no-progress", "--no-annotate"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    wide = [line for line in lines if len(line) > 80 and not line.startswith("wrote ")]  # paths are not wrapped
    assert not wide, wide
    assert any("share of time per label" in line for line in lines) and any("segments" in line for line in lines)
    assert "real time x" in res.stdout


@pytest.mark.parametrize("hop", [64, 200])
def test_hop_places_windows(recording, onnx_model, tmp_path, hop):
    meta, truth = recording
    rows = tmp_path / "rows.csv"
    r = classify(ClassifySettings(input=str(meta), model=str(onnx_model), center_offset=60e3, hop=hop,
                                  rows=str(rows), annotate=False, progress=False,
                                  min_windows=max(3, -(-3 * 128 // hop))))  # three frames' worth of windows
    import csv

    table = list(csv.DictReader(rows.open()))
    starts = [int(row["sample_start"]) for row in table if row["tail"] == "0"]
    assert starts == [k * hop * UP for k in range(len(starts))]
    n_model = 22000  # samples of the plan at the model's rate
    assert len(starts) == (n_model - 128) // hop + 1
    assert r["windows"] == len(table)
    assert [s["label"] for s in r["segments"]] == [t.label for t in truth]
    assert Path(meta).read_text().count("amc:model") == 0  # --no-annotate: the recording is untouched
