"""CPU inference speed: PyTorch eager vs ONNX Runtime fp32 / fp16 / int8 (static QDQ and dynamic).

Self-contained: builds untrained a4 models (default widths; speed does not depend on the weights) at
L = 128 and L = 1024, exports each through ``amc.export.export`` (so every artifact passed, or is marked
as having failed, the export's parity check on synthetic frames), loads everything through
``amc.runtime.Engine`` with one CPU thread count for both torch and ONNX Runtime, and times
``run`` calls at batch 1 and 256, the variants taking turns call by call (so that load from other work
on the machine falls on all of them alike): frames/s and latency p50 / p99. The same run measures
the machine's fp32 GEMM peak (torch matmul of 2048 x 2048 matrices, same threads) and reports the
model's achieved GFLOP/s (``amc.models.flops_per_frame``: convs, linears, LSTM) as a share of it.

Targets reported against:
  * ONNX Runtime fp32 latency at batch 1 <= 1/10 of torch eager's (>= 10x faster);
  * ONNX Runtime fp32 throughput at batch 256 >= 3x torch eager's;
  * ONNX Runtime fp32 at batch 256 >= 40 % of the measured sgemm peak;
  * an int8 variant is kept only where it beats fp32 (by > 5 %, beyond timing noise).
Missed targets are explained in the output from the measured numbers. The 1-minute load average is
recorded: other work on the machine skews every figure.

    python benchmarks/bench_infer.py [--out results/bench_infer.json] [--threads N] [--seconds 1.5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = ["torch", "ort-fp32", "ort-fp16", "ort-int8", "ort-int8-dynamic"]
TARGETS = {"latency_b1_x": 10.0, "throughput_b256_x": 3.0, "peak_pct": 40.0}


def make_checkpoint(path: Path, length: int) -> Path:
    """An untrained a4 checkpoint (default widths) with amc's full self-description."""
    import torch

    from amc.config import DEFAULT_BANDS, RML2016_CLASSES, preset, to_dict
    from amc.models import build_model
    from amc.train.checkpoint import NORMALISATION, save_checkpoint

    cfg, tcfg = preset("a4", frame_length=length, num_classes=len(RML2016_CLASSES))
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    snrs = [-10.0, 0.0, 10.0, 20.0]
    return save_checkpoint(path, {
        "model_state": model.state_dict(), "model_config": to_dict(cfg), "train_config": to_dict(tcfg),
        "classes": RML2016_CLASSES, "frame_length": length, "snr_grid": snrs,
        "bands": {k: list(v) for k, v in DEFAULT_BANDS.items()}, "normalisation": NORMALISATION,
        "split": {}, "dataset": "", "epoch": 0, "metrics": {}})


def sgemm_peak(threads: int, n: int = 2048, seconds: float = 1.0) -> float:
    """Best fp32 matmul rate (GFLOP/s) of torch on this machine with `threads` threads."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best, t_end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def time_interleaved(engines: dict[str, Any], x: np.ndarray, seconds: float, min_rounds: int
                     ) -> dict[str, dict[str, float]]:
    """Per variant: call count, p50 / p99 latency (ms) and frames/s of back-to-back ``run(x)`` calls.

    The variants take turns (one call each per round) for ``seconds`` in total, so load from other work
    on the machine, which comes and goes, falls on all of them alike instead of on whichever ran then.
    """
    for engine in engines.values():
        engine.run(x)  # warm-up: first-call allocations, lazy kernels
    times: dict[str, list[float]] = {name: [] for name in engines}
    t_end = time.perf_counter() + seconds * len(engines)
    rounds = 0
    while time.perf_counter() < t_end or rounds < min_rounds:
        for name, engine in engines.items():
            t0 = time.perf_counter()
            engine.run(x)
            times[name].append(time.perf_counter() - t0)
        rounds += 1
    out = {}
    for name, t in times.items():
        ms = np.asarray(t) * 1e3
        out[name] = {"calls": len(t), "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
                     "frames_per_s": float(len(x) * len(t) / (ms.sum() / 1e3))}
    return out


def build_variants(workdir: Path, length: int, threads: int) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Engines per variant, their export facts, and the model's FLOPs per frame."""
    import amc.export.parity
    from amc.export import export
    from amc.models import flops_per_frame
    from amc.runtime import Engine
    from amc.train.checkpoint import load_checkpoint, model_from_checkpoint

    amc.export.parity.PARITY_FRAMES = 128  # parity on fewer (synthetic) frames keeps the run short
    ckpt = make_checkpoint(workdir / f"L{length}" / "best.pt", length)
    flops = flops_per_frame(model_from_checkpoint(load_checkpoint(ckpt)), length)
    engines = {"torch": Engine.load(ckpt, provider="cpu", threads=threads)}
    facts: dict[str, Any] = {}
    for variant in VARIANTS[1:]:
        precision = variant.removeprefix("ort-")
        extra = {"calib_frames": 128} if precision == "int8" else {}
        t0 = time.perf_counter()
        r = export(ckpt, precision=precision, out=workdir / f"L{length}.{precision}.onnx", force=True, **extra)
        facts[variant] = {"export_s": round(time.perf_counter() - t0, 2), "parity_passed": r.parity["passed"],
                          "max_abs_logit": r.parity["max_abs_logit"], "bytes": r.path.stat().st_size,
                          "float_ops": r.metadata.get("quantization", {}).get("float_ops")}
        engines[variant] = Engine.load(r.path, provider="cpu", threads=threads)
    return engines, facts, flops


