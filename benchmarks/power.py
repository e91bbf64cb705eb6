"""Power of the eval-engine gate: how often each verdict comes out for an engine with a known true drift.

Simulates the rule of ``amc.stats`` (Tango paired 99 % intervals; PASS when overall, every band and every
SNR with frames enough lie inside ±tolerance; DRIFT when a comparison is shown beyond ±tolerance, Holm
at 1 %) on the quickstart's layout (20 SNRs in 2 dB steps, bands low / mid / high), at two frame counts:

* ``val``: the quickstart's 1,320 validation frames (what the gate used to judge on);
* ``auto``: the frames ``eval-engine --split auto`` ends at for an honest engine of that precision: the
  estimate of ``frames_needed`` for overall and every band, x1.3 (``amc.eval.sources.MARGIN``), within
  200,000 (val and test first, then fresh frames).

Each engine flips frames against its reference at its precision's churn rate (half each way: numerical
noise that cancels) and loses a further `drift` pp of all frames, either everywhere or inside the low
band only (-14..-6 dB: 5 of the 20 SNRs, so the same total loss is 4x larger there). The array verdict
is checked against ``amc.stats.verdict`` on random families before the run.

    python benchmarks/power.py            # 300 draws per point -> results/power.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy.stats import norm

from amc.eval.sources import DEFAULT_MAX_FRAMES, MARGIN
from amc.stats import ALPHA, GRID, LEVEL, paired_counts, tango_bounds, tango_score, verdict

SNRS = np.arange(-20, 20, 2).astype(float)
BANDS = {"low": (-14.0, -6.0), "mid": (-4.0, 6.0), "high": (10.0, np.inf)}
SPLIT = 1320  # quickstart val (and test) frames: 11 classes x 20 SNRs x 6
PRECISIONS = {"fp32": (0.1, 0.0002), "fp16": (0.5, 0.01), "int8": (1.0, 0.06)}  # tolerance pp, churn share
MULTIPLES = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]  # true drift as multiples of the tolerance


def holm_rows(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values along the last axis."""
    order = np.argsort(p, axis=-1, kind="stable")
    m = p.shape[-1]
    ranked = np.take_along_axis(p, order, -1) * (m - np.arange(m))
    ranked = np.maximum.accumulate(np.minimum(ranked, 1.0), axis=-1)
    out = np.empty_like(p)
    np.put_along_axis(out, order, ranked, -1)
    return out


GROUPS = [np.ones(len(SNRS), bool)] + [(SNRS >= lo) & (SNRS <= hi) for lo, hi in BANDS.values()]


