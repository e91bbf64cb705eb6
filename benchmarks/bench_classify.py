"""Speed and memory of `amc classify`: pipeline overhead, real-time factor, batch sweep, 1 GiB in bounded memory.

Self-contained: untrained default-width `cldnn` and `a4` models at L = 128 (speed does not depend on the
weights; their metadata states a 200 kHz rate), exported through ``amc.export.export`` to ONNX fp32 (and,
for a4, fp16 / int8 / int8-dynamic; each marked with whether it passed the export's parity check), and a
synthetic 1 MS/s cf32 SigMF recording made by ``amc.classify.synth``. Measured, in one run:

* **overhead**: ``classify`` on the recording with ``--model-rate`` = the recording's rate (no resampling,
  so the windows are exactly the recording's consecutive 128-sample frames) against the bare engine's
  ``run`` on those same frames, precomputed, in batches of the same size; the two take turns
  (``--rounds`` pairs, the median pair's ratio). Target: the pipeline adds <= 10 %.
* **real time at 1 MS/s**, for every model and precision, two ways: every sample classified (the model
  taken to run at 1 MS/s: 7,812 windows per second of signal) and resampled to the model's 200 kHz (what
  the models here are trained at). Real-time factor = processed MS/s / 1 MS/s (> 1: faster than real time).
* **batch sweep**: pipeline and bare-engine MS/s at batch 64, 256, 1024, 4096 (cldnn fp32).
* **1 GiB**: a child process classifies a 1 GiB sparse cu8 file at 2.4 MS/s (resampled 12:1 to 200 kHz,
  rows written) and a 64 MiB one; the peak RSS of each child process (``VmHWM``). Target: bounded memory.

    python benchmarks/bench_classify.py [--out results/bench_classify.json] [--provider cpu|cuda] [--threads N]
                                        [--seconds 8] [--rounds 3] [--big-gib 1] [--skip-big]

On a GPU machine: ``benchmarks/gpu_classify_step.sh`` (``--provider cuda``; TensorRT engines are not built here).
The machine is shared: the 1-minute load average is recorded, and ratios come from interleaved runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL_RATE = 200e3
RECORDING_RATE = 1e6
BATCHES = [64, 256, 1024, 4096]
A4_PRECISIONS = ["fp32", "fp16", "int8", "int8-dynamic"]


def make_checkpoint(path: Path, preset_name: str) -> Path:
    """An untrained default-width checkpoint with amc's full self-description (rate included)."""
    import torch

    from amc.config import DEFAULT_BANDS, RML2016_CLASSES, preset, to_dict
    from amc.models import build_model
    from amc.train.checkpoint import NORMALISATION, save_checkpoint

    cfg, tcfg = preset(preset_name, frame_length=128, num_classes=len(RML2016_CLASSES))
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    return save_checkpoint(path, {
        "model_state": model.state_dict(), "model_config": to_dict(cfg), "train_config": to_dict(tcfg),
        "classes": RML2016_CLASSES, "frame_length": 128, "snr_grid": [-10.0, 0.0, 10.0, 20.0],
        "bands": {k: list(v) for k, v in DEFAULT_BANDS.items()}, "normalisation": NORMALISATION,
        "split": {}, "dataset": "", "epoch": 0, "metrics": {}, "sample_rate": MODEL_RATE})


def build_models(work: Path) -> dict[str, dict[str, Any]]:
    import amc.export.parity
    from amc.export import export

    amc.export.parity.PARITY_FRAMES = 128  # parity on fewer (synthetic) frames keeps the run short
    models = {}
    for preset_name, precisions in (("cldnn", ["fp32"]), ("a4", A4_PRECISIONS)):
        ckpt = make_checkpoint(work / preset_name / "best.pt", preset_name)
        for p in precisions:
            extra = {"calib_frames": 128} if p == "int8" else {}
            r = export(ckpt, precision=p, out=work / f"{preset_name}.{p}.onnx", force=True, max_batch=max(BATCHES),
                       **extra)
            models[f"{preset_name} {p}"] = {"path": r.path, "parity_passed": bool(r.parity["passed"])}
            print(f"exported {preset_name} {p}: parity {'passed' if r.parity['passed'] else 'FAILED'}", flush=True)
    return models


