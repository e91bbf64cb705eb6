"""The gate's rule: is an engine's accuracy within tolerance of its reference's, shown beyond noise?

Each comparison (all frames, an SNR band, one SNR) gets an interval of Δ = engine - reference
accuracy at ``LEVEL`` (99 %), from the method that fits it:

* **Paired** (engine and reference scored on the same frames): only the discordant frames carry
  information (``b``: the reference right and the engine wrong, ``c`` the reverse; Δ = (c - b) / n).
  The interval is Tango's score interval for a difference of paired proportions (Tango 1998,
  Stat Med 17:891; Newcombe 1998's method 10 family): it keeps its coverage with few discordant
  frames and, unlike an interval conditional on b + c, stays honest when there are none (no flips in
  1,000 frames does not show |Δ| < 0.1 pp). The test of equality is the exact McNemar test (two-sided
  binomial on b + c, ``scipy.stats.binomtest``).
* **Unpaired** (different frames, or stored per-SNR counts only): Newcombe's hybrid score interval
  from the two Wilson intervals; the test of equality is that interval inverted (the p at which
  its bound touches 0).

The verdict of a family of comparisons (``verdict``):

* **PASS** when every required interval lies inside ±tolerance: overall, each band, and each SNR with
  frames enough to resolve the tolerance at the discordance seen overall (``resolvable``). This is
  an intersection-union test (Berger 1982): each interval is a 99 % two-sided one, i.e. two one-sided
  tests at 0.5 %, and PASS needs them all, so an engine that is out of tolerance anywhere that is
  required passes with probability <= 0.5 %: no multiplicity correction is needed (or correct) here.
* **DRIFT** when some comparison (overall, a band or any SNR) is shown beyond the tolerance: the test of
  |Δ| <= tolerance (the score statistic at the nearer edge of ±tolerance, two-sided p) rejects at
  ``ALPHA`` (1 %) family-wise, Holm's step-down over every comparison made. An engine within tolerance
  everywhere is called DRIFT at most 1 % of the time, however many SNRs are compared and however many
  frames are scored (a test of equality alone would flag an engine 0.5 pp worse at a 1 pp tolerance
  once the frames see through the noise). Each comparison also reports the exact McNemar p of Δ = 0.
* **INCONCLUSIVE** otherwise: the frames cannot tell. Each comparison then carries the drift it could
  detect (``mdd_pp``) and the frames it would need (``frames_needed``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from amc.metrics import snr_key, wilson_interval

ALPHA = 0.01  # family-wise false-alarm rate of DRIFT (Holm), and 1 - LEVEL
LEVEL = 1 - ALPHA  # confidence level of every interval (PASS: intersection-union, no correction needed)
POWER = 0.9  # the power `mdd_pp` is quoted at
VERDICTS = ("PASS", "DRIFT", "INCONCLUSIVE")
EXIT_CODES = {"PASS": 0, "DRIFT": 1, "INCONCLUSIVE": 4}  # 2: user errors, 3: a bug in amc (amc.cli.evaluate)
MAX_FRAMES = 10**9  # frames_needed beyond this are reported as this


@functools.lru_cache(maxsize=64)
def _z(level: float) -> float:
    from scipy.stats import norm  # lazy: scipy.stats takes seconds to import

    return float(norm.ppf(1 - (1 - level) / 2))


@dataclass
class Comparison:
    """One engine-vs-reference comparison (all frames, a band, or one SNR)."""

    n: int  # frames (engine); for unpaired comparisons n_ref may differ
    reference: float  # reference accuracy
    engine: float  # engine accuracy
    delta_pp: float  # engine - reference, percentage points
    ci_pp: tuple[float, float]  # interval of delta_pp at `level`
    level: float  # confidence level of ci_pp
    p: float  # test of equality (exact McNemar paired; inverted Newcombe unpaired)
    tolerance_pp: float
    paired: bool
    ref_only: int | None = None  # b: frames the reference gets right and the engine wrong (paired)
    engine_only: int | None = None  # c: frames the engine gets right and the reference wrong (paired)
    n_ref: int | None = None  # reference frames (unpaired)
    p_beyond: float = 1.0  # test of |Δ| <= tolerance (two-sided score p at the nearer edge of ±tolerance)
    p_holm: float | None = None  # p_beyond adjusted by Holm over the family (set by `verdict`)
    required: bool = True  # whether PASS needs this interval inside ±tolerance (set by `verdict`)
    mdd_pp: float = math.nan  # |Δ| flagged DRIFT with ~POWER probability at these frames (normal approx.)
    frames_needed: int | None = None  # frames for the interval to resolve the tolerance at these rates

    @property
    def within(self) -> bool:
        """The interval lies inside ±tolerance: shown to be within tolerance."""
        return -self.tolerance_pp < self.ci_pp[0] and self.ci_pp[1] < self.tolerance_pp

    @property
    def drift(self) -> bool:
        """Shown beyond the tolerance: |Δ| <= tolerance rejected family-wise (after `verdict` set p_holm)."""
        p = self.p_beyond if self.p_holm is None else self.p_holm
        return abs(self.delta_pp) > self.tolerance_pp and p < ALPHA

    @property
    def status(self) -> str:
        return "DRIFT" if self.drift else "PASS" if self.within else "INCONCLUSIVE"

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(ci_pp=list(self.ci_pp), within=self.within, drift=self.drift, status=self.status)
        return d


# -- paired: Tango's score interval ---------------------------------------------------------------------
def tango_score(b: Any, c: Any, n: Any, delta: Any) -> np.ndarray:
    """Tango's score statistic for H0: Δ = delta (Δ = (c - b) / n), elementwise; decreasing in delta.
    The constrained MLE of the share of b-type frames is the positive root of a quadratic (closed form)."""
    b, c, n, delta = (np.asarray(v, dtype=np.float64) for v in (b, c, n, delta))
    m0 = n - b - c
    big_b = c * (1 - delta) + b * (1 - 3 * delta) - 2 * m0 * delta
    q = (big_b + np.sqrt(np.maximum(0.0, big_b * big_b + 8 * n * b * delta * (1 - delta)))) / (4 * n)
    q = np.minimum(np.maximum(q, np.maximum(0.0, -delta)), (1 - delta) / 2)
    var = n * (2 * q + delta * (1 - delta))
    num = c - b - n * delta
    with np.errstate(divide="ignore", invalid="ignore"):
        t = num / np.sqrt(var)
    return np.where(var > 0, t, np.where(num == 0, 0.0, np.copysign(np.inf, num)))


def tango_bounds(b: Any, c: Any, n: Any, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Tango's score interval of Δ = (c - b) / n (fractions), elementwise over arrays of counts: the Δ where
    the statistic crosses ±z, found by bisection (it is monotone in Δ; 44 halvings of [-1, 1]: 1e-13)."""
    b, c, n = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (b, c, n)))
    z = _z(level)
    d = (c - b) / n
    out = []
    for target, a0, a1 in ((z, -np.ones_like(d), d), (-z, d, np.ones_like(d))):
        lo, hi = a0.copy(), a1.copy()  # statistic - target: >= 0 at lo, <= 0 at hi
        for _ in range(44):
            mid = (lo + hi) / 2
            above = tango_score(b, c, n, mid) - target > 0
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        out.append((lo + hi) / 2)
    return out[0], out[1]


