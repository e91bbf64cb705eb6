"""TensorRT backend: an amc .engine (or a bare .plan with its sidecar .json), CUDA only.

Buffers are torch CUDA tensors; execution is ``execute_async_v3`` on the engine's own CUDA stream (not
the legacy default stream, on which TensorRT adds device-wide synchronisation), with the copies in and
out ordered on that stream. tensorrt and torch's CUDA runtime are imported only when an engine is opened
(a CPU install never needs them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from amc.config import ConfigError
from amc.data.io import DataError
from amc.runtime.artifact import read_engine, read_metadata
from amc.runtime.base import Engine, float_outputs

TRT_MISSING = "TensorRT needs an NVIDIA GPU and the tensorrt package (pip install 'amc[trt]')"


class TensorRTEngine(Engine):
    """An amc .engine (or a .plan with its sidecar .json) through TensorRT, buffers as torch CUDA tensors."""

    backend = "tensorrt"

    @classmethod
    def open(cls, path: Path, provider: str, threads: int | None) -> TensorRTEngine:
        if provider == "cpu":
            raise ConfigError(f"{path}: a TensorRT engine runs on an NVIDIA GPU only; load the .onnx "
                              "for provider 'cpu'")
        if path.suffix.lower() == ".engine":
            meta, plan = read_engine(path)
        else:
            meta, plan = read_metadata(path), path.read_bytes()
        try:
            import tensorrt as trt
            import torch
        except ImportError:
            raise ConfigError(f"{path}: {TRT_MISSING}; the tensorrt package is not installed") from None
        if not torch.cuda.is_available():
            raise ConfigError(f"{path}: {TRT_MISSING}; PyTorch sees no CUDA device")
        engine = cls(meta, path)
        engine._setup(trt, torch, plan)
        return engine

    def _setup(self, trt: Any, torch: Any, plan: bytes) -> None:
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(plan)
        if self.engine is None:
            raise DataError(f"{self.path}: TensorRT cannot deserialize this plan (built by another TensorRT "
                            "version or for another GPU?); rebuild it here with `amc export --format tensorrt`")
        self.context = self.engine.create_execution_context()
        self.device = torch.device("cuda", torch.cuda.current_device())
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_name = next(n for n in names if is_input[n])
        self.output_names = [n for n in names if not is_input[n]]
        self.dtypes = {n: torch.from_numpy(np.empty(0, dtype=trt.nptype(self.engine.get_tensor_dtype(n)))).dtype
                       for n in names}
        profile_max = self.engine.get_tensor_profile_shape(self.input_name, 0)[2]
        self.max_batch = min(self.max_batch, int(profile_max[0]))
        self.stream = torch.cuda.Stream(device=self.device)  # a dedicated, non-default stream
        self.torch = torch

    def _forward(self, x: np.ndarray) -> dict[str, np.ndarray]:
        torch = self.torch
        with torch.cuda.device(self.device), torch.cuda.stream(self.stream):  # copies, buffers, run: one stream
            xin = torch.from_numpy(x).to(self.device, dtype=self.dtypes[self.input_name]).contiguous()
            if not self.context.set_input_shape(self.input_name, tuple(xin.shape)):
                raise RuntimeError(f"{self.path}: TensorRT refused input shape {tuple(xin.shape)}")
            self.context.set_tensor_address(self.input_name, xin.data_ptr())
            outs = {}
            for name in self.output_names:
                shape = tuple(self.context.get_tensor_shape(name))
                outs[name] = torch.empty(shape, dtype=self.dtypes[name], device=self.device)
                self.context.set_tensor_address(name, outs[name].data_ptr())
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError(f"{self.path}: TensorRT execution failed")
            host = {n: t.float().cpu() for n, t in outs.items()}  # ordered after the run on self.stream
            self.stream.synchronize()
        return float_outputs({n: t.numpy() for n, t in host.items()})

