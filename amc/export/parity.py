"""Frames for parity checks and int8 calibration, and the parity check itself (polygraphy-style).

Parity frames are the run's own validation frames: the checkpoint names its training dataset and
split identity, ``split_from_identity`` rebuilds the very same split. ``data=`` points at the dataset
when it has moved. When no usable dataset is at hand, frames are synthesised with ``amc.data.synth``
(the checkpoint's classes where the generator knows them, its SNR grid and frame length), and a note
says so. Calibration frames come from the training split, drawn evenly across SNRs.

Parity tolerances (checked right after every export, on real validation frames where the training
dataset is at hand):

=========  ============  ================  ==========  =========  ========  ================================
precision  max |Δlogit|  argmax agreement  tie margin  mean TV    accuracy  why
=========  ============  ================  ==========  =========  ========  ================================
fp32       <= 1e-3       >= 99.9 %         1e-3        <= 1e-4    0.1 pp    same math, op order / fusion only
fp16       (reported)    >= 99 %           0.05        <= 0.01    0.5 pp    10-bit mantissa in convs / LSTM
bf16       (reported)    >= 99 %           0.1         <= 0.02    1.0 pp    7-bit mantissa (torch-compiled)
int8       (reported)    >= 95 %           0.25        <= 0.05    1.0 pp    8-bit weights and activations
=========  ============  ================  ==========  =========  ========  ================================

A frame whose PyTorch top-1 / top-2 logit gap is below the tie margin is a near tie: a flip there is
within the precision's noise, so agreement is judged on the other frames (agreement on all frames is
reported beside it). A tiny validation set (say 88 frames) would otherwise fail fp16 on a single
coin-flip frame. The gate must judge most of the evaluation, though: when more than ``MAX_TIE_SHARE``
(20 %) of the frames are near ties, agreement cannot judge the artifact, and the verdict falls back to
accuracy: engine and PyTorch are scored against the frames' labels and compared per SNR and overall
with the rule of ``amc eval-engine`` (``amc.stats``: PASS when the 99 % paired interval of Δ lies inside
the ``accuracy`` tolerance, DRIFT when |Δ| exceeds it and the exact McNemar test rejects at 1 %
family-wise, else INCONCLUSIVE: the export is kept, marked inconclusive, and its summary says to run
``amc eval-engine``, which adds frames until it can tell). The accuracy tolerances are eval-engine's too.
Because an untrained or badly calibrated model can make nearly every frame a near tie, the mean
total-variation distance between the two softmax outputs (half the L1 distance per frame, averaged over
frames) is bounded whatever the verdict: that catches a broken artifact whatever the margins.
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
from amc.export.errors import ExportError
from amc.stats import paired_family, summary


@dataclass(frozen=True)
class Tolerance:
    max_abs_logit: float | None  # bound on max |Δlogit| (None: reported, not checked)
    min_agreement: float  # argmax agreement with PyTorch, near ties excluded
    tie_margin: float  # top-1 / top-2 logit gap below which a frame is a near tie
    max_mean_tv: float  # bound on the mean total-variation distance of the softmax outputs
    accuracy_pp: float  # accuracy drift allowed (percentage points): parity fallback and eval-engine


TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(1e-3, 0.999, 1e-3, 1e-4, 0.1),
    "fp16": Tolerance(None, 0.99, 0.05, 0.01, 0.5),
    "bf16": Tolerance(None, 0.99, 0.1, 0.02, 1.0),
    "int8": Tolerance(None, 0.95, 0.25, 0.05, 1.0),
    "int8-dynamic": Tolerance(None, 0.95, 0.25, 0.05, 1.0),
}
PRECISIONS = tuple(TOLERANCES)
MAX_TIE_SHARE = 0.2  # above this share of near ties, agreement cannot judge: accuracy does


@dataclass
class Frames:
    """Frames for parity or calibration, with their labels where known."""

    x: np.ndarray  # (n, 2, L) float32
    labels: np.ndarray  # class index in the checkpoint's class order (-1: a class the checkpoint lacks)
    snr: np.ndarray  # dB
    source: str  # e.g. "512 val split frames of data.h5"
    notes: list[str]

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
        if data:  # the user named it: a typo must not silently turn into synthetic frames
            raise ExportError(f"--data {data}: {str(e).split(';')[0]}; give the training dataset or leave --data "
                              "out") from None
        return None, None, [f"dataset unavailable ({str(e).split(';')[0]})"]
    if ds.frame_length != int(ckpt["frame_length"]):
        ds.close()
        return None, None, [f"{path} has frame length {ds.frame_length}, the model takes {ckpt['frame_length']}"]
    try:
        split = split_from_identity(ds.labels, ds.snr, ckpt.get("split", {}), ds.fingerprints(), ds.probe())
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


def _class_index(ckpt: dict[str, Any], names: list[str]) -> np.ndarray:
    """Index into `names` -> index into the checkpoint's classes (-1 where it lacks the class)."""
    where = {c: i for i, c in enumerate(ckpt["classes"])}
    return np.array([where.get(c, -1) for c in names], dtype=np.int64)


