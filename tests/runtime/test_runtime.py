"""amc.runtime: one Engine over torch / ONNX Runtime / TensorRT, input validation, class checks."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from amc.config import RML2016_CLASSES, ConfigError
from amc.data.io import DataError
from amc.runtime import (
    Engine,
    InputError,
    OnnxEngine,
    Prediction,
    TensorRTEngine,
    TorchEngine,
    check_classes,
    validate_iq,
)
from amc.runtime.onnx_backend import ort_providers
from tests.export.conftest import make_checkpoint, one_torch_thread  # noqa: F401 - autouse fixture

L = 128


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An untrained a4 checkpoint (in a run directory) and its fp32 ONNX export with max_batch 8."""
    import amc.export.parity
    from amc.export import export

    tmp = tmp_path_factory.mktemp("runtime")
    ckpt = make_checkpoint(tmp / "run" / "best.pt", "a4", dataset=str(tmp / "missing.h5"))
    old, amc.export.parity.PARITY_FRAMES = amc.export.parity.PARITY_FRAMES, 64
    try:
        onnx_path = export(ckpt, out=tmp / "m.onnx", max_batch=8, simplify=False).path
    finally:
        amc.export.parity.PARITY_FRAMES = old
    return {"run": ckpt.parent, "ckpt": ckpt, "onnx": onnx_path}


def frames(n: int, length: int = L, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 2, length)).astype(np.float32)


# -- validate_iq ------------------------------------------------------------------------------
def test_validate_accepts_and_converts() -> None:
    one = validate_iq(frames(1)[0], L)
    assert one.shape == (1, 2, L) and one.dtype == np.float32 and one.flags.c_contiguous
    x64 = frames(3).astype(np.float64)
    out = validate_iq(x64, L)
    assert out.dtype == np.float32 and np.array_equal(out, x64.astype(np.float32))
    assert validate_iq(frames(2).astype(np.float16), L).dtype == np.float32
    assert validate_iq(frames(2).tolist(), L).shape == (2, 2, L)


@pytest.mark.parametrize("bad,pattern", [
    (np.zeros(L, np.float32), r"shape \(128,\) \(rank 1\); expected float32 \(B, 2, 128\) or \(2, 128\)"),
    (np.zeros((1, 1, 2, L), np.float32), r"rank 4"),
    (np.zeros((4, 2, 64), np.float32), r"frames have 64 samples but this engine takes 128; expected .*\(B, 2, 128\)"),
    (np.zeros((4, 3, L), np.float32), r"axis 1 must hold the I and Q rows"),
    (np.zeros((4, L, 2), np.float32), r"looks like \(B, L, 2\): transpose"),
    (np.zeros((0, 2, L), np.float32), r"no frames \(batch 0"),
    (np.zeros((2, 2, L), np.complex64), r"complex IQ .* np.stack"),
    (np.zeros((2, 2, L), np.int16), r"integer IQ samples \(int16\) are refused"),
    (np.zeros((2, 2, L), np.uint8), r"127.5"),
    (np.zeros((2, 2, L), bool), r"boolean IQ input is refused"),
    (np.array([["a"] * L] * 2), r"text, not numbers"),
])
def test_validate_refuses(bad: np.ndarray, pattern: str) -> None:
    with pytest.raises(InputError, match=pattern):
        validate_iq(bad, L)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e300])
def test_validate_refuses_non_finite(value: float) -> None:
    x = frames(5).astype(np.float64)
    x[3, 1, 7] = value  # 1e300 overflows float32 to inf
    with pytest.raises(InputError, match=r"frame 3 \(of 5; 1 bad\) contains NaN or Inf"):
        validate_iq(x, L)


# -- engines ----------------------------------------------------------------------------------
def test_load_picks_backend_and_reads_metadata(artifacts: dict[str, Path]) -> None:
    torch_run, torch_pt, ort = (Engine.load(artifacts["run"]), Engine.load(artifacts["ckpt"]),
                                Engine.load(artifacts["onnx"], provider="cpu", threads=1))
    assert isinstance(torch_run, TorchEngine) and isinstance(torch_pt, TorchEngine) and isinstance(ort, OnnxEngine)
    assert (torch_run.backend, ort.backend) == ("torch", "onnxruntime")
    for e in (torch_run, ort):
        assert e.classes == RML2016_CLASSES and e.frame_length == L and e.precision == "fp32"
    assert torch_run.metadata["format"] == "torch" and torch_run.max_batch == 256
    assert ort.metadata["format"] == "onnx" and ort.max_batch == 8
    assert ort.providers == ["CPUExecutionProvider"]
    assert ort.session.get_session_options().intra_op_num_threads == 1
    assert "max_batch=8" in repr(ort)


