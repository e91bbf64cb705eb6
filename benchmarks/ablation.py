"""Reproduce the ablation notes on one fixed synthetic dataset, same compute budget per run.

Runs: cldnn baseline, a3, a4 with all-losses mixup (the legacy A4), a4 with classifier-only mixup,
a4 cls-only with --mixup-prob 0.3 --mixup-snr-min 6, and a5 (cls-only). Every run sees the same
data, epochs, batch size, learning rate and model width; only the recipe differs. Several seeds,
mean and spread reported; results are what they are.

    python benchmarks/ablation.py                      # CPU size (~1 h on 2 cores)
    python benchmarks/ablation.py --frames 1000 --epochs 60 --width 64 --seeds 0 1 2   # GPU size

    # on RML2016.10a's GNU Radio chain (amc data synth --generator gnuradio), resumable:
    python benchmarks/ablation.py --generator gnuradio --frames 30 --epochs 6 --threads 1 \
        --variants a3 a4_all_losses a4_cls_only a4_cls_p03_snrmin6 --seeds 0 --out results/ablation_gr

Writes OUT/ablation.md, OUT/ablation.json and OUT/per_snr.png; run directories go to OUT/runs.
Stopping and re-running the same command continues: finished runs are in OUT/ablation.json (the
state file), a run stopped mid-way resumes from its last.pt, and the dataset is made once.
Band means are reported with 95 % t intervals over seeds; claims as paired deltas with theirs.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from amc.config import SynthConfig, preset
from amc.data.build import synth_to_file
from amc.train.loop import train

VARIANTS = {
    "cldnn": ("cldnn", {}),
    "a3": ("a3", {}),
    "a4_all_losses": ("a4", {"mixup_cls_only": False}),
    "a4_cls_only": ("a4", {"mixup_cls_only": True}),
    "a4_cls_p03_snrmin6": ("a4", {"mixup_cls_only": True, "mixup_prob": 0.3, "mixup_snr_min": 6.0}),
    "a5": ("a5", {"mixup_cls_only": True}),
}
METRICS = ("best_val_acc", "low", "mid", "high", "denoiser_gain_db", "eta_mae")


def run_one(name: str, seed: int, data: Path, out: Path, args: argparse.Namespace) -> dict:
    recipe, extra = VARIANTS[name]
    width = args.width
    m, t = preset(recipe, data=str(data), out_dir=str(out), epochs=args.epochs, batch_size=args.batch_size,
                  lr=args.lr, seed=seed, conv_channels=width, rnn_hidden=width, denoiser_channels=width // 2,
                  dense=2 * width, threads=args.threads, **extra)
    t0 = time.perf_counter()
    resume = (out / "last.pt").is_file()  # a run stopped mid-way continues
    s = train(m, t, resume=resume, overwrite=not resume, progress=False)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    best = rows[s["best_epoch"] - 1]
    return {"variant": name, "seed": seed, "best_val_acc": s["best_val_acc"], "best_epoch": s["best_epoch"],
            **{b: s["bands"][b] for b in ("low", "mid", "high")}, "per_snr": s["per_snr"],
            "denoiser_gain_db": best.get("denoiser_gain_db"), "eta_mae": best.get("eta_mae"),
            "mixup": s["mixup"], "seconds": time.perf_counter() - t0}


def interval(vals: list[float], level: float = 0.95) -> tuple[float, float] | None:
    """Two-sided t interval of the mean over seeds; None below two values."""
    if len(vals) < 2:
        return None
    m, se = float(np.mean(vals)), float(np.std(vals, ddof=1) / math.sqrt(len(vals)))
    h = float(stats.t.ppf(0.5 + level / 2, len(vals) - 1)) * se
    return m - h, m + h


def aggregate(results: list[dict]) -> dict[str, dict]:
    agg: dict[str, dict] = {}
    for name in VARIANTS:
        rs = [r for r in results if r["variant"] == name]
        if not rs:
            continue
        a: dict = {"n": len(rs), "best_epoch": [r["best_epoch"] for r in rs]}
        for k in METRICS:
            vals = [r[k] for r in rs if r[k] is not None]
            a[k] = (float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0) if vals else None
            a[f"{k}_ci"] = interval(vals)
        snrs = sorted(rs[0]["per_snr"], key=float)
        a["per_snr"] = {s: float(np.mean([r["per_snr"][s] for r in rs])) for s in snrs}
        a["per_snr_sd"] = {s: float(np.std([r["per_snr"][s] for r in rs], ddof=1)) if len(rs) > 1 else 0.0
                           for s in snrs}
        agg[name] = a
    return agg


def paired_delta(results: list[dict], a: str, b: str, key: str) -> tuple[float, float, int]:
    """Mean and standard error of (a - b) over seeds run for both."""
    da = {r["seed"]: r[key] for r in results if r["variant"] == a and r[key] is not None}
    db = {r["seed"]: r[key] for r in results if r["variant"] == b and r[key] is not None}
    d = [da[s] - db[s] for s in sorted(set(da) & set(db))]
    if not d:
        return float("nan"), float("nan"), 0
    se = float(np.std(d, ddof=1) / math.sqrt(len(d))) if len(d) > 1 else float("nan")
    return float(np.mean(d)), se, len(d)


def verdict(mean: float, ci: tuple[float, float] | None, expect_positive: bool) -> str:
    """By the paired 95 % t interval: it must exclude 0 (one seed: by the sign of the mean, marked)."""
    if math.isnan(mean):
        return "not run"
    if ci is None or ci[0] == ci[1]:
        return "holds (one seed)" if (mean > 0) == expect_positive else "does not hold (one seed)"
    if ci[0] <= 0 <= ci[1]:
        return "inconclusive (95 % interval spans 0)"
    return "holds" if (mean > 0) == expect_positive else "does not hold"


def claims(results: list[dict]) -> list[dict]:
    spec = [
        ("cls-only mixup recovers low-SNR accuracy (a4 cls-only vs a4 all-losses, low band)",
         "a4_cls_only", "a4_all_losses", "low", True),
        ("mixup on all losses corrupts the denoiser (denoiser SNR gain, cls-only vs all-losses)",
         "a4_cls_only", "a4_all_losses", "denoiser_gain_db", True),
        ("cls-only mixup does not hurt overall accuracy (a4 cls-only vs a4 all-losses, val_acc)",
         "a4_cls_only", "a4_all_losses", "best_val_acc", True),
        ("FiLM (+ mixup) helps the mid band (a4 cls-only vs a3, mid band)", "a4_cls_only", "a3", "mid", True),
        ("a5 (expert + SNR-balanced) does not help (a5 vs a4 cls-only, val_acc)", "a5", "a4_cls_only",
         "best_val_acc", False),
        ("refined mixup (p 0.3, SNR >= 6) helps low SNR further (vs a4 cls-only, low band)",
         "a4_cls_p03_snrmin6", "a4_cls_only", "low", True),
    ]
    out = []
    for text, a, b, key, positive in spec:
        mean, se, n = paired_delta(results, a, b, key)
        ci = None if math.isnan(se) else (mean - float(stats.t.ppf(0.975, n - 1)) * se,
                                          mean + float(stats.t.ppf(0.975, n - 1)) * se)
        out.append({"claim": text, "a": a, "b": b, "metric": key, "delta_mean": mean, "delta_se": se, "seeds": n,
                    "delta_ci": ci, "verdict": verdict(mean, ci, positive)})
    # the notes' prediction in numbers: classifier-only mixup raises the low band by at least 1 pp
    mean, se, n = paired_delta(results, "a4_cls_only", "a4_all_losses", "low")
    ci = None if math.isnan(se) else (mean - float(stats.t.ppf(0.975, n - 1)) * se,
                                      mean + float(stats.t.ppf(0.975, n - 1)) * se)
    out.append({"claim": "cls-only mixup raises the low band by >= 1 pp (the notes' prediction; 95 % interval "
                "vs +0.01)", "a": "a4_cls_only", "b": "a4_all_losses", "metric": "low", "delta_mean": mean,
                "delta_se": se, "seeds": n, "delta_ci": ci, "verdict": at_least(mean, ci, 0.01)})
    return out


def at_least(mean: float, ci: tuple[float, float] | None, threshold: float) -> str:
    """Does the paired delta reach threshold? By its 95 % interval (one seed: by the mean, marked)."""
    if math.isnan(mean):
        return "not run"
    if ci is None:
        return f"{'holds' if mean >= threshold else 'does not hold'} (one seed)"
    if ci[0] >= threshold:
        return "holds"
    if ci[1] < threshold:
        return "does not hold (interval below it)"
    return "inconclusive (interval spans it)"


def fmt(v: tuple[float, float] | None, pct: bool = True) -> str:
    if v is None:
        return "—"
    m, s = v
    return f"{m:.4f} ± {s:.4f}" if pct else f"{m:+.2f} ± {s:.2f}"


def band(a: dict, k: str) -> str:
    """A band mean with its 95 % interval over seeds (one seed: the mean alone)."""
    if a[k] is None:
        return "—"
    ci = a.get(f"{k}_ci")
    return f"{a[k][0]:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{a[k][0]:.3f}"


def to_markdown(agg: dict, cl: list[dict], meta: dict) -> str:
    lines = [f"# Ablation, reproduced ({meta['date']})", "",
             f"Machine: {meta['machine']}. Dataset: {meta['dataset']}. Budget per run: {meta['budget']}. "
             f"Seeds: {meta['seeds']}. Accuracy is mean ± standard deviation over seeds; band means are "
             "validation means with their 95 % t interval over seeds in brackets (none for one seed); the "
             "table is not tuned.", "",
             "| Run | Best Val Acc | Best epoch(s) | Low-SNR Mean (-14..-6) | Mid-SNR Mean (-4..+6) "
             "| High-SNR Mean (>=10) | Denoiser gain (dB) | eta MAE |", "|---|---|---|---|---|---|---|---|"]
    for name, a in agg.items():
        lines.append(f"| {name} (n={a['n']}) | {fmt(a['best_val_acc'])} | {a['best_epoch']} | {band(a, 'low')} | "
                     f"{band(a, 'mid')} | {band(a, 'high')} | {fmt(a['denoiser_gain_db'], pct=False)} | "
                     f"{fmt(a['eta_mae'])} |")
    lines += ["", "## The notes' claims on this data", "",
              "| Claim | Delta (mean ± s.e., paired by seed) | 95 % interval | Verdict |", "|---|---|---|---|"]
    for c in cl:
        ci = c.get("delta_ci")
        cis = f"[{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "—"
        delta = "—" if math.isnan(c["delta_mean"]) else (
            f"{c['delta_mean']:+.4f}" + ("" if math.isnan(c["delta_se"]) else f" ± {c['delta_se']:.4f}")
            + f" (n={c['seeds']})")
        lines.append(f"| {c['claim']} | {delta} | {cis} | {c['verdict']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=120, help="frames per (class, SNR)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--width", type=int, default=32, help="conv channels = rnn hidden; denoiser width / 2")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--data-seed", type=int, default=2025)
    p.add_argument("--out", type=Path, default=Path("results/ablation"))
    p.add_argument("--generator", choices=["numpy", "gnuradio"], default="numpy",
                   help="the dataset's generator (gnuradio: RML2016.10a's chain, defects fixed)")
    p.add_argument("--data", type=Path, help="use this dataset file instead of making one")
    p.add_argument("--threads", type=int, default=0, help="torch threads per run (0 = one per core)")
    p.add_argument("--report-only", action="store_true", help="re-write the report from OUT/ablation.json")
    args = p.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    data = args.data or args.out / ("ablation_data.h5" if args.generator == "numpy" else "ablation_data_gr.h5")
    cfg = SynthConfig(class_set="rml2016", frames_per_class_snr=args.frames, seed=args.data_seed)
    if not data.exists() and not args.report_only:
        if args.generator == "gnuradio":
            from amc.data.grsynth import synth_gnuradio

            synth_gnuradio(cfg, data)  # resumes from data.parts/ if stopped
        else:
            synth_to_file(cfg, data)
    if args.data:
        from amc.data.io import open_dataset

        with open_dataset(data) as ds:
            n_frames, gen = len(ds), ds.attrs.get("generator") or {}
            per = n_frames // max(1, len(ds.classes) * len(ds.snr_grid))
            desc = (f"{data.name}: {gen.get('name', 'numpy') if isinstance(gen, dict) else 'numpy'} generator, "
                    f"{len(ds.classes)} classes, L={ds.frame_length}, {per} frames per (class, SNR) = {n_frames} "
                    "frames, split 70/15/15")
    else:
        n_frames = cfg.frames_per_class_snr * len(cfg.class_names) * len(cfg.snrs)
        chain = ("RML2016.10a's GNU Radio chain (amc data synth --generator gnuradio, defects fixed)"
                 if args.generator == "gnuradio" else "synthetic rml2016 class set (amc's numpy generator)")
        desc = (f"{chain}, 11 classes, L=128, SNR -20..18 dB step 2, {args.frames} frames per (class, SNR) = "
                f"{n_frames} frames, data seed {args.data_seed}, split 70/15/15")
    jpath = args.out / "ablation.json"
    stored = json.loads(jpath.read_text()) if jpath.exists() else {}
    results = stored.get("results", [])  # add to earlier runs
    done = {(r["variant"], r["seed"]) for r in results}
    for seed in [] if args.report_only else args.seeds:
        for name in args.variants:
            if (name, seed) in done:
                continue
            r = run_one(name, seed, data, args.out / "runs" / f"{name}_s{seed}", args)
            results.append(r)
            print(f"{name:20s} seed {seed}: val_acc {r['best_val_acc']:.4f} (epoch {r['best_epoch']}) "
                  f"low {r['low']:.4f} mid {r['mid']:.4f} high {r['high']:.4f} "
                  f"gain {r['denoiser_gain_db']} [{r['seconds']:.0f} s]",
                  flush=True)
            jpath.write_text(json.dumps({"results": results}, indent=2))  # partial results survive a stop
    meta = {"date": str(date.today()), "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, "
            f"{platform.processor() or 'CPU'}",
            "dataset": desc,
            "budget": f"{args.epochs} epochs, batch {args.batch_size}, lr {args.lr}, width {args.width}",
            "seeds": sorted({r["seed"] for r in results})}
    if args.report_only and stored.get("meta"):
        meta = stored["meta"]  # the date and machine of the runs, not of this report
    agg = aggregate(results)
    cl = claims(results)
    jpath.write_text(json.dumps({"meta": meta, "results": results, "aggregate": agg, "claims": cl}, indent=2))
    (args.out / "ablation.md").write_text(to_markdown(agg, cl, meta))
    from amc.plots import plot_per_snr

    plot_per_snr(args.out / "per_snr.png", {f"{k} (n={a['n']})": a["per_snr"] for k, a in agg.items()},
                 {"low": (-14, -6), "mid": (-4, 6), "high": (10, float("inf"))},
                 title="ablation: per-SNR accuracy, mean +- s.d. over seeds", chance=1 / 11,
                 errors={f"{k} (n={a['n']})": a["per_snr_sd"] for k, a in agg.items()})
    print(to_markdown(agg, cl, meta))


if __name__ == "__main__":
    main()
