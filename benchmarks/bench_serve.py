"""Bounded HTTP load test of `amc serve` on loopback: does dynamic batching pay off?

Self-contained: trains a throwaway a4 model (default widths, or --size tiny; one epoch on a few
hundred synthetic frames, so the weights are near their initialisation; speed does not depend on
them), exports it to ONNX, starts `python -m amc serve` in a subprocess on a free 127.0.0.1 port and
drives it with single-frame JSON requests at concurrency 1, 8, 32 and 128, from a minimal keep-alive
asyncio HTTP/1.1 client (or httpx.AsyncClient with --client httpx, which is CPU-heavy enough to be the
bottleneck on small machines). Every level is bounded by a request count and a time limit; in-flight
requests past the limit are cancelled and counted as lost.

Reports per level: req/s, p50/p90/p99 latency, errors, lost requests, wrong answers (each response
is checked against Engine.predict on the same frame) and the mean server batch size (from /metrics),
plus the engine's own frames/s gain from batch 1 to 32: when the model is compute-bound per frame,
that gain, not the server, caps the c32 / c1 throughput ratio. The 1-minute load average is recorded
because other work on the machine skews every figure.
Targets:
  * throughput at concurrency 32 >= 5x sequential (concurrency 1);
  * p99 latency at concurrency 32 <= max_delay + 3 x the engine's batch-32 p50 latency, measured in
    this run with the same thread count;
  * zero errors, zero lost requests.

    python benchmarks/bench_serve.py [--out results/bench_serve.json] [--size default|tiny]
                                     [--requests 1000] [--time-limit 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


TINY = dict(conv_channels=16, rnn_hidden=16, denoiser_channels=8, dense=32)  # --size tiny: overhead-bound


def build_model(workdir: Path, size: str = "default") -> tuple[Path, Path]:
    """An a4 run trained for one short epoch, exported to fp32 ONNX: (run_dir, model.onnx)."""
    from amc.config import SynthConfig, preset
    from amc.data.build import synth_to_file
    from amc.export import export
    from amc.train.loop import train

    data, run, onnx_path = workdir / "d.h5", workdir / "run", workdir / "model.onnx"
    synth_to_file(SynthConfig(frames_per_class_snr=8, snrs=[0.0, 10.0]), data)
    widths = TINY if size == "tiny" else {}
    model_cfg, train_cfg = preset("a4", data=str(data), out_dir=str(run), epochs=1, batch_size=64, **widths)
    train(model_cfg, train_cfg, progress=False)
    export(run, fmt="onnx", precision="fp32", out=onnx_path)
    return run, onnx_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, port: int, args: argparse.Namespace, log_path: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "amc", "serve", str(model), "--port", str(port), "--max-batch",
           str(args.max_batch), "--max-delay-ms", str(args.max_delay_ms)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(cmd, stdout=log_path.open("w"), stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def wait_ready(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 90.0) -> None:
    import httpx

    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}):\n{log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {timeout:.0f} s:\n{log_path.read_text()[-2000:]}")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def scrape(url: str) -> dict[str, float]:
    """The batch-size histogram's count and sum from /metrics."""
    import httpx

    out = {"amc_batch_size_count": 0.0, "amc_batch_size_sum": 0.0}
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        name, _, value = line.partition(" ")
        if name in out:
            out[name] = float(value)
    return out