def _score1(b: float, c: float, n: float, delta: float) -> float:
    """tango_score for one comparison, in plain floats (fast for the per-report intervals)."""
    m0 = n - b - c
    big_b = c * (1 - delta) + b * (1 - 3 * delta) - 2 * m0 * delta
    q = (big_b + math.sqrt(max(0.0, big_b * big_b + 8 * n * b * delta * (1 - delta)))) / (4 * n)
    q = min(max(q, max(0.0, -delta)), (1 - delta) / 2)
    var = n * (2 * q + delta * (1 - delta))
    num = c - b - n * delta
    if var <= 0:
        return 0.0 if num == 0 else math.copysign(math.inf, num)
    return num / math.sqrt(var)


def tango_interval(b: float, c: float, n: float, level: float = LEVEL) -> tuple[float, float]:
    """Tango's score interval of Δ = (c - b) / n (fractions, not pp) for n paired frames (``tango_bounds``
    for one comparison)."""
    z = _z(level)
    d = (c - b) / n
    ends = []
    for target, lo, hi in ((z, -1.0, d), (-z, d, 1.0)):
        for _ in range(60):
            mid = (lo + hi) / 2
            if _score1(b, c, n, mid) - target > 0:
                lo = mid
            else:
                hi = mid
        ends.append((lo + hi) / 2)
    return ends[0], ends[1]