def explain(row: dict[str, Any], peak: float, threads: int) -> list[str]:
    """Why a target was missed, from the measured numbers (ceilings from the FLOP count and sgemm peak)."""
    out = []
    t, o = row["torch"], row["ort-fp32"]
    if row["latency_b1_x"] < TARGETS["latency_b1_x"]:
        ideal_ms = row["flops_per_frame"] / (peak * 1e9) * 1e3
        out.append(
            f"L={row['length']}: ORT fp32 batch-1 latency is {row['latency_b1_x']:.1f}x lower than torch eager's, not "
            f"{TARGETS['latency_b1_x']:g}x. The frame's {row['flops_per_frame'] / 1e6:.0f} MFLOP take "
            f"{ideal_ms:.2f} ms even at the {peak:.0f} GFLOP/s sgemm peak, so against torch's "
            f"{t['b1']['p50_ms']:.2f} ms no runtime could be more than {t['b1']['p50_ms'] / ideal_ms:.1f}x faster; "
            f"ORT's {o['b1']['p50_ms']:.2f} ms is "
            f"{o['b1']['p50_ms'] / ideal_ms:.1f}x that bound: at batch 1 the 1-D convs are thin GEMMs and the LSTM "
            "runs 64 strictly sequential (1x64)x(64x256) steps, none of which parallelise over the batch.")
    if row["throughput_b256_x"] < TARGETS["throughput_b256_x"]:
        need = 100 * TARGETS["throughput_b256_x"] * row["torch_gflops"] / peak
        out.append(
            f"L={row['length']}: ORT fp32 batch-256 throughput is {row['throughput_b256_x']:.2f}x torch eager's, not "
            f"{TARGETS['throughput_b256_x']:g}x. Torch eager already reaches {row['torch_gflops']:.1f} GFLOP/s at "
            f"batch 256 (its per-op overhead is spread over 256 frames), so 3x would need ORT at {need:.0f} % of the "
            f"sgemm peak; it reaches {row['peak_pct']:.0f} %. What separates them is fusion (BatchNorm folded into "
            "the convs at export, conv+ReLU fused by ORT), not dispatch.")
    if row["peak_pct"] < TARGETS["peak_pct"]:
        out.append(
            f"L={row['length']}: ORT fp32 reaches {row['ort_gflops']:.1f} GFLOP/s = {row['peak_pct']:.0f} % of the "
            f"{peak:.0f} GFLOP/s sgemm peak ({threads} threads), not {TARGETS['peak_pct']:g} %: the convs are 1-D "
            "with 8-64 channels (GEMM inner dimension C*k <= 448), and the LSTM is 64 dependent (256x64)x(64x256) "
            "GEMMs interleaved with elementwise gates; these shapes are memory- and latency-bound, far from the "
            "2048^3 GEMM that sets the peak.")
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "bench_infer.json")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch and ORT intra-op threads")
    ap.add_argument("--seconds", type=float, default=1.5, help="timed seconds per (variant, batch, length)")
    ap.add_argument("--lengths", default="128,1024")
    ap.add_argument("--batches", default="1,256")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    lengths = [int(v) for v in args.lengths.split(",")]
    batches = [int(v) for v in args.batches.split(",")]
    t_start = time.perf_counter()
    print(f"threads: torch {torch.get_num_threads()}, onnxruntime intra-op {args.threads} (inter-op 1); "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    peak = sgemm_peak(args.threads)
    print(f"sgemm peak (torch fp32 2048^3, {args.threads} threads): {peak:.1f} GFLOP/s")
    rows = []
    with tempfile.TemporaryDirectory(prefix="amc-bench-infer-") as tmp:
        for length in lengths:
            engines, facts, flops = build_variants(Path(tmp), length, args.threads)
            row: dict[str, Any] = {"length": length, "flops_per_frame": flops, "exports": facts}
            for variant in engines:
                row[variant] = {}
            for b in batches:
                x = np.random.default_rng(b).standard_normal((b, 2, length)).astype(np.float32)
                timed = time_interleaved(engines, x, args.seconds, min_rounds=3 if b > 64 else 20)
                for variant, stats in timed.items():
                    row[variant][f"b{b}"] = stats
            rows.append(row)
            print(f"\nL={length}: {flops / 1e6:.1f} MFLOP/frame")
            print(f"  {'variant':<17} " + "  ".join(f"{'b' + str(b) + ' p50 ms':>11} {'p99 ms':>8} {'frames/s':>10}"
                                                     for b in batches))
            for variant in engines:
                cells = "  ".join(f"{row[variant][f'b{b}']['p50_ms']:>11.3f} {row[variant][f'b{b}']['p99_ms']:>8.3f} "
                                  f"{row[variant][f'b{b}']['frames_per_s']:>10.0f}" for b in batches)
                print(f"  {variant:<17} {cells}")
    peak = max(peak, sgemm_peak(args.threads))  # measured again: load from other work moves it
    print(f"\nsgemm peak, best of start and end of the run: {peak:.1f} GFLOP/s")
    verdicts = []
    for row in rows:
        b1, bN = f"b{batches[0]}", f"b{batches[-1]}"
        row["latency_b1_x"] = row["torch"][b1]["p50_ms"] / row["ort-fp32"][b1]["p50_ms"]
        row["throughput_b256_x"] = row["ort-fp32"][bN]["frames_per_s"] / row["torch"][bN]["frames_per_s"]
        row["ort_gflops"] = row["ort-fp32"][bN]["frames_per_s"] * row["flops_per_frame"] / 1e9
        row["torch_gflops"] = row["torch"][bN]["frames_per_s"] * row["flops_per_frame"] / 1e9
        row["peak_pct"] = 100 * row["ort_gflops"] / peak
        row["vs_fp32"] = {}
        for v in ("ort-int8", "ort-int8-dynamic", "ort-fp16"):
            lat = row["ort-fp32"][b1]["p50_ms"] / row[v][b1]["p50_ms"]
            thr = row[v][bN]["frames_per_s"] / row["ort-fp32"][bN]["frames_per_s"]
            keep = {(True, True): "keep", (True, False): "keep for batch-1 latency only",
                    (False, True): "keep for batched throughput only", (False, False): "not faster: drop"}
            row["vs_fp32"][v] = {"latency_b1_vs_fp32_x": lat, "throughput_b256_vs_fp32_x": thr,
                                 "verdict": keep[(lat > 1.05, thr > 1.05)]}
        print(f"\nL={row['length']}: ORT fp32 vs torch eager: batch-1 latency {row['latency_b1_x']:.2f}x lower "
              f"(target >= {TARGETS['latency_b1_x']:g}x), batch-256 throughput {row['throughput_b256_x']:.2f}x "
              f"(target >= {TARGETS['throughput_b256_x']:g}x)")
        print(f"  achieved at batch 256: ORT fp32 {row['ort_gflops']:.1f} GFLOP/s = {row['peak_pct']:.1f} % of sgemm "
              f"peak (target >= {TARGETS['peak_pct']:g} %); torch eager {row['torch_gflops']:.1f} GFLOP/s")
        for v, d in row["vs_fp32"].items():
            print(f"  {v:<17} vs ORT fp32: batch-1 latency {d['latency_b1_vs_fp32_x']:.2f}x lower, batch-256 "
                  f"throughput {d['throughput_b256_vs_fp32_x']:.2f}x -> {d['verdict']}"
                  f" (parity {'passed' if row['exports'][v]['parity_passed'] else 'FAILED'})")
        verdicts += explain(row, peak, args.threads)
    if verdicts:
        print("\nmissed targets, and why:")
        for v in verdicts:
            print(f"  - {v}")
    result = {"threads": args.threads, "cpu_count": os.cpu_count(), "load_average_1m": os.getloadavg()[0],
              "onnxruntime": __import__("onnxruntime").__version__, "torch": torch.__version__,
              "sgemm_peak_gflops": peak, "targets": TARGETS, "batches": batches, "rows": rows,
              "explanations": verdicts, "seconds_total": time.perf_counter() - t_start}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out} ({result['seconds_total']:.0f} s)")
    return result


if __name__ == "__main__":
    main()
