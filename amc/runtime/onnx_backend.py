"""ONNX Runtime backend: an .onnx file with amc metadata, on the TensorRT, CUDA or CPU provider."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from amc.config import ConfigError
from amc.data.io import DataError
from amc.runtime.artifact import load_onnx, onnx_metadata
from amc.runtime.base import Engine, float_outputs

ORT_PROVIDERS = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider",
                 "cpu": "CPUExecutionProvider"}


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
        providers = ort_providers(provider, ort.get_available_providers())
        try:
            session = ort.InferenceSession(str(path), opts, providers=providers)
        except Exception as e:  # noqa: BLE001 - ORT raises its own exception types
            raise DataError(f"{path}: ONNX Runtime cannot load it ({str(e).splitlines()[0][:160]}); "
                            "re-export it") from None
        return cls(meta, path, session)

    def __init__(self, metadata: dict[str, Any], path: str | os.PathLike[str], session: Any) -> None:
        super().__init__(metadata, path)
        self.session = session
        self.providers: list[str] = session.get_providers()
        self.input_name: str = session.get_inputs()[0].name
        self.output_names: list[str] = [o.name for o in session.get_outputs()]

    def _forward(self, x: np.ndarray) -> dict[str, np.ndarray]:
        outs = self.session.run(None, {self.input_name: x})
        return float_outputs(dict(zip(self.output_names, outs)))
