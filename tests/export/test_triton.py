"""Triton model repositories: layout, config.pbtxt parsed by Triton's own protobuf, labels, refusals."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from amc.config import RML2016_CLASSES
from amc.export import ExportError, export
from amc.export.triton import config_pbtxt, trt_accelerator
from amc.runtime import Engine
from amc.runtime.artifact import read_metadata
from tests.export.test_export import NO_TRT


def parse(text: str):
    """config.pbtxt through tritonclient's ModelConfig protobuf (skips when tritonclient is absent)."""
    pb = pytest.importorskip("tritonclient.grpc.model_config_pb2",
                             reason="tritonclient not installed (pip install 'amc[triton]')")
    from google.protobuf import text_format

    return text_format.Parse(text, pb.ModelConfig())


def test_repository_layout_and_config(trained_run: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    r = export(trained_run, fmt="triton", out=repo, max_batch=128, simplify=False)
    assert r.path == repo and r.parity["passed"]
    assert sorted(str(p.relative_to(repo)) for p in repo.rglob("*")) == [
        "amc", "amc/1", "amc/1/model.onnx", "amc/config.pbtxt", "amc/labels.txt"]
    assert (repo / "amc/labels.txt").read_text().splitlines() == RML2016_CLASSES
    assert read_metadata(repo) == r.metadata == read_metadata(repo / "amc/1/model.onnx")
    cfg = parse((repo / "amc/config.pbtxt").read_text())
    assert cfg.name == "amc" and cfg.platform == "onnxruntime_onnx" and cfg.max_batch_size == 128
    (iq,) = cfg.input
    assert (iq.name, list(iq.dims), iq.data_type) == ("iq", [2, 128], 11)  # 11 = TYPE_FP32
    outs = {o.name: o for o in cfg.output}
    assert list(outs) == ["logits", "probs", "eta", "snr_db"]
    assert list(outs["logits"].dims) == [11] and list(outs["probs"].dims) == [11]
    assert outs["probs"].label_filename == "labels.txt"
    for name in ("eta", "snr_db"):  # (B,) in the graph: dims [1] reshaped to []
        assert list(outs[name].dims) == [1] and outs[name].HasField("reshape")
        assert list(outs[name].reshape.shape) == []
    assert list(cfg.dynamic_batching.preferred_batch_size) == [64, 128]
    assert cfg.dynamic_batching.max_queue_delay_microseconds > 0
    assert cfg.instance_group[0].count == 1
    assert not cfg.optimization.execution_accelerators.gpu_execution_accelerator
    engine = Engine.load(repo)  # the runtime serves the repository's model too
    out = engine.run(np.random.default_rng(0).standard_normal((3, 2, 128)).astype(np.float32))
    assert out["eta"].shape == (3,) and out["probs"].shape == (3, 11)


def test_fp16_repository_enables_tensorrt_accelerator(trained_run: Path, tmp_path: Path) -> None:
    r = export(trained_run, fmt="triton", precision="fp16", out=tmp_path / "repo16", simplify=False, max_batch=128)
    cfg = parse((r.path / "amc/config.pbtxt").read_text())
    (acc,) = cfg.optimization.execution_accelerators.gpu_execution_accelerator
    assert acc.name == "tensorrt"
    # the graph is already float16: precision_mode FP16 (trt_fp16_enable) would hand TensorRT the float32
    # regions too, so the accelerator is left at its default and follows the graph's types
    assert "precision_mode" not in acc.parameters
    assert (acc.parameters["trt_profile_min_shapes"], acc.parameters["trt_profile_opt_shapes"],
            acc.parameters["trt_profile_max_shapes"]) == ("iq:1x2x128", "iq:64x2x128", "iq:128x2x128")
    assert acc.parameters["trt_engine_cache_enable"] == "1" and acc.parameters["trt_engine_cache_path"]
    assert r.metadata["precision"] == "fp16" and r.metadata["format"] == "triton"


def test_int8_repository_asks_for_int8() -> None:
    meta = {"classes": ["A", "B"], "frame_length": 1024}
    (acc,) = parse(config_pbtxt(meta, "onnxruntime_onnx", 8, accelerator=trt_accelerator(meta, "int8", 8))
                   ).optimization.execution_accelerators.gpu_execution_accelerator
    assert acc.parameters["precision_mode"] == "INT8" and acc.parameters["trt_profile_max_shapes"] == "iq:8x2x1024"
    assert trt_accelerator(meta, "fp32", 8) is None and trt_accelerator(meta, "int8-dynamic", 8) is None


def test_config_text_variants() -> None:
    meta = {"classes": ["A", "B", "C"], "frame_length": 1024,
            "outputs": ["logits", "probs", "eta", "snr_db", "denoised"]}
    cfg = parse(config_pbtxt(meta, "tensorrt_plan", 8, name="radio", preferred=[4, 8], queue_delay_us=500,
                             instances=2))
    assert (cfg.name, cfg.platform, cfg.max_batch_size) == ("radio", "tensorrt_plan", 8)
    assert list(cfg.input[0].dims) == [2, 1024]
    outs = {o.name: list(o.dims) for o in cfg.output}
    assert outs == {"logits": [3], "probs": [3], "eta": [1], "snr_db": [1], "denoised": [2, 1024]}
    assert list(cfg.dynamic_batching.preferred_batch_size) == [4, 8] and cfg.instance_group[0].count == 2
    # the TensorRT accelerator is an ONNX Runtime option only
    text = config_pbtxt(meta, "tensorrt_plan", 8, accelerator=trt_accelerator(meta, "fp16", 8))
    assert "execution_accelerators" not in text and re.search(r"max_batch_size: 8\n", text)


def test_existing_directories(trained_run: Path, tmp_path: Path) -> None:
    other = tmp_path / "photos"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not a Triton model repository"):
        export(trained_run, fmt="triton", out=other, simplify=False)
    assert (other / "keep.txt").read_text() == "mine" and [p.name for p in tmp_path.iterdir()] == ["photos"]
    repo = tmp_path / "repo"
    export(trained_run, fmt="triton", out=repo, simplify=False)
    with pytest.raises(ExportError, match="exists; pass --overwrite"):
        export(trained_run, fmt="triton", out=repo, simplify=False, with_denoised=True)
    r = export(trained_run, fmt="triton", out=repo, simplify=False, with_denoised=True, overwrite=True)
    cfg = parse((repo / "amc/config.pbtxt").read_text())
    assert [o.name for o in cfg.output][-1] == "denoised" and r.metadata["outputs"][-1] == "denoised"
    with pytest.raises(ExportError, match="writes a model repository directory"):
        export(trained_run, fmt="triton", out=tmp_path / "repo.onnx")


@pytest.mark.skipif(not NO_TRT, reason="TensorRT and a GPU are present (the GPU test runs instead)")
def test_triton_tensorrt_refused_without_gpu(trained_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="TensorRT needs an NVIDIA GPU"):
        export(trained_run, fmt="triton-tensorrt", out=tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


@pytest.mark.gpu
@pytest.mark.skipif(bool(NO_TRT), reason=f"TensorRT needs an NVIDIA GPU: {NO_TRT}")
def test_triton_tensorrt_repository(trained_run: Path, tmp_path: Path) -> None:
    r = export(trained_run, fmt="triton-tensorrt", precision="fp16", out=tmp_path / "repo", max_batch=64)
    assert (r.path / "amc/1/model.plan").is_file() and (r.path / "amc/1/model.json").is_file()
    cfg = parse((r.path / "amc/config.pbtxt").read_text())
    assert cfg.platform == "tensorrt_plan" and cfg.max_batch_size == 64
    assert read_metadata(r.path) == r.metadata and Engine.load(r.path).backend == "tensorrt"