def make_recording(work: Path, seconds: float, name: str = "rec_1msps") -> Path:
    from amc.classify.synth import make_iq, write_sigmf

    classes = ["BPSK", "QPSK", "8PSK", "QAM16", "GFSK", "WBFM", "AM-DSB", None]
    n = int(seconds * MODEL_RATE) // len(classes)
    x, _ = make_iq([(c, n) for c in classes], model_rate=MODEL_RATE, up=int(RECORDING_RATE // MODEL_RATE),
                   snr_db=15.0, seed=0)
    return write_sigmf(work / name, x, RECORDING_RATE, "cf32_le", center_freq=915e6)


def run_classify(model: Path, rec: Path, provider: str, threads: int | None, model_rate: float | None,
                 batch: int = 256) -> dict[str, Any]:
    from amc.classify import ClassifySettings, classify

    return classify(ClassifySettings(input=str(rec), model=str(model), model_rate=model_rate, batch_size=batch,
                                     annotate=False, progress=False, provider=provider, threads=threads))


def bare_engine(engine: Any, frames: np.ndarray, batch: int) -> float:
    """Seconds for engine.run over all frames in batches (the same calls the pipeline makes)."""
    t0 = time.perf_counter()
    for i in range(0, len(frames), batch):
        engine.run(frames[i:i + batch])
    return time.perf_counter() - t0


def recording_frames(rec: Path, length: int = 128) -> np.ndarray:
    """The recording's consecutive frames, as the pipeline cuts them with no resampling (tail excluded)."""
    z = np.fromfile(rec.with_suffix(".sigmf-data"), dtype="<c8")
    n = len(z) // length
    f = z[: n * length].reshape(n, length)
    return np.ascontiguousarray(np.stack([f.real, f.imag], 1), dtype=np.float32)


def overhead(model: Path, rec: Path, frames: np.ndarray, provider: str, threads: int | None, rounds: int,
             batch: int = 256) -> dict[str, Any]:
    """Bare engine and pipeline take turns on the same frames; the ratio of each adjacent pair is one
    sample (load from other work drifts slowly, so neighbours see about the same machine); the median
    pair is the figure."""
    from amc.runtime import Engine

    engine = Engine.load(model, provider=provider, threads=threads)
    engine.warmup((batch,))
    bare, pipe = [], []
    for _ in range(rounds):
        bare.append(bare_engine(engine, frames, batch))
        r = run_classify(model, rec, provider, threads, model_rate=RECORDING_RATE, batch=batch)
        pipe.append(r["speed"]["wall_s"])
    windows = r["windows"]
    bare = [b * windows / len(frames) for b in bare]  # the pipeline also classifies the one tail window
    ratios = sorted(p / b for p, b in zip(pipe, bare))
    b, p = float(np.median(bare)), float(np.median(pipe))
    return {"frames": windows, "rounds": rounds, "overhead_pct": 100 * (float(np.median(ratios)) - 1),
            "overhead_pct_range": [100 * (ratios[0] - 1), 100 * (ratios[-1] - 1)],
            "bare_msps": windows * 128 / b / 1e6, "pipeline_msps": windows * 128 / p / 1e6,
            "engine_wait_s": r["speed"]["engine_wait_s"], "bare_s": bare, "pipeline_s": pipe}


BIG_CHILD = r"""
import json, sys


def hwm_mib():
    # peak resident memory of this process image; ru_maxrss would include the parent's, inherited by fork
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024


from amc.classify import ClassifySettings, classify
r = classify(ClassifySettings(input=sys.argv[2], model=sys.argv[1], format="cu8", sample_rate=2.4e6,
                              rows=sys.argv[2] + ".jsonl", annotate=False, progress=False, provider=sys.argv[3]))
print(json.dumps({"samples": r["samples"], "windows": r["windows"], "wall_s": r["speed"]["wall_s"],
                  "msps": r["speed"]["msps"], "realtime_factor": r["speed"]["realtime_factor"],
                  "peak_rss_mib": hwm_mib()}))
"""


def big_file(model: Path, work: Path, gib: float, provider: str) -> dict[str, Any]:
    out = {}
    for label, size in (("64 MiB", 64 << 20), (f"{gib:g} GiB", int(gib * (1 << 30)))):
        p = work / f"sparse_{size}.cu8"
        with open(p, "wb") as fh:
            fh.truncate(size)  # a sparse file: no disk blocks, but every byte is still read and decoded
        res = subprocess.run([sys.executable, "-c", BIG_CHILD, str(model), str(p), provider], capture_output=True,
                             text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if res.returncode != 0:
            raise RuntimeError(res.stderr)
        out[label] = {"bytes": size, **json.loads(res.stdout)}
        p.unlink()
        Path(str(p) + ".jsonl").unlink(missing_ok=True)
        print(f"{label} sparse cu8 at 2.4 MS/s: peak RSS {out[label]['peak_rss_mib']:.0f} MiB, "
              f"{out[label]['msps']:.2f} MS/s, real time x{out[label]['realtime_factor']:.2f}", flush=True)
    return out


def big_only(args: argparse.Namespace) -> dict[str, Any]:
    """Re-measure the bounded-memory runs alone (RSS does not depend on the machine's load; speed does)."""
    import amc.export.parity
    from amc.export import export

    result = json.loads(args.out.read_text()) if args.out.is_file() else {}
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="amc-bench-classify-") as tmp:
        work = Path(tmp)
        amc.export.parity.PARITY_FRAMES = 128
        ckpt = make_checkpoint(work / "cldnn" / "best.pt", "cldnn")
        model = export(ckpt, precision="fp32", out=work / "cldnn.fp32.onnx", force=True, max_batch=max(BATCHES)).path
        big = big_file(model, work, args.big_gib, args.provider)
    result["big_file"] = {**big, "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                          "load_average_1m": [load0, os.getloadavg()[0]]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote the big-file figures to {args.out}")
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "bench_classify.json")
    ap.add_argument("--provider", default="cpu", help="engine provider: cpu, cuda (onnxruntime-gpu) or auto")
    ap.add_argument("--threads", type=int, default=None, help="engine intra-op threads (default: the runtime's)")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of the 1 MS/s test recording")
    ap.add_argument("--rounds", type=int, default=6, help="turns of bare engine vs pipeline (overhead)")
    ap.add_argument("--overhead-seconds", type=float, default=2.0, help="recording length for the overhead turns")
    ap.add_argument("--big-gib", type=float, default=1.0)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--big-only", action="store_true",
                    help="measure the big-file runs only and update them in --out (the other figures stay)")
    args = ap.parse_args(argv)
    if args.big_only:
        return big_only(args)
    t_start = time.perf_counter()
    load0 = os.getloadavg()[0]
    print(f"provider {args.provider}, threads {args.threads or 'runtime default'}, load average {load0:.2f} on "
          f"{os.cpu_count()} CPUs", flush=True)
    result: dict[str, Any] = {"provider": args.provider, "threads": args.threads, "cpu_count": os.cpu_count(),
                              "load_average_1m_start": load0, "recording_rate": RECORDING_RATE,
                              "model_rate": MODEL_RATE, "recording_seconds": args.seconds}
    with tempfile.TemporaryDirectory(prefix="amc-bench-classify-") as tmp:
        work = Path(tmp)
        models = build_models(work)
        rec = make_recording(work, args.seconds)
        frames = recording_frames(rec)
        short = make_recording(work, args.overhead_seconds, "rec_short")
        short_frames = recording_frames(short)
        print(f"recording: {args.seconds:g} s at 1 MS/s ({len(frames)} frames of 128 without resampling)", flush=True)

        over = {name: overhead(models[name]["path"], short, short_frames, args.provider, args.threads, args.rounds)
                for name in ("cldnn fp32", "a4 fp32")}
        result["overhead"] = over
        for name, o in over.items():
            print(f"overhead {name}: pipeline {o['pipeline_msps']:.2f} MS/s vs bare engine {o['bare_msps']:.2f} MS/s "
                  f"on the same {o['frames']} frames: {o['overhead_pct']:+.1f} % (median of {o['rounds']} pairs, range "
                  f"{o['overhead_pct_range'][0]:+.1f}..{o['overhead_pct_range'][1]:+.1f} %; target <= +10 %)",
                  flush=True)

        rt = {}
        for name, m in models.items():
            every = run_classify(m["path"], rec, args.provider, args.threads, model_rate=RECORDING_RATE)
            resampled = run_classify(m["path"], rec, args.provider, args.threads, model_rate=None)
            rt[name] = {"parity_passed": m["parity_passed"],
                        "every_sample": {"windows_per_s": every["speed"]["windows_per_s"],
                                         "msps": every["speed"]["msps"],
                                         "realtime_factor": every["speed"]["realtime_factor"]},
                        "resampled_to_200k": {"msps": resampled["speed"]["msps"],
                                              "realtime_factor": resampled["speed"]["realtime_factor"]}}
            print(f"real time at 1 MS/s, {name:<16} (parity {'ok' if m['parity_passed'] else 'FAILED'}): every sample "
                  f"x{rt[name]['every_sample']['realtime_factor']:.2f}, resampled to 200 kHz "
                  f"x{rt[name]['resampled_to_200k']['realtime_factor']:.2f}", flush=True)
        result["realtime_1msps"] = rt
        verified = {k: v for k, v in rt.items() if k.startswith("a4") and v["parity_passed"]}
        fastest = max(verified, key=lambda k: verified[k]["every_sample"]["realtime_factor"])
        result["a4_fastest_verified"] = fastest

        from amc.runtime import Engine

        sweep = []
        engine = Engine.load(models["cldnn fp32"]["path"], provider=args.provider, threads=args.threads)
        for b in BATCHES:
            engine.warmup((b,))
            bare = bare_engine(engine, frames, b)
            r = run_classify(models["cldnn fp32"]["path"], rec, args.provider, args.threads, RECORDING_RATE, batch=b)
            sweep.append({"batch": b, "pipeline_msps": r["speed"]["msps"], "bare_msps": len(frames) * 128 / bare / 1e6})
            print(f"batch {b:>5}: pipeline {sweep[-1]['pipeline_msps']:.2f} MS/s, bare engine "
                  f"{sweep[-1]['bare_msps']:.2f} MS/s (cldnn fp32, every sample)", flush=True)
        result["batch_sweep_cldnn_fp32"] = sweep

        if not args.skip_big:
            result["big_file"] = big_file(models["cldnn fp32"]["path"], work, args.big_gib, args.provider)
        elif args.out.is_file() and "big_file" in (earlier := json.loads(args.out.read_text())):
            result["big_file"] = earlier["big_file"]  # kept from the run that measured it (--big-only)
    result["load_average_1m_end"] = os.getloadavg()[0]
    result["seconds_total"] = time.perf_counter() - t_start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"a4 fastest verified precision: {fastest}; wrote {args.out} ({result['seconds_total']:.0f} s)")
    return result


if __name__ == "__main__":
    main()
