"""Data benchmarks: generator throughput, and streaming reads in bounded memory.

1. Generator frames/s at L=128 (rml2016) and L=1024 (rml2018), all impairments on (see also
   bench_synth.py for the detailed figures).
2. A dataset several times larger than a memory budget is written, then read end to end by a
   fresh process through `H5Dataset.iter_chunks`; its peak RSS must stay within the budget.

    python benchmarks/bench_data.py --budget-mb 128 --out results/bench_data.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from amc.config import SynthConfig
from amc.data.io import DatasetWriter
from amc.data.synth import iter_synthesize

READER = """
import sys, time
from amc.data.io import open_dataset
def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
base = rss_kb(); peak = base
t0 = time.perf_counter(); n = 0; total = 0.0
with open_dataset(sys.argv[1]) as ds:
    for b in ds.iter_chunks(chunk=int(sys.argv[2]), with_clean=False):
        n += len(b.x); total += float(b.x[:, 0, 0].sum())
        peak = max(peak, rss_kb())
dt = time.perf_counter() - t0
print(n, dt, base, peak)
"""

def generator_rate(class_set: str, frames: int) -> float:
    cfg = SynthConfig(class_set=class_set, frames_per_class_snr=frames, snrs=[0.0, 10.0])
    t0 = time.perf_counter()
    n = sum(len(part.x) for part in iter_synthesize(cfg))
    return n / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget-mb", type=int, default=128, help="memory budget of the streaming reader")
    p.add_argument("--factor", type=int, default=4, help="file size = factor x budget")
    p.add_argument("--out", type=Path, default=Path("results/bench_data.json"))
    args = p.parse_args()
    res: dict = {}
    res["synth_L128_fps"] = generator_rate("rml2016", 2000)
    res["synth_L1024_fps"] = generator_rate("rml2018", 250)
    print(f"generator: {res['synth_L128_fps']:,.0f} frames/s at L=128 (target 50,000), "
          f"{res['synth_L1024_fps']:,.0f} at L=1024 (target 6,000)")

    length = 1024
    frame_bytes = length * 2 * 4
    n = args.factor * args.budget_mb * 2**20 // frame_bytes
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.h5"
        block = np.random.default_rng(0).standard_normal((4096, 2, length)).astype(np.float32)
        with DatasetWriter(path, ["a", "b"], length, with_clean=False) as w:
            for start in range(0, n, len(block)):
                k = min(len(block), n - start)
                w.append(block[:k], np.zeros(k, int), np.zeros(k))
        size_mb = path.stat().st_size / 2**20
        chunk = max(1, (args.budget_mb * 2**20 // 8) // frame_bytes)  # a chunk is 1/8 of the budget
        out = subprocess.run([sys.executable, "-c", READER, str(path), str(chunk)], capture_output=True, text=True,
                             check=True).stdout.split()
    frames, seconds, base_kb, peak_kb = int(out[0]), float(out[1]), int(out[2]), int(out[3])
    growth_mb = (peak_kb - base_kb) / 1024
    res.update(file_mb=size_mb, budget_mb=args.budget_mb, frames=frames, read_mb_per_s=size_mb / seconds,
               rss_after_imports_mb=base_kb / 1024, peak_rss_mb=peak_kb / 1024, rss_growth_mb=growth_mb,
               rss_sampling="VmRSS after every chunk",
               within_budget=growth_mb <= args.budget_mb)
    print(f"streaming read: {size_mb:.0f} MB file ({args.factor}x the {args.budget_mb} MB budget), {frames} frames "
          f"at {res['read_mb_per_s']:.0f} MB/s; RSS grew {growth_mb:.0f} MB over the {base_kb / 1024:.0f} MB after "
          f"imports ({growth_mb / args.budget_mb:.2f}x the budget: {'within' if res['within_budget'] else 'OVER'})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
