"""The description every exported artifact carries, built from its checkpoint.

How it is stored in each container (ONNX metadata_props, the .engine header, a .plan's sidecar) and
read back is the runtime's business: ``amc.runtime.artifact``. ``reference`` carries the training run's
per-split references (per-SNR accuracy and the source model's prediction for every validation / test
frame, ``amc.train.reference``), ``checkpoint`` the source checkpoint and ``checkpoint_sha256`` its hash:
``amc eval-engine`` compares like with like from them.

Paths (``checkpoint``, ``dataset``) are stored relative to the directory of the artifact's model file
(``portable``), never absolute: an artifact names no directory of the machine that made it (``/v1/model``
serves its metadata), and a run directory moved or copied with its exports still resolves them.
``resolve_recorded`` reads them back.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from amc import __version__
from amc.checkpoint import PATH_KEYS, describe, portable, sha256_file  # noqa: F401  (re-exported)
from amc.runtime.artifact import normalise


def build_metadata(ckpt: dict[str, Any], checkpoint_path: str | os.PathLike[str], fmt: str, precision: str,
                   max_batch: int, outputs: list[str]) -> dict[str, Any]:
    """The description every artifact carries (JSON-normalised, so it reads back equal)."""
    d = describe(ckpt)
    meta = {
        "amc_version": __version__, "format": fmt, "precision": precision,
        "classes": d["classes"], "frame_length": d["frame_length"], "sample_rate": d["sample_rate"],
        "snr_grid": d["snr_grid"],
        "bands": d["bands"], "normalisation": d["normalisation"], "train_metrics": d["train_metrics"],
        "reference": d["reference"], "checkpoint": str(Path(checkpoint_path).resolve()),
        "checkpoint_sha256": sha256_file(checkpoint_path), "epoch": d["epoch"], "split": d["split"],
        "dataset": str(ckpt.get("dataset", "")), "preset": d["preset"], "model_config": d["model_config"],
        "max_batch": int(max_batch), "input": "iq", "input_shape": ["batch", 2, d["frame_length"]],
        "outputs": list(outputs), "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return normalise(meta)
