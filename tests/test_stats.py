"""The drift rule on hand-made counts: paired (exact McNemar) where the frames are the same, unpaired
(Newcombe / Wilson) where they are not; each catches what the other cannot."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from amc.stats import paired, paired_by_snr, paired_counts, per_level, unpaired_counts


def test_a_systematic_loss_hidden_in_sampling_noise_is_caught_by_the_paired_test():
    # 1000 frames, reference right on 800; the engine loses 30 of them and gains none: a real, systematic
    # 3 pp loss. As two independent samples (80 % vs 77 %) that is inside the noise...
    un = unpaired_counts(800, 1000, 770, 1000, tol_pp=1.0)
    assert not un.drift and un.ci_pp[0] < 0 < un.ci_pp[1]
    # ...but on the same frames all 30 disagreements go one way: p = 2 * 0.5**30
    pa = paired_counts(1000, 800, b=30, c=0, tol_pp=1.0)
    assert pa.drift and pa.delta_pp == pytest.approx(-3.0) and pa.p == pytest.approx(2 * 0.5**30)
    assert pa.ci_pp[1] < 0


def test_churn_that_cancels_out_is_noise_for_the_paired_test_but_drift_for_the_unpaired_interval():
    # 200 frames near chance, reference right on 100; the engine flips 170 frames, 100 right->wrong and 70
    # wrong->right: net -15 pp. Independent samples of 50 % and 35 % would differ beyond noise...
    un = unpaired_counts(100, 200, 70, 200, tol_pp=1.0)
    assert un.drift and un.ci_pp[1] < 0
    # ...but 70 of 170 discordant frames is a coin flip's plausible outcome (p > 1 %)
    pa = paired_counts(200, 100, b=100, c=70, tol_pp=1.0)
    assert not pa.drift and pa.delta_pp == pytest.approx(-15.0) and 0.01 < pa.p < 0.05
    assert pa.ci_pp[0] < 0 < pa.ci_pp[1]


def test_tolerance_keeps_a_significant_but_small_change_a_pass():
    # 100,000 frames, 300 lost and 100 gained: -0.2 pp, overwhelmingly significant, within int8's 1 pp
    c = paired_counts(100_000, 80_000, b=300, c=100, tol_pp=1.0)
    assert c.p < 1e-20 and not c.drift
    assert paired_counts(100_000, 80_000, b=300, c=100, tol_pp=0.1).drift  # but not within fp32's 0.1 pp


@pytest.mark.parametrize("b,c", [(0, 0), (1, 0), (5, 0), (7, 0), (8, 0), (9, 1), (20, 6), (12, 30), (50, 50)])
@pytest.mark.parametrize("level", [0.99, 1 - 0.01 / 20])
def test_p_value_and_interval_agree_and_match_the_binomial(b, c, level):
    n = 1000
    r = paired_counts(n, 500, b, c, tol_pp=0.0, level=level)
    m = b + c
    want_p = 1.0 if m == 0 else min(1.0, 2 * binom.cdf(min(b, c), m, 0.5))
    assert r.p == pytest.approx(want_p)
    excludes_zero = not r.ci_pp[0] <= 0 <= r.ci_pp[1]
    assert excludes_zero == (r.p < 1 - level)  # the drawn interval and the test never disagree
    assert r.drift == (excludes_zero and b != c)
    assert r.ci_pp[0] <= r.delta_pp <= r.ci_pp[1]


def test_per_frame_arrays_and_bonferroni_over_snrs():
    rng = np.random.default_rng(0)
    snr = np.repeat([-10.0, 0.0, 10.0, 20.0], 250)
    ref_ok = rng.random(1000) < 0.7
    eng_ok = ref_ok.copy()
    hit = np.flatnonzero((snr == 10.0) & ref_ok)[:12]
    eng_ok[hit] = False  # 12 frames lost at 10 dB only
    overall, per = paired_by_snr(snr, ref_ok, eng_ok, tol_pp=1.0)
    assert [k for k, v in per.items() if v.drift] == ["10"]
    assert per["10"].ref_only == 12 and per["10"].engine_only == 0 and per["10"].level == per_level(4)
    assert per["10"].p == pytest.approx(2 * 0.5**12)
    assert overall.drift and overall.delta_pp == pytest.approx(-1.2) and overall.level == 0.99
    # 8 lost of 8 discordant: p = 0.0078 fails one test at 1 %, but not one of four (Bonferroni: 0.25 % each)
    eng_ok = ref_ok.copy()
    eng_ok[np.flatnonzero((snr == 10.0) & ref_ok)[:8]] = False
    assert paired(ref_ok[snr == 10.0], eng_ok[snr == 10.0], 1.0, 0.99).drift
    assert not paired_by_snr(snr, ref_ok, eng_ok, 1.0)[1]["10"].drift


def test_no_difference_is_never_drift():
    same = np.array([True, False] * 50)
    c = paired(same, same, tol_pp=0.0)
    assert (c.delta_pp, c.ci_pp, c.p, c.drift) == (0.0, (0.0, 0.0), 1.0, False)
    assert not unpaired_counts(50, 100, 50, 100, tol_pp=0.0).drift