class RawConnection:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams: one write per request, TCP_NODELAY.

    httpx's AsyncClient spends 1-2 ms of CPU per request, which on a small machine caps the load
    it can offer near 100-150 req/s: the benchmark would measure the client, not the server.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert self.reader is not None
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        try:
            await self.writer.drain()
            lines = (await self.reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
            status = int(lines[0].split()[1])
            length = [int(v) for k, _, v in (line.partition(b":") for line in lines[1:])
                      if k.strip().lower() == b"content-length"]
            if not length:
                raise ValueError("response without Content-Length")
            return status, await self.reader.readexactly(length[0])
        except BaseException:
            await self.close()  # the stream is in an unknown state
            raise

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def load_level(url: str, bodies: list[bytes], expected: list[str], concurrency: int, requests: int,
                     time_limit: float, client: str = "raw") -> dict[str, Any]:
    """`requests` single-frame JSON requests from `concurrency` workers, stopped at `time_limit` seconds."""
    import httpx

    host, port = url.rsplit("//", 1)[1].split(":")
    latencies: list[float] = []
    errors: dict[str, int] = {}
    wrong = 0
    issued = 0
    counter = iter(range(requests))
    shared = httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(time_limit + 5),
                               limits=httpx.Limits(max_connections=concurrency,
                                                   max_keepalive_connections=concurrency))

    conns = [RawConnection(host, int(port)) for _ in range(concurrency if client == "raw" else 0)]

    async def via_httpx(body: bytes) -> tuple[int, bytes]:
        r = await shared.post("/v1/classify", content=body, headers={"content-type": "application/json"})
        return r.status_code, r.content

    posts = ([functools.partial(c.post, "/v1/classify", content_type="application/json") for c in conns]
             or [via_httpx] * concurrency)
    await asyncio.gather(*[post(bodies[0]) for post in posts])  # open the connections; not counted

    async def worker(post: Any) -> None:
        nonlocal issued, wrong
        for i in counter:
            if time.perf_counter() > deadline:
                return
            issued += 1
            j = i % len(bodies)
            t0 = time.perf_counter()
            try:
                status, content = await post(bodies[j])
            except (OSError, asyncio.IncompleteReadError, httpx.HTTPError, ValueError) as e:
                errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                continue
            dt = time.perf_counter() - t0
            if status != 200:
                errors[str(status)] = errors.get(str(status), 0) + 1
                continue
            latencies.append(dt)
            if json.loads(content)["predictions"][0]["label"] != expected[j]:
                wrong += 1

    start = time.perf_counter()
    deadline = start + time_limit
    tasks = [asyncio.create_task(worker(post)) for post in posts]
    _, pending = await asyncio.wait(tasks, timeout=time_limit + 5)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    elapsed = time.perf_counter() - start
    await shared.aclose()
    for conn in conns:
        await conn.close()
    ms = np.asarray(latencies) * 1000.0 if latencies else np.asarray([np.nan])
    n_err = sum(errors.values())
    return {"concurrency": concurrency, "requested": requests, "issued": issued, "ok": len(latencies),
            "errors": n_err, "error_kinds": errors, "lost": issued - len(latencies) - n_err, "wrong_answers": wrong,
            "seconds": elapsed, "req_per_s": len(latencies) / elapsed,
            "p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
            "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(np.mean(ms))}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("results/bench_serve.json"))
    ap.add_argument("--model", type=Path, help="An existing .onnx to serve (default: build a throwaway a4 model).")
    ap.add_argument("--size", choices=["default", "tiny"], default="default",
                    help="Throwaway model: a4 default widths, or tiny widths (serving overhead dominates).")
    ap.add_argument("--concurrency", default="1,8,32,128", help="Comma-separated concurrency levels.")
    ap.add_argument("--requests", type=int, default=1000, help="Requests per level (at concurrency 1: a third).")
    ap.add_argument("--time-limit", type=float, default=20.0, help="Seconds per level before stopping.")
    ap.add_argument("--max-batch", type=int, default=256)
    ap.add_argument("--max-delay-ms", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=1, help="Engine threads in the server (0 = runtime default).")
    ap.add_argument("--client", choices=["raw", "httpx"], default="raw",
                    help="Load client: raw asyncio keep-alive HTTP/1.1 (default) or httpx.AsyncClient.")
    args = ap.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]

    from amc.runtime import Engine
    from amc.serve.bench import bench_engine, random_frames

    load_start = os.getloadavg()[0]  # other work on the machine skews every figure; it is recorded
    with tempfile.TemporaryDirectory(prefix="amc-bench-serve-") as tmp:
        workdir = Path(tmp)
        t0 = time.perf_counter()
        model = args.model or build_model(workdir, args.size)[1]
        build_s = time.perf_counter() - t0
        engine = Engine.load(model, threads=args.threads or None)
        frames = random_frames(64, engine.frame_length, seed=1) * np.linspace(0.5, 2, 64, dtype=np.float32)[:, None,
                                                                                                              None]
        expected = engine.predict(frames).label
        bodies = [json.dumps({"iq": f.tolist()}).encode() for f in frames]
        engine_rows = {r["batch"]: r for r in bench_engine(engine, [1, 32], seconds=1.5)}
        del engine

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log_path = workdir / "server.log"
        proc = start_server(model, port, args, log_path)
        results = []
        try:
            wait_ready(url, proc, log_path)
            for c in levels:
                before, cpu0 = scrape(url), cpu_seconds(proc.pid)
                n = max(c, args.requests // 3) if c == 1 else args.requests
                row = asyncio.run(load_level(url, bodies, expected, c, n, args.time_limit, args.client))
                after, cpu1 = scrape(url), cpu_seconds(proc.pid)
                # server CPU per answered request (engine included): robust to other load on the machine
                row["server_cpu_ms_per_request"] = (None if cpu0 is None or cpu1 is None else
                                                    1000 * (cpu1 - cpu0) / max(row["ok"] + c, 1))
                calls = after["amc_batch_size_count"] - before["amc_batch_size_count"]
                row["mean_server_batch"] = (after["amc_batch_size_sum"] - before["amc_batch_size_sum"]) / max(calls, 1)
                results.append(row)
                print(f"concurrency {c:4d}: {row['req_per_s']:8.1f} req/s  p50 {row['p50_ms']:7.2f} ms  "
                      f"p99 {row['p99_ms']:7.2f} ms  mean batch {row['mean_server_batch']:5.1f}  "
                      f"server CPU {row['server_cpu_ms_per_request'] or float('nan'):.2f} ms/req  "
                      f"errors {row['errors']}  lost {row['lost']}  wrong {row['wrong_answers']}", flush=True)
        finally:
            proc.send_signal(signal.SIGTERM)  # graceful: drain, then exit
            try:
                exit_code = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                exit_code = proc.wait()
            server_log = log_path.read_text()[-2000:]

    by_c = {r["concurrency"]: r for r in results}
    b32 = engine_rows[32]["p50_ms"]
    budget = args.max_delay_ms + 3 * b32
    summary: dict[str, Any] = {"errors": sum(r["errors"] for r in results), "lost": sum(r["lost"] for r in results),
                               "wrong_answers": sum(r["wrong_answers"] for r in results)}
    if 1 in by_c and 32 in by_c:
        ratio = by_c[32]["req_per_s"] / by_c[1]["req_per_s"]
        summary["throughput_c32_over_c1"] = {"value": ratio, "target": ">= 5", "pass": ratio >= 5}
        p99 = by_c[32]["p99_ms"] / budget
        summary["p99_c32_over_budget"] = {"value": p99, "budget_ms": budget, "target": "<= 1", "pass": p99 <= 1}
    gain = (32 / engine_rows[32]["p50_ms"]) / (1 / engine_rows[1]["p50_ms"])
    summary["engine_batching_gain_b32_over_b1"] = gain  # frames/s at batch 32 / at batch 1 (p50 latencies)
    if 1 in by_c:  # the best c32/c1 ratio this engine allows if HTTP cost nothing
        summary["engine_ceiling_over_c1"] = (32 / engine_rows[32]["p50_ms"] * 1000) / by_c[1]["req_per_s"]
    summary["clean"] = {"pass": summary["errors"] == 0 and summary["lost"] == 0 and summary["wrong_answers"] == 0}
    graceful = "drained and stopped" in server_log
    summary["graceful_shutdown"] = {"pass": graceful and exit_code in (0, -signal.SIGTERM)}
    report = {"model": f"throwaway a4 ({args.size} widths), fp32 ONNX" if not args.model else str(args.model),
              "build_seconds": build_s, "cpu_count": os.cpu_count(), "server_threads": args.threads or "default",
              "max_batch": args.max_batch, "max_delay_ms": args.max_delay_ms, "request": "single-frame JSON",
              "client": args.client, "load_average_1m": {"start": load_start, "end": os.getloadavg()[0]},
              "engine_latency_ms": {str(b): {k: r[k] for k in ("p50_ms", "p99_ms", "frames_per_s")}
                                    for b, r in engine_rows.items()},
              "levels": results, "summary": summary, "server_exit_code": exit_code}
    if not summary["graceful_shutdown"]["pass"]:
        report["server_log_tail"] = server_log
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"engine frames/s gain batch 32 vs 1: {gain:.2f}x; engine-bound ceiling for c32/c1: "
          f"{summary.get('engine_ceiling_over_c1', float('nan')):.2f}x")
    for name, s in summary.items():
        if isinstance(s, dict):
            value = f"{s['value']:.2f} (target {s['target']})" if "value" in s else ""
            print(f"{name}: {value} {'PASS' if s['pass'] else 'FAIL'}")
    print(f"engine batch-32 p50 {b32:.2f} ms; server exit code {exit_code}; wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