def _from_dataset(ckpt: dict[str, Any], data: str | Path | None, part: str, n: int) -> Frames | list[str]:
    ds, split, notes = _split(ckpt, data)
    if ds is None:
        return notes
    try:
        index = getattr(split, part) if split is not None else np.arange(len(ds))
        pick = _spread(index, ds.snr, n, np.random.default_rng(SEED))
        what = f"{part} split frames" if split is not None else "frames"  # not "512 frames frames"
        b = ds.read(pick, with_clean=False)
        # the file's name only: metadata carries no path of the machine that exported
        return Frames(b.x, _class_index(ckpt, ds.classes)[b.labels], b.snr,
                      f"{len(pick)} {what} of {ds.path.name}", notes)
    finally:
        ds.close()


def synthetic_frames(ckpt: dict[str, Any], n: int) -> Frames:
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
    made = synthesize(cfg)
    pick = np.sort(np.random.default_rng(SEED).choice(len(made.x), min(n, len(made.x)), replace=False))
    return Frames(made.x[pick], _class_index(ckpt, made.classes)[made.labels[pick]], made.snr[pick],
                  f"{len(pick)} synthetic frames ({n_classes} {best} classes)", [])


def frames_for(ckpt: dict[str, Any], data: str | Path | None, part: str, n: int) -> Frames:
    """The dataset's `part` split (val / train), else synthetic frames (with a note saying so)."""
    got = _from_dataset(ckpt, data, part, n)
    if isinstance(got, Frames):
        return got
    f = synthetic_frames(ckpt, n)
    f.notes = [f"{'; '.join(got)}: {'parity' if part == 'val' else 'calibration'} on {f.source} "
               f"instead of {part} frames (pass --data to use the training dataset)"]
    return f


def _accuracy(ref_top: np.ndarray, top: np.ndarray, labels: np.ndarray, snr: np.ndarray, tol_pp: float
              ) -> dict[str, Any]:
    """Engine vs PyTorch accuracy on the same labelled frames, overall and per SNR, under eval-engine's rule
    (``amc.stats.paired_family``): PASS, DRIFT or INCONCLUSIVE."""
    word, overall, _, per = paired_family(snr, ref_top == labels, top == labels, tol_pp)
    drifted = [float(k) for k, c in per.items() if c.drift]
    return {"verdict": word, "summary": summary(word, overall), "reference": overall.reference,
            "engine": overall.engine, "delta_pp": overall.delta_pp, "ci_pp": list(overall.ci_pp), "p": overall.p,
            "level": overall.level, "tolerance_pp": tol_pp, "overall_drift": overall.drift,
            "drifted_snrs": drifted, "frames_needed": overall.frames_needed, "passed": word == "PASS"}


