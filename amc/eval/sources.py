"""Where the gate's frames come from: enough of them to resolve the tolerance, and a word when there cannot be.

``--split auto`` (the default) scores the run's validation split first; while the verdict is
INCONCLUSIVE it adds the test split, then fresh frames made by the dataset's own generator settings
(a synthetic file records them) under seeds no split used, as many as the rates seen say the
tolerance needs (``amc.stats``: ``frames_needed``), within ``--max-frames``. Fresh frames have no
training reference, so their reference is the source PyTorch model scored on them (paired); without
that checkpoint, or for an imported file, the verdict rests on the splits and the report says why no
more frames were added. ``--split val`` / ``test`` / ``all`` score exactly those frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from amc.config import SynthConfig, from_dict, to_dict
from amc.data.io import H5Dataset
from amc.data.synth import iter_synthesize

FRESH_SEED = 1_000_003  # fresh frames use seed FRESH_SEED + round (+ the file's seed): no split saw them
MARGIN = 1.3  # frames added beyond the estimate (the estimate is at the rates seen: about an even chance)
ROUNDS = 3  # rounds of fresh frames at most
DEFAULT_MAX_FRAMES = 200_000  # frames scored in all, --split auto, unless --max-frames says otherwise


@dataclass
class Batch:
    x: np.ndarray
    labels: np.ndarray  # dataset class index
    snr: np.ndarray


def generator_settings(ds: H5Dataset) -> SynthConfig | None:
    """The SynthConfig a synthetic file was made with (its `generator` attribute), else None."""
    gen = ds.attrs.get("generator")
    if not isinstance(gen, dict):
        return None
    try:
        cfg = from_dict(SynthConfig, gen)
        cfg.validate()
    except (TypeError, ValueError, KeyError):
        return None
    if cfg.class_names != list(ds.classes) or cfg.length != ds.frame_length:
        return None
    return cfg


def fresh_plan(cfg: SynthConfig, frames: int, round_: int) -> SynthConfig:
    """cfg under an unused seed with at least `frames` frames (whole (class, SNR) groups)."""
    groups = len(cfg.class_names) * len(cfg.snrs)
    per = max(1, math.ceil(frames / groups))
    return from_dict(SynthConfig, {**to_dict(cfg), "frames_per_class_snr": per,
                                   "seed": FRESH_SEED + round_ + int(cfg.seed)})


def fresh_batches(cfg: SynthConfig, chunk: int) -> Iterator[Batch]:
    """cfg's frames, chunk by chunk (labels in cfg's class order: the dataset's, checked above)."""
    for part in iter_synthesize(cfg, chunk=chunk):
        yield Batch(part.x, part.labels, part.snr)


def frames_wanted(report: dict[str, Any], have: int) -> int | None:
    """More frames the INCONCLUSIVE report's limits call for (None: it says none would help)."""
    needs = [lim["total_frames_needed"] for lim in report.get("limits", []) if lim["total_frames_needed"]]
    if not needs:
        return None
    return max(0, int(math.ceil(MARGIN * max(needs))) - have)
