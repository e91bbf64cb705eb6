"""ONNX Runtime backend: an .onnx file with amc metadata, on the TensorRT, CUDA or CPU provider.

GPU providers get options built from the artifact (``provider_options``):

* TensorRT EP: one optimisation profile over the batch axis (min 1, opt min(64, max_batch), max
  max_batch: the engine is not rebuilt whenever a batch grows), an engine and timing cache under
  ``cache_dir()`` (not rebuilt on every load), ``device_id`` and the precision flags. The graph carries
  its precision: fp16 exports are float16 with float32 fragile regions, so ``trt_fp16_enable`` stays off
  (it would let a weakly typed TensorRT build run those regions in fp16 too); int8 (QDQ) sets
  ``trt_int8_enable``, which a weakly typed TensorRT needs to take Q/DQ layers.
* CUDA EP: ``device_id`` and ``use_tf32`` off (fp32 means fp32, as in ``amc.models.numerics``).

ONNX Runtime falls back to the CPU silently when a GPU provider cannot start (a missing CUDA, cuDNN or
TensorRT library), so the session's active provider is checked after creation: with provider
``tensorrt`` or ``cuda`` a fallback is an error naming the library that did not load; with ``auto``
the engine keeps what it got and says so in ``notes``.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import build_and_package_info

from amc.config import ConfigError
from amc.errors import DataError
from amc.runtime.artifact import load_onnx, onnx_metadata
from amc.runtime.base import Engine, float_outputs

ORT_PROVIDERS = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider",
                 "cpu": "CPUExecutionProvider"}
TRT_OPT_BATCH = 64  # the profile's opt batch (capped at max_batch), as amc's own TensorRT engines
TRT_WORKSPACE = 4 << 30
INSTALL = {"TensorrtExecutionProvider": "TensorRT 10 for this CUDA (pip install tensorrt-cu12) and onnxruntime-gpu",
           "CUDAExecutionProvider": "onnxruntime-gpu built for this CUDA major, with cuDNN 9"}


def ort_providers(provider: str, available: list[str]) -> list[str]:
    """Provider list for onnxruntime: 'auto' = TensorRT -> CUDA -> CPU among those installed."""
    order = ["tensorrt", "cuda", "cpu"]
    start = 0 if provider == "auto" else order.index(provider)
    wanted = [ORT_PROVIDERS[p] for p in order[start:]]
    if provider != "auto" and wanted[0] not in available:
        raise ConfigError(f"provider '{provider}' is not available in this onnxruntime (it has "
                          f"{', '.join(available)}); install onnxruntime-gpu (pip install 'amc[gpu]') "
                          "or use provider 'cpu'")
    return [p for p in wanted if p in available]


def cache_dir() -> Path:
    """Where the TensorRT EP keeps engines and timing caches: $AMC_CACHE_DIR or ~/.cache/amc, per ORT version."""
    root = Path(os.environ.get("AMC_CACHE_DIR") or Path.home() / ".cache" / "amc")
    return root / f"ort-tensorrt-{ort.__version__}"


def provider_options(name: str, precision: str, max_batch: int, frame_length: int, input_name: str = "iq",
                     device_id: int = 0, cache: Path | None = None) -> dict[str, Any]:
    """The options ONNX Runtime gets for provider `name` and an artifact of this precision / shape."""
    if name == ORT_PROVIDERS["tensorrt"]:
        opt = max(1, min(TRT_OPT_BATCH, max_batch))
        cache = cache or cache_dir()
        return {"device_id": device_id, "trt_max_workspace_size": TRT_WORKSPACE,
                "trt_profile_min_shapes": f"{input_name}:1x2x{frame_length}",
                "trt_profile_opt_shapes": f"{input_name}:{opt}x2x{frame_length}",
                "trt_profile_max_shapes": f"{input_name}:{max_batch}x2x{frame_length}",
                "trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache),
                "trt_timing_cache_enable": True,
                "trt_fp16_enable": False,  # the fp16 graph is already float16 where it may be
                "trt_int8_enable": precision == "int8"}
    if name == ORT_PROVIDERS["cuda"]:
        return {"device_id": device_id, "use_tf32": 0}
    return {}


def cuda_major() -> str:
    """CUDA major this onnxruntime was built for ('' for a CPU build)."""
    return str(getattr(build_and_package_info, "cuda_version", "") or "").split(".")[0]


def libraries(provider: str, major: str) -> list[str]:
    """Shared libraries a GPU provider loads (the ones worth naming when it does not start)."""
    cuda = [f"libcudart.so.{major}", f"libcublas.so.{major}", f"libcublasLt.so.{major}", "libcudnn.so.9"]
    if provider == ORT_PROVIDERS["tensorrt"]:
        return ["libnvinfer.so.10", "libnvonnxparser.so.10", *cuda]
    return cuda if provider == ORT_PROVIDERS["cuda"] else []


def missing_libraries(provider: str, major: str | None = None) -> list[str]:
    """The libraries of `provider` that the dynamic loader cannot open here."""
    missing = []
    for name in libraries(provider, major if major is not None else (cuda_major() or "12")):
        try:
            ctypes.CDLL(name)
        except OSError:
            missing.append(name)
    return missing


def fallback_reason(wanted: str) -> str:
    missing = missing_libraries(wanted)
    if missing:
        return f"{', '.join(missing)} cannot be loaded; install {INSTALL.get(wanted, 'its libraries')}"
    return "ONNX Runtime's log says why (set ORT_LOGGING_LEVEL / log_severity_level 0)"


class OnnxEngine(Engine):
    """An .onnx file through ONNX Runtime."""

    backend = "onnxruntime"

    @classmethod
    def open(cls, path: Path, provider: str, threads: int | None) -> OnnxEngine:
        meta = onnx_metadata(load_onnx(path), path)  # load_onnx refuses external data outside path's folder
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        names = ort_providers(provider, ort.get_available_providers())
        max_batch = int(meta.get("max_batch") or 256)
        precision = str(meta.get("precision", "fp32"))
        providers = [(n, provider_options(n, precision, max_batch, int(meta["frame_length"]))) for n in names]
        if any(n == ORT_PROVIDERS["tensorrt"] for n in names):
            cache_dir().mkdir(parents=True, exist_ok=True)
        try:
            session = ort.InferenceSession(str(path), opts, providers=providers)
        except Exception as e:  # noqa: BLE001 - ORT raises its own exception types
            first = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
            if names[0] != ORT_PROVIDERS["cpu"]:
                raise ConfigError(f"{path}: ONNX Runtime could not start {names[0]} ({first}); "
                                  "use provider 'cpu' or fix the GPU install") from None
            raise DataError(f"{path}: ONNX Runtime cannot load it ({first}); re-export it") from None
        engine = cls(meta, path, session)
        engine.check_provider(provider, names)
        return engine

    def __init__(self, metadata: dict[str, Any], path: str | os.PathLike[str], session: Any) -> None:
        super().__init__(metadata, path)
        self.session = session
        self.providers: list[str] = session.get_providers()
        self.input_name: str = session.get_inputs()[0].name
        self.output_names: list[str] = [o.name for o in session.get_outputs()]
        self.notes: list[str] = []

    def check_provider(self, provider: str, wanted: list[str]) -> None:
        """After creation: the first provider asked for is the one running, or say why not."""
        got = self.providers[0] if self.providers else "none"
        if got == wanted[0]:
            return
        reason = fallback_reason(wanted[0])
        if provider != "auto":
            raise ConfigError(f"{self.path}: provider '{provider}' did not start: ONNX Runtime fell back to {got} "
                              f"({reason}); use --provider auto to accept the fallback")
        self.notes.append(f"provider auto: {wanted[0]} did not start ({reason}); running on {got}")

    def _forward(self, x: np.ndarray) -> dict[str, np.ndarray]:
        outs = self.session.run(None, {self.input_name: x})
        return float_outputs(dict(zip(self.output_names, outs)))
