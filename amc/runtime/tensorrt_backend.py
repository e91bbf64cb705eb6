"""TensorRT backend: an amc .engine (or a bare .plan with its sidecar .json), CUDA only, either flavour.

The engine's description names the flavour that built it (``amc.runtime.trt_flavours``: data-centre
TensorRT or TensorRT-RTX); that module runs it. An engine built where it could not run (TensorRT-RTX
ahead of time, no GPU) carries a parity probe (``amc.runtime.probe``): its frames are run once at open
and an engine that does not reproduce PyTorch on them is refused.

Buffers are torch CUDA tensors; execution is ``execute_async_v3`` on the engine's own CUDA stream (not
the legacy default stream, on which TensorRT adds device-wide synchronisation), with the copies in and
out ordered on that stream. The TensorRT module and torch's CUDA runtime are imported only when an engine
is opened (a CPU install never needs them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from amc.config import ConfigError
from amc.errors import DataError
from amc.runtime.artifact import read_engine, read_metadata
from amc.runtime.base import Engine, float_outputs
from amc.runtime.probe import check_probe, probe_frames
from amc.runtime.trt_flavours import Flavour, flavour_of, import_flavour

TRT_MISSING = ("TensorRT needs an NVIDIA GPU and the tensorrt package, from NVIDIA's index: pip install "
               "--extra-index-url https://pypi.nvidia.com -e '.[trt]' in the amc checkout")


def _needs(flavour: Flavour, meta: dict[str, Any]) -> str:
    """What running this engine needs, in words (the start of every refusal)."""
    if flavour.name == "tensorrt":
        return TRT_MISSING
    facts = meta.get("tensorrt") or {}
    targets = ", ".join(facts.get("compute_capabilities") or []) or "its default targets"
    return (f"built by {flavour.title} {facts.get('version', '?')} for {targets}: running it needs "
            f"{flavour.gpus} and the {flavour.module} package ({flavour.install_hint()})")


class TensorRTEngine(Engine):
    """An amc .engine (or a .plan with its sidecar .json) through TensorRT, buffers as torch CUDA tensors."""

    backend = "tensorrt"
    flavour: Flavour
    probe_line = ""  # the load-time parity line of an ahead-of-time engine ("" when it carries no probe)

    @classmethod
    def open(cls, path: Path, provider: str, threads: int | None) -> TensorRTEngine:
        if provider == "cpu":
            raise ConfigError(f"{path}: a TensorRT engine runs on an NVIDIA GPU only; load the .onnx "
                              "for provider 'cpu'")
        if path.suffix.lower() == ".engine":
            meta, plan = read_engine(path)
        else:
            meta, plan = read_metadata(path), path.read_bytes()
        flavour = flavour_of(meta)
        trt = import_flavour(flavour)
        if trt is None:
            raise ConfigError(f"{path}: {_needs(flavour, meta)}; the {flavour.module} package is not installed")
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"{path}: {_needs(flavour, meta)}; PyTorch sees no CUDA device")
        engine = cls(meta, path)
        engine.flavour = flavour
        engine._setup(trt, torch, plan)
        engine._check_probe()
        return engine

    def _check_probe(self) -> None:
        """Run the parity probe an ahead-of-time engine carries; refuse the engine if it fails."""
        probe = (self.metadata.get("parity") or {}).get("probe")
        if not probe:
            return
        ok, line = check_probe(probe, self.run(probe_frames(probe))["logits"])
        self.probe_line = line
        if not ok:
            raise DataError(f"{self.path}: {line}; this GPU does not reproduce PyTorch with this engine: "
                            "rebuild it here (amc export --format tensorrt-rtx) or report the GPU")

    def _setup(self, trt: Any, torch: Any, plan: bytes) -> None:
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(plan)
        if self.engine is None:
            gpu = f"{torch.cuda.get_device_name()} (SM{''.join(map(str, torch.cuda.get_device_capability()))})"
            fmt = "tensorrt-rtx" if self.flavour.name == "tensorrt-rtx" else "tensorrt"
            targets = ", ".join((self.metadata.get("tensorrt") or {}).get("compute_capabilities") or [])
            raise DataError(f"{self.path}: {self.flavour.title} {getattr(trt, '__version__', '')} cannot deserialize "
                            f"this plan on {gpu} (built by another version or for another GPU"
                            f"{'; its targets: ' + targets if targets else ''}?); rebuild it with "
                            f"`amc export --format {fmt}`")
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

