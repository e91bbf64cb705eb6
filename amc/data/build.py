"""Dataset-level operations behind `amc data`: write a synthetic dataset, describe a file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from amc.config import SynthConfig, to_dict
from amc.data.io import DatasetWriter, open_dataset
from amc.data.synth import iter_synthesize


def estimate_bytes(cfg: SynthConfig) -> int:
    """Size of cfg's dataset file: X and clean, float32 (N, L, 2) each, plus labels."""
    n = len(cfg.class_names) * len(cfg.snrs) * cfg.frames_per_class_snr
    return n * (2 * 2 * cfg.length * 4 + len(cfg.class_names) + 4)


def synth_to_file(cfg: SynthConfig, path: str | os.PathLike[str], chunk: int = 8192,
                  on_chunk: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Generate cfg's dataset chunk by chunk into an HDF5 file (atomic). Returns a summary.

    ``on_chunk(n)`` is called after each chunk of n frames is written (progress)."""
    cfg.validate()
    with DatasetWriter(path, cfg.class_names, cfg.length, with_clean=True,
                       attrs={"generator": to_dict(cfg)}) as w:
        for part in iter_synthesize(cfg, chunk=chunk):
            w.append(part.x, part.labels, part.snr, part.clean)
            if on_chunk is not None:
                on_chunk(len(part.x))
    return {"path": str(path), "frames": w.n, "classes": cfg.class_names, "snrs": sorted(cfg.snrs),
            "frame_length": cfg.length, "bytes": Path(path).stat().st_size}


def describe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Classes, SNR grid, counts per (class, SNR), frame length and whether clean frames exist."""
    with open_dataset(path) as ds:
        snrs = ds.snr_grid
        counts = np.zeros((len(ds.classes), len(snrs)), dtype=np.int64)
        col = np.searchsorted(np.asarray(snrs, dtype=np.float32), ds.snr)
        np.add.at(counts, (ds.labels, col), 1)
        return {"path": str(path), "frames": len(ds), "frame_length": ds.frame_length,
                "classes": ds.classes, "snrs": snrs, "counts": counts.tolist(),
                "has_clean": ds.has_clean, "fingerprint": ds.fingerprint(),
                "attrs": {k: v for k, v in ds.attrs.items() if k not in ("classes", "snr_grid")}}
