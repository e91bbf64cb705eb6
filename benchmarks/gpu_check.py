"""The GPU check's driver: run by ``benchmarks/gpu_check.sh`` (its header lists the steps, the time budget
and how to run it through the device tool). Every step is recorded as ok / failed / skipped (with the
reason) and the seconds it took; a step whose library or device is missing is skipped, never failed.

    python benchmarks/gpu_check.py --out DIR [--dry-run] [--budget SECONDS]

Writes DIR/gpu_check.json (everything), DIR/gpu_check.md (the summary) and DIR/gpu_check.log (every
command's output). Work files (dataset, runs, artifacts) go to a scratch directory, not DIR.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GPU_BATCHES = [2**i for i in range(14)]  # 1 .. 8192
DRY_BATCHES = [1, 2, 4]


class Skip(Exception):
    """A step that cannot run here; the message is the reason."""


class Check:
    def __init__(self, out: Path, work: Path, dry: bool, budget: float, scale: float = 1.0) -> None:
        self.out, self.work, self.dry, self.budget = out, work, dry, budget
        self.scale = scale  # every step's own time limit x this (a larger --budget than the default)
        self.t0 = time.monotonic()
        self.steps: list[dict[str, Any]] = []
        self.facts: dict[str, Any] = {}
        self.log = open(out / "gpu_check.log", "w", buffering=1)  # noqa: SIM115 - open for the whole run
        self.py = sys.executable

    def left(self) -> float:
        return self.budget - (time.monotonic() - self.t0)

    def say(self, text: str) -> None:
        print(text, flush=True)
        self.log.write(text + "\n")

    def step(self, name: str, fn: Callable[[], dict[str, Any]], need_s: float) -> dict[str, Any]:
        self.say(f"\n== {name} ({self.left():.0f} s of the budget left)")
        t = time.monotonic()
        row: dict[str, Any] = {"step": name}
        try:
            if self.left() < need_s:
                raise Skip(f"time budget: {self.left():.0f} s left, the step needs about {need_s:.0f} s")
            row.update(status="ok", **fn())
        except Skip as e:
            row.update(status="skipped", reason=str(e))
        except Exception as e:  # noqa: BLE001 - a failed step is recorded, the next one runs
            row.update(status="failed", reason=f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}")
            self.log.write(traceback.format_exc())
        row["seconds"] = round(time.monotonic() - t, 1)
        self.say(f"-> {name}: {row['status']}" + (f" ({row['reason']})" if row.get("reason") else "")
                 + f" in {row['seconds']} s")
        self.steps.append(row)
        return row

    def sh(self, args: list[str], timeout: float, env: dict[str, str] | None = None) -> tuple[int, str]:
        """Run a command (output to the log and kept); rc 124 when it ran past `timeout`."""
        timeout = max(5.0, min(timeout * self.scale, self.left()))
        self.say("$ " + " ".join(args))
        try:
            p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                               env={**os.environ, **(env or {})})
            text, rc = p.stdout + p.stderr, p.returncode
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
            text, rc = out + err + f"\n[timed out after {timeout:.0f} s]", 124
        self.log.write(text + f"\n[exit {rc}]\n")
        return rc, text

    def amc(self, *args: str, timeout: float = 300) -> tuple[int, str]:
        """`amc ARGS`: a fresh process on the GPU (compiles and CUDA state stay apart, as for a user); in a
        dry run the same CLI in this process (no interpreter start per command)."""
        if not self.dry:
            return self.sh([self.py, "-m", "amc", *args], timeout)
        from typer.testing import CliRunner

        from amc.cli import app

        self.say("$ amc " + " ".join(args))
        res = CliRunner().invoke(app, list(args))
        text = res.output + (f"\n{type(res.exception).__name__}: {res.exception}"
                             if res.exception and not isinstance(res.exception, SystemExit) else "")
        self.log.write(text + f"\n[exit {res.exit_code}]\n")
        return res.exit_code, text


def version(module: str) -> str:
    try:
        return str(importlib.import_module(module).__version__)
    except Exception as e:  # noqa: BLE001 - missing or broken: say which
        return f"not importable ({type(e).__name__})"


# -- steps -------------------------------------------------------------------------------------
def env_step(c: Check) -> dict[str, Any]:
    import onnxruntime as ort
    import torch

    smi = shutil.which("nvidia-smi")
    if smi:
        rc, text = c.sh([smi], 30)
        c.say(text.rstrip())
        rc2, query = c.sh([smi, "--query-gpu=name,driver_version,memory.total,clocks.max.sm", "--format=csv,noheader"],
                          30)
        c.facts["nvidia_smi"] = query.strip() if rc2 == 0 else text.strip()[:400]
    else:
        c.facts["nvidia_smi"] = "nvidia-smi not found"
    cuda = torch.cuda.is_available()
    v = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
         "torch": torch.__version__, "torch_cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
         "cuda_available": cuda, "gpu": torch.cuda.get_device_name() if cuda else None,
         "capability": ".".join(map(str, torch.cuda.get_device_capability())) if cuda else None,
         "onnx": version("onnx"), "onnxruntime": ort.__version__, "ort_providers": ort.get_available_providers(),
         "onnxslim": version("onnxslim"), "tensorrt": version("tensorrt"),
         "tensorrt_rtx": version("tensorrt_rtx"), "amc": version("amc"),
         "dry_run": c.dry}
    c.facts["versions"] = v
    for k, val in v.items():
        c.say(f"{k}: {val}")
    if not cuda and not c.dry:
        c.facts["no_gpu"] = "PyTorch sees no CUDA device: the GPU steps are skipped"
    return {"gpu": v["gpu"]}


def gpu(c: Check) -> bool:
    return bool(c.facts["versions"]["cuda_available"])


def pytest_summary(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if re.search(r"\d+ (passed|failed|skipped|error|deselected)", ln)]
    return lines[-1].strip("= ") if lines else text.strip().splitlines()[-1][:200] if text.strip() else ""


def pytest_gpu_step(c: Check) -> dict[str, Any]:
    where = ["tests/runtime/test_runtime.py"] if c.dry else ["tests"]  # dry: one file's gpu tests (they skip)
    rc, text = c.sh([c.py, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", *where], 150)
    summary = pytest_summary(text)
    if rc not in (0, 5):  # 5: no test selected
        raise RuntimeError(f"pytest -m gpu exited {rc}: {summary}")
    return {"pytest": summary}


CUDA_TESTS = ["tests/train/test_loop.py::test_resume_equals_uninterrupted", "tests/runtime",
              "tests/export/test_export.py", "tests/models/test_onnx_ready.py"]


def pytest_cuda_step(c: Check) -> dict[str, Any]:
    if c.dry:
        raise Skip("dry run: these are the CPU suite's own tests (CI runs them)")
    if not gpu(c):
        raise Skip("PyTorch sees no CUDA device")
    rc, text = c.sh([c.py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CUDA_TESTS], 160)
    summary = pytest_summary(text)
    if rc != 0:
        raise RuntimeError(f"the suite's CUDA paths exited {rc}: {summary}")
    return {"tests": CUDA_TESTS, "pytest": summary}


def train_step(c: Check) -> dict[str, Any]:
    """An a4 run on the GPU (3 epochs) and the same run killed in its last epoch and resumed: equal weights."""
    import torch

    from amc.config import SynthConfig, preset
    from amc.data.build import synth_to_file
    from amc.train import loop
    from amc.train.checkpoint import load_checkpoint

    if not c.dry and not gpu(c):
        raise Skip("PyTorch sees no CUDA device")
    data = c.work / "data.h5"
    sizes = ({"frames_per_class_snr": 6, "snrs": [-10.0, 0.0, 10.0, 20.0]} if c.dry
             else {"frames_per_class_snr": 100})
    t = time.monotonic()
    synth_to_file(SynthConfig(**sizes), data)
    synth_s = time.monotonic() - t
    width = {"conv_channels": 16, "rnn_hidden": 16, "denoiser_channels": 8, "dense": 32} if c.dry else {}

    epochs = 2 if c.dry else 3

    def run(out: Path, resume: bool = False) -> dict[str, Any]:
        m, tc = preset("a4", data=str(data), out_dir=str(out), epochs=epochs, **width)
        return loop.train(m, tc, resume=resume, progress=False, say=c.say)

    t = time.monotonic()
    full = run(c.work / "run")
    full_s = time.monotonic() - t
    real_eval, calls = loop.evaluate, [0]

    def killed_in_last_epoch(*a: Any, **k: Any) -> Any:
        calls[0] += 1
        if calls[0] == epochs:
            raise KeyboardInterrupt
        return real_eval(*a, **k)

    loop.evaluate = killed_in_last_epoch
    try:
        run(c.work / "part")
    except loop.Interrupted as e:
        c.say(f"(as planned) {e}")
    finally:
        loop.evaluate = real_eval
    run(c.work / "part", resume=True)
    a, b = (load_checkpoint(c.work / r / "last.pt")["model_state"] for r in ("run", "part"))
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    c.facts["run"] = str(c.work / "run")
    result = {"device": "cuda" if gpu(c) else "cpu", "frames": sizes, "synth_s": round(synth_s, 1),
              "epochs": epochs, "train_s": round(full_s, 1), "best_val_acc": full.get("best_val_acc"),
              "deterministic": torch.are_deterministic_algorithms_enabled(),
              "resume_equal": not differ, "tensors_differing": differ[:5]}
    if differ:
        raise RuntimeError(f"resumed run differs from the uninterrupted one in {len(differ)} tensors: {differ[:3]}")
    return result


def rtx_runs_here() -> str:
    """'' when a TensorRT-RTX engine built for this GPU can run here, else why not (it is still built: the
    build needs no GPU; the export then defers parity to a GPU and says so)."""
    import torch

    if not torch.cuda.is_available():
        return "no CUDA device"
    import tensorrt_rtx

    from amc.runtime.trt_flavours import compute_capabilities

    cc = "SM{}{}".format(*torch.cuda.get_device_capability())
    known = compute_capabilities(tensorrt_rtx)
    return "" if cc in known else f"this GPU ({cc}) is not a TensorRT-RTX target ({', '.join(known)})"


def targets(c: Check) -> list[tuple[str, str, str]]:
    """(format, precision, why-not) for every export this machine could build ('' = build it), in whichever
    TensorRT flavours it has: data-centre TensorRT builds on the GPU; TensorRT-RTX builds anywhere."""
    import torch

    trt = version("tensorrt")
    no_trt = "" if not trt.startswith("not importable") and torch.cuda.is_available() else (
        "the tensorrt package is not installed" if trt.startswith("not") else "no CUDA device")
    no_rtx = "the tensorrt_rtx package is not installed" if version("tensorrt_rtx").startswith("not") else ""
    if c.dry:
        return [("onnx", "fp32", ""), ("onnx", "int8", ""), ("torch-compiled", "fp32", ""),
                ("tensorrt-rtx", "int8", no_rtx)]
    no_gpu = "" if gpu(c) else "no CUDA device"
    return [("onnx", "fp32", ""), ("onnx", "fp16", ""), ("onnx", "int8", ""), ("onnx", "int8-dynamic", ""),
            ("torch-compiled", "fp32", no_gpu), ("torch-compiled", "bf16", no_gpu), ("torch-compiled", "fp16", no_gpu),
            ("triton", "fp32", ""), ("tensorrt", "fp32", no_trt), ("tensorrt", "fp16", no_trt),
            ("tensorrt", "int8", no_trt), ("triton-tensorrt", "fp16", no_trt),
            ("tensorrt-rtx", "fp32", no_rtx), ("tensorrt-rtx", "fp16", no_rtx), ("tensorrt-rtx", "int8", no_rtx)]


SUFFIX = {"onnx": ".onnx", "torch-compiled": ".compiled", "tensorrt": ".engine", "tensorrt-rtx": ".engine"}


def export_step(c: Check) -> dict[str, Any]:
    """Export every format the machine can build, then eval-engine each one against the run."""
    run = c.facts.get("run")
    if not run:
        raise Skip("no trained run (the training step did not finish)")
    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    c.facts["exports"] = rows
    max_batch = str(max(DRY_BATCHES if c.dry else GPU_BATCHES))
    for fmt, precision, why_not in targets(c):
        row: dict[str, Any] = {"format": fmt, "precision": precision}
        rows.append(row)
        if why_not:
            row.update(status="skipped", reason=why_not)
            continue
        if c.left() < 30:
            row.update(status="skipped", reason="time budget")
            continue
        path = c.work / "art" / f"{fmt}-{precision}{SUFFIX.get(fmt, '')}"
        extra = ["--calib-frames", "128"] if precision == "int8" else []
        not_here = rtx_runs_here() if fmt == "tensorrt-rtx" else ""
        if fmt == "tensorrt-rtx" and not not_here:  # build for this GPU, so that parity runs at export
            import torch

            extra += ["--compute-capability", "SM{}{}".format(*torch.cuda.get_device_capability())]
        t = time.monotonic()
        rc, text = c.amc("export", run, "--format", fmt, "--precision", precision, "--out", str(path),
                         "--max-batch", max_batch, *extra, timeout=240)
        row["export_s"] = round(time.monotonic() - t, 1)
        parity = [ln for ln in text.splitlines() if ln.startswith("parity vs PyTorch")]
        row["parity"] = parity[0] if parity else ""
        if rc != 0:
            row.update(status="export failed", reason=(text.strip().splitlines() or [""])[-1][:300])
            failed.append(f"{fmt} {precision}")
            continue
        row["path"] = str(path)
        if not_here:  # a real engine, built without running it: nothing to score here
            row.update(status="built, not run", reason=not_here)
            continue
        report = c.work / "eval" / f"{fmt}-{precision}"
        t = time.monotonic()
        rc, text = c.amc("eval-engine", str(path), "--run", run, "--out", str(report), "--no-progress", timeout=180)
        row["eval_s"] = round(time.monotonic() - t, 1)
        row["eval_exit"] = rc
        if (report / "report.json").is_file():
            r = json.loads((report / "report.json").read_text())
            row.update({k: r.get(k) for k in ("engine_acc", "reference_acc", "delta_pp", "passed", "verdict",
                                              "summary", "torch_max_abs_dlogit", "backend")})
            # agreement: share of frames where the engine gets the PyTorch reference's class (same frames)
            row["torch_agreement"] = r.get("agreement")
            row["reference"] = (r.get("reference") or {}).get("kind")
        row["status"] = {0: "ok", 1: "drift", 4: "inconclusive"}.get(rc, "eval failed")
        if rc not in (0, 1, 4):
            row["reason"] = (text.strip().splitlines() or [""])[-1][:300]
        if rc != 0:
            failed.append(f"{fmt} {precision} ({row['status']})")
    c.facts["artifacts"] = {f"{r['format']} {r['precision']}": r["path"] for r in rows
                            if r.get("path") and r.get("status") != "built, not run"}
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(rows)}: {', '.join(failed)}")
    built_only = [f"{r['format']} {r['precision']}" for r in rows if r.get("status") == "built, not run"]
    return {"built": len(c.facts["artifacts"]) + len(built_only), "of": len(rows), "built_not_run": built_only}


# -- classify -------------------------------------------------------------------------------------
def classify_step(c: Check) -> dict[str, Any]:
    """`amc classify`'s pipeline (benchmarks/bench_classify.py) on this machine: real-time factor at 1 MS/s,
    pipeline overhead over the bare engine, batch sweep. The engine runs on ONNX Runtime's CUDA provider where
    onnxruntime-gpu is installed, else on this machine's CPUs (the lent machines carry CPU-only onnxruntime);
    the JSON's `provider` says which."""
    import onnxruntime as ort

    provider = "cuda" if "CUDAExecutionProvider" in ort.get_available_providers() else "cpu"
    out = c.out / "bench_classify.json"
    sizes = (["--seconds", "0.3", "--overhead-seconds", "0.2", "--rounds", "1", "--skip-big"] if c.dry
             else ["--seconds", "5", "--overhead-seconds", "2", "--rounds", "4", "--skip-big"])
    rc, text = c.sh([c.py, str(ROOT / "benchmarks" / "bench_classify.py"), "--provider", provider,
                     "--out", str(out), *sizes], timeout=150)
    if rc != 0 or not out.is_file():
        raise RuntimeError(f"bench_classify exit {rc}: {(text.strip().splitlines() or [''])[-1][:300]}")
    r = json.loads(out.read_text())
    c.facts["classify"] = r
    rt = r["realtime_1msps"]
    return {"provider": provider, "realtime_x_at_1msps": {k: round(v["every_sample"]["realtime_factor"], 2)
                                                           for k, v in rt.items()},
            "overhead_pct": {k: round(v["overhead_pct"], 1) for k, v in r["overhead"].items()}}


