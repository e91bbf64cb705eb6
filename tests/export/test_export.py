"""amc.export: ONNX round trips for every preset and CPU precision, metadata, parity, refusals, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from amc.cli import app
from amc.data.io import DataError
from amc.export import ExportError, export
from amc.export.parity import compare
from amc.runtime import Engine
from amc.runtime.artifact import read_metadata
from amc.train.checkpoint import load_checkpoint, sha256_file
from tests.export.conftest import PRESETS

# Engine(onnx) vs PyTorch on the same frames: logit tolerance per precision (the models' logits span ~+-10).
LOGIT_ATOL = {"fp32": 1e-4, "fp16": 0.05, "int8": 1.0, "int8-dynamic": 1.0}


def frames(n: int = 64, length: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (3.0 * rng.standard_normal((n, 2, length))).astype(np.float32)


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
@pytest.mark.parametrize("preset_name", PRESETS)
def test_round_trip(tiny_checkpoints: dict[str, Path], tmp_path: Path, preset_name: str, precision: str) -> None:
    ckpt = tiny_checkpoints[preset_name]
    extra = {"calib_frames": 128} if precision == "int8" else {}
    r = export(ckpt, precision=precision, out=tmp_path / "m.onnx", simplify=False, **extra)
    assert r.path == tmp_path / "m.onnx" and r.path.is_file()
    # agreement judges a pass; where near ties leave only accuracy on these few frames the honest answer
    # may be inconclusive (kept, with a note), never FAIL
    assert r.parity["frames"] > 0 and r.parity["verdict"] in (
        ("pass",) if r.parity["judged_on"] == "agreement" else ("pass", "inconclusive")), r.parity
    assert any("synthetic frames" in n for n in r.notes), r.notes  # the checkpoint's dataset is missing
    assert read_metadata(r.path) == r.metadata
    engine, torch_engine = Engine.load(r.path, provider="cpu"), Engine.load(ckpt)
    assert (engine.backend, engine.precision, torch_engine.backend) == ("onnxruntime", precision, "torch")
    x = frames(32)
    got, ref = engine.predict(x), torch_engine.run(x)
    np.testing.assert_allclose(got.logits, ref["logits"], atol=LOGIT_ATOL[precision], rtol=0)
    assert got.probs.shape == (32, 11) and got.eta.shape == (32,) and got.snr_db.shape == (32,)
    # the export's own parity criterion holds on these (random) frames too; arbitrary labels let the gate
    # fall back to accuracy where near ties are too many for agreement to judge
    labels = np.random.default_rng(1).integers(0, 11, 32)
    p = compare(ref, {"logits": got.logits, "probs": got.probs}, precision, "random frames", labels, np.zeros(32))
    assert p["judged_on"] == ("agreement" if p["near_tie_share"] <= 0.2 else "accuracy")
    assert p["passed"] if p["judged_on"] == "agreement" else p["verdict"] in ("pass", "inconclusive"), p
    if precision == "fp32":
        np.testing.assert_array_equal(got.index, ref["logits"].argmax(1))
        np.testing.assert_allclose(got.eta, ref["eta"], atol=1e-5)
        np.testing.assert_allclose(got.snr_db, ref["snr_db"], atol=1e-3)


def test_int8_dynamic_and_quantization_record(tiny_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    r = export(tiny_checkpoints["a4"], precision="int8-dynamic", out=tmp_path / "d.onnx", simplify=False)
    q = r.metadata["quantization"]
    assert q["mode"] == "dynamic" and "LSTM" not in q["float_ops"] and q["quantized_ops"]
    ops = {n.op_type for n in onnx.load(str(r.path)).graph.node}
    assert "DynamicQuantizeLSTM" in ops
    s = export(tiny_checkpoints["a4"], precision="int8", out=tmp_path / "s.onnx", simplify=False, calib_frames=64)
    q = s.metadata["quantization"]
    assert q["mode"] == "static QDQ" and q["float_ops"] == ["Gemm", "LSTM"] and q["calib_frames"] == 64
    assert "/model/head/head.0/Gemm" in q["float_nodes"]  # fed by a Concat of differently scaled features
    assert "Conv" in q["quantized_ops"] and "LSTM" in " ".join(s.notes)
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(str(s.path)).graph.node)
    zps = {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load(str(s.path)).graph.initializer
           if i.name.endswith("_zero_point")}
    assert zps and all(not np.any(z) for z in zps.values())  # symmetric: every zero point is 0


def test_trained_run_metadata_and_parity(trained_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "best.onnx"
    r = export(trained_run, out=out)
    ckpt = load_checkpoint(trained_run / "best.pt")
    meta = read_metadata(out)
    assert meta == r.metadata
    assert meta["classes"] == ckpt["classes"] and meta["frame_length"] == 128
    assert meta["checkpoint_sha256"] == sha256_file(trained_run / "best.pt")
    assert meta["split"] == ckpt["split"] and meta["preset"] == "a4"
    assert (out.parent / meta["dataset"]).resolve() == Path(ckpt["dataset"]).resolve()  # relative to the model
    assert meta["train_metrics"]["val_acc"] == ckpt["metrics"]["val_acc"]
    assert set(meta["train_metrics"]["per_snr"]) == {"-10", "0", "10", "20"}
    assert set(meta["train_metrics"]["bands"]) == {"low", "mid", "high"}
    assert meta["bands"]["high"][1] == float("inf") and meta["snr_grid"] == [-10.0, 0.0, 10.0, 20.0]
    assert meta["outputs"] == ["logits", "probs", "eta", "snr_db"] and meta["max_batch"] == 256
    assert {"amc_version", "format", "precision", "normalisation", "model_config", "created"} <= set(meta)
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(props["classes"]) == ckpt["classes"] and props["frame_length"] == "128"
    # parity ran on the run's own validation frames (88 of them; the tests cap parity at 64 frames)
    assert r.parity["passed"] and r.parity["source"].startswith("64 val split frames of") and r.parity["frames"] == 64
    assert r.parity["max_abs_logit"] <= 1e-3 and r.parity["agreement"] == 1.0
    assert any("onnxslim" in n for n in r.notes)
    proto = onnx.load(str(out))
    assert proto.graph.input[0].name == "iq"
    assert all(o.type.tensor_type.shape.dim[0].dim_param == "batch" for o in proto.graph.output)


def test_data_option_and_synthetic_fallback(trained_run: Path, tmp_path: Path) -> None:
    r = export(trained_run, out=tmp_path / "a.onnx", data=trained_run.parent / "d.h5", simplify=False)
    assert "val split" in r.parity["source"]
    # a --data the user named but mistyped is an error, never a silent switch to synthetic frames
    with pytest.raises(ExportError, match=r"--data .*nope\.h5: .*no such file"):
        export(trained_run, out=tmp_path / "b.onnx", data=tmp_path / "nope.h5", simplify=False)
    assert not (tmp_path / "b.onnx").exists()


def test_synthetic_fallback_when_the_run_dataset_is_gone(tiny_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    r = export(tiny_checkpoints["cldnn"], out=tmp_path / "c.onnx", simplify=False)
    assert "synthetic" in r.parity["source"] and any("missing.h5" in n for n in r.notes)


def _perturb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the exporter's ONNX graph differ from the model: scale the classifier's last Gemm."""
    import amc.export.onnx as onnx_mod

    real = onnx_mod.torch_to_onnx

    def broken(*args, **kwargs):
        proto = real(*args, **kwargs)
        gemm = [n for n in proto.graph.node if n.op_type == "Gemm"][-1]
        init = next(i for i in proto.graph.initializer if i.name == gemm.input[1])
        w = onnx.numpy_helper.to_array(init)
        init.CopyFrom(onnx.numpy_helper.from_array(-1.7 * w, init.name))
        return proto

    monkeypatch.setattr(onnx_mod, "torch_to_onnx", broken)


