"""The parity gate judges most frames: the near-tie share is reported, and past 20 % near ties the verdict
rests on accuracy (the paired drift rule), never on the few frames left. The line never contradicts itself."""

from __future__ import annotations

import numpy as np
import pytest

from amc.export.parity import MAX_TIE_SHARE, compare, summary_line

N, C = 200, 11


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def logits(ties: int, rng: np.random.Generator) -> np.ndarray:
    """N frames: the first `ties` have a top-1 / top-2 gap of 0.1 (< int8's 0.25), the rest a gap of 3."""
    z = rng.normal(0, 0.01, (N, C))
    top = rng.integers(0, C, N)
    second = (top + 1) % C
    z[np.arange(N), top] += 4.0
    z[np.arange(N), second] += np.where(np.arange(N) < ties, 3.9, 1.0)
    return z


def swap_top_two(z: np.ndarray, rows: np.ndarray) -> np.ndarray:
    out = z.copy()
    order = np.argsort(-z, axis=1)
    for i in rows:
        a, b = order[i, 0], order[i, 1]
        out[i, a], out[i, b] = z[i, b], z[i, a]
    return out


def run(ref: np.ndarray, got: np.ndarray, labels=None, snr=None) -> dict:
    p = compare({"logits": ref, "probs": softmax(ref)}, {"logits": got, "probs": softmax(got)}, "int8", "hand-made",
                labels, snr)
    line = summary_line(p, "int8")
    assert f"-> {p['verdict']} (int8: " in line and len(line) < 250  # about three terminal lines (it was ~300)
    assert ("-> pass" in line) == p["passed"] and ("-> FAIL" in line) == (p["verdict"] == "FAIL")
    assert ("cannot judge" in line) == (p["near_tie_share"] > MAX_TIE_SHARE)
    assert f"{p['near_ties']} near ties ({100 * p['near_tie_share']:.1f} %)" in line
    return p | {"line": line}


def test_few_near_ties_judged_on_agreement_of_the_rest():
    rng = np.random.default_rng(0)
    ref = logits(ties=20, rng=rng)  # 10 % near ties
    got = swap_top_two(ref, np.arange(0, 20, 2))  # 10 flips, all on near ties
    p = run(ref, got)
    assert (p["judged_on"], p["near_ties"], p["near_tie_share"]) == ("agreement", 20, 0.1)
    assert p["agreement"] == 0.95 and p["agreement_judged"] == 1.0 and p["passed"]
    assert "agreement 100.00 % on 180 frames (20 near ties (10.0 %) aside)" in p["line"]
    bad = run(ref, swap_top_two(ref, np.arange(20, 40)))  # 20 flips on clear frames: 88.9 % of the judged
    assert bad["judged_on"] == "agreement" and not bad["passed"]


def test_many_near_ties_are_judged_on_accuracy():
    rng = np.random.default_rng(1)
    ref = logits(ties=120, rng=rng)  # 60 % near ties: agreement would judge only 80 frames
    top = ref.argmax(1)
    flips = np.arange(0, 120, 2)  # 60 flips among the near ties: 70 % agreement on all frames
    got = swap_top_two(ref, flips)
    snr = np.tile([0.0, 10.0], N // 2)
    # labels: the reference is right on every other flipped frame, the engine on the others: a wash
    labels = top.copy()
    second = got.argmax(1)
    labels[flips[1::2]] = second[flips[1::2]]
    p = run(ref, got, labels, snr)
    assert p["judged_on"] == "accuracy" and p["near_tie_share"] == 0.6 and p["agreement"] == 0.7
    acc = p["accuracy"]
    # a wash on 200 frames cannot show |Δ| < 1 pp: inconclusive (the export is kept), never a failure
    assert acc["delta_pp"] == 0.0 and acc["drifted_snrs"] == [] and p["verdict"] == "inconclusive"
    assert acc["verdict"] == "INCONCLUSIVE" and acc["ci_pp"][0] < -1 and acc["ci_pp"][1] > 1
    assert "120 near ties (60.0 %) > 20 %: cannot judge, so accuracy: Δ +0.00 pp, 99 % CI" in p["line"]
    assert p["line"].endswith("; check with amc eval-engine")
    # the same flips, all costing the engine a right answer: the accuracy comparison fails it
    p = run(ref, got, top, snr)
    assert p["judged_on"] == "accuracy" and not p["passed"] and p["verdict"] == "FAIL"
    assert p["accuracy"]["delta_pp"] == pytest.approx(-30.0) and p["accuracy"]["overall_drift"]
    assert ": DRIFT; " in p["line"]


def test_many_near_ties_without_labels_cannot_pass():
    rng = np.random.default_rng(2)
    ref = logits(ties=150, rng=rng)
    p = run(ref, ref.copy())  # identical outputs, yet 75 % of the frames say nothing
    assert p["judged_on"] == "nothing" and not p["passed"] and "no labels: cannot judge" in p["line"]
