"""The one inference layer: ``Engine.load(path)`` opens any amc artifact with the backend its kind needs.

==============================  =========================  ================================================
path                            backend                    runs on
==============================  =========================  ================================================
run directory, ``*.pt``         ``TorchEngine``            PyTorch, CUDA when available
``*.onnx``                      ``OnnxEngine``             ONNX Runtime: TensorRT -> CUDA -> CPU providers
``*.engine``, ``*.plan``        ``TensorRTEngine``         TensorRT 10+ or TensorRT-RTX, as the header names
                                                           (``execute_async_v3``), CUDA only
``*.compiled``                  ``CompiledTorchEngine``    PyTorch + torch.compile (CUDA graphs on a GPU)
Triton repository               by its model file          (the model inside ``NAME/1/``)
==============================  =========================  ================================================

Modules: ``formats`` (artifact kinds, declared once), ``artifact`` (containers and their metadata),
``trt_flavours`` (the two TensorRT flavours), ``probe`` (load-time parity of ahead-of-time engines),
``safety`` (untrusted ONNX files), ``validate`` (the one input check), ``base`` (the Engine interface)
and one module per backend. Export, eval, serve and classify stand on this layer; it imports only
config, errors and the checkpoint container; the backend classes are imported on first use (by
``Engine.load`` from the format table, or as attributes of this package), so loading an ONNX model
never imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from amc.runtime.base import DEFAULT_MAX_BATCH, PROVIDERS, Engine, Prediction
from amc.runtime.validate import InputError, check_classes, validate_iq

if TYPE_CHECKING:
    from amc.runtime.compiled import CompiledTorchEngine
    from amc.runtime.onnx_backend import OnnxEngine
    from amc.runtime.tensorrt_backend import TensorRTEngine
    from amc.runtime.torch_backend import TorchEngine

__all__ = ["DEFAULT_MAX_BATCH", "PROVIDERS", "CompiledTorchEngine", "Engine", "InputError", "OnnxEngine",
           "Prediction", "TensorRTEngine", "TorchEngine", "check_classes", "validate_iq"]
_LAZY = {"CompiledTorchEngine": "amc.runtime.compiled", "OnnxEngine": "amc.runtime.onnx_backend",
         "TensorRTEngine": "amc.runtime.tensorrt_backend", "TorchEngine": "amc.runtime.torch_backend"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