def bench_step(c: Check) -> dict[str, Any]:
    """frames/s, p50 / p99 and IQ throughput (MS/s) per batch size: the fast GPU path, ORT-CPU, TensorRT."""
    arts = c.facts.get("artifacts", {})
    batches = DRY_BATCHES if c.dry else GPU_BATCHES
    seconds = "0.02" if c.dry else "0.25"
    plan = [("torch-compiled fp32", True), ("torch-compiled bf16", False), ("onnx fp32", False),
            ("tensorrt fp16", False), ("tensorrt int8", False), ("tensorrt-rtx fp16", False),
            ("tensorrt-rtx int8", False)]
    results: list[dict[str, Any]] = []
    missing: list[str] = []
    c.facts["bench"] = results
    for name, vs_eager in plan:
        if name not in arts:
            missing.append(name)
            continue
        if c.left() < 25:
            missing.append(f"{name} (time budget)")
            continue
        out = c.work / "bench" / f"{name.replace(' ', '-')}.json"
        args = ["bench", arts[name], "--batch", ",".join(map(str, batches)), "--seconds", seconds,
                "--no-progress", "--json", str(out)]
        if vs_eager:
            args += ["--compare-torch", c.facts["run"]]
        rc, text = c.amc(*args, timeout=150)
        if rc != 0 or not out.is_file():
            last = (text.strip().splitlines() or [""])[-1][:300]
            results.append({"engine": name, "status": "failed", "reason": last})
            continue
        r = json.loads(out.read_text())
        length = r["frame_length"]
        rows = [{"batch": x["batch"], "p50_ms": x["p50_ms"], "p99_ms": x["p99_ms"], "frames_per_s": x["frames_per_s"],
                 "msps": x["frames_per_s"] * length / 1e6, "calls": x["iterations"]} for x in r["engine"]]
        entry = {"engine": name, "status": "ok", "backend": r["backend"], "device": r.get("device"),
                 "providers": r.get("providers"), "notes": r.get("notes"), "frame_length": length, "rows": rows}
        if r.get("torch"):
            entry["torch_eager"] = [{"batch": x["batch"], "p50_ms": x["p50_ms"], "p99_ms": x["p99_ms"],
                                     "frames_per_s": x["frames_per_s"], "msps": x["frames_per_s"] * length / 1e6}
                                    for x in r["torch"]]
            entry["speedup_vs_eager"] = r.get("speedup")
        results.append(entry)
    if not results:
        raise Skip(f"nothing to bench: {', '.join(missing) or 'no artifacts'} missing")
    c.facts["not_benched"] = missing
    bad = [r["engine"] for r in results if r["status"] != "ok"]
    if bad:
        raise RuntimeError(f"bench failed for {', '.join(bad)}")
    return {"benched": [r["engine"] for r in results], "not_benched": missing}


