"""Engine vs reference, overall, per band and per SNR, under the gate's rule (``amc.stats``).

Takes the per-frame results of one evaluation (``Scores``) and the reference (``amc.eval.reference``)
and returns the report's comparison part: every number the report, the terminal summary and the
figure show, with the verdict PASS / DRIFT / INCONCLUSIVE and, when the frames cannot tell, how many
would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from amc.eval.reference import Reference
from amc.metrics import snr_key
from amc.stats import (
    ALPHA,
    EXIT_CODES,
    LEVEL,
    Comparison,
    groups,
    level_text,
    paired_family,
    summary,
    unpaired_counts,
    verdict,
)


@dataclass
class Scores:
    """Per-frame results of the engine (and of the reference where it is paired) on the scored frames."""

    engine_pred: np.ndarray  # engine class index per frame
    labels: np.ndarray  # dataset class index per frame
    snr: np.ndarray
    reference_pred: np.ndarray | None  # reference class index (engine class order) per frame, paired only
    summary: dict[str, Any]  # amc.metrics summary of the engine (accuracy, per SNR, eta / SNR errors)
    confusion: list[list[int]]
    max_abs_dlogit: float | None  # against a PyTorch reference


def _ref_counts(record: dict[str, Any], key: str, n: int) -> tuple[int, int] | None:
    counts, per_acc = record.get("counts") or {}, record.get("per_snr") or {}
    if key in counts:
        return int(counts[key][0]), int(counts[key][1])
    if key in per_acc:  # accuracy only: as if measured on as many frames as the engine's
        return int(round(float(per_acc[key]) * n)), n
    return None


def _unpaired(scores: Scores, eng_ok: np.ndarray, record: dict[str, Any], tol: float, bands: dict | None
              ) -> tuple[str, Comparison, dict[str, Comparison], dict[str, Comparison | None]]:
    """Engine counts against the reference's stored per-SNR counts (different, or unknown, frames)."""
    snr = np.asarray(scores.snr, np.float64)
    values, masks = groups(snr, bands)
    per: dict[str, Comparison | None] = {}
    ref_at: dict[float, tuple[int, int]] = {}
    for s in values:
        ok = eng_ok[snr == s]
        got = _ref_counts(record, snr_key(s), len(ok))
        per[snr_key(s)] = None if got is None else unpaired_counts(got[0], got[1], int(ok.sum()), len(ok), tol)
        if got is not None:
            ref_at[s] = got

    def pooled(keep: np.ndarray) -> Comparison | None:
        inside = [s for s in ref_at if keep[snr == s].all()]
        if not inside:
            return None
        m = np.isin(snr, inside) & keep
        k_ref, n_ref = (sum(ref_at[s][i] for s in inside) for i in (0, 1))
        return unpaired_counts(k_ref, n_ref, int(eng_ok[m].sum()), int(m.sum()), tol)

    overall = pooled(np.ones(len(snr), bool))
    if overall is None:
        raise ValueError("the reference covers none of the SNRs scored")
    band = {k: c for k, m in masks.items() if (c := pooled(m)) is not None}
    compared = {k: c for k, c in per.items() if c is not None}
    return verdict(overall, band, compared), overall, band, per


def _rule_text(tol: float, paired: bool, k: int) -> str:
    interval = "Tango paired score interval" if paired else "Newcombe unpaired interval"
    return (f"PASS = the {level_text(LEVEL)} CI of Δ ({interval}) inside ±{tol:g} pp overall, per band and per "
            f"SNR with frames enough; DRIFT = Δ shown beyond ±{tol:g} pp at {100 * ALPHA:g} % family-wise (Holm "
            f"over {k} comparisons); else INCONCLUSIVE")


def _limits(overall: Comparison, band: dict[str, Comparison], per: dict[str, Comparison], frames: int
            ) -> list[dict[str, Any]]:
    """The required comparisons whose interval still leaves ±tolerance (what makes a verdict INCONCLUSIVE),
    with the total frames that would resolve each at the rates seen (frames scale with the whole)."""
    out = []
    for name, c in [("overall", overall), *((f"band {k}", v) for k, v in band.items()),
                    *((f"{k} dB", v) for k, v in per.items())]:
        if c.required and not c.within and not c.drift:
            need = None if c.frames_needed is None else int(math.ceil(c.frames_needed * frames / c.n))
            out.append({"comparison": name, "frames": c.n, "frames_needed": c.frames_needed,
                        "total_frames_needed": need, "mdd_pp": c.mdd_pp})
    return out


def compare(scores: Scores, ref: Reference, mapping: np.ndarray, tol: float, bands: dict | None) -> dict[str, Any]:
    """The comparison part of the report (see the module docstring)."""
    eng_ok = mapping[scores.engine_pred] == scores.labels
    agreement = None
    if ref.paired:
        assert scores.reference_pred is not None
        ref_ok = mapping[scores.reference_pred] == scores.labels
        word, overall, band, per_c = paired_family(scores.snr, ref_ok, eng_ok, tol, bands)
        per: dict[str, Comparison | None] = dict(per_c)
        agreement = float((scores.engine_pred == scores.reference_pred).mean())
    else:
        assert ref.record is not None
        word, overall, band, per = _unpaired(scores, eng_ok, ref.record, tol, bands)
    rows = []
    for key, c in per.items():
        n = scores.summary["counts"][key][1]
        rows.append({"snr": float(key), **(c.to_dict() if c is not None else
                                          {"n": n, "reference": None, "engine": scores.summary["per_snr"][key],
                                           "delta_pp": None, "ci_pp": None, "p": None, "p_holm": None,
                                           "drift": False, "within": False, "required": False,
                                           "status": "-"})})
    compared = {k: c for k, c in per.items() if c is not None}
    snr = np.asarray(scores.snr, np.float64)
    band_rows = {}
    for name, c in band.items():
        lo, hi = bands[name] if bands else (-math.inf, math.inf)
        inside = sorted({float(s) for s in snr[(snr >= lo) & (snr <= hi)]})
        band_rows[name] = {"range": [lo, hi], "snrs": len(inside), "frames": c.n, **c.to_dict(),
                           "drifted_snrs": [s for s in inside if (x := per.get(snr_key(s))) is not None and x.drift]}
    drifted = [r["snr"] for r in rows if r["drift"]]
    k = 1 + len(band) + len(compared)
    return {"verdict": word, "passed": word == "PASS", "exit_code": EXIT_CODES[word],
            "summary": summary(word, overall),
            "reference": ref.to_dict(), "frames": int(len(eng_ok)), "tolerance_pp": tol,
            "reference_acc": overall.reference, "engine_acc": overall.engine, "delta_pp": overall.delta_pp,
            "ci_pp": list(overall.ci_pp), "level": LEVEL,
            "overall": overall.to_dict(), "agreement": agreement, "torch_max_abs_dlogit": scores.max_abs_dlogit,
            "per_snr": rows, "bands": band_rows, "drifted_snrs": drifted,
            "drifted_bands": [name for name, c in band.items() if c.drift],
            "limits": _limits(overall, band, compared, int(len(eng_ok))) if word == "INCONCLUSIVE" else [],
            "rule": {"tolerance_pp": tol, "alpha": ALPHA, "level": LEVEL, "paired": ref.paired,
                     "comparisons": k, "snrs_compared": len(compared),
                     "snrs_required": sum(c.required for c in compared.values()),
                     "snr_level": LEVEL, "text": _rule_text(tol, ref.paired, k)}}
