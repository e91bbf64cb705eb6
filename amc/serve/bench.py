"""Engine micro-benchmark: latency percentiles and frames/s per batch size.

`bench()` loads an engine (any format `Engine.load` reads), warms it up, then times back-to-back
`engine.run` calls on fixed random frames for `seconds` per batch size. Warm-up calls are not
timed. With `compare_torch` (a checkpoint or run directory) the same loop times torch eager on
the same frames, and the result carries the speed-up per batch size. Threads are stated in the
result: the value asked for, or None for the runtime's default, with the machine's CPU count.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from amc.config import ConfigError
from amc.progress import Bar
from amc.runtime import Engine

WARMUP_ITERS = 3  # untimed calls per batch size after Engine.warmup
MIN_ITERS = 5  # timed calls per batch size even when `seconds` runs out first
MAX_ITERS = 100_000


def random_frames(batch: int, frame_length: int, seed: int = 0) -> np.ndarray:
    """Unit-power Gaussian IQ frames, float32 (batch, 2, L)."""
    x = np.random.default_rng(seed).standard_normal((batch, 2, frame_length)).astype(np.float32)
    return x / np.sqrt((x**2).sum(1).mean(-1))[:, None, None]


def time_calls(fn: Any, x: np.ndarray, seconds: float, min_iters: int = MIN_ITERS,
               warmup_iters: int = WARMUP_ITERS) -> dict[str, Any]:
    """Call fn(x) back to back for `seconds` (after untimed warm-up calls); latency stats in ms."""
    for _ in range(warmup_iters):
        fn(x)
    times: list[float] = []
    end = time.perf_counter() + seconds
    while (time.perf_counter() < end or len(times) < min_iters) and len(times) < MAX_ITERS:
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    t = np.asarray(times) * 1000.0
    p50, p90, p99 = np.percentile(t, [50, 90, 99])
    return {"batch": len(x), "iterations": len(t), "p50_ms": float(p50), "p90_ms": float(p90),
            "p99_ms": float(p99), "mean_ms": float(t.mean()), "min_ms": float(t.min()),
            "frames_per_s": float(len(x) * len(t) / (t.sum() / 1000.0))}


def bench_engine(engine: Any, batches: Sequence[int], seconds: float, seed: int = 0,
                 on_batch: Any = None) -> list[dict[str, Any]]:
    """Rows of `time_calls` for one loaded engine, one per batch size (``on_batch()`` after each)."""
    cap = int(getattr(engine, "max_batch", 0) or 0)
    too_big = [b for b in batches if cap and b > cap]
    if too_big:
        raise ConfigError(f"batch size(s) {too_big} exceed the engine's max_batch {cap}; use smaller --batch "
                          "or re-export with a larger --max-batch")
    engine.warmup(tuple(batches))
    rows = []
    for b in batches:
        rows.append(time_calls(engine.run, random_frames(b, engine.frame_length, seed), seconds))
        if on_batch is not None:
            on_batch()
    return rows


def bench(model_path: str | os.PathLike[str], batches: Sequence[int] = (1, 8, 64, 256), seconds: float = 2.0,
          compare_torch: str | os.PathLike[str] | None = None, threads: int | None = None,
          provider: str = "auto", progress: bool = False) -> dict[str, Any]:
    """Latency p50/p90/p99 and frames/s per batch size for the engine at `model_path`.

    Returns {"model", "backend", "precision", "frame_length", "threads", "cpu_count", "seconds", "device",
    "providers" (ONNX Runtime's, active first) | None, "notes" (what the engine settled on, e.g. a provider
    fallback or its compile mode), "engine": [rows], "torch": [rows] | None, "speedup": [{batch, x}] | None}.
    """
    batches = [int(b) for b in batches]
    if not batches or min(batches) < 1:
        raise ConfigError(f"batch sizes must be >= 1, got {batches}")
    if seconds <= 0:
        raise ConfigError(f"seconds must be > 0, got {seconds}")
    engine = Engine.load(model_path, provider=provider, threads=threads)
    ref = Engine.load(compare_torch, provider=provider, threads=threads) if compare_torch is not None else None
    if ref is not None and ref.frame_length != engine.frame_length:
        raise ConfigError(f"{compare_torch} takes frames of {ref.frame_length} samples, "
                          f"{Path(model_path).name} takes {engine.frame_length}")
    same = None if ref is None else same_model(engine.metadata, ref.metadata, model_path, compare_torch)
    total = len(batches) * (2 if ref is not None else 1)
    with Bar("bench", total, "batch sizes", enabled=progress) as bar:
        result: dict[str, Any] = {
            "model": str(model_path), "backend": engine.backend, "precision": engine.precision,
            "frame_length": int(engine.frame_length), "threads": threads, "cpu_count": os.cpu_count(),
            "machine": platform.processor() or platform.machine(), "seconds": seconds,
            "device": str(getattr(engine, "device", "cpu")), "providers": getattr(engine, "providers", None),
            "notes": list(getattr(engine, "notes", [])) + ([same] if same else []),
            "engine": bench_engine(engine, batches, seconds, on_batch=bar.advance), "torch": None, "speedup": None,
        }
        if ref is not None:
            result["torch"] = bench_engine(ref, batches, seconds, on_batch=bar.advance)
    if ref is not None:
        result["torch_backend"] = ref.backend
        result["speedup"] = [{"batch": e["batch"], "x": e["frames_per_s"] / t["frames_per_s"]}
                             for e, t in zip(result["engine"], result["torch"])]
    return result


def same_model(engine_meta: dict[str, Any], torch_meta: dict[str, Any], model_path: Any, torch_path: Any
               ) -> str | None:
    """Whether --compare-torch is the model the engine was built from. Another architecture: refused (its
    speed-up would compare different networks). The same architecture with other weights (same cost per
    frame): a note. None when it is the engine's own checkpoint (or the engine does not say)."""
    mine, theirs = (json.dumps(m.get("model_config"), sort_keys=True, default=list)  # tuples read back as lists
                    for m in (engine_meta, torch_meta))
    if mine != "null" and theirs != "null" and mine != theirs:
        raise ConfigError(f"--compare-torch {torch_path} is another architecture than {Path(model_path).name} "
                          "(model settings differ): give the checkpoint or run it was exported from")
    a, b = engine_meta.get("checkpoint_sha256"), torch_meta.get("checkpoint_sha256")
    if a and b and a != b:
        return (f"--compare-torch {torch_path} is not the checkpoint {Path(model_path).name} was exported from "
                f"(sha256 {b[:12]} vs {a[:12]}): same architecture, so the speed-up holds, but its outputs differ")
    return None


