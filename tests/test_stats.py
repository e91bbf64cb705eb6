"""The gate's rule on hand-made counts: Tango's paired interval, Newcombe's unpaired one, the exact McNemar
test, Holm, and the verdict PASS / DRIFT / INCONCLUSIVE with what more frames would resolve."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.stats import binom, norm

from amc.stats import (
    ALPHA,
    EXIT_CODES,
    holm,
    paired,
    paired_counts,
    paired_family,
    summary,
    tango_bounds,
    tango_interval,
    unpaired_counts,
    verdict,
)

Z99 = norm.ppf(0.995)


def brute_score(b: int, c: int, n: int, delta: float) -> float:
    """Tango's statistic with the constrained MLE found numerically (not by the closed form amc uses)."""
    m0 = n - b - c

    def nll(q: float) -> float:
        return -(c * math.log(q + delta) + b * math.log(q) + m0 * math.log(1 - 2 * q - delta))

    lo, hi = max(0.0, -delta) + 1e-12, (1 - delta) / 2 - 1e-12
    q = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}).x
    return (c - b - n * delta) / math.sqrt(n * (2 * q + delta * (1 - delta)))


@pytest.mark.parametrize("b,c,n", [(30, 0, 1000), (12, 7, 500), (60, 41, 1320), (3, 9, 100), (100, 70, 200)])
def test_tango_interval_ends_are_where_the_score_statistic_is_z(b, c, n):
    lo, hi = tango_interval(b, c, n, 0.99)
    assert lo < (c - b) / n < hi
    assert brute_score(b, c, n, lo) == pytest.approx(Z99, abs=2e-3)
    assert brute_score(b, c, n, hi) == pytest.approx(-Z99, abs=2e-3)


def test_no_discordant_frames_is_not_proof_of_no_difference():
    # 1,000 frames, no flips: |Δ| < 0.1 pp is not shown (the interval is about ±z²/n = ±0.66 pp)
    c = paired_counts(1000, 800, 0, 0, tol_pp=0.1)
    assert c.ci_pp[0] == pytest.approx(-c.ci_pp[1]) and 0.6 < c.ci_pp[1] < 0.7
    assert c.status == "INCONCLUSIVE" and c.p == 1.0
    assert 6000 < c.frames_needed < 7000  # z² / 0.001 frames
    assert paired_counts(c.frames_needed, 0, 0, 0, tol_pp=0.1).within
    assert not paired_counts(int(0.9 * c.frames_needed), 0, 0, 0, tol_pp=0.1).within


def test_tango_interval_covers_at_its_level():
    """Coverage of the 99 % interval in 4,000 simulated engines (three discordance patterns)."""
    rng = np.random.default_rng(0)
    for n, qb, qc in [(400, 0.03, 0.01), (1500, 0.05, 0.05), (300, 0.002, 0.0)]:
        counts = rng.multinomial(n, [qb, qc, 1 - qb - qc], size=4000)
        truth = qc - qb
        lo, hi = tango_bounds(counts[:, 0], counts[:, 1], n, 0.99)
        assert np.allclose(tango_interval(*counts[0, :2], n, 0.99), (lo[0], hi[0]), atol=1e-9)
        hit = (lo <= truth) & (truth <= hi)
        assert hit.mean() >= 0.985, (n, qb, qc, hit.mean())


def test_mcnemar_is_exact():
    for b, c in [(0, 0), (7, 0), (9, 1), (20, 6), (50, 50)]:
        r = paired_counts(1000, 500, b, c, tol_pp=0.0)
        m = b + c
        assert r.p == pytest.approx(1.0 if m == 0 else min(1.0, 2 * binom.cdf(min(b, c), m, 0.5)))


def test_newcombe_p_is_its_interval_inverted():
    for k1, k2 in [(770, 800), (700, 800), (800, 800), (810, 790)]:
        u = unpaired_counts(k2, 1000, k1, 1000, tol_pp=1.0)
        assert (u.p < 0.01) == (not u.ci_pp[0] <= 0 <= u.ci_pp[1])


def test_holm_step_down():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_verdicts_pass_drift_inconclusive():
    # 100,000 frames, 300 lost, 100 gained: -0.2 pp, shown within int8's 1 pp; not within fp32's 0.1 pp
    ok = paired_counts(100_000, 80_000, b=300, c=100, tol_pp=1.0)
    assert verdict(ok, {}, {}) == "PASS" and EXIT_CODES["PASS"] == 0
    bad = paired_counts(100_000, 80_000, b=300, c=100, tol_pp=0.1)
    assert verdict(bad, {}, {}) == "DRIFT" and bad.ci_pp[1] < -0.1
    # 1,320 frames with int8-like churn, -1.44 pp: neither within 1 pp nor shown different
    mid = paired_counts(1320, 517, b=60, c=41, tol_pp=1.0)
    assert verdict(mid, {}, {}) == "INCONCLUSIVE" and EXIT_CODES["INCONCLUSIVE"] == 4
    assert summary("INCONCLUSIVE", mid) == (f"Δ {mid.delta_pp:+.2f} pp, 99 % CI [{mid.ci_pp[0]:+.2f}, "
                                            f"{mid.ci_pp[1]:+.2f}]: INCONCLUSIVE")
    assert mid.frames_needed > 10_000 and 2 < mid.mdd_pp < 4


