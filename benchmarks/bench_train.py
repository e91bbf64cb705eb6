"""Training throughput per preset at L=128 and L=1024, and the cost of classifier-only mixup.

One process, one run, interleaved repeats: prints samples/s per preset and frame length, and the
step-time ratio of a4 with cls-only mixup (prob 0.5, the recipe) and with all-losses mixup
against a4 without mixup (target for cls-only: <= 1.35x).

    python benchmarks/bench_train.py --out results/bench_train.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from amc.config import preset
from amc.models import build_model
from amc.train.losses import TrainStep
from amc.train.mixup import mix


def make_step(name: str, length: int, classes: int, **train_kw):
    model_cfg, cfg = preset(name, **train_kw)
    model_cfg.num_classes, model_cfg.frame_length = classes, length
    torch.manual_seed(0)
    model = build_model(model_cfg)
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=12, help="timed steps per measurement (after 3 warm-up)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats of the mixup comparison")
    p.add_argument("--out", type=Path, default=Path("results/bench_train.json"))
    p.add_argument("--mixup-only", action="store_true", help="only the mixup cost comparison")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    result: dict = {"threads": torch.get_num_threads(), "batch": args.batch, "presets": {}, "mixup": {}}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")

    for length, classes in () if args.mixup_only else ((128, 11), (1024, 24)):
        for name in ("cldnn", "a3", "a4", "a5"):
            step, cfg, opt = make_step(name, length, classes)
            data = batch(args.batch, length, classes)
            time_steps(step, cfg, opt, *data, n=2, rng=rng)
            t = statistics.median(time_steps(step, cfg, opt, *data, n=max(3, args.steps // (length // 128)), rng=rng))
            sps = args.batch / t
            result["presets"][f"{name}_L{length}"] = {"samples_per_s": sps, "step_ms": 1000 * t}
            print(f"{name:6s} L={length:5d}: {sps:8.0f} samples/s ({1000 * t:.1f} ms/step)")

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


if __name__ == "__main__":
    main()
