"""ONNX Runtime GPU providers without a GPU: the options each provider gets per precision, and the check of
the provider that actually runs. onnxruntime-gpu is not installed here, so ``InferenceSession`` is
replaced by a stand-in that records what amc asks for, reports the providers a real GPU session would
report (or a silent CPU fallback), and computes with a real CPU session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

import amc.runtime.onnx_backend as ob
from amc.config import ConfigError
from amc.runtime import Engine, OnnxEngine
from tests.export.conftest import make_checkpoint, one_torch_thread  # noqa: F401 - autouse fixture

TRT, CUDA, CPU = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"
REAL_SESSION = ort.InferenceSession


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """fp32 and int8 exports of one untrained a4 checkpoint, max_batch 32, L = 128."""
    import amc.export.parity
    from amc.export import export

    tmp = tmp_path_factory.mktemp("ortgpu")
    ckpt = make_checkpoint(tmp / "run" / "best.pt", "a4", dataset=str(tmp / "missing.h5"))
    old, amc.export.parity.PARITY_FRAMES = amc.export.parity.PARITY_FRAMES, 64
    try:
        return {p: export(ckpt, precision=p, out=tmp / f"{p}.onnx", max_batch=32, simplify=False,
                          **({"calib_frames": 64} if p == "int8" else {})).path for p in ("fp32", "fp16", "int8")}
    finally:
        amc.export.parity.PARITY_FRAMES = old


class FakeGpuSession:
    """Records the providers (with options) it was asked for; reports `active`; runs on the CPU."""

    calls: list[list[tuple[str, dict[str, Any]]]] = []
    active: list[str] = [TRT, CUDA, CPU]
    fail: str = ""

    def __init__(self, path: str, opts: Any = None, providers: Any = None) -> None:
        type(self).calls.append(list(providers))
        if self.fail:
            raise RuntimeError(self.fail)
        self._real = REAL_SESSION(path, opts, providers=[CPU])

    def get_providers(self) -> list[str]:
        return list(self.active)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.fixture
def gpu_ort(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> type[FakeGpuSession]:
    monkeypatch.setattr(ort, "get_available_providers", lambda: [TRT, CUDA, CPU])
    monkeypatch.setattr(ort, "InferenceSession", FakeGpuSession)
    monkeypatch.setenv("AMC_CACHE_DIR", str(tmp_path / "cache"))
    FakeGpuSession.calls, FakeGpuSession.active, FakeGpuSession.fail = [], [TRT, CUDA, CPU], ""
    return FakeGpuSession


def test_options_per_precision(tmp_path: Path) -> None:
    opts = {p: ob.provider_options(TRT, p, 512, 1024, cache=tmp_path) for p in ("fp32", "fp16", "int8")}
    for p, o in opts.items():
        assert (o["trt_profile_min_shapes"], o["trt_profile_opt_shapes"], o["trt_profile_max_shapes"]) == (
            "iq:1x2x1024", "iq:64x2x1024", "iq:512x2x1024"), p
        assert o["trt_engine_cache_enable"] is True and o["trt_engine_cache_path"] == str(tmp_path)
        assert o["trt_timing_cache_enable"] is True and o["device_id"] == 0
        assert o["trt_fp16_enable"] is False  # the graph carries its precision
    assert [opts[p]["trt_int8_enable"] for p in ("fp32", "fp16", "int8")] == [False, False, True]
    small = ob.provider_options(TRT, "fp32", 8, 128, device_id=1, cache=tmp_path)
    assert small["trt_profile_opt_shapes"] == "iq:8x2x128" and small["device_id"] == 1
    assert ob.provider_options(CUDA, "fp32", 8, 128) == {"device_id": 0, "use_tf32": 0}
    assert ob.provider_options(CPU, "fp32", 8, 128) == {}


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_session_gets_the_options_of_its_artifact(gpu_ort: type[FakeGpuSession], onnx_files: dict[str, Path],
                                                  tmp_path: Path, precision: str) -> None:
    engine = Engine.load(onnx_files[precision], provider="tensorrt")
    assert isinstance(engine, OnnxEngine) and engine.providers[0] == TRT and engine.notes == []
    (providers,) = gpu_ort.calls
    assert [name for name, _ in providers] == [TRT, CUDA, CPU]
    trt = dict(providers)[TRT]
    assert trt["trt_profile_max_shapes"] == "iq:32x2x128" and trt["trt_profile_opt_shapes"] == "iq:32x2x128"
    assert trt["trt_int8_enable"] is (precision == "int8") and trt["trt_fp16_enable"] is False
    assert Path(trt["trt_engine_cache_path"]).is_dir() and str(tmp_path / "cache") in trt["trt_engine_cache_path"]
    assert dict(providers)[CUDA] == {"device_id": 0, "use_tf32": 0}
    x = np.random.default_rng(0).standard_normal((3, 2, 128)).astype(np.float32)
    assert engine.run(x)["logits"].shape == (3, 11)


def test_fallback_is_an_error_naming_the_library(gpu_ort: type[FakeGpuSession], onnx_files: dict[str, Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ob, "cuda_major", lambda: "99")  # a CUDA this machine cannot have, GPU or not
    gpu_ort.active = [CPU]  # what ORT does when libnvinfer / libcudnn cannot be loaded
    with pytest.raises(ConfigError, match=r"provider 'tensorrt' did not start: ONNX Runtime fell back to "
                                          r"CPUExecutionProvider \(.*libnvinfer\.so\.10.*cannot be loaded"):
        Engine.load(onnx_files["fp32"], provider="tensorrt")
    gpu_ort.active = [CPU]
    with pytest.raises(ConfigError, match=r"provider 'cuda' did not start: .*libcudart\.so\.99"):
        Engine.load(onnx_files["fp32"], provider="cuda")
    assert [name for name, _ in gpu_ort.calls[-1]] == [CUDA, CPU]


def test_auto_reports_what_it_got(gpu_ort: type[FakeGpuSession], onnx_files: dict[str, Path]) -> None:
    gpu_ort.active = [CUDA, CPU]
    engine = Engine.load(onnx_files["fp32"], provider="auto")
    assert engine.providers[0] == CUDA
    (note,) = engine.notes
    assert note.startswith("provider auto: TensorrtExecutionProvider did not start (") and "running on CUDA" in note
    assert "libnvinfer.so.10" in note


def test_gpu_provider_that_cannot_start_is_named(gpu_ort: type[FakeGpuSession], onnx_files: dict[str, Path]) -> None:
    gpu_ort.fail = "[ONNXRuntimeError] : 1 : FAIL : TensorRT EP failed to create engine from network"
    with pytest.raises(ConfigError, match="could not start TensorrtExecutionProvider .*TensorRT EP failed"):
        Engine.load(onnx_files["fp32"], provider="tensorrt")


def test_library_names_follow_the_cuda_major() -> None:
    assert ob.libraries(TRT, "12")[:2] == ["libnvinfer.so.10", "libnvonnxparser.so.10"]
    assert "libcudart.so.13" in ob.libraries(CUDA, "13") and "libcudnn.so.9" in ob.libraries(CUDA, "13")
    assert ob.missing_libraries(CPU) == []
