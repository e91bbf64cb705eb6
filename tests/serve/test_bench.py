"""amc.serve.bench and the `amc bench` / `amc serve` commands on a real exported ONNX engine."""

from __future__ import annotations

import io
import json

import pytest
from typer.testing import CliRunner

from amc.cli import app
from amc.serve.bench import bench, print_bench, time_calls
from tests.serve.test_server import tiny_model


@pytest.fixture(scope="session")
def model_files(tmp_path_factory):
    return tiny_model(tmp_path_factory.getbasetemp() / "serve_model")  # shared with test_server


def test_time_calls_excludes_warmup_and_orders_percentiles():
    calls = []
    row = time_calls(calls.append, [0.0] * 4, seconds=0.01, min_iters=7, warmup_iters=2)
    assert row["iterations"] >= 7 and len(calls) == row["iterations"] + 2
    assert 0 <= row["min_ms"] <= row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
    assert row["batch"] == 4 and row["frames_per_s"] > 0


def test_bench_onnx_against_torch_returns_sane_numbers(model_files):
    run, onnx_path = model_files
    r = bench(onnx_path, batches=(1, 16), seconds=0.2, compare_torch=run / "best.pt", threads=1)
    assert r["backend"] != "torch" and r["torch_backend"] == "torch" and r["threads"] == 1
    assert r["frame_length"] == 128 and r["cpu_count"] >= 1
    for rows in (r["engine"], r["torch"]):
        assert [row["batch"] for row in rows] == [1, 16]
        for row in rows:
            assert row["iterations"] >= 5
            assert 0 < row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
            assert row["frames_per_s"] > 0
    assert [s["batch"] for s in r["speedup"]] == [1, 16] and all(s["x"] > 0 for s in r["speedup"])
    json.dumps(r)  # plain data
    from rich.console import Console

    buf = io.StringIO()
    print_bench(r, Console(file=buf, width=160))
    assert "p99 ms" in buf.getvalue() and "torch eager" in buf.getvalue()


def test_bench_refuses_bad_settings(model_files):
    with pytest.raises(ValueError, match="batch sizes"):
        bench(model_files[1], batches=(0,), seconds=0.1)
    with pytest.raises(ValueError, match="seconds"):
        bench(model_files[1], batches=(1,), seconds=0)


def test_cli_bench_writes_json_and_refuses_bad_options(model_files, tmp_path):
    out = tmp_path / "b" / "bench.json"
    runner = CliRunner()
    res = runner.invoke(app, ["bench", str(model_files[1]), "--batch", "1,4", "--seconds", "0.1", "--threads", "1",
                              "--json", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert [row["batch"] for row in data["engine"]] == [1, 4] and data["threads"] == 1
    assert "frames/s" in res.output
    bad = runner.invoke(app, ["bench", str(model_files[1]), "--batch", "1,x"])
    assert bad.exit_code == 2 and "--batch" in bad.output
    missing = runner.invoke(app, ["bench", str(tmp_path / "nope.onnx")])
    assert missing.exit_code == 2 and "no such file or directory" in missing.output


def test_cli_serve_refuses_bad_options(tmp_path, model_files):
    runner = CliRunner()
    res = runner.invoke(app, ["serve", str(tmp_path / "nope.onnx")])
    assert res.exit_code == 2 and "no such file or directory" in res.output
    res = runner.invoke(app, ["serve", str(model_files[1]), "--max-batch", "0"])
    assert res.exit_code == 2 and "--max-batch" in res.output


def test_compare_torch_must_be_the_same_architecture(model_files):
    """--compare-torch with another network is refused (its speed-up would compare different models); the same
    network with other weights is a note; the engine's own checkpoint says nothing."""
    from amc.config import ConfigError
    from amc.runtime import Engine
    from amc.serve.bench import same_model

    run, onnx_path = model_files
    engine, ref = Engine.load(onnx_path), Engine.load(run / "best.pt")
    assert same_model(engine.metadata, ref.metadata, onnx_path, run / "best.pt") is None
    other_weights = {**ref.metadata, "checkpoint_sha256": "0" * 64}
    note = same_model(engine.metadata, other_weights, onnx_path, "other.pt")
    assert note.startswith("--compare-torch other.pt is not the checkpoint model.onnx was exported from")
    wider = {**ref.metadata, "model_config": {**ref.metadata["model_config"], "conv_channels": 999}}
    with pytest.raises(ConfigError, match="another architecture than model.onnx"):
        same_model(engine.metadata, wider, onnx_path, "wide.pt")
