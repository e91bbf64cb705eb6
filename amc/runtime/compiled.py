"""The fast GPU path that needs no TensorRT: a checkpoint run through ``torch.compile`` with CUDA graphs.

Design (chosen over an AOTInductor ``.pt2``: AOTInductor replays no CUDA graphs, and at batch 1 this
small network is bound by kernel launches, which is exactly what a CUDA graph removes):

* The artifact (``amc export RUN --format torch-compiled --precision fp32|bf16|fp16``) is the checkpoint
  plus amc's description in a ``.compiled`` file; export verifies it against eager PyTorch like every
  other format, and ``Engine.load`` opens it here.
* At load the eval-mode model goes to the GPU (CPU without one) and its forward is wrapped in
  ``torch.compile``: on CUDA with Inductor in mode ``reduce-overhead`` (generated kernels, replayed as
  CUDA graphs; cuDNN's LSTM / GRU and convolutions stay library calls inside the graph); on the CPU in
  Inductor's default mode (C++ kernels, no graphs).
* Batches are padded (with copies of the last frame) up to a bucket: the powers of two from 2 up to
  ``max_batch`` (and ``max_batch`` itself). The batch axis is marked dynamic, so there is one compile
  for all buckets, and CUDA graphs are recorded once per bucket (at most log2(max_batch) + 1), not once
  per batch size a dynamic batcher happens to send.
* Precision: fp32 is IEEE fp32 (TF32 off, ``amc.models.numerics``); bf16 / fp16 run under
  ``torch.autocast`` inside the compiled region, so convolutions, matmuls and the recurrent layer use
  the reduced type while autocast's float32 list (the power normalisation's reductions, log / exp,
  softmax) and the float32 input and outputs stay as they are: the same split the fp16 ONNX makes.
* ``AMC_COMPILE_BACKEND`` (default ``inductor``) picks the torch.compile backend: ``eager`` or
  ``aot_eager`` trace the same graph without generating code, for CPU dry runs and tests.

The first call of each bucket compiles / records (seconds to a minute); ``Engine.warmup`` does it
before any timing or serving. Compile artifacts are cached by torch (``TORCHINDUCTOR_CACHE_DIR``).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from amc.config import ConfigError
from amc.errors import DataError
from amc.runtime.artifact import read_compiled
from amc.runtime.base import float_outputs
from amc.runtime.torch_backend import TorchEngine
from amc.train import checkpoint as ck

BACKEND_ENV = "AMC_COMPILE_BACKEND"
AMP_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
MIN_BUCKET = 2  # batch 1 is padded to 2: one dynamic compile instead of a separate batch-1 specialisation


def buckets(max_batch: int) -> list[int]:
    """Padded batch sizes: powers of two from MIN_BUCKET, capped by (and ending with) max_batch."""
    out, b = [], MIN_BUCKET
    while b < max_batch:
        out.append(b)
        b *= 2
    return [*out, max(max_batch, MIN_BUCKET)]


def bucket_for(n: int, sizes: list[int]) -> int:
    return next(b for b in sizes if b >= n)


@torch.library.custom_op("amc::rnn", mutates_args=())
def _rnn(x: torch.Tensor, weights: list[torch.Tensor], lstm: bool, hidden: int, layers: int,
         bidirectional: bool) -> torch.Tensor:
    """A batch-first LSTM / GRU as one opaque op: torch.compile neither breaks its graph here (Dynamo
    does not trace nn.LSTM / nn.GRU) nor unrolls the time loop; cuDNN runs it inside the CUDA graph."""
    h0 = x.new_zeros(layers * (2 if bidirectional else 1), x.shape[0], hidden)
    if lstm:
        out = torch._VF.lstm(x, (h0, h0), weights, True, layers, 0.0, False, bidirectional, True)[0]
    else:
        out = torch._VF.gru(x, h0, weights, True, layers, 0.0, False, bidirectional, True)[0]
    return out.contiguous()  # batch_first output can be a transposed view; the fake promises contiguous


@_rnn.register_fake
def _rnn_shape(x: torch.Tensor, weights: list[torch.Tensor], lstm: bool, hidden: int, layers: int,
               bidirectional: bool) -> torch.Tensor:
    return x.new_empty(x.shape[0], x.shape[1], hidden * (2 if bidirectional else 1))


class OpaqueRNN(torch.nn.Module):
    """Stands in for an eval-mode nn.LSTM / nn.GRU (batch_first, with biases, no projection): weights
    kept in the compute type (the autocast type, as autocast would run the layer), output (B, T, H)."""

    def __init__(self, rnn: torch.nn.LSTM | torch.nn.GRU, dtype: torch.dtype) -> None:
        super().__init__()
        if not (rnn.batch_first and rnn.bias) or int(getattr(rnn, "proj_size", 0)):
            raise ConfigError("the torch-compiled path takes batch-first LSTM / GRU layers with biases")
        self.lstm, self.hidden, self.layers = isinstance(rnn, torch.nn.LSTM), rnn.hidden_size, rnn.num_layers
        self.bidirectional, self.dtype = rnn.bidirectional, dtype
        self.n = len(rnn._flat_weights)
        for i, w in enumerate(rnn._flat_weights):
            assert w is not None  # every weight and bias exists (bias=True, no projection)
            self.register_buffer(f"w{i}", w.detach().to(dtype).clone())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        weights = [getattr(self, f"w{i}") for i in range(self.n)]
        return _rnn(x.to(self.dtype), weights, self.lstm, self.hidden, self.layers, self.bidirectional), None


def opaque_rnns(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """A copy of `model` with every LSTM / GRU replaced by an OpaqueRNN computing in `dtype`."""
    model = copy.deepcopy(model)
    for name, m in list(model.named_modules()):
        if isinstance(m, (torch.nn.LSTM, torch.nn.GRU)):
            parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
            setattr(parent, name.rpartition(".")[2], OpaqueRNN(m, dtype))
    return model


def _forward(module: torch.nn.Module, x: torch.Tensor, amp: torch.dtype | None) -> tuple[torch.Tensor, ...]:
    """The compiled function: the module is an argument, so engines of one architecture share a compile."""
    if amp is None:
        return module(x)
    with torch.autocast(x.device.type, dtype=amp):
        return module(x)


_COMPILED: dict[tuple[str, str | None], Any] = {}


def compiled_forward(backend: str, mode: str | None) -> Any:
    """torch.compile(_forward) for this backend and mode, made once per process."""
    key = (backend, mode)
    if key not in _COMPILED:
        _COMPILED[key] = torch.compile(_forward, backend=backend, mode=mode)
    return _COMPILED[key]


class CompiledTorchEngine(TorchEngine):
    """A .compiled artifact: PyTorch + torch.compile (CUDA graphs on a GPU), padded to batch buckets."""

    backend = "torch-compiled"

    def __init__(self, model: Any, metadata: dict[str, Any], path: str | os.PathLike[str] = "",
                 device: str = "cpu", compile_backend: str | None = None) -> None:
        precision = str(metadata.get("precision", "fp32"))
        if precision not in AMP_DTYPES:
            raise DataError(f"{path}: precision '{precision}' is not one the torch-compiled path runs "
                            f"({', '.join(AMP_DTYPES)}); export it again")
        self.amp_dtype = AMP_DTYPES[precision]
        super().__init__(opaque_rnns(model, self.amp_dtype or torch.float32), metadata, path, device)
        self.buckets = buckets(self.max_batch)
        self.compile_backend = compile_backend or os.environ.get(BACKEND_ENV) or "inductor"
        cuda = self.device.type == "cuda"
        self.mode = ("reduce-overhead" if cuda else "default") if self.compile_backend == "inductor" else None
        self.cuda_graphs = cuda and self.mode == "reduce-overhead"
        self.compiled = compiled_forward(self.compile_backend, self.mode)
        self.notes = [f"torch.compile backend {self.compile_backend}"
                      + (f", mode {self.mode}" if self.mode else "")
                      + f" on {self.device.type}{' (CUDA graphs)' if self.cuda_graphs else ''}; {self.precision}"
                      + (" by autocast" if self.amp_dtype is not None else "")
                      + f"; batches padded to {self.buckets[0]}..{self.buckets[-1]} (powers of two)"]

    @classmethod
    def open(cls, path: Path, provider: str, threads: int | None) -> CompiledTorchEngine:
        if provider == "tensorrt":
            raise ConfigError(f"{path}: provider 'tensorrt' does not apply to a torch-compiled artifact; export "
                              "with --format tensorrt for TensorRT")
        if provider == "cuda" and not torch.cuda.is_available():
            raise ConfigError("provider 'cuda': PyTorch sees no CUDA device here; use provider 'cpu'")
        device = "cuda" if provider in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
        if threads:
            torch.set_num_threads(threads)
        meta, ckpt = read_compiled(path)
        try:
            model = ck.model_from_checkpoint(ckpt)
        except ck.CheckpointError as e:
            raise DataError(f"{path}: {e}") from None
        return cls(model, meta, path, device)

    def _forward(self, x: np.ndarray) -> dict[str, np.ndarray]:
        n = len(x)
        size = bucket_for(n, self.buckets)
        with torch.inference_mode():
            xin = torch.from_numpy(x).to(self.device)
            if size > n:  # pad with copies of the last frame: real, finite frames, sliced off below
                xin = torch.cat([xin, xin[-1:].expand(size - n, -1, -1)])
            torch._dynamo.maybe_mark_dynamic(xin, 0)
            if self.cuda_graphs:  # a new graph replay may overwrite the last one's outputs: they are copied out
                torch.compiler.cudagraph_mark_step_begin()
            outs = self.compiled(self.module, xin, self.amp_dtype)
            host = {name: o[:n].float().cpu().numpy() for name, o in zip(self.output_names, outs)}
        return float_outputs(host)
