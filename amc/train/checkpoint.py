"""Rebuilding a model from a checkpoint; the container itself (save, load, describe) is ``amc.checkpoint``.

The container's names are re-exported here so training code keeps one import.
"""

from __future__ import annotations

import torch

from amc.checkpoint import (  # noqa: F401  (re-exported)
    FORMAT,
    NORMALISATION,
    CheckpointError,
    describe,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
    sha256_file,
)
from amc.config import ModelConfig, from_dict
from amc.models import build_model


def model_from_checkpoint(ckpt: dict) -> torch.nn.Module:
    """Rebuild the model from the checkpoint's own config and load its weights (strict)."""
    cfg = from_dict(ModelConfig, dict(ckpt["model_config"]))
    model = build_model(cfg)
    try:
        model.load_state_dict(ckpt["model_state"])
    except RuntimeError as e:
        first = str(e).splitlines()[0][:160]
        raise CheckpointError(f"checkpoint weights do not fit its model config ({first})") from None
    model.eval()
    return model
