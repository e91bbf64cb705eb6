"""Frames for parity checks and int8 calibration, and the parity check itself (polygraphy-style).

Parity frames are the run's own validation frames: the checkpoint names its training dataset and
split identity, ``split_from_identity`` rebuilds the very same split. ``data=`` points at the dataset
when it has moved. When no usable dataset is at hand, frames are synthesised with ``amc.data.synth``
(the checkpoint's classes where the generator knows them, its SNR grid and frame length), and a note
says so. Calibration frames come from the training split, drawn evenly across SNRs.

Parity tolerances (checked right after every export, on real validation frames where the training
dataset is at hand):

=========  ==============  ================  ===========  ===========  ==================================
precision  max |Δlogit|    argmax agreement  tie margin   mean TV      why
=========  ==============  ================  ===========  ===========  ==================================
fp32       <= 1e-3         >= 99.9 %         1e-3         <= 1e-4      same math, op order / fusion only
fp16       (reported)      >= 99 %           0.05         <= 0.01      10-bit mantissa in convs / LSTM
bf16       (reported)      >= 99 %           0.1          <= 0.02      7-bit mantissa (torch-compiled)
int8       (reported)      >= 95 %           0.25         <= 0.05      8-bit weights and activations
=========  ==============  ================  ===========  ===========  ==================================

A frame whose PyTorch top-1 / top-2 logit gap is below the tie margin is a near tie: a flip there is
within the precision's noise and is not counted against agreement (both the raw and the counted
agreement are reported). A tiny validation set (say 88 frames) would otherwise fail fp16 on a single
coin-flip frame. Because an untrained or badly calibrated model can make nearly every frame a near
tie, the mean total-variation distance between the two softmax outputs (half the L1 distance per
frame, averaged over frames) is bounded too: that catches a broken artifact whatever the margins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amc.config import CLASS_SETS, SynthConfig
from amc.data.io import DataError, open_dataset
from amc.data.split import split_from_identity
from amc.data.synth import synthesize


@dataclass(frozen=True)
class Tolerance:
    max_abs_logit: float | None  # bound on max |Δlogit| (None: reported, not checked)
    min_agreement: float  # argmax agreement with PyTorch, near ties excluded
    tie_margin: float  # top-1 / top-2 logit gap below which a frame is a near tie
    max_mean_tv: float  # bound on the mean total-variation distance of the softmax outputs


TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(1e-3, 0.999, 1e-3, 1e-4),
    "fp16": Tolerance(None, 0.99, 0.05, 0.01),
    "bf16": Tolerance(None, 0.99, 0.1, 0.02),
    "int8": Tolerance(None, 0.95, 0.25, 0.05),
    "int8-dynamic": Tolerance(None, 0.95, 0.25, 0.05),
}
PRECISIONS = tuple(TOLERANCES)

PARITY_FRAMES = 512  # at most this many validation frames are compared
SEED = 0


def _split(ckpt: dict[str, Any], data: str | Path | None) -> tuple[Any, Any, list[str]]:
    """(open dataset, rebuilt split or None, notes); (None, None, notes) when no usable dataset."""
    path = Path(data) if data else Path(str(ckpt.get("dataset", "")))
    if not str(path) or str(path) == ".":
        return None, None, ["the checkpoint names no dataset"]
    try:
        ds = open_dataset(path)
    except DataError as e:
        return None, None, [f"dataset unavailable ({str(e).split(';')[0]})"]
    if ds.frame_length != int(ckpt["frame_length"]):
        ds.close()
        return None, None, [f"{path} has frame length {ds.frame_length}, the model takes {ckpt['frame_length']}"]
    try:
        split = split_from_identity(ds.labels, ds.snr, ckpt.get("split", {}), ds.fingerprint())
    except (ValueError, KeyError) as e:
        return ds, None, [f"{path}: the run's split is not reproduced ({str(e).split(':')[0]}); "
                          "frames drawn from the whole file"]
    return ds, split, []


def _spread(index: np.ndarray, snr: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to n of index, the same number from every SNR where possible, sorted."""
    if len(index) <= n:
        return np.sort(index)
    groups = [index[snr[index] == s] for s in np.unique(snr[index])]
    per = max(1, n // len(groups))
    picked = [rng.choice(g, min(per, len(g)), replace=False) for g in groups]
    out = np.concatenate(picked)
    if len(out) < n:  # top up from what is left
        rest = np.setdiff1d(index, out)
        out = np.concatenate([out, rng.choice(rest, min(n - len(out), len(rest)), replace=False)])
    return np.sort(out[:n])


def _from_dataset(ckpt: dict[str, Any], data: str | Path | None, part: str, n: int
                  ) -> tuple[np.ndarray | None, str, list[str]]:
    ds, split, notes = _split(ckpt, data)
    if ds is None:
        return None, "", notes
    try:
        index = getattr(split, part) if split is not None else np.arange(len(ds))
        pick = _spread(index, ds.snr, n, np.random.default_rng(SEED))
        what = f"{part} split" if split is not None else "frames"
        return ds.read(pick, with_clean=False).x, f"{len(pick)} {what} frames of {ds.path}", notes
    finally:
        ds.close()


def synthetic_frames(ckpt: dict[str, Any], n: int) -> tuple[np.ndarray, str]:
    """n frames from amc.data.synth matching the checkpoint's classes, SNR grid and frame length."""
    classes = list(ckpt["classes"])
    best = max(CLASS_SETS, key=lambda s: len(set(classes) & set(CLASS_SETS[s][0])))
    known = [c for c in CLASS_SETS[best][0] if c in classes] or None
    snrs = [float(s) for s in ckpt.get("snr_grid") or [-10.0, 0.0, 10.0, 20.0]]
    snrs = snrs[:: max(1, math.ceil(len(snrs) / 10))]
    n_classes = len(known) if known else len(CLASS_SETS[best][0])
    per = max(1, math.ceil(n / (n_classes * len(snrs))))
    cfg = SynthConfig(class_set=best, classes=known, snrs=snrs, frames_per_class_snr=per,
                      frame_length=int(ckpt["frame_length"]), seed=SEED)
    x = synthesize(cfg).x
    pick = np.random.default_rng(SEED).choice(len(x), min(n, len(x)), replace=False)
    return x[np.sort(pick)], f"{len(pick)} synthetic frames ({n_classes} {best} classes)"


def frames_for(ckpt: dict[str, Any], data: str | Path | None, part: str, n: int
               ) -> tuple[np.ndarray, str, list[str]]:
    """(frames, description, notes): the dataset's `part` split (val / train), else synthetic frames."""
    x, source, notes = _from_dataset(ckpt, data, part, n)
    if x is None:
        x, source = synthetic_frames(ckpt, n)
        notes = [f"{'; '.join(notes)}: {'parity' if part == 'val' else 'calibration'} on {source} "
                 f"instead of {part} frames (pass --data to use the training dataset)"]
    return x, source, notes


def compare(reference: dict[str, np.ndarray], got: dict[str, np.ndarray], precision: str,
            source: str) -> dict[str, Any]:
    """Parity summary of `got` against `reference` under the precision's tolerance."""
    tol = TOLERANCES[precision]
    ref_logits, logits = reference["logits"].astype(np.float64), got["logits"].astype(np.float64)
    ref_top, top = ref_logits.argmax(1), logits.argmax(1)
    agree = ref_top == top
    if ref_logits.shape[1] > 1:
        ordered = np.sort(ref_logits, axis=1)
        tie = (ordered[:, -1] - ordered[:, -2]) < tol.tie_margin
    else:
        tie = np.zeros(len(agree), bool)
    max_abs = float(np.abs(ref_logits - logits).max())
    counted = float((agree | tie).mean())
    diffs = {f"max_abs_{k}": float(np.abs(reference[k].astype(np.float64) - got[k]).max())
             for k in ("probs", "eta", "snr_db") if k in reference and k in got}
    tv = float(0.5 * np.abs(reference["probs"].astype(np.float64) - got["probs"]).sum(1).mean())
    passed = (counted >= tol.min_agreement and tv <= tol.max_mean_tv
              and (tol.max_abs_logit is None or max_abs <= tol.max_abs_logit) and bool(np.isfinite(logits).all()))
    return {"frames": int(len(agree)), "source": source, "max_abs_logit": max_abs, **diffs,
            "mean_tv": tv, "agreement": float(agree.mean()), "agreement_excl_ties": counted,
            "near_ties": int(tie.sum()),
            "tolerance": {"max_abs_logit": tol.max_abs_logit, "min_agreement": tol.min_agreement,
                          "tie_margin": tol.tie_margin, "max_mean_tv": tol.max_mean_tv},
            "passed": bool(passed)}


def summary_line(p: dict[str, Any], precision: str) -> str:
    """One line: 'parity vs PyTorch on N frames: ... -> pass'."""
    tol = p["tolerance"]
    bound = f"|Δlogit| <= {tol['max_abs_logit']:g}, " if tol["max_abs_logit"] is not None else ""
    return (f"parity vs PyTorch on {p['source']}: max |Δlogit| {p['max_abs_logit']:.3g}, mean TV "
            f"{p['mean_tv']:.2g}, argmax agreement {100 * p['agreement']:.2f} % ({100 * p['agreement_excl_ties']:.2f} "
            f"% excl. {p['near_ties']} near ties) -> {'pass' if p['passed'] else 'FAIL'} ({precision}: {bound}"
            f"TV <= {tol['max_mean_tv']:g}, agreement >= {100 * tol['min_agreement']:g} %)")