def _pooled(b: np.ndarray, c: np.ndarray, n_snr: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts of every comparison: overall, the bands, then each SNR (draws x comparisons)."""
    gb = np.stack([b[:, g].sum(1) for g in GROUPS], 1)
    gc = np.stack([c[:, g].sum(1) for g in GROUPS], 1)
    gn = np.array([g.sum() * n_snr for g in GROUPS], float)
    return (np.concatenate([gb, b], 1), np.concatenate([gc, c], 1),
            np.concatenate([gn, np.full(len(SNRS), n_snr)]))


def _needed(b: np.ndarray, c: np.ndarray, n: np.ndarray, tol: float) -> np.ndarray:
    """amc.stats._frames_needed elementwise (same grid): frames for the interval to clear ±tol."""
    k = GRID.reshape((1,) * b.ndim + (-1,))
    rb, rc = (b / n)[..., None], (c / n)[..., None]
    lo, hi = tango_bounds(rb * k, rc * k, np.broadcast_to(k, rb.shape[:-1] + k.shape[-1:]), LEVEL)
    inside = (np.abs(100 * (c - b) / n) < tol)[..., None]
    t = tol / 100
    ok = np.where(inside, (lo > -t) & (hi < t), (lo > t) | (hi < -t))
    return np.where(ok.any(-1), GRID[np.argmax(ok, -1)], 1e9)


def family(b: np.ndarray, c: np.ndarray, n_snr: float, tol: float) -> np.ndarray:
    """Verdict codes (0 PASS, 1 DRIFT, 4 INCONCLUSIVE) for draws x SNR counts b, c, n_snr frames per SNR."""
    allb, allc, alln = _pooled(b, c, n_snr)
    lo, hi = tango_bounds(allb, allc, alln, LEVEL)
    delta = 100 * (allc - allb) / alln
    edge = np.where(delta >= 0, tol / 100, -tol / 100)
    p_beyond = np.where(np.abs(delta) > tol, np.minimum(1.0, 2 * norm.sf(np.abs(tango_score(allb, allc, alln,
                                                                                             edge)))), 1.0)
    drift = (np.abs(delta) > tol) & (holm_rows(p_beyond) < ALPHA)
    within = (100 * lo > -tol) & (100 * hi < tol)
    need = np.where(np.abs(delta[:, 0]) < tol, _needed(allb[:, :1], allc[:, :1], alln[:1], tol)[:, 0], np.inf)
    required = np.ones_like(within)
    required[:, len(GROUPS):] = n_snr >= need[:, None]
    passed = np.all(within | ~required, 1)
    return np.where(drift.any(1), 1, np.where(passed, 0, 4))


def auto_frames(tol: float, churn: float) -> int:
    """Frames --split auto ends at for an honest engine: val + test, then x1.3 what overall and every band
    need at the expected rates (whole groups of 20 SNRs), within the budget."""
    per = churn / 2
    n_snr = 2 * SPLIT / len(SNRS)
    allb, allc, alln = _pooled(np.full((1, len(SNRS)), per * n_snr), np.full((1, len(SNRS)), per * n_snr), n_snr)
    need = _needed(allb[:, : len(GROUPS)], allc[:, : len(GROUPS)], alln[: len(GROUPS)], tol)[0]
    total = (need * len(SNRS) * n_snr / alln[: len(GROUPS)]).max()
    want = max(2 * SPLIT, int(np.ceil(MARGIN * total)))
    return int(min(DEFAULT_MAX_FRAMES, int(np.ceil(want / len(SNRS))) * len(SNRS)))


def rates(rng: np.random.Generator, tol: float, churn: float, drift_pp: float, band: str | None, frames: int,
          draws: int) -> dict[str, float]:
    where = np.ones(len(SNRS), bool) if band is None else (SNRS >= BANDS[band][0]) & (SNRS <= BANDS[band][1])
    local = drift_pp * len(SNRS) / where.sum()  # the loss where it happens
    qb = np.where(where, churn / 2 + local / 100, churn / 2)
    n_snr = frames // len(SNRS)
    b = np.zeros((draws, len(SNRS)))
    c = np.zeros((draws, len(SNRS)))
    for j in range(len(SNRS)):
        d = rng.multinomial(n_snr, [qb[j], churn / 2, 1 - qb[j] - churn / 2], size=draws)
        b[:, j], c[:, j] = d[:, 0], d[:, 1]
    code = family(b, c, float(n_snr), tol)
    return {"pass": float(np.mean(code == 0)), "drift": float(np.mean(code == 1)),
            "inconclusive": float(np.mean(code == 4))}


def check_against_amc(rng: np.random.Generator, draws: int = 12) -> int:
    """`family` gives amc.stats' verdict on whole per-SNR families (random draws near the boundaries)."""
    from amc.stats import groups as masks_of

    for _ in range(draws):
        n_snr = int(rng.integers(50, 3000))
        qb, qc = rng.uniform(0, 0.04), rng.uniform(0, 0.04)
        b = rng.binomial(n_snr, qb, size=(1, len(SNRS))).astype(float)
        c = np.minimum(rng.binomial(n_snr, qc, size=(1, len(SNRS))), n_snr - b).astype(float)
        ours = int(family(b, c, float(n_snr), 1.0)[0])
        snr = np.repeat(SNRS, n_snr)
        comp = {}
        for name, mask in [("all", np.ones(len(snr), bool)), *masks_of(snr, BANDS)[1].items()]:
            k = [int(np.flatnonzero(SNRS == v)[0]) for v in np.unique(snr[mask])]
            comp[name] = paired_counts(int(mask.sum()), 0, int(b[0, k].sum()), int(c[0, k].sum()), 1.0)
        per = {f"{v:g}": paired_counts(n_snr, 0, int(b[0, j]), int(c[0, j]), 1.0) for j, v in enumerate(SNRS)}
        theirs = verdict(comp.pop("all"), comp, per)
        assert {"PASS": 0, "DRIFT": 1, "INCONCLUSIVE": 4}[theirs] == ours, (n_snr, qb, qc, theirs, ours)
    return draws


def markdown(out: dict) -> str:
    """The README table: per precision, frames and placement, DRIFT % / PASS % at each true drift."""
    head = "| precision | frames | loss in | " + " | ".join(f"{m:g}x tol" for m in MULTIPLES) + " |"
    lines = [head, "|---" * (3 + len(MULTIPLES)) + "|"]
    keys = sorted({(r["precision"], r["frames_from"], r["frames"], r["where"]) for r in out["rows"]},
                  key=lambda k: (list(PRECISIONS).index(k[0]), k[1] != "val", k[3] != "all"))
    for prec, src, frames, where in keys:
        cells = []
        for m in MULTIPLES:
            r = next(x for x in out["rows"] if (x["precision"], x["frames_from"], x["where"]) == (prec, src, where)
                     and abs(x["overall_drift_pp"] - m * x["tolerance_pp"]) < 1e-9)
            cells.append(f"{100 * r['drift']:.0f} / {100 * r['pass']:.0f}")
        tol = PRECISIONS[prec][0]
        lines.append(f"| {prec} (±{tol:g} pp) | {src} {frames:,} | {'all SNRs' if where == 'all' else where + ' band'} "
                     f"| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--out", type=Path, default=Path("results/power.json"))
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    t0 = time.time()
    checked = check_against_amc(rng)
    rows = []
    for name, (tol, churn) in PRECISIONS.items():
        auto = auto_frames(tol, churn)
        for frames_name, frames in (("val", SPLIT), ("auto", auto)):
            for band in (None, "low"):
                for mult in MULTIPLES:
                    r = rates(rng, tol, churn, mult * tol, band, frames, args.draws)
                    rows.append({"precision": name, "tolerance_pp": tol, "churn": churn, "frames_from": frames_name,
                                 "frames": frames, "where": band or "all", "overall_drift_pp": mult * tol,
                                 "local_drift_pp": mult * tol * (1 if band is None else 4), **r})
                    print(f"{name:5s} {frames_name:4s} {frames:7,d} {band or 'all':4s} drift {mult * tol:5.2f} pp "
                          f"(local {rows[-1]['local_drift_pp']:5.2f}): PASS {r['pass']:.3f} DRIFT {r['drift']:.3f} "
                          f"INCONCLUSIVE {r['inconclusive']:.3f}", flush=True)
    out = {"draws": args.draws, "level": LEVEL, "alpha": ALPHA, "split_frames": SPLIT, "snrs": len(SNRS),
           "max_frames": DEFAULT_MAX_FRAMES, "checked_against_amc_stats": checked,
           "seconds": round(time.time() - t0, 1), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out} ({out['seconds']} s)")
    print(markdown(out))


if __name__ == "__main__":
    main()
