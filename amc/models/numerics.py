"""CUDA numerics that amc's guarantees depend on: fp32 that means fp32, and reproducible training.

* ``strict_fp32()``: PyTorch runs float32 cuDNN convolutions and RNNs in TF32 by default (10-bit
  mantissa on Ampere and later), so a CUDA "fp32" reference can differ from its own export by 1e-3 and
  fp32 parity (1e-4 .. 1e-3) fails for the wrong reason. Every CUDA PyTorch reference amc makes (parity,
  eval-engine's torch engine, ``TorchEngine`` on cuda) is created after this call: TF32 off for matmul,
  cuDNN convolution and cuDNN RNN. torch >= 2.9 is told through ``fp32_precision = "ieee"`` (the
  legacy ``allow_tf32`` flags and the new settings must not be mixed: torch raises when it reads a mix);
  older torch through ``allow_tf32 = False``.
* ``strict_fp32_scope()``: the same, for a block only, restoring the flags after it: training keeps
  whatever TF32 setting it runs with, while the passes that store reference predictions (the validation
  split every epoch, the test split at the end) are strict fp32, so eval-engine's fp32 tolerance later
  compares like with like.
* ``reproducible_cuda()``: a resumed run must equal an uninterrupted one weight for weight. On CUDA that
  needs deterministic algorithms (``torch.use_deterministic_algorithms``, cuDNN deterministic, no cuDNN
  benchmark autotuning, ``CUBLAS_WORKSPACE_CONFIG`` for cuBLAS). Ops without a deterministic kernel warn
  (``warn_only``) instead of stopping a training run.

Both only set process-wide backend flags; on a CPU-only build they are harmless (and testable).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch

CUBLAS_WORKSPACE = ":4096:8"  # the setting cuBLAS documents for deterministic results


def _new_api() -> bool:
    return hasattr(torch.backends.cudnn, "conv") and hasattr(torch.backends.cudnn.conv, "fp32_precision")


def strict_fp32() -> dict[str, Any]:
    """Turn TF32 off for CUDA matmul, cuDNN conv and cuDNN RNN; returns the flags as torch reports them."""
    b: Any = torch.backends  # the fp32_precision settings are torch >= 2.9 (not in older stubs)
    if _new_api():
        b.cuda.matmul.fp32_precision = "ieee"
        b.cudnn.conv.fp32_precision = "ieee"
        b.cudnn.rnn.fp32_precision = "ieee"
    else:  # torch < 2.9
        b.cuda.matmul.allow_tf32 = False
        b.cudnn.allow_tf32 = False
    return fp32_state()


@contextlib.contextmanager
def strict_fp32_scope() -> Iterator[dict[str, Any]]:
    """``strict_fp32()`` inside the block; the flags as they were after it (even on an error)."""
    b: Any = torch.backends
    new = _new_api()
    saved: tuple[Any, ...] = (
        (b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision, b.cudnn.rnn.fp32_precision) if new
        else (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32))
    try:
        yield strict_fp32()
    finally:
        if new:
            b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision, b.cudnn.rnn.fp32_precision = saved
        else:
            b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32 = saved


def fp32_state() -> dict[str, Any]:
    """How torch will run float32 CUDA math now: 'ieee' (full fp32) or 'tf32' per op family."""
    b: Any = torch.backends
    if _new_api():
        return {"matmul": b.cuda.matmul.fp32_precision, "conv": b.cudnn.conv.fp32_precision,
                "rnn": b.cudnn.rnn.fp32_precision}
    return {"matmul": "tf32" if b.cuda.matmul.allow_tf32 else "ieee",
            "conv": "tf32" if b.cudnn.allow_tf32 else "ieee", "rnn": "tf32" if b.cudnn.allow_tf32 else "ieee"}


def reproducible_cuda() -> dict[str, Any]:
    """Deterministic CUDA algorithms for training; returns the settings as torch reports them."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)  # read when cuBLAS makes a handle
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    return {"deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cublas_workspace": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}