def print_bench(result: dict[str, Any], console: Any = None) -> None:
    """A bench() result: one header line and a table of at most 80 columns (IQ throughput in MS/s = frames/s x L)."""
    console = console or Console()
    threads = result["threads"] if result["threads"] else f"default ({result['cpu_count']} CPUs)"
    speed = {s["batch"]: s["x"] for s in result.get("speedup") or []}
    console.print(f"{result['model']}: {result['backend']} {result['precision']}, L={result['frame_length']}",
                  markup=False, highlight=False, soft_wrap=True)
    console.print(f"threads {threads}, {result['seconds']:g} s per batch size (warm-up excluded)",
                  markup=False, highlight=False, soft_wrap=True)
    where = ", ".join(result.get("providers") or []) or result.get("device", "")
    for line in ([f"runs on: {where}"] if where else []) + [f"note: {n}" for n in result.get("notes", [])]:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    columns = ["engine", "batch", "p50 ms", "p99 ms", "frames/s", "MS/s", "calls"] + (["vs torch"] if speed else [])
    table = Table(*columns, box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for col in table.columns[1:]:
        col.justify = "right"
    table.columns[0].no_wrap = True
    for name, rows in ((result["backend"], result["engine"]), ("torch eager", result.get("torch") or [])):
        for r in rows:
            msps = r["frames_per_s"] * result["frame_length"] / 1e6
            cells = [name, str(r["batch"]), f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}",
                     f"{r['frames_per_s']:,.0f}", f"{msps:.2f}", str(r["iterations"])]
            if speed:
                cells.append(f"{speed[r['batch']]:.2f}x" if name != "torch eager" else "")
            table.add_row(*cells)
    console.print(table)