STEPS: list[tuple[str, Callable[[Check], dict[str, Any]], float, float]] = [
    # (name, function, seconds it needs on a GPU, in a dry run)
    ("environment", env_step, 5, 1),
    ("pytest -m gpu", pytest_gpu_step, 40, 10),
    ("suite CUDA paths", pytest_cuda_step, 60, 0),
    ("train a4 + resume", train_step, 40, 5),
    ("export + eval-engine", export_step, 60, 10),
    ("bench", bench_step, 40, 5),
    ("classify", classify_step, 60, 5),
]


# -- summary -----------------------------------------------------------------------------------
def fmt(v: Any, spec: str = ".3g") -> str:
    return "" if v is None else format(v, spec) if isinstance(v, float) else str(v)


def markdown(c: Check, started: str) -> str:
    v = c.facts.get("versions", {})
    lines = [f"# amc GPU check ({'dry run, CPU' if c.dry else 'GPU'})", "",
             f"Started {started}; {time.monotonic() - c.t0:.0f} s of a {c.budget:.0f} s budget.", "",
             f"- GPU: {v.get('gpu') or 'none'} ({c.facts.get('nvidia_smi', '')})",
             f"- torch {v.get('torch')} (CUDA {v.get('torch_cuda')}, cuDNN {v.get('cudnn')}), onnxruntime "
             f"{v.get('onnxruntime')} ({', '.join(v.get('ort_providers', []))}), onnx {v.get('onnx')}, "
             f"tensorrt {v.get('tensorrt')}, tensorrt_rtx {v.get('tensorrt_rtx')}, python {v.get('python')}, "
             f"{v.get('cpus')} CPUs", "",
             "| step | status | s | detail |", "| --- | --- | --: | --- |"]
    for s in c.steps:
        detail = s.get("reason") or s.get("pytest") or ""
        if s["step"] == "train a4 + resume" and s["status"] == "ok":
            detail = (f"{s['device']}: {s['epochs']} epochs in {s['train_s']} s, best val_acc "
                      f"{fmt(s.get('best_val_acc'))}, resume equal: {s['resume_equal']}")
        lines.append(f"| {s['step']} | {s['status']} | {s['seconds']} | {str(detail).replace('|', '/')} |")
    exports = c.facts.get("exports") or []
    if exports:
        lines += ["", "## Exports and eval-engine", "",
                  "| format | precision | status | export s | engine acc | Δ pp vs reference | agreement with torch |",
                  "| --- | --- | --- | --: | --: | --: | --: |"]
        for r in exports:
            lines.append(f"| {r['format']} | {r['precision']} | {r['status']}"
                         f"{' (' + r['reason'] + ')' if r.get('reason') else ''} | {fmt(r.get('export_s'))} | "
                         f"{fmt(r.get('engine_acc'), '.4f')} | {fmt(r.get('delta_pp'), '.2f')} | "
                         f"{fmt(r.get('torch_agreement'), '.4f')} |")
    for b in c.facts.get("bench") or []:
        if b["status"] != "ok":
            lines += ["", f"## bench {b['engine']}: failed ({b.get('reason')})"]
            continue
        where = ", ".join(b.get("providers") or []) or b["device"]
        lines += ["", f"## bench {b['engine']} ({b['backend']} on {where}, L = {b['frame_length']})", ""]
        lines += [f"- {n}" for n in b.get("notes") or []] + ([""] if b.get("notes") else [])
        eager = {r["batch"]: r for r in b.get("torch_eager") or []}
        head = "| batch | p50 ms | p99 ms | frames/s | MS/s |" + (" eager frames/s | speed-up |" if eager else "")
        lines += [head, "| --: | --: | --: | --: | --: |" + (" --: | --: |" if eager else "")]
        for r in b["rows"]:
            row = (f"| {r['batch']} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['frames_per_s']:,.0f} | "
                   f"{r['msps']:.2f} |")
            if eager:
                e = eager[r["batch"]]
                row += f" {e['frames_per_s']:,.0f} | {r['frames_per_s'] / e['frames_per_s']:.2f}x |"
            lines.append(row)
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--dry-run", action="store_true", help="the same steps on the CPU at toy sizes")
    ap.add_argument("--budget", type=float, default=None, help="seconds for all steps (default 450; dry 150: "
                    "it builds a TensorRT-RTX engine too; or $AMC_GPU_CHECK_BUDGET); a larger budget also "
                    "raises each step's own limit in proportion")
    ap.add_argument("--work", type=Path, default=None, help="scratch directory (default: a new temp dir)")
    a = ap.parse_args()
    dry = a.dry_run or os.environ.get("AMC_GPU_CHECK_CPU") == "1"
    if dry:
        os.environ.setdefault("AMC_COMPILE_BACKEND", "eager")  # trace, no code generation: seconds, not minutes
    a.out.mkdir(parents=True, exist_ok=True)
    work = a.work or Path(tempfile.mkdtemp(prefix="amc-gpu-check-"))  # removed at the end unless --work
    work.mkdir(parents=True, exist_ok=True)
    default = 150.0 if dry else 450.0
    budget = a.budget or float(os.environ.get("AMC_GPU_CHECK_BUDGET") or default)
    c = Check(a.out, work, dry, budget, scale=max(1.0, budget / default))
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for name, fn, need_gpu, need_dry in STEPS:
        c.step(name, lambda fn=fn: fn(c), need_dry if dry else need_gpu)
    result = {"started": started, "dry_run": dry, "budget_s": c.budget, "seconds": round(time.monotonic() - c.t0, 1),
              "work": str(work), **{k: v for k, v in c.facts.items() if k not in ("artifacts",)}, "steps": c.steps}
    (a.out / "gpu_check.json").write_text(json.dumps(result, indent=1, default=str))
    (a.out / "gpu_check.md").write_text(markdown(c, started))
    c.say(f"\nwrote {a.out / 'gpu_check.json'}, {a.out / 'gpu_check.md'}, {a.out / 'gpu_check.log'}")
    failed = [s["step"] for s in c.steps if s["status"] == "failed"]
    if failed:
        c.say(f"FAILED: {', '.join(failed)}")
    c.log.close()
    if a.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
