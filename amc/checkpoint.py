"""The checkpoint container: self-describing checkpoints, written atomically and read with weights_only=True.

A checkpoint carries everything needed to rebuild and describe the model without the run
directory: model config, class names, frame length, normalisation, SNR grid, bands, the split
identity, the validation metrics of its epoch and, per split, what the model predicted for every frame
(``reference``: see ``amc.train.reference``). Only tensors, dicts, lists, strings and numbers
go in, so `torch.load(weights_only=True)` reads it and a file carrying code is refused.

This module sits below the runtime layer and imports torch only when a checkpoint is actually read or
written, so serving or classifying an ONNX model never loads torch. Rebuilding the model from a
checkpoint (``model_from_checkpoint``) needs the model code and lives in ``amc.train.checkpoint``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pickle
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from amc.errors import CheckpointError
from amc.files import atomic_path

FORMAT = "amc-checkpoint/1"
NORMALISATION = "per-frame unit mean power (in graph)"

__all__ = ["FORMAT", "NORMALISATION", "PATH_KEYS", "CheckpointError", "decode_predictions", "describe",
           "encode_predictions", "load_checkpoint", "portable", "resolve_checkpoint", "save_checkpoint", "sha256_file"]


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """torch.save to a temp file, fsync, rename: a kill mid-write leaves the old file intact."""
    import torch  # lazy: only checkpoints need it

    with atomic_path(path, suffix=".pt.tmp") as tmp:
        torch.save({"format": FORMAT, **state}, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load with weights_only=True; refuse anything that is not an amc checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint; give a run directory or its best.pt / last.pt")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"PK\x03\x04":  # torch.save writes a zip archive; anything else is not a checkpoint at all
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (not a torch.save file); give a run directory "
                              "or its best.pt / last.pt")
    try:
        import torch
    except ImportError:
        raise CheckpointError(f"{path}: reading a PyTorch checkpoint needs torch, which is not installed; "
                              "install amc[train] (or use an exported .onnx model)") from None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).splitlines()[0][:200]
        raise CheckpointError(f"{path}: refused: the checkpoint holds objects other than weights and "
                              f"plain data ({first}); only load checkpoints you trust") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: truncated or corrupted checkpoint ({str(e).splitlines()[0][:160]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an amc checkpoint (expected format {FORMAT})")
    return ckpt


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve_checkpoint(path: str | os.PathLike[str]) -> Path:
    """A run directory means its best.pt; a file is itself."""
    p = Path(path)
    if p.is_dir():
        for name in ("best.pt", "last.pt"):
            if (p / name).is_file():
                return p / name
        raise CheckpointError(f"{p}: no best.pt or last.pt in this run directory; train first (`amc train`)")
    return p


def describe(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The self-description that travels into exports: classes, length, SNRs, bands, metrics."""
    return {
        "classes": list(ckpt["classes"]),
        "frame_length": int(ckpt["frame_length"]),
        "snr_grid": list(ckpt["snr_grid"]),
        "bands": {k: list(v) for k, v in ckpt["bands"].items()},
        "normalisation": ckpt.get("normalisation", NORMALISATION),
        "train_metrics": ckpt.get("metrics", {}),
        "reference": dict(ckpt.get("reference") or {}),  # per split: amc.train.reference records
        "split": ckpt.get("split", {}),
        "dataset": ckpt.get("dataset", ""),
        "model_config": dict(ckpt["model_config"]),
        "preset": ckpt.get("train_config", {}).get("preset", ""),
        "epoch": int(ckpt.get("epoch", 0)),
        "sample_rate": ckpt.get("sample_rate"),  # Hz the model was trained at; None when the data had none
    }


PATH_KEYS = ("checkpoint", "dataset")  # the metadata keys that hold paths


def portable(meta: dict[str, Any], base: str | os.PathLike[str]) -> dict[str, Any]:
    """`meta` with its paths made relative to `base` (the directory the model file is in): a model's
    description names no directory of the machine that made it, and a moved run still resolves them."""
    out = dict(meta)
    for key in PATH_KEYS:
        value = str(out.get(key) or "")
        if value and Path(value).is_absolute():  # a relative one is left as recorded
            out[key] = os.path.relpath(value, Path(base).resolve())
    return out


# -- per-frame reference predictions (the records of amc.train.reference) ----------------------
def encode_predictions(pred: np.ndarray) -> tuple[str, str]:
    """(text, dtype): class indices as base64 of zlib-compressed uint8 (uint16 beyond 255 classes)."""
    pred = np.asarray(pred)
    dtype = "uint8" if pred.size == 0 or pred.max() < 256 else "uint16"
    return base64.b64encode(zlib.compress(pred.astype(dtype).tobytes(), 9)).decode("ascii"), dtype


def decode_predictions(record: dict[str, Any]) -> np.ndarray | None:
    """The per-frame predicted classes of a record (int64), or None where the record has none."""
    text = record.get("predictions")
    if not text:
        return None
    raw = zlib.decompress(base64.b64decode(text))
    pred = np.frombuffer(raw, dtype=record.get("dtype", "uint8")).astype(np.int64)
    if len(pred) != int(record.get("frames", -1)):
        raise ValueError(f"the {record.get('split')} reference holds {len(pred)} predictions for "
                         f"{record.get('frames')} frames")
    return pred