def mcnemar_p(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value: c of b + c discordant frames under Binomial(b + c, 1/2)."""
    if b + c == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(int(c), int(b + c), 0.5).pvalue)


def paired_counts(n: int, ref_correct: int, b: int, c: int, tol_pp: float, level: float = LEVEL) -> Comparison:
    """The paired rule from counts: n frames, the reference right on ref_correct, discordant b / c."""
    if n <= 0:
        raise ValueError("a comparison needs at least one frame")
    lo, hi = tango_interval(b, c, n, level)
    out = Comparison(n=n, reference=ref_correct / n, engine=(ref_correct - b + c) / n, delta_pp=100 * (c - b) / n,
                     ci_pp=(100 * lo, 100 * hi), level=level, p=mcnemar_p(b, c), tolerance_pp=tol_pp, paired=True,
                     ref_only=int(b), engine_only=int(c))
    edge = math.copysign(tol_pp / 100, (c - b) / n) if b != c else tol_pp / 100
    out.p_beyond = _two_sided(_score1(b, c, n, edge)) if abs(100 * (c - b) / n) > tol_pp else 1.0
    d = max((b + c) / n, 1 / n)  # discordance (one frame's worth at least: none seen is not none there)
    out.mdd_pp = _mdd(d / n, tol_pp, level)
    out.frames_needed = _frames_needed(lambda k: tango_bounds(b * k / n, c * k / n, k, level), n, tol_pp,
                                       100 * (c - b) / n)
    return out


def paired(ref_ok: np.ndarray, eng_ok: np.ndarray, tol_pp: float, level: float = LEVEL) -> Comparison:
    """Compare per-frame correctness of the same frames (bool arrays of equal length)."""
    ref_ok, eng_ok = np.asarray(ref_ok, bool), np.asarray(eng_ok, bool)
    b = int((ref_ok & ~eng_ok).sum())
    c = int((~ref_ok & eng_ok).sum())
    return paired_counts(len(ref_ok), int(ref_ok.sum()), b, c, tol_pp, level)


# -- unpaired: Newcombe ----------------------------------------------------------------------------------
def _newcombe(k1: float, n1: float, k2: float, n2: float, z: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval of p1 - p2 (p1 = k1 / n1: the engine) at normal quantile z."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, z)  # type: ignore[arg-type]  # Wilson's formula holds for scaled counts
    l2, u2 = wilson_interval(k2, n2, z)  # type: ignore[arg-type]
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def _wilson(k: np.ndarray, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return np.maximum(0.0, centre - half), np.minimum(1.0, centre + half)


def newcombe_bounds(k1: Any, n1: Any, k2: Any, n2: Any, z: float) -> tuple[np.ndarray, np.ndarray]:
    """``_newcombe`` elementwise over arrays of counts."""
    k1, n1, k2, n2 = (np.asarray(v, dtype=np.float64) for v in (k1, n1, k2, n2))
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = _wilson(k1, n1, z)
    l2, u2 = _wilson(k2, n2, z)
    d = p1 - p2
    return d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def _two_sided(t: float) -> float:
    from scipy.stats import norm

    return float(min(1.0, 2 * norm.sf(abs(t))))


def _newcombe_p(k1: int, n1: int, k2: int, n2: int, shift: float = 0.0) -> float:
    """The two-sided p at which Newcombe's interval just touches `shift` (the interval inverted): the test of
    Δ = shift (0: equality; ±tolerance: the edge of the tolerance)."""
    from scipy.stats import norm

    d = k1 / n1 - k2 / n2 - shift
    if d == 0:
        return 1.0
    side = 0 if d > 0 else 1  # the bound that moves towards shift

    def bound(z: float) -> float:
        return _newcombe(k1, n1, k2, n2, z)[side] - shift

    zmax = 30.0
    if (bound(zmax) > 0) == (d > 0):
        return float(2 * norm.sf(zmax))
    lo, hi = 1e-9, zmax  # bound(z) - 0 changes sign between: bisect (monotone in z)
    for _ in range(60):
        mid = (lo + hi) / 2
        if (bound(mid) > 0) == (d > 0):
            lo = mid
        else:
            hi = mid
    return float(2 * norm.sf((lo + hi) / 2))


def unpaired_counts(ref_correct: int, n_ref: int, eng_correct: int, n: int, tol_pp: float,
                    level: float = LEVEL) -> Comparison:
    """Newcombe's hybrid score interval (from two Wilson intervals) for engine - reference."""
    if n <= 0 or n_ref <= 0:
        raise ValueError("a comparison needs at least one frame on each side")
    z = _z(level)
    lo, hi = _newcombe(eng_correct, n, ref_correct, n_ref, z)
    p1, p2 = eng_correct / n, ref_correct / n_ref
    out = Comparison(n=n, reference=p2, engine=p1, delta_pp=100 * (p1 - p2), ci_pp=(100 * lo, 100 * hi), level=level,
                     p=_newcombe_p(eng_correct, n, ref_correct, n_ref), tolerance_pp=tol_pp, paired=False,
                     n_ref=n_ref)
    out.p_beyond = _newcombe_p(eng_correct, n, ref_correct, n_ref, shift=math.copysign(tol_pp / 100, p1 - p2)) \
        if abs(100 * (p1 - p2)) > tol_pp else 1.0
    var = max(p1 * (1 - p1), 1 / n) / n + max(p2 * (1 - p2), 1 / n_ref) / n_ref
    out.mdd_pp = _mdd(var, tol_pp, level)
    ratio = n_ref / n  # the reference's frames grow with the engine's (a fresh draw of both)
    out.frames_needed = _frames_needed(lambda k: newcombe_bounds(p1 * k, k, p2 * k * ratio, k * ratio, z), n,
                                       tol_pp, 100 * (p1 - p2))
    return out


# -- what the frames could tell --------------------------------------------------------------------------
def _mdd(var: float, tol_pp: float, level: float) -> float:
    """The |Δ| (pp) that is flagged DRIFT with ~POWER probability when Δ̂ has variance `var` (fractions²):
    it must clear both the tolerance and the test's noise level (normal approximation)."""
    se = 100 * math.sqrt(var)
    return min(200.0, max(tol_pp, _z(level) * se) + _z(2 * POWER - 1) * se)


GRID = np.unique(np.ceil(np.geomspace(1, MAX_FRAMES, 400)))  # frame counts `_frames_needed` tries (5 % apart)


def _frames_needed(bounds_at, n: int, tol_pp: float, delta_pp: float) -> int | None:
    """Smallest frame count k (to ~5 %) at which bounds_at(k) (the rates seen, scaled to k frames; arrays
    in, (lo, hi) arrays out) clears the tolerance: inside ±tol when |Δ̂| < tol, wholly outside when
    |Δ̂| > tol. None when |Δ̂| = tol; MAX_FRAMES when even that many would not do."""
    if abs(delta_pp) == tol_pp:
        return None
    t = tol_pp / 100
    lo, hi = bounds_at(GRID)
    ok = ((-t < lo) & (hi < t)) if abs(delta_pp) < tol_pp else ((lo > t) | (hi < -t))
    return int(GRID[np.argmax(ok)]) if ok.any() else MAX_FRAMES


# -- the family ------------------------------------------------------------------------------------------
def holm(p: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as p)."""
    order = np.argsort(p, kind="stable")
    m, out, running = len(p), [1.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def resolvable(c: Comparison, frames_needed: int | None) -> bool:
    """An SNR is required for PASS when it has the frames the whole comparison would need (at the
    discordance seen over all frames) to resolve the tolerance."""
    return frames_needed is not None and c.n >= frames_needed


def verdict(overall: Comparison, bands: dict[str, Comparison], snrs: dict[str, Comparison]) -> str:
    """PASS / DRIFT / INCONCLUSIVE of a family (module docstring); sets p_holm and required on each."""
    family: list[Comparison] = [overall, *bands.values(), *snrs.values()]
    for c, adj in zip(family, holm([c.p_beyond for c in family]), strict=True):
        c.p_holm = adj
    need = overall.frames_needed if abs(overall.delta_pp) < overall.tolerance_pp else None
    for c in snrs.values():
        c.required = resolvable(c, need)
    if any(c.drift for c in family):
        return "DRIFT"
    if all(c.within for c in family if c.required):
        return "PASS"
    return "INCONCLUSIVE"


def level_text(level: float) -> str:
    """A confidence level as the reports write it: 0.99 -> '99 %', 0.9995 -> '99.95 %'."""
    return f"{100 * level:.3f}".rstrip("0").rstrip(".") + " %"


def groups(snr: np.ndarray, bands: dict[str, tuple[float, float]] | None) -> tuple[list[float], dict[str, np.ndarray]]:
    """(the SNR values present, {band name: mask}) for per-frame SNRs; bands the frames do not reach are left out."""
    snr = np.asarray(snr, dtype=np.float64)
    masks = {name: (snr >= lo) & (snr <= hi) for name, (lo, hi) in (bands or {}).items()}
    return [float(s) for s in np.unique(snr)], {k: m for k, m in masks.items() if m.any()}


def paired_family(snr: np.ndarray, ref_ok: np.ndarray, eng_ok: np.ndarray, tol_pp: float,
                  bands: dict[str, tuple[float, float]] | None = None
                  ) -> tuple[str, Comparison, dict[str, Comparison], dict[str, Comparison]]:
    """(verdict, overall, {band: comparison}, {snr key: comparison}) for per-frame results of the same frames."""
    snr = np.asarray(snr, dtype=np.float64)
    ref_ok, eng_ok = np.asarray(ref_ok, bool), np.asarray(eng_ok, bool)
    values, masks = groups(snr, bands)
    overall = paired(ref_ok, eng_ok, tol_pp)
    band = {k: paired(ref_ok[m], eng_ok[m], tol_pp) for k, m in masks.items()}
    per = {snr_key(s): paired(ref_ok[snr == s], eng_ok[snr == s], tol_pp) for s in values}
    return verdict(overall, band, per), overall, band, per


def summary(verdict_: str, c: Comparison) -> str:
    """`Δ -1.44 pp, 99 % CI [-3.1, +0.2]: INCONCLUSIVE` (Δ and interval to the same 2 decimals)."""
    return (f"Δ {c.delta_pp:+.2f} pp, {level_text(c.level)} CI [{c.ci_pp[0]:+.2f}, {c.ci_pp[1]:+.2f}]: "
            f"{verdict_}")


def worst(comparisons: Iterable[Comparison]) -> Comparison | None:
    """The comparison whose interval reaches furthest from 0 (what limits a verdict)."""
    items = list(comparisons)
    return max(items, key=lambda c: max(abs(c.ci_pp[0]), abs(c.ci_pp[1]))) if items else None
