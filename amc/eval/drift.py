"""Engine vs reference, per SNR, per band and overall, under the drift rule of ``amc.stats``.

Takes the per-frame results of one evaluation (``Scores``) and the reference (``amc.eval.reference``)
and returns the report's comparison part: every number the report, the terminal summary and the
figure show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from amc.eval.reference import Reference
from amc.metrics import band_means, snr_key
from amc.stats import ALPHA, Comparison, paired_by_snr, per_level, unpaired_counts


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


def _unpaired(scores: Scores, eng_ok: np.ndarray, record: dict[str, Any], tol: float
              ) -> tuple[Comparison, dict[str, Comparison | None]]:
    """Engine counts against the reference's stored per-SNR counts (different, or unknown, frames)."""
    counts, per_acc = record.get("counts") or {}, record.get("per_snr") or {}
    values, group = np.unique(scores.snr, return_inverse=True)
    keys = [snr_key(s) for s in values]
    level = per_level(sum(k in per_acc for k in keys))
    per: dict[str, Comparison | None] = {}
    tot = [0, 0, 0, 0]  # reference correct / frames, engine correct / frames (over the compared SNRs)
    for g, key in enumerate(keys):
        ok = eng_ok[group.reshape(-1) == g]
        if key not in per_acc:
            per[key] = None
            continue
        k_ref, n_ref = counts[key] if key in counts else (round(per_acc[key] * len(ok)), len(ok))
        per[key] = unpaired_counts(int(k_ref), int(n_ref), int(ok.sum()), len(ok), tol, level)
        tot = [tot[0] + int(k_ref), tot[1] + int(n_ref), tot[2] + int(ok.sum()), tot[3] + len(ok)]
    if not tot[1]:
        raise ValueError("the reference covers none of the SNRs scored")
    return unpaired_counts(tot[0], tot[1], tot[2], tot[3], tol, 1 - ALPHA), per


def _rule_text(tol: float, paired: bool, k: int) -> str:
    test = "exact McNemar test (paired: same frames)" if paired else "Newcombe interval (unpaired)"
    return f"drift = |Δ| > {tol:g} pp and {test} at 1 % family-wise (Bonferroni over {k} SNR{'s' * (k != 1)})"


def compare(scores: Scores, ref: Reference, mapping: np.ndarray, tol: float, bands: dict | None) -> dict[str, Any]:
    """The comparison part of the report (see the module docstring)."""
    eng_ok = mapping[scores.engine_pred] == scores.labels
    agreement = None
    if ref.paired:
        assert scores.reference_pred is not None
        ref_ok = mapping[scores.reference_pred] == scores.labels
        overall, per = paired_by_snr(scores.snr, ref_ok, eng_ok, tol)
        per_any: dict[str, Comparison | None] = dict(per)
        agreement = float((scores.engine_pred == scores.reference_pred).mean())
    else:
        assert ref.record is not None
        overall, per_any = _unpaired(scores, eng_ok, ref.record, tol)
    rows = []
    for key, c in per_any.items():
        n = scores.summary["counts"][key][1]
        rows.append({"snr": float(key), **(c.to_dict() if c is not None else
                                          {"n": n, "reference": None, "engine": scores.summary["per_snr"][key],
                                           "delta_pp": None, "ci_pp": None, "p": None, "drift": False})})
    drifted = [r["snr"] for r in rows if r["drift"]]
    compared = [r for r in rows if r["reference"] is not None]
    ref_curve = {snr_key(r["snr"]): r["reference"] for r in compared}
    eng_curve = {snr_key(r["snr"]): r["engine"] for r in compared}
    ref_bands, eng_bands = band_means(ref_curve, bands), band_means(eng_curve, bands)
    band_rows = {}
    for name, (lo, hi) in (bands or {}).items():
        inside = [r for r in compared if lo <= r["snr"] <= hi]
        if not inside:  # a band the scored frames do not reach is left out
            continue
        band_rows[name] = {"range": [lo, hi], "snrs": len(inside), "frames": sum(r["n"] for r in inside),
                           "reference": ref_bands[name], "engine": eng_bands[name],
                           "delta_pp": 100 * (eng_bands[name] - ref_bands[name]),
                           "drifted_snrs": [r["snr"] for r in inside if r["drift"]]}
    passed = not overall.drift and not drifted
    return {"verdict": "PASS" if passed else "DRIFT", "passed": passed, "exit_code": 0 if passed else 1,
            "reference": ref.to_dict(), "frames": int(len(eng_ok)), "tolerance_pp": tol,
            "reference_acc": overall.reference, "engine_acc": overall.engine, "delta_pp": overall.delta_pp,
            "overall": overall.to_dict(), "agreement": agreement, "torch_max_abs_dlogit": scores.max_abs_dlogit,
            "per_snr": rows, "bands": band_rows, "drifted_snrs": drifted,
            "rule": {"tolerance_pp": tol, "alpha": ALPHA, "paired": ref.paired, "snrs_compared": len(compared),
                     "snr_level": per_level(len(compared)), "text": _rule_text(tol, ref.paired, len(compared))}}