def test_predict_matches_torch_and_splits_batches(artifacts: dict[str, Path]) -> None:
    ort, ref = Engine.load(artifacts["onnx"], provider="cpu"), Engine.load(artifacts["run"])
    x = frames(21)  # 3 chunks of <= 8 for ONNX Runtime
    p, q = ort.predict(x), ref.predict(x)
    assert isinstance(p, Prediction)
    assert p.index.dtype == np.int64 and p.index.shape == (21,) and len(p.label) == 21
    assert p.label == [RML2016_CLASSES[i] for i in p.index]
    for arr, shape in ((p.probs, (21, 11)), (p.logits, (21, 11)), (p.eta, (21,)), (p.snr_db, (21,))):
        assert arr.shape == shape and arr.dtype == np.float32
    np.testing.assert_allclose(p.logits, q.logits, atol=1e-4)
    np.testing.assert_array_equal(p.index, q.index)
    np.testing.assert_allclose(p.probs.sum(1), 1.0, atol=1e-5)
    assert ((p.eta > 0) & (p.eta < 1)).all()
    one_by_one = np.concatenate([ort.run(x[i:i + 1])["logits"] for i in range(21)])
    np.testing.assert_allclose(ort.run(x)["logits"], one_by_one, atol=1e-5)
    single = ort.predict(x[0])  # (2, L) -> batch of one
    assert single.index.shape == (1,) and single.index[0] == p.index[0]
    ort.warmup((1, 8, 20))


@pytest.mark.parametrize("kind", ["onnx", "run"])
def test_huge_and_tiny_finite_frames_classify_like_unit_frames(artifacts: dict[str, Path], kind: str) -> None:
    """The in-graph power normalisation cannot overflow: 1e19- and 1e-19-scaled frames (whose squares
    leave float32's range) get the answer of the same frames at scale 1; an all-zero frame stays finite."""
    engine = Engine.load(artifacts[kind], provider="cpu")
    x = frames(6, seed=11)
    ref = engine.predict(x)
    for scale in (1e19, 3e38 / np.abs(x).max(), 1e-19):
        got = engine.predict(x * np.float32(scale))
        assert np.array_equal(got.index, ref.index), scale
        np.testing.assert_allclose(got.probs, ref.probs, atol=1e-5)
    zero = engine.predict(np.zeros((1, 2, L), np.float32))
    assert np.isfinite(zero.probs).all() and np.isfinite(zero.logits).all()


def test_engine_refuses_bad_input(artifacts: dict[str, Path]) -> None:
    engine = Engine.load(artifacts["onnx"])
    with pytest.raises(InputError, match="expected float32 \\(B, 2, 128\\)"):
        engine.predict(frames(2, length=1024))
    bad = frames(2)
    bad[1, 0, 0] = np.nan
    with pytest.raises(InputError, match="frame 1"):
        engine.predict(bad)
    with pytest.raises(InputError, match="batch 0"):
        engine.predict(np.zeros((0, 2, L), np.float32))


def test_check_classes(artifacts: dict[str, Path], small_h5) -> None:
    engine = Engine.load(artifacts["onnx"])
    mapping = check_classes(engine, ["QPSK", "BPSK", "8PSK"])
    assert mapping.shape == (11,) and mapping[RML2016_CLASSES.index("QPSK")] == 0
    assert mapping[RML2016_CLASSES.index("8PSK")] == 2 and mapping[RML2016_CLASSES.index("WBFM")] == -1
    path, *_, classes = small_h5  # a dataset with classes A, B, C
    with pytest.raises(InputError, match=r"does not know class\(es\) 'A', 'B', 'C' of the dataset"):
        check_classes(engine, classes)
    assert list(check_classes(["x", "y"], ["y"])) == [-1, 0]


