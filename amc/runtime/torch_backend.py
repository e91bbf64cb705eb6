"""PyTorch backend: a checkpoint, a run directory, or an in-memory CLDNN.

On CUDA the engine is the fp32 reference that exports are compared with, so it is created with TF32 off
(``amc.models.numerics.strict_fp32``): fp32 means IEEE fp32 here as it does in every export.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from amc.checkpoint import portable
from amc.config import ConfigError
from amc.errors import DataError
from amc.models import DENOISED_NAME, OUTPUT_NAMES, InferenceModel
from amc.models.numerics import strict_fp32
from amc.runtime.base import DEFAULT_MAX_BATCH, Engine, float_outputs
from amc.train import checkpoint as ck


class TorchEngine(Engine):
    """A checkpoint (or an in-memory CLDNN) through PyTorch."""

    backend = "torch"

    def __init__(self, model: Any, metadata: dict[str, Any], path: str | os.PathLike[str] = "",
                 device: str = "cpu") -> None:
        super().__init__(metadata, path)
        self.device = torch.device(device)
        if self.device.type == "cuda":
            strict_fp32()
        with_denoised = DENOISED_NAME in metadata.get("outputs", [])
        self.module = InferenceModel(model, with_denoised=with_denoised).to(self.device)
        self.output_names = self.module.output_names

    @classmethod
    def open(cls, path: Path, provider: str, threads: int | None) -> TorchEngine:
        if provider == "tensorrt":
            raise ConfigError("provider 'tensorrt' does not apply to a PyTorch checkpoint; export it first "
                              "(amc export RUN --format tensorrt)")
        if provider == "cuda" and not torch.cuda.is_available():
            raise ConfigError("provider 'cuda': PyTorch sees no CUDA device here; use provider 'cpu'")
        device = "cuda" if provider in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
        if threads:
            torch.set_num_threads(threads)
        try:
            ckpt_path = ck.resolve_checkpoint(path)
            ckpt = ck.load_checkpoint(ckpt_path)
            model = ck.model_from_checkpoint(ckpt)
        except ck.CheckpointError as e:
            raise DataError(str(e)) from None
        meta = {**ck.describe(ckpt), "format": "torch", "precision": "fp32", "max_batch": DEFAULT_MAX_BATCH,
                "outputs": list(OUTPUT_NAMES), "checkpoint_sha256": ck.sha256_file(ckpt_path),
                "dataset": str(ckpt.get("dataset", ""))}
        meta = portable(meta, ckpt_path.parent)  # served by /v1/model: no absolute paths
        return cls(model, meta, ckpt_path, device)

    def _forward(self, x: np.ndarray) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            outs = self.module(torch.from_numpy(x).to(self.device))
        return float_outputs({n: o.float().cpu().numpy() for n, o in zip(self.output_names, outs)})
