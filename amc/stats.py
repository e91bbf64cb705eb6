"""The drift rule: is an engine's accuracy different from its reference's, beyond tolerance and noise?

Two comparisons, each with the test that fits it:

* **Paired** (engine and reference scored on the same frames, frame by frame): only the discordant
  frames carry information. With ``b`` frames the reference gets right and the engine wrong and ``c``
  the reverse, ``Δ = (c - b) / n``; under "no difference" c ~ Binomial(b + c, 1/2). The p-value is the
  exact McNemar test (two-sided exact binomial, ``scipy.stats.binomtest``), the interval of Δ the
  Clopper-Pearson interval of c / (b + c) mapped onto Δ (conditional on b + c). The two agree exactly:
  the interval excludes 0 when p < 1 - level.
* **Unpaired** (different frames, or per-frame results unknown): Newcombe's hybrid score interval for
  a difference of two independent proportions, built from the two Wilson intervals. On frames that are
  in fact the same it is conservative (wider than the truth), so it never cries wolf there either.

A difference is **drift** when |Δ| exceeds the precision's tolerance *and* the test says it is not
noise at the family level: ``alpha`` (default 1 %) is split evenly over the SNRs compared (Bonferroni),
so twenty SNRs of a healthy engine raise a false alarm at most 1 % of the time, not 20 %. The overall
accuracy is tested on its own at ``alpha``. Intervals are reported at the same per-test level, so a
drawn interval that clears zero and the tolerance band is exactly a drifted point.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from amc.metrics import snr_key, wilson_interval

ALPHA = 0.01  # family-wise false-alarm rate of the drift gate


@dataclass
class Comparison:
    """One engine-vs-reference comparison (an SNR, or all frames)."""

    n: int  # frames (engine); for unpaired comparisons n_ref may differ
    reference: float  # reference accuracy
    engine: float  # engine accuracy
    delta_pp: float  # engine - reference, percentage points
    ci_pp: tuple[float, float]  # interval of delta_pp at `level`
    level: float  # confidence level of ci_pp (1 - alpha / comparisons)
    p: float | None  # exact McNemar p-value (paired); None for unpaired
    drift: bool  # |delta| > tolerance and the interval excludes 0
    paired: bool
    ref_only: int | None = None  # b: frames the reference gets right and the engine wrong (paired)
    engine_only: int | None = None  # c: frames the engine gets right and the reference wrong (paired)
    n_ref: int | None = None  # reference frames (unpaired)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ci_pp"] = list(self.ci_pp)
        return d


def paired(ref_ok: np.ndarray, eng_ok: np.ndarray, tol_pp: float, level: float = 1 - ALPHA) -> Comparison:
    """Compare per-frame correctness of the same frames (bool arrays of equal length)."""
    ref_ok, eng_ok = np.asarray(ref_ok, bool), np.asarray(eng_ok, bool)
    n = len(ref_ok)
    b = int((ref_ok & ~eng_ok).sum())
    c = int((~ref_ok & eng_ok).sum())
    return paired_counts(n, int(ref_ok.sum()), b, c, tol_pp, level)


def paired_counts(n: int, ref_correct: int, b: int, c: int, tol_pp: float, level: float = 1 - ALPHA) -> Comparison:
    """The paired rule from counts: n frames, the reference right on ref_correct, discordant b / c."""
    if n <= 0:
        raise ValueError("a comparison needs at least one frame")
    m = b + c
    delta = (c - b) / n
    if m == 0:
        p, lo, hi = 1.0, 0.0, 0.0
    else:
        from scipy.stats import binomtest  # lazy: scipy.stats takes ~2 s to import, `amc --help` pays none

        t = binomtest(c, m, 0.5)
        p = float(t.pvalue)
        ci = t.proportion_ci(confidence_level=level, method="exact")
        lo, hi = (2 * ci.low - 1) * m / n, (2 * ci.high - 1) * m / n
    drift = abs(100 * delta) > tol_pp and not lo <= 0.0 <= hi
    return Comparison(n=n, reference=ref_correct / n, engine=(ref_correct - b + c) / n, delta_pp=100 * delta,
                      ci_pp=(100 * lo, 100 * hi), level=level, p=p, drift=bool(drift), paired=True,
                      ref_only=b, engine_only=c)


def unpaired_counts(ref_correct: int, n_ref: int, eng_correct: int, n: int, tol_pp: float,
                    level: float = 1 - ALPHA) -> Comparison:
    """Newcombe's hybrid score interval (from two Wilson intervals) for engine - reference."""
    if n <= 0 or n_ref <= 0:
        raise ValueError("a comparison needs at least one frame on each side")
    from scipy.stats import norm

    z = float(norm.ppf(1 - (1 - level) / 2))
    p1, p2 = eng_correct / n, ref_correct / n_ref
    l1, u1 = wilson_interval(eng_correct, n, z)
    l2, u2 = wilson_interval(ref_correct, n_ref, z)
    delta = p1 - p2
    lo = delta - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = delta + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    drift = abs(100 * delta) > tol_pp and not lo <= 0.0 <= hi
    return Comparison(n=n, reference=p2, engine=p1, delta_pp=100 * delta, ci_pp=(100 * lo, 100 * hi), level=level,
                      p=None, drift=bool(drift), paired=False, n_ref=n_ref)


def level_text(level: float) -> str:
    """A confidence level as the reports write it: 0.99 -> '99 %', 0.9995 -> '99.95 %'."""
    return f"{100 * level:.3f}".rstrip("0").rstrip(".") + " %"


def per_level(comparisons: int, alpha: float = ALPHA) -> float:
    """Confidence level of each of `comparisons` tests so that the family errs with probability <= alpha."""
    return 1 - alpha / max(1, comparisons)


def paired_by_snr(snr: np.ndarray, ref_ok: np.ndarray, eng_ok: np.ndarray, tol_pp: float,
                  alpha: float = ALPHA) -> tuple[Comparison, dict[str, Comparison]]:
    """(overall, {snr key: comparison}) for per-frame results of the same frames."""
    snr = np.asarray(snr, dtype=np.float64)
    groups = np.unique(snr)
    level = per_level(len(groups), alpha)
    per = {snr_key(s): paired(ref_ok[snr == s], eng_ok[snr == s], tol_pp, level) for s in groups}
    return paired(ref_ok, eng_ok, tol_pp, 1 - alpha), per
