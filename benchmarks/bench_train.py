"""Training throughput: this commit against a base commit in one run, per preset, and the cost of mixup.

Speed-up (the default): `amc train` of the a4 preset (default width, batch 256) on one small
synthetic dataset, run as separate processes, interleaved over repeats so that load from other jobs
hits every variant alike: the base commit (a `git worktree` of --base) with one thread and with its
default threads, and this tree with --threads 1, --threads 2 (the default) and as two data-parallel
processes of one thread each (`torchrun --standalone --nproc-per-node 2 -m amc train --threads 1
--batch-size 128`: the same 256 frames per optimiser step). The figure is the loop's own samples/s
of the second epoch (warm, evaluation excluded; all ranks together); the ratios are of medians.

Mixup: step-time ratio of a4 with cls-only mixup (prob 0.5, the recipe) and with all-losses mixup
against a4 without mixup, in this process (target for cls-only: <= 1.35x). --presets adds samples/s
per preset at L=128 and L=1024.

    python benchmarks/bench_train.py --out results/bench_train.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from amc.config import SynthConfig, preset
from amc.data.build import synth_to_file
from amc.models import build_model
from amc.train.losses import TrainStep
from amc.train.mixup import mix


def make_step(name: str, length: int, classes: int, channels_last: bool = True, **train_kw):
    model_cfg, cfg = preset(name, **train_kw)
    model_cfg.num_classes, model_cfg.frame_length = classes, length
    torch.manual_seed(0)
    model = build_model(model_cfg)
    model.channels_last = channels_last  # True: as `amc train` on a CPU (amc.models.layout)
    return TrainStep(model, cfg), cfg, torch.optim.AdamW(model.parameters(), lr=1e-3)


def time_steps(step, cfg, opt, x, target, snr, y, n: int, rng: np.random.Generator) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        m = mix(x, y, snr, cfg.mixup_alpha, cfg.mixup_prob, cfg.mixup_snr_min, rng)
        out = step(x, target, snr, y, m)
        opt.zero_grad(set_to_none=True)
        out["total"].backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return times


def batch(b: int, length: int, classes: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 2, length, generator=g)
    x = x / x.pow(2).sum(1).mean(-1).sqrt().view(-1, 1, 1)
    return x, 0.8 * x, torch.randint(-20, 20, (b,), generator=g).float(), torch.randint(0, classes, (b,), generator=g)


BASE = "5406e9f"  # main before issue 18 (the generator variety, threads and this benchmark)
ROOT = Path(__file__).resolve().parents[1]


def train_rate(root: Path, data: Path, out: Path, env: dict[str, str], args: list[str], frames: int,
               procs: int = 1) -> float:
    """samples/s of the second epoch of `amc train` (a4) run from the source tree `root` (procs > 1: torchrun)."""
    launch = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}", "-m", "amc"]
              if procs > 1 else [sys.executable, "-m", "amc"])
    cmd = [*launch, "train", "--data", str(data), "--out-dir", str(out), "--epochs", "2",
           "--max-frames", str(frames), "--no-progress", "--overwrite", *args]
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS")}
    run = subprocess.run(cmd, cwd=root, env={**clean, "PYTHONPATH": str(root), **env}, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {root}:\n{run.stderr[-2000:]}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return float(rows[-1]["samples_per_s"])


def speedup(base: str, repeats: int, frames: int) -> dict:
    """This tree's `amc train` against the base commit's, interleaved over repeats."""
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    tree = tmp / "base"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), base], cwd=ROOT, check=True, capture_output=True)
    try:
        data = tmp / "data.h5"
        per = max(4, -(-frames // (11 * 20 * 0.7)) + 1)  # enough frames that the train split holds `frames`
        synth_to_file(SynthConfig(frames_per_class_snr=int(per), seed=0).validate(), data)
        variants = {
            "base_1_thread": (tree, {"OMP_NUM_THREADS": "1"}, [], 1),
            "base_default": (tree, {}, [], 1),  # torch's default: one thread per core, OpenMP spin-waits
            "new_threads_1": (ROOT, {}, ["--threads", "1"], 1),
            "new_threads_2": (ROOT, {}, ["--threads", "2"], 1),
            "new_ddp_2x1": (ROOT, {}, ["--threads", "1", "--batch-size", "128"], 2),
        }
        rates: dict[str, list[float]] = {k: [] for k in variants}
        for rep in range(repeats):
            for k, (root, env, extra, procs) in variants.items():
                rates[k].append(train_rate(root, data, tmp / k, env, extra, frames, procs))
                print(f"  repeat {rep + 1}/{repeats} {k:15s} {rates[k][-1]:7.0f} samples/s", flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    return {"base": base, "frames_per_epoch": frames, "repeats": repeats, "samples_per_s": rates,
            "median": med, "ratio_vs_base_1_thread": med["new_threads_2"] / med["base_1_thread"],
            "ratio_vs_base_default": med["new_threads_2"] / med["base_default"],
            "ddp_ratio_vs_base_1_thread": med["new_ddp_2x1"] / med["base_1_thread"],
            "ddp_ratio_vs_base_default": med["new_ddp_2x1"] / med["base_default"],
            "threads_1_ratio_vs_base_1_thread": med["new_threads_1"] / med["base_1_thread"],
            "target_met": max(med["new_threads_2"], med["new_ddp_2x1"]) / med["base_1_thread"] >= 2.0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=12, help="timed steps per measurement (after 3 warm-up)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats of each comparison")
    p.add_argument("--out", type=Path, default=Path("results/bench_train.json"))
    p.add_argument("--base", default=BASE, help="commit to compare against (default: main before issue 18)")
    p.add_argument("--frames", type=int, default=6144, help="training frames per epoch of the speed-up runs")
    p.add_argument("--presets", action="store_true", help="also samples/s per preset at L=128 and L=1024")
    p.add_argument("--no-speedup", action="store_true",
                   help="skip the speed-up comparison (and keep the one already in --out, if any)")
    args = p.parse_args()
    torch.set_num_threads(1)  # the in-process measurements (mixup cost, presets) run on one thread
    rng = np.random.default_rng(0)
    result: dict = {"threads": torch.get_num_threads(), "batch": args.batch, "cpu_count": os.cpu_count(),
                    "torch": torch.__version__, "machine": platform.machine(),
                    "load_avg_1min": os.getloadavg()[0], "presets": {}, "mixup": {}}
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, batch {args.batch}")

    if args.no_speedup and args.out.exists():
        kept = json.loads(args.out.read_text()).get("speedup")
        if kept:
            result["speedup"] = kept
            print(f"speed-up: kept from {args.out} (measured at load {kept.get('load_avg_1min', '?')})")
    if not args.no_speedup:
        print(f"speed-up: a4 `amc train` of this tree against {args.base}, {args.repeats} interleaved repeats")
        sp = result["speedup"] = speedup(args.base, args.repeats, args.frames)
        sp["load_avg_1min"] = os.getloadavg()[0]
        m = sp["median"]
        print(f"a4 training, samples/s: base 1 thread {m['base_1_thread']:.0f}, base default "
              f"{m['base_default']:.0f}; new --threads 1 {m['new_threads_1']:.0f}, --threads 2 "
              f"{m['new_threads_2']:.0f}, torchrun 2 x 1 thread {m['new_ddp_2x1']:.0f}")
        print(f"vs base 1 thread: new 1 thread {sp['threads_1_ratio_vs_base_1_thread']:.2f}x, 2 threads "
              f"{sp['ratio_vs_base_1_thread']:.2f}x, torchrun {sp['ddp_ratio_vs_base_1_thread']:.2f}x "
              f"(target >= 2: {'met' if sp['target_met'] else 'MISSED'}); vs base default: 2 threads "
              f"{sp['ratio_vs_base_default']:.2f}x, torchrun {sp['ddp_ratio_vs_base_default']:.2f}x")

    for length, classes in ((128, 11), (1024, 24)) if args.presets else ():
        for name in ("cldnn", "a3", "a4", "a5"):
            step, cfg, opt = make_step(name, length, classes)
            data = batch(args.batch, length, classes)
            time_steps(step, cfg, opt, *data, n=2, rng=rng)
            t = statistics.median(time_steps(step, cfg, opt, *data, n=max(3, args.steps // (length // 128)), rng=rng))
            sps = args.batch / t
            result["presets"][f"{name}_L{length}"] = {"samples_per_s": sps, "step_ms": 1000 * t}
            print(f"{name:6s} L={length:5d}: {sps:8.0f} samples/s ({1000 * t:.1f} ms/step)")

    # the channels-last layout alone: the same a4 step (recipe: cls-only mixup) with and without it
    steps_by_layout = {cl: make_step("a4", 128, 11, channels_last=cl) for cl in (False, True)}
    data = batch(args.batch, 128, 11)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeats):
            for cl, (step, cfg, opt) in steps_by_layout.items():
                time_steps(step, cfg, opt, *data, n=2, rng=rng)
                times[cl].append(statistics.median(time_steps(step, cfg, opt, *data, n=args.steps, rng=rng)))
        t_ncl, t_cl = statistics.median(times[False]), statistics.median(times[True])
        result.setdefault("layout", {})[f"threads_{threads}"] = {
            "step_ms_ncl": 1000 * t_ncl, "step_ms_channels_last": 1000 * t_cl, "speedup": t_ncl / t_cl}
        print(f"a4 step, {threads} thread(s): (B, C, L) {1000 * t_ncl:.0f} ms, channels-last {1000 * t_cl:.0f} ms: "
              f"{t_ncl / t_cl:.2f}x")
    torch.set_num_threads(1)

    variants = {"no_mixup": dict(mixup_prob=0.0), "cls_only": dict(mixup_prob=0.5, mixup_cls_only=True),
                "all_losses": dict(mixup_prob=0.5, mixup_cls_only=False)}
    steps = {k: make_step("a4", 128, 11, **kw) for k, kw in variants.items()}
    data = batch(args.batch, 128, 11)
    meds: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.repeats):  # interleave so machine noise hits every variant alike
        for k, (step, cfg, opt) in steps.items():
            time_steps(step, cfg, opt, *data, n=2, rng=rng)
            meds[k].append(statistics.median(time_steps(step, cfg, opt, *data, n=args.steps, rng=rng)))
    base = statistics.median(meds["no_mixup"])
    for k in variants:
        t = statistics.median(meds[k])
        result["mixup"][k] = {"step_ms": 1000 * t, "ratio_vs_no_mixup": t / base}
    r = result["mixup"]["cls_only"]["ratio_vs_no_mixup"]
    print(f"a4 L=128 step time vs no mixup: cls-only {r:.2f}x (target <= 1.35x: {'met' if r <= 1.35 else 'MISSED'}), "
          f"all-losses {result['mixup']['all_losses']['ratio_vs_no_mixup']:.2f}x")
    result["cls_only_target_met"] = r <= 1.35
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