def test_a_drift_at_one_snr_is_drift_after_holm_and_a_small_real_loss_is_not():
    rng = np.random.default_rng(0)
    snr = np.repeat([-10.0, 0.0, 10.0, 20.0], 2500)
    ref_ok = rng.random(len(snr)) < 0.7
    eng_ok = ref_ok.copy()
    eng_ok[np.flatnonzero((snr == 10.0) & ref_ok)[:60]] = False  # 60 frames lost at 10 dB: -2.4 pp there
    word, overall, bands, per = paired_family(snr, ref_ok, eng_ok, 1.0, {"high": (10.0, math.inf)})
    assert word == "DRIFT" and per["10"].drift and per["10"].ci_pp[1] < -1.0  # shown beyond the tolerance
    assert not overall.drift and not bands["high"].drift  # -0.6 / -1.2 pp: not shown beyond 1 pp
    assert per["10"].p_holm == pytest.approx(6 * per["10"].p_beyond)  # 6 comparisons, the smallest p
    # 8 frames lost at one SNR against fp32's 0.1 pp: a real loss (McNemar p 0.0078), -0.32 pp, but not
    # shown beyond 0.1 pp (p 0.019 alone, more after Holm): not DRIFT
    eng_ok = ref_ok.copy()
    eng_ok[np.flatnonzero((snr == 10.0) & ref_ok)[:8]] = False
    alone = paired(ref_ok[snr == 10.0], eng_ok[snr == 10.0], 0.1)
    assert alone.p < ALPHA and alone.p_beyond > ALPHA and alone.delta_pp == pytest.approx(-0.32)
    word, overall, bands, per = paired_family(snr, ref_ok, eng_ok, 0.1)
    assert not per["10"].drift and word == "INCONCLUSIVE"


def test_an_engine_within_tolerance_is_not_drift_however_many_frames():
    """0.5 pp worse at 1 pp tolerance, 20 SNRs of 10,000 frames each: equality is rejected everywhere,
    yet no SNR is shown beyond the tolerance (a rule on equality alone would cry wolf here)."""
    rng = np.random.default_rng(3)
    snr = np.repeat(np.arange(20.0), 10_000)
    ref_ok = rng.random(len(snr)) < 0.6
    u = rng.random(len(snr))
    lost = ref_ok & (u < (0.015 + 0.005) / 0.6)  # 1.5 % churn each way, 0.5 % of the frames lost on top
    gained = ~ref_ok & (u < 0.015 / 0.4)
    eng_ok = (ref_ok & ~lost) | gained
    word, overall, _, per = paired_family(snr, ref_ok, eng_ok, 1.0)
    assert overall.delta_pp == pytest.approx(-0.5, abs=0.1)
    assert overall.p < 1e-6 and word != "DRIFT" and not any(c.drift for c in per.values())


def test_a_clean_copy_passes_when_the_frames_can_show_it():
    same = np.tile([True, False], 10_000)
    word, overall, _, per = paired_family(np.repeat([0.0, 10.0], 10_000), same, same, 1.0)
    assert word == "PASS" and all(c.required and c.within for c in per.values())
    word, *_ = paired_family(np.zeros(200), same[:200], same[:200], 1.0)
    assert word == "INCONCLUSIVE"  # 200 identical frames do not show |Δ| < 1 pp


@pytest.mark.parametrize("true_pp", [-1.0, -1.5])
def test_an_engine_out_of_tolerance_rarely_passes(true_pp):
    """An int8-like engine (8 % churn) that truly loses `true_pp`: PASS in at most 5 % of 2,000 draws, at
    frames where an honest one passes most of the time."""
    rng = np.random.default_rng(1)
    n, churn = 40_000, 0.08

    def pass_rate(loss_pp: float, draws: int) -> float:
        qb, qc = churn / 2 + loss_pp / 200, churn / 2 - loss_pp / 200
        counts = rng.multinomial(n, [qb, qc, 1 - qb - qc], size=draws)
        lo, hi = tango_bounds(counts[:, 0], counts[:, 1], n, 0.99)
        within = (lo > -0.01) & (hi < 0.01)  # PASS of a one-comparison family is exactly this
        for (b, c, _), w in zip(counts[:5], within[:5], strict=True):
            assert (verdict(paired_counts(n, n // 2, b, c, 1.0), {}, {}) == "PASS") == w
        return float(within.mean())

    assert pass_rate(-true_pp, 2000) <= 0.05
    assert pass_rate(0.0, 500) >= 0.9
