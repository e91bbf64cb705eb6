"""Throughput of the synthetic generator (frames/s, one process), all impairments on.

    python benchmarks/bench_synth.py [--out results/bench_synth.json] [--seconds 8] [--repeats 3]

At L=128 (rml2016, 11 classes) and L=1024 (rml2018, 24 classes) with random phase, CFO, SRO and
rician fading: times iter_synthesize() with its chunks consumed and dropped (the bounded-memory path
that writes big files; the primary figure), best and median of a few repeats against the targets,
and synthesize() once (also pays for first-touching the whole in-memory result).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from amc.cli import tune_malloc  # the allocator setting the `amc` command applies at start-up
from amc.config import SynthConfig
from amc.data.synth import iter_synthesize, synthesize

TARGETS = {"rml2016": 50_000.0, "rml2018": 6_000.0}


def config(class_set: str, frames_per_class_snr: int) -> SynthConfig:
    return SynthConfig(
        class_set=class_set, snrs=[float(s) for s in range(-20, 20, 2)],
        frames_per_class_snr=frames_per_class_snr, max_cfo=0.01, max_sro_ppm=100.0,
        random_phase=True, fading="rician", fading_taps=3, seed=0,
    )


def measure(class_set: str, seconds: float, repeats: int) -> dict:
    """Size the run to about seconds / repeats per repeat, then time each repeat."""
    probe = config(class_set, 4)
    synthesize(probe)  # warm-up
    t0 = time.perf_counter()
    n_probe = len(synthesize(probe).labels)
    rate = n_probe / (time.perf_counter() - t0)
    per_pair = len(probe.class_names) * len(probe.snrs)
    fpcs = max(4, int(rate * seconds / repeats / per_pair))
    cfg = config(class_set, fpcs)
    rates, cpu_rates = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        frames = sum(len(chunk.labels) for chunk in iter_synthesize(cfg))
        rates.append(frames / (time.perf_counter() - t0))
        cpu_rates.append(frames / (time.process_time() - c0))
    t0 = time.perf_counter()
    in_memory = len(synthesize(cfg).labels) / (time.perf_counter() - t0)
    target = TARGETS[class_set]
    return {
        "class_set": class_set, "frame_length": cfg.length, "frames": frames,
        "frames_per_class_snr": fpcs, "repeats": repeats,
        "best_fps": max(rates), "median_fps": statistics.median(rates), "all_fps": rates,
        "cpu_fps": statistics.median(cpu_rates),  # frames per CPU-second: insensitive to other load
        "synthesize_fps": in_memory, "target_fps": target, "ratio_best": max(rates) / target,
        "ratio_median": statistics.median(rates) / target,
    }


def main() -> None:
    tune_malloc()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/bench_synth.json", help="JSON output path")
    ap.add_argument("--seconds", type=float, default=8.0, help="approximate timed seconds per class set")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats per class set")
    args = ap.parse_args()
    results = []
    for class_set in ("rml2016", "rml2018"):
        r = measure(class_set, args.seconds, args.repeats)
        results.append(r)
        print(f"{class_set} L={r['frame_length']}: best {r['best_fps']:,.0f} frames/s, "
              f"median {r['median_fps']:,.0f} ({r['frames']:,} frames x {r['repeats']}); "
              f"target {r['target_fps']:,.0f} -> ratio best {r['ratio_best']:.2f}, "
              f"median {r['ratio_median']:.2f}; per CPU-second {r['cpu_fps']:,.0f}; "
              f"synthesize() {r['synthesize_fps']:,.0f} frames/s")
    report = {
        "benchmark": "synth", "numpy": np.__version__, "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "results": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
