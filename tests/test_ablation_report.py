"""benchmarks/ablation.py's statistics: band intervals over seeds and the >= 1 pp verdict, paired by seed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("ablation", Path(__file__).parents[1] / "benchmarks" / "ablation.py")
assert spec and spec.loader
ablation = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ablation)


def test_interval_is_the_t_interval_of_the_mean():
    lo, hi = ablation.interval([1.0, 2.0, 3.0])
    assert (lo + hi) / 2 == pytest.approx(2.0)
    assert (hi - lo) / 2 == pytest.approx(4.302653 / 3 ** 0.5, rel=1e-5)  # t(0.975, 2) * s / sqrt(n)
    assert ablation.interval([0.5]) is None


def rows(deltas: list[float]) -> list[dict]:
    out = []
    for seed, d in enumerate(deltas):
        for name, low in (("a4_all_losses", 0.20), ("a4_cls_only", 0.20 + d)):
            out.append({"variant": name, "seed": seed, "low": low, "mid": 0.5, "high": 0.8, "best_val_acc": 0.5,
                        "denoiser_gain_db": 5.0})
    return out


@pytest.mark.parametrize("deltas, verdict", [
    ([0.020, 0.030, 0.025], "holds"),
    ([-0.010, 0.000, -0.005], "does not hold (interval below it)"),
    ([-0.010, 0.030, 0.010], "inconclusive (interval spans it)"),
    ([0.015], "holds (one seed)"),
])
def test_the_one_pp_claim_is_judged_by_its_paired_interval(deltas, verdict):
    claim = [c for c in ablation.claims(rows(deltas)) if ">= 1 pp" in c["claim"]][0]
    assert claim["verdict"] == verdict
    assert claim["seeds"] == len(deltas)
    assert claim["delta_mean"] == pytest.approx(sum(deltas) / len(deltas))


def test_unpaired_seeds_are_left_out():
    r = rows([0.02, 0.03, 0.025])
    r = [x for x in r if not (x["variant"] == "a4_all_losses" and x["seed"] == 2)]
    claim = [c for c in ablation.claims(r) if ">= 1 pp" in c["claim"]][0]
    assert claim["seeds"] == 2 and claim["delta_mean"] == pytest.approx(0.025)


def test_verdicts_agree_with_the_interval_printed_beside_them():
    """Three seeds whose deltas are 2 s.e. clear of 0 but inside the t interval (t(0.975, 2) = 4.3) are
    inconclusive, not 'holds'."""
    claim = [c for c in ablation.claims(rows([0.004, 0.010, 0.016])) if c["claim"].startswith("cls-only mixup "
                                                                                                 "recovers")][0]
    assert claim["delta_mean"] > 2 * claim["delta_se"]
    assert claim["delta_ci"][0] < 0 and claim["verdict"].startswith("inconclusive")
    claim = [c for c in ablation.claims(rows([0.020, 0.030, 0.025])) if c["claim"].startswith("cls-only mixup "
                                                                                                "recovers")][0]
    assert claim["verdict"] == "holds"