def compare(reference: dict[str, np.ndarray], got: dict[str, np.ndarray], precision: str, source: str,
            labels: np.ndarray | None = None, snr: np.ndarray | None = None) -> dict[str, Any]:
    """Parity summary of `got` against `reference` under the precision's tolerance.

    Judged on argmax agreement over the frames that are not near ties while those are at least
    1 - MAX_TIE_SHARE of the frames; otherwise on accuracy against `labels` (per SNR `snr`), and when
    there are no labels, not at all (``judged_on`` "nothing", not passed)."""
    tol = TOLERANCES[precision]
    ref_logits, logits = reference["logits"].astype(np.float64), got["logits"].astype(np.float64)
    ref_top, top = ref_logits.argmax(1), logits.argmax(1)
    agree = ref_top == top
    if ref_logits.shape[1] > 1:
        ordered = np.sort(ref_logits, axis=1)
        tie = (ordered[:, -1] - ordered[:, -2]) < tol.tie_margin
    else:
        tie = np.zeros(len(agree), bool)
    share = float(tie.mean())
    judged = float(agree[~tie].mean()) if (~tie).any() else float("nan")
    max_abs = float(np.abs(ref_logits - logits).max())
    diffs = {f"max_abs_{k}": float(np.abs(reference[k].astype(np.float64) - got[k]).max())
             for k in ("probs", "eta", "snr_db") if k in reference and k in got}
    tv = float(0.5 * np.abs(reference["probs"].astype(np.float64) - got["probs"]).sum(1).mean())
    accuracy = None
    unresolved = False  # accuracy cannot tell on these frames: INCONCLUSIVE, not a failure
    if share <= MAX_TIE_SHARE:
        judged_on, verdict_ok = "agreement", judged >= tol.min_agreement
    elif labels is not None and snr is not None:
        accuracy = _accuracy(ref_top, top, np.asarray(labels), np.asarray(snr), tol.accuracy_pp)
        judged_on, verdict_ok = "accuracy", accuracy["passed"]
        unresolved = accuracy["verdict"] == "INCONCLUSIVE"
    else:
        judged_on, verdict_ok = "nothing", False
    bounded = (tv <= tol.max_mean_tv and (tol.max_abs_logit is None or max_abs <= tol.max_abs_logit)
               and bool(np.isfinite(logits).all()))
    passed = verdict_ok and bounded
    verdict = "pass" if passed else "inconclusive" if unresolved and bounded else "FAIL"
    return {"frames": int(len(agree)), "source": source, "max_abs_logit": max_abs, **diffs,
            "mean_tv": tv, "agreement": float(agree.mean()), "agreement_judged": judged,
            "near_ties": int(tie.sum()), "near_tie_share": share, "judged_on": judged_on, "accuracy": accuracy,
            "tolerance": {"max_abs_logit": tol.max_abs_logit, "min_agreement": tol.min_agreement,
                          "tie_margin": tol.tie_margin, "max_mean_tv": tol.max_mean_tv,
                          "accuracy_pp": tol.accuracy_pp, "max_tie_share": MAX_TIE_SHARE},
            "passed": bool(passed), "verdict": verdict}


def summary_line(p: dict[str, Any], precision: str) -> str:
    """What was compared, what the verdict rests on, the verdict and the bounds it used, in at most three
    80-column lines (every number is in the metadata's ``parity``)."""
    if p.get("deferred"):  # an engine built where it cannot run (amc.export.pipeline._deferred)
        return str(p["line"])
    tol = p["tolerance"]
    ties = f"{p['near_ties']} near ties ({100 * p['near_tie_share']:.1f} %)"
    if p["judged_on"] == "agreement":
        body = f"agreement {100 * p['agreement_judged']:.2f} % on {p['frames'] - p['near_ties']} frames ({ties} aside)"
        rule = f">= {100 * tol['min_agreement']:g} %"
    elif p["judged_on"] == "accuracy":
        body = f"{ties} > {100 * tol['max_tie_share']:g} %: cannot judge, so accuracy: {p['accuracy']['summary']}"
        rule = f"CI inside ±{tol['accuracy_pp']:g} pp"
    else:
        body = f"{ties} > {100 * tol['max_tie_share']:g} % and no labels: cannot judge"
        rule = "labels needed"
    bound = f", |Δlogit| <= {tol['max_abs_logit']:g}" if tol["max_abs_logit"] is not None else ""
    verdict = p.get("verdict", "pass" if p["passed"] else "FAIL")
    tail = "; check with amc eval-engine" if verdict == "inconclusive" else ""
    return (f"parity vs PyTorch on {p['source']}: {body}; |Δlogit| {p['max_abs_logit']:.2g}, TV {p['mean_tv']:.2g} "
            f"-> {verdict} ({precision}: {rule}{bound}, TV <= {tol['max_mean_tv']:g}){tail}")
