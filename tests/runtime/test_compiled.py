"""The torch.compile path (format 'torch-compiled'), on the CPU: exported and verified like every format,
loaded by ``Engine.load``, padded to batch buckets that are compiled once, bf16 by autocast, benchmarked.

Compiling with Inductor takes minutes on this 2-core machine, so the tests compile with a backend that
records every graph Dynamo hands it and runs it as traced (``AMC_COMPILE_BACKEND``): the same tracing,
bucketing, autocast and opaque recurrent op as on a GPU, without code generation. The Inductor + CUDA
graphs run is the GPU check's (``benchmarks/gpu_check.sh``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from amc.config import ConfigError
from amc.data.io import DataError
from amc.export import ExportError, export
from amc.runtime import CompiledTorchEngine, Engine
from amc.runtime.artifact import read_metadata
from amc.runtime.compiled import bucket_for, buckets
from amc.serve.bench import bench
from amc.train.checkpoint import load_checkpoint, save_checkpoint
from tests.export.conftest import (  # noqa: F401 - autouse
    make_checkpoint,
    one_torch_thread,
    parity_holds,
    small_parity,
)

GRAPHS: list[list[tuple[int, ...]]] = []  # input shapes of every graph Dynamo compiled
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # Engine.load picks the GPU where there is one


@torch._dynamo.register_backend
def amc_recording(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
    GRAPHS.append([tuple(t.shape) for t in example_inputs if isinstance(t, torch.Tensor)])
    return gm.forward


@pytest.fixture(autouse=True)
def recording_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMC_COMPILE_BACKEND", "amc_recording")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("compiled")
    return make_checkpoint(tmp / "run" / "best.pt", "a4", dataset=str(tmp / "missing.h5"))


def frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 2, 128)).astype(np.float32)


def test_buckets() -> None:
    assert buckets(256) == [2, 4, 8, 16, 32, 64, 128, 256] and buckets(100) == [2, 4, 8, 16, 32, 64, 100]
    assert buckets(1) == [2] and buckets(2) == [2]
    assert [bucket_for(n, buckets(100)) for n in (1, 2, 3, 64, 65, 100)] == [2, 2, 4, 64, 100, 100]


def test_export_load_and_run(ckpt: Path, tmp_path: Path) -> None:
    GRAPHS.clear()
    r = export(ckpt, fmt="torch-compiled", out=tmp_path / "m.compiled", max_batch=16)
    assert r.path.suffix == ".compiled" and r.parity["passed"] and r.parity["max_abs_logit"] <= 1e-5
    assert GRAPHS, "the parity check ran the compiled function"
    assert read_metadata(r.path) == r.metadata and r.metadata["format"] == "torch-compiled"
    assert r.metadata["compile"]["buckets"] == "powers of two from 2 to max_batch 16"
    engine, ref = Engine.load(r.path), Engine.load(ckpt)
    assert isinstance(engine, CompiledTorchEngine) and engine.backend == "torch-compiled"
    assert engine.max_batch == 16 and engine.buckets == [2, 4, 8, 16] and engine.precision == "fp32"
    assert f"torch.compile backend amc_recording on {DEVICE}; fp32" in engine.notes[0]
    assert not any(isinstance(m, torch.nn.LSTM) for m in engine.module.modules())  # the opaque op instead
    x = frames(40)
    engine.warmup((1, 3, 5, 16))  # every bucket once
    seen = len(GRAPHS)
    for n in (1, 2, 3, 7, 8, 9, 16, 40):  # 40 > max_batch: chunks of 16, 16, 8
        got, want = engine.run(x[:n]), ref.run(x[:n])
        assert got["logits"].shape == (n, 11) and got["eta"].shape == (n,)
        for k in ("logits", "probs", "eta", "snr_db"):
            np.testing.assert_allclose(got[k], want[k], atol=1e-5, err_msg=f"{k} at batch {n}")
    assert len(GRAPHS) == seen, "a batch size inside the warmed buckets compiled again"
    padded = engine.run(x[:3])["logits"]  # bucket 4: the padding frame does not leak into the result
    np.testing.assert_array_equal(padded, engine.run(x[:4])["logits"][:3])


def test_bf16_runs_under_autocast(ckpt: Path, tmp_path: Path) -> None:
    r = export(ckpt, fmt="torch-compiled", precision="bf16", out=tmp_path / "m.bf16.compiled", max_batch=8)
    assert parity_holds(r.parity) and r.metadata["precision"] == "bf16"
    assert r.parity["tolerance"]["tie_margin"] == 0.1
    engine, ref = Engine.load(r.path), Engine.load(ckpt)
    x = frames(8, seed=1)
    got, want = engine.run(x)["logits"], ref.run(x)["logits"]
    err = float(np.abs(got - want).max())
    assert 0 < err < 0.5, f"bf16 logits differ from fp32 by {err}: expected a small, non-zero rounding error"
    assert {w.dtype for n, w in engine.module.named_buffers() if n.split(".")[-1].startswith("w")} == {torch.bfloat16}


def test_bench_and_refusals(ckpt: Path, tmp_path: Path) -> None:
    path = export(ckpt, fmt="torch-compiled", out=tmp_path / "m.compiled", max_batch=8).path
    r = bench(path, batches=(1, 8), seconds=0.05, compare_torch=ckpt)
    assert r["backend"] == "torch-compiled" and r["device"].startswith(DEVICE) and r["torch_backend"] == "torch"
    assert [row["batch"] for row in r["engine"]] == [1, 8] and all(row["frames_per_s"] > 0 for row in r["engine"])
    assert r["notes"] and "batches padded to 2..8" in r["notes"][0]
    with pytest.raises(ConfigError, match="provider 'tensorrt' does not apply to a torch-compiled artifact"):
        Engine.load(path, provider="tensorrt")
    with pytest.raises(ExportError, match="format 'torch-compiled' does not support precision 'int8'"):
        export(ckpt, fmt="torch-compiled", precision="int8")
    with pytest.raises(ExportError, match="--calib-frames does not apply to format 'torch-compiled'"):
        export(ckpt, fmt="torch-compiled", calib_frames=100)
    plain = tmp_path / "plain.compiled"  # a checkpoint renamed: no description inside
    save_checkpoint(plain, {k: v for k, v in load_checkpoint(ckpt).items() if k != "format"})
    with pytest.raises(DataError, match="without an amc description"):
        Engine.load(plain)
    (tmp_path / "junk.compiled").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="junk.compiled"):
        Engine.load(tmp_path / "junk.compiled")


@pytest.mark.parametrize("rnn_cls", [torch.nn.LSTM, torch.nn.GRU])
def test_opaque_rnn_matches_torch_and_its_fake(rnn_cls: type) -> None:
    """The custom op equals nn.LSTM / nn.GRU and its fake (shape, dtype, strides) matches the real output:
    Inductor trusts the fake and asserts the strides at run time."""
    from amc.runtime.compiled import OpaqueRNN, _rnn

    torch.manual_seed(0)
    rnn = rnn_cls(8, 6, num_layers=2, batch_first=True).eval()
    op = OpaqueRNN(rnn, torch.float32)
    x = torch.randn(5, 7, 8)
    with torch.no_grad():
        torch.testing.assert_close(op(x)[0], rnn(x)[0])
    weights = [getattr(op, f"w{i}") for i in range(op.n)]
    torch.library.opcheck(_rnn, (x, weights, op.lstm, op.hidden, op.layers, op.bidirectional),
                          test_utils=("test_schema", "test_faketensor"))
    assert _rnn(x, weights, op.lstm, op.hidden, op.layers, op.bidirectional).is_contiguous()
