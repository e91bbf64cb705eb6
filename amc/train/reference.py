"""Per-split references: what the selected model scored on each split, frame by frame.

Training keeps, for the validation split (every epoch) and the test split (once, at the end, scored
with ``best.pt``), a record of the form::

    {"split": "test", "epoch": 12, "frames": 1320, "index_sha256": "…",   # which frames, in which order
     "acc": 0.47, "per_snr": {...}, "counts": {"-20": [11, 66], ...}, "bands": {...},
     "predictions": "<base64 of zlib of uint8/uint16 class indices>", "dtype": "uint8"}

``predictions`` holds the model's predicted class (its own class order) for every frame of the split,
in the split's order (sorted frame indices, as ``amc.data.split`` returns them); ``index_sha256`` is the
split's own hash (``val_sha256`` / ``test_sha256`` of the split identity). With them, ``amc eval-engine``
compares an exported engine with its source model frame by frame (a paired test) without the source
model at hand. The records travel in ``best.pt`` (key ``reference``), the export metadata (key
``reference``) and, without the per-frame predictions, in ``summary.json`` (keys ``test`` / ``reference``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from amc.checkpoint import decode_predictions, encode_predictions  # noqa: F401  (re-exported)
from amc.train.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint

SPLITS = ("val", "test")


def make_record(split: str, metrics: dict[str, Any], predictions: np.ndarray, identity: dict[str, Any],
                epoch: int) -> dict[str, Any]:
    """A reference record from `evaluate`'s metrics and its per-frame predictions."""
    text, dtype = encode_predictions(predictions)
    return {"split": split, "epoch": int(epoch), "frames": int(len(predictions)),
            "index_sha256": identity.get(f"{split}_sha256", ""), "acc": metrics["acc"],
            "per_snr": metrics["per_snr"], "counts": metrics["counts"], "bands": metrics["bands"],
            "predictions": text, "dtype": dtype}


def without_predictions(record: dict[str, Any]) -> dict[str, Any]:
    """The record minus the per-frame predictions (for summary.json, reports and /v1/model)."""
    return {k: v for k, v in record.items() if k not in ("predictions", "dtype")}


def add_test_reference(best: Path, score: Callable[[torch.nn.Module], tuple[dict[str, Any], np.ndarray]] | None,
                       identity: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Score the test split with the selected checkpoint and store the record in it.

    ``score(model)`` returns (metrics, per-frame predictions) for the test frames (None: the run has no
    test split). The checkpoint is rewritten atomically with ``reference.test`` added; the weights are
    untouched. Returns every record of the checkpoint, without the per-frame predictions."""
    ckpt = load_checkpoint(best)
    refs = dict(ckpt.get("reference") or {})
    if score is not None:
        refs["test"] = make_record("test", *score(model_from_checkpoint(ckpt)), identity, int(ckpt.get("epoch", 0)))
        ckpt["reference"] = refs
        ckpt.pop("format", None)
        save_checkpoint(best, ckpt)
    return {k: without_predictions(v) for k, v in refs.items()}