def test_provider_choice(artifacts: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="did you mean 'cpu'"):
        Engine.load(artifacts["onnx"], provider="cpuu")
    assert ort_providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert ort_providers("auto", ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert ort_providers("cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        "CUDAExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(ConfigError, match="provider 'cuda' is not available"):
        ort_providers("cuda", ["CPUExecutionProvider"])
    with pytest.raises(ConfigError, match="threads must be >= 1"):
        Engine.load(artifacts["onnx"], threads=0)
    with pytest.raises(ConfigError, match="does not apply to a PyTorch checkpoint"):
        Engine.load(artifacts["run"], provider="tensorrt")


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or directory"):
        Engine.load(tmp_path / "nothing.onnx")
    (tmp_path / "model.tflite").write_bytes(b"x")
    with pytest.raises(DataError, match="unknown model suffix '.tflite'"):
        Engine.load(tmp_path / "model.tflite")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="bad.pt"):
        Engine.load(tmp_path / "bad.pt")
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(DataError, match="no Triton model"):
        Engine.load(empty)


def _fake_engine(path: Path, meta: dict, plan: bytes = b"PLAN") -> Path:
    header = json.dumps(meta).encode()
    path.write_bytes(struct.pack("<I", len(header)) + header + plan)
    return path


def test_engine_file_header(tmp_path: Path) -> None:
    from amc.runtime.artifact import read_engine, read_metadata

    meta = {"classes": ["A", "B"], "frame_length": 64, "precision": "fp16", "max_batch": 32}
    path = _fake_engine(tmp_path / "m.engine", meta)
    assert read_engine(path) == (meta, b"PLAN") and read_metadata(path) == meta
    (tmp_path / "raw.engine").write_bytes(b"\xff\xff\xff\x7f" + b"\x00" * 64)  # a bare plan named .engine
    with pytest.raises(DataError, match="no amc header"):
        read_metadata(tmp_path / "raw.engine")
    (tmp_path / "short.engine").write_bytes(b"\x01")
    with pytest.raises(DataError, match="truncated"):
        read_metadata(tmp_path / "short.engine")
    (tmp_path / "bare.plan").write_bytes(b"PLAN")
    with pytest.raises(DataError, match="bare.json is missing"):
        read_metadata(tmp_path / "bare.plan")


def _trt_reason() -> str:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "the tensorrt package is not installed"
    import torch

    return "" if torch.cuda.is_available() else "no CUDA device"


TRT_REASON = _trt_reason()


@pytest.mark.skipif(not TRT_REASON, reason="TensorRT and a GPU are present")
def test_tensorrt_engine_needs_gpu(tmp_path: Path) -> None:
    path = _fake_engine(tmp_path / "m.engine", {"classes": ["A"], "frame_length": 64})
    with pytest.raises(ConfigError, match="TensorRT needs an NVIDIA GPU and the tensorrt package"):
        Engine.load(path)
    with pytest.raises(ConfigError, match="runs on an NVIDIA GPU only"):
        TensorRTEngine.open(path, "cpu", None)


@pytest.mark.gpu
@pytest.mark.skipif(bool(TRT_REASON), reason=f"TensorRT runtime test needs a GPU: {TRT_REASON}")
def test_tensorrt_engine_runs(artifacts: dict[str, Path], tmp_path: Path) -> None:
    from amc.export import export

    path = export(artifacts["ckpt"], fmt="tensorrt", out=tmp_path / "m.engine", max_batch=8).path
    engine, ref = Engine.load(path), Engine.load(artifacts["run"], provider="cpu")
    x = frames(19)
    np.testing.assert_allclose(engine.predict(x).logits, ref.predict(x).logits, atol=1e-3)
    engine.warmup((1, 8))


@pytest.mark.gpu
def test_onnxruntime_cuda_provider(artifacts: dict[str, Path]) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime has no CUDA provider here (pip install 'amc[gpu]' on a GPU machine)")
    engine = Engine.load(artifacts["onnx"], provider="cuda")
    assert engine.providers[0] == "CUDAExecutionProvider"
    ref = Engine.load(artifacts["onnx"], provider="cpu")
    np.testing.assert_allclose(engine.run(frames(4))["logits"], ref.run(frames(4))["logits"], atol=1e-3)


def test_parity_probe_checks_an_engine_on_its_stored_frames() -> None:
    """The probe an ahead-of-time TensorRT-RTX engine carries: PyTorch's logits reproduced pass; a
    permuted class order, a drift beyond fp32's |Δlogit| bound or NaN fail, each with its numbers."""
    from amc.runtime.probe import check_probe, make_probe, probe_frames

    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 2, 16)).astype(np.float32)
    logits = (4 * rng.standard_normal((32, 11))).astype(np.float32)
    fp32 = {"max_abs_logit": 1e-3, "min_agreement": 0.999, "tie_margin": 1e-3, "max_mean_tv": 1e-4}
    probe = make_probe(x, logits, fp32, "val frames")
    np.testing.assert_array_equal(probe_frames(probe), x)
    ok, line = check_probe(probe, logits + 1e-4)
    assert ok and line.startswith("probe parity vs PyTorch on 32 val frames") and "-> pass" in line
    ok, line = check_probe(probe, logits[:, ::-1])
    assert not ok and "-> FAIL" in line
    ok, line = check_probe(probe, logits + 0.01)  # same argmax, but beyond fp32's bound
    assert not ok and "max |Δlogit| 0.01" in line
    bad = logits.copy()
    bad[3, 2] = np.nan
    assert check_probe(probe, bad) == (False, "probe: engine logits (32, 11) (finite: False) vs PyTorch (32, 11)")
    fp16 = {**fp32, "max_abs_logit": None, "min_agreement": 0.99, "tie_margin": 0.05, "max_mean_tv": 0.01}
    assert check_probe(make_probe(x, logits, fp16, "val frames"), logits + 0.01)[0]