def test_parity_refuses_broken_artifact(tiny_checkpoints: dict[str, Path], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt = tiny_checkpoints["a4"]
    good = export(ckpt, out=tmp_path / "m.onnx", simplify=False).path
    before = sha256_file(good)
    _perturb(monkeypatch)
    with pytest.raises(ExportError, match=r"m\.onnx: parity vs PyTorch .* FAIL .*--force"):
        export(ckpt, out=tmp_path / "m.onnx", simplify=False, overwrite=True)
    assert sha256_file(good) == before  # the earlier good artifact is untouched
    with pytest.raises(ExportError, match="FAIL"):
        export(ckpt, out=tmp_path / "new.onnx", simplify=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # nothing kept, no staging left over
    r = export(ckpt, out=tmp_path / "new.onnx", simplify=False, force=True)
    assert r.path.is_file() and not r.parity["passed"] and not read_metadata(r.path)["parity"]["passed"]
    assert any("FAILED" in n for n in r.notes)


def test_corrupted_and_foreign_onnx(tiny_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    path = export(tiny_checkpoints["cldnn"], out=tmp_path / "m.onnx", simplify=False).path
    data = path.read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[: len(data) // 3])
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\xff not an onnx file" * 50)
    for bad in (truncated, garbage):
        with pytest.raises(DataError, match=rf"{bad.name}: not a readable ONNX file"):
            read_metadata(bad)
        with pytest.raises(DataError, match=bad.name):
            Engine.load(bad)
    foreign = onnx.load(str(path))
    del foreign.metadata_props[:]
    onnx.save(foreign, str(tmp_path / "foreign.onnx"))
    with pytest.raises(DataError, match="without amc metadata"):
        Engine.load(tmp_path / "foreign.onnx")
    with pytest.raises(DataError, match="no such"):
        read_metadata(tmp_path / "missing.onnx")


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(plain=True), "--plain does not apply to format 'onnx'"),
    (dict(fmt="triton", plain=True), "--plain does not apply to format 'triton'"),
    (dict(calib_frames=100), "--calib-frames applies to static int8 only"),
    (dict(precision="int8-dynamic", calib_frames=100), "--calib-frames applies to static int8 only"),
    (dict(fmt="tensorrt", precision="int8-dynamic"), "format 'tensorrt' does not support precision 'int8-dynamic'"),
    (dict(fmt="onxx"), "unknown export format 'onxx' \\(did you mean 'onnx'\\?\\)"),
    (dict(fmt="trition"), "did you mean 'triton'"),
    (dict(precision="fp61"), "unknown precision 'fp61' \\(did you mean 'fp16'\\?\\)"),
    (dict(precision="int"), "did you mean 'int8'"),
    (dict(opset=11), "--opset 11 is out of range"),
    (dict(max_batch=0), "--max-batch"),
    (dict(out="model.engine"), "writes a '.onnx' file"),
])
def test_refusals(tiny_checkpoints: dict[str, Path], kwargs: dict, pattern: str) -> None:
    with pytest.raises(ExportError, match=pattern):
        export(tiny_checkpoints["cldnn"], **kwargs)


def test_missing_checkpoint_is_an_export_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no such checkpoint"):
        export(tmp_path / "nowhere")


def test_with_denoised_output(tiny_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    r = export(tiny_checkpoints["a3"], out=tmp_path / "d.onnx", with_denoised=True, simplify=False)
    assert r.metadata["outputs"][-1] == "denoised"
    out = Engine.load(r.path).run(frames(5))
    ref = Engine.load(tiny_checkpoints["a3"]).run(frames(5))
    assert out["denoised"].shape == (5, 2, 128) and "denoised" not in ref
    torch_den = Engine.load(r.path).metadata["outputs"]
    assert torch_den == ["logits", "probs", "eta", "snr_db", "denoised"]


def test_default_output_names(tiny_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    ckpt = tmp_path / "run" / "best.pt"
    ckpt.parent.mkdir()
    shutil.copyfile(tiny_checkpoints["cldnn"], ckpt)
    assert export(ckpt.parent, simplify=False).path == ckpt.parent / "best.onnx"
    assert export(ckpt, precision="fp16", simplify=False).path == ckpt.parent / "best.fp16.onnx"
    assert oct(ckpt.with_name("best.onnx").stat().st_mode & 0o044) == oct(0o044)  # readable by a server


def test_cli_export(trained_run: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["export", str(trained_run), "--precision", "fp16", "--out", str(tmp_path / "m.onnx"),
                              "--no-simplify"])
    assert res.exit_code == 0, res.output
    assert f"wrote {tmp_path / 'm.onnx'} (onnx, fp16)" in res.output
    assert "parity vs PyTorch on 64 val split frames" in res.output and "-> pass" in res.output
    assert "note: fp16 body" in res.output
    res = runner.invoke(app, ["export", str(trained_run), "--plain"])
    assert res.exit_code == 2 and "--plain does not apply to format 'onnx'" in res.output
    res = runner.invoke(app, ["export", str(trained_run), "--format", "onxx"])
    assert res.exit_code == 2 and "'onxx' is not one of 'onnx', 'tensorrt'" in res.output
    res = runner.invoke(app, ["export", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "no such checkpoint" in res.output


def _has_gpu_trt() -> str:
    """'' when TensorRT and a CUDA device are present, else the reason to skip."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "the tensorrt package is not installed"
    import torch

    return "" if torch.cuda.is_available() else "no CUDA device"


NO_TRT = _has_gpu_trt()


@pytest.mark.skipif(not NO_TRT, reason="TensorRT and a GPU are present (the GPU tests run instead)")
def test_tensorrt_refused_without_gpu(tiny_checkpoints: dict[str, Path]) -> None:
    with pytest.raises(ExportError, match=r"TensorRT needs an NVIDIA GPU and the tensorrt package, from NVIDIA's "
                                          r"index: pip install --extra-index-url https://pypi.nvidia.com"):
        export(tiny_checkpoints["a4"], fmt="tensorrt")


@pytest.mark.gpu
@pytest.mark.skipif(bool(NO_TRT), reason=f"TensorRT export needs an NVIDIA GPU: {NO_TRT}")
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_tensorrt_engine_round_trip(trained_run: Path, tmp_path: Path, precision: str) -> None:
    r = export(trained_run, fmt="tensorrt", precision=precision, out=tmp_path / "m.engine", max_batch=64)
    assert r.parity["passed"] and read_metadata(r.path) == r.metadata
    assert r.metadata["tensorrt"]["profile"] == {"min": 1, "opt": 64, "max": 64}
    engine, ref = Engine.load(r.path), Engine.load(trained_run)
    assert engine.backend == "tensorrt" and engine.max_batch == 64
    x = frames(100)  # > max_batch: split into two calls
    np.testing.assert_allclose(engine.predict(x).logits, ref.predict(x).logits, atol=LOGIT_ATOL[precision])


@pytest.mark.gpu
@pytest.mark.skipif(bool(NO_TRT), reason=f"TensorRT export needs an NVIDIA GPU: {NO_TRT}")
def test_tensorrt_plain_plan(trained_run: Path, tmp_path: Path) -> None:
    r = export(trained_run, fmt="tensorrt", precision="fp16", out=tmp_path / "m.plan", plain=True)
    assert r.path.read_bytes()[:4] != b"{" and (tmp_path / "m.json").is_file()
    assert read_metadata(r.path) == r.metadata
    assert Engine.load(r.path).predict(frames(3)).logits.shape == (3, 11)
