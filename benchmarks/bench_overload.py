"""Does `amc serve` hold its p99 for good requests while oversized and flooding clients are refused?

Self-contained, bounded, on loopback: trains and exports a throwaway a4 model (benchmarks/bench_serve.py's
build_model), starts `python -m amc serve` with small limits in a subprocess, and runs two phases of
--seconds each, measured in this one run:

  baseline  good clients only: --good workers from 127.0.0.1, single-frame JSON requests, keep-alive;
  attack    the same good clients, plus
            * oversized clients (127.0.0.2): each request declares a ~27 MB JSON body (the size that once took
              13 s and +262 MiB before its 413), sends its first 64 KiB and waits for the answer;
            * flooding clients (127.0.0.3): --flood workers sending --max-request-frames-frame binary requests
              back to back, ignoring Retry-After.

The attackers run in a process of their own, so the good clients' latencies are not their event loop's.
Distinct loopback addresses are distinct clients to the service (its per-client queue share).
Reports per phase: good requests' p50 / p99 and errors, the answers the attackers got by status, the
oversized requests' answer time, the server's peak RSS; and the ratio p99(attack) / p99(baseline).
Targets: every oversized request answered 413 without its body; flooding refused with 503 + Retry-After;
no good request refused or lost; p99(attack) / p99(baseline) <= 3 on an otherwise idle machine (the
load average is recorded: on a busy 2-core machine the attackers' own CPU shows in every figure).

    python benchmarks/bench_overload.py [--out results/bench_overload.json] [--size tiny|default]
                                        [--seconds 8] [--good 8] [--flood 32] [--threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_serve import build_model, cpu_seconds, free_port, wait_ready  # noqa: E402

from amc import jsonio  # noqa: E402

GOOD, OVERSIZED, FLOOD = "127.0.0.1", "127.0.0.2", "127.0.0.3"
OVERSIZED_BYTES = 28_100_000  # 26.8 MiB


class Conn:
    """A minimal keep-alive HTTP/1.1 client from a chosen local address (one request at a time)."""

    def __init__(self, port: int, local: str) -> None:
        self.port, self.local = port, local
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, local_addr=(self.local, 0))
        self.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def request(self, head: bytes, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(head + body)
        try:
            await self.writer.drain()
            lines = (await self.reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            payload = await self.reader.readexactly(int(headers.get("content-length", "0")))
            if headers.get("connection", "").lower() == "close":
                await self.close()
            return int(lines[0].split()[1]), headers, payload
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def head(content_type: str, length: int, extra: str = "") -> bytes:
    return (f"POST /v1/classify HTTP/1.1\r\nHost: amc\r\nContent-Type: {content_type}\r\n{extra}"
            f"Content-Length: {length}\r\n\r\n").encode()


async def phase(port: int, seconds: float, good_bodies: list[bytes], n_good: int, n_over: int, n_flood: int,
                flood_body: bytes, flood_frames: int) -> dict[str, Any]:
    end = time.perf_counter() + seconds
    latencies: list[float] = []
    good_errors: dict[str, int] = {}
    attack: dict[str, dict[str, int]] = {"oversized": {}, "flood": {}}
    over_ms: list[float] = []
    retry_after_seen = [0]

    def count(table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1

    async def good(i: int) -> None:
        conn = Conn(port, GOOD)
        j = i
        while time.perf_counter() < end:
            body = good_bodies[j % len(good_bodies)]
            j += n_good
            t0 = time.perf_counter()
            try:
                status, _, _ = await conn.request(head("application/json", len(body)), body)
            except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                count(good_errors, type(e).__name__)
                continue
            if status == 200:
                latencies.append(time.perf_counter() - t0)
            else:
                count(good_errors, str(status))
        await conn.close()

    async def oversized() -> None:
        part = b'{"iq": [' + b"0.12345678901234567, " * 3120  # the first 64 KiB of a 26.8 MiB body
        while time.perf_counter() < end:
            conn = Conn(port, OVERSIZED)
            t0 = time.perf_counter()
            try:
                status, _, _ = await asyncio.wait_for(
                    conn.request(head("application/json", OVERSIZED_BYTES), part), 10)
                over_ms.append(1000 * (time.perf_counter() - t0))
                count(attack["oversized"], str(status))
            except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as e:
                count(attack["oversized"], type(e).__name__)
            await conn.close()

    async def flood() -> None:
        conn = Conn(port, FLOOD)
        h = head("application/octet-stream", len(flood_body), f"X-Batch-Size: {flood_frames}\r\n")
        while time.perf_counter() < end:
            try:
                status, headers, _ = await conn.request(h, flood_body)
            except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                count(attack["flood"], type(e).__name__)
                continue
            count(attack["flood"], str(status))
            if status == 503 and "retry-after" in headers:
                retry_after_seen[0] += 1
        await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*[good(i) for i in range(n_good)], *[oversized() for _ in range(n_over)],
                         *[flood() for _ in range(n_flood)])
    elapsed = time.perf_counter() - t0
    ms = np.asarray(latencies) * 1000 if latencies else np.asarray([np.nan])
    good_row = {"ok": len(latencies), "errors": good_errors, "req_per_s": len(latencies) / elapsed,
                "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}
    return {"seconds": elapsed, "good": good_row,
            "oversized": {"answers": attack["oversized"],
                          "answer_ms_p50": float(np.median(over_ms)) if over_ms else None,
                          "answer_ms_max": max(over_ms) if over_ms else None},
            "flood": {"answers": attack["flood"], "refusals_with_retry_after": retry_after_seen[0]}}


def peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def refusals(port: int) -> dict[str, float]:
    import httpx

    out = {}
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text.splitlines():
        if line.startswith("amc_refused_total{"):
            name, value = line.rsplit(" ", 1)
            out[name.split('"')[1]] = float(value)
    return out


def attacker(args: argparse.Namespace) -> None:
    """--attacker: the oversized and flooding clients only, for --seconds; their counts as JSON on stdout."""
    from amc.serve.bench import random_frames

    flood_body = random_frames(args.max_request_frames, args.frame_length, seed=2).astype("<f4").tobytes()
    print("go", flush=True)
    row = asyncio.run(phase(args.port, args.seconds, [], 0, args.oversized, args.flood, flood_body,
                            args.max_request_frames))
    print(jsonio.dumps(row), flush=True)


def attack_phase(port: int, length: int, args: argparse.Namespace, good_bodies: list[bytes]) -> dict[str, Any]:
    """Good clients here, attackers in a subprocess, over the same --seconds."""
    cmd = [sys.executable, __file__, "--attacker", "--port", str(port), "--frame-length", str(length),
           "--seconds", str(args.seconds), "--oversized", str(args.oversized), "--flood", str(args.flood),
           "--max-request-frames", str(args.max_request_frames)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "go":
        raise RuntimeError("the attacker process did not start")
    good = asyncio.run(phase(port, args.seconds, good_bodies, args.good, 0, 0, b"", 1))
    out, _ = proc.communicate(timeout=args.seconds + 60)
    bad = json.loads(out.strip().splitlines()[-1])
    return {**good, "oversized": bad["oversized"], "flood": bad["flood"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("results/bench_overload.json"))
    ap.add_argument("--model", type=Path, help="An existing .onnx to serve (default: build a throwaway a4 model).")
    ap.add_argument("--size", choices=["default", "tiny"], default="tiny")
    ap.add_argument("--seconds", type=float, default=8.0, help="Seconds per phase.")
    ap.add_argument("--good", type=int, default=8, help="Good clients' concurrent connections.")
    ap.add_argument("--oversized", type=int, default=2, help="Oversized clients' concurrent connections.")
    ap.add_argument("--flood", type=int, default=32, help="Flooding clients' concurrent connections.")
    ap.add_argument("--max-batch", type=int, default=32, help="Server --max-batch (a flood's requests are cut "
                                                              "into slices of this size; clients take turns).")
    ap.add_argument("--max-request-frames", type=int, default=64)
    ap.add_argument("--max-queue-frames", type=int, default=512)
    ap.add_argument("--client-share", type=float, default=0.25)
    ap.add_argument("--request-timeout-s", type=float, default=2.0)
    ap.add_argument("--refusal-pause-ms", type=float, default=250.0)
    ap.add_argument("--threads", type=int, default=1, help="Engine threads in the server.")
    ap.add_argument("--attacker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--frame-length", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.attacker:
        attacker(args)
        return {}

    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="amc-bench-overload-") as tmp:
        workdir = Path(tmp)
        model = args.model or build_model(workdir, args.size)[1]
        from amc.runtime import Engine
        from amc.serve.bench import random_frames

        engine = Engine.load(model, threads=args.threads)
        length = engine.frame_length
        del engine
        frames = random_frames(64, length, seed=1)
        good_bodies = [json.dumps({"iq": f.tolist()}).encode() for f in frames]

        port = free_port()
        log_path = workdir / "server.log"
        cmd = [sys.executable, "-m", "amc", "serve", str(model), "--port", str(port), "--threads", str(args.threads),
               "--max-batch", str(args.max_batch),
               "--max-request-frames", str(args.max_request_frames), "--max-queue-frames", str(args.max_queue_frames),
               "--client-share", str(args.client_share), "--request-timeout-s", str(args.request_timeout_s),
               "--refusal-pause-ms", str(args.refusal_pause_ms)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.Popen(cmd, stdout=log_path.open("w"), stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        try:
            wait_ready(f"http://127.0.0.1:{port}", proc, log_path)
            cpu0 = cpu_seconds(proc.pid)
            base = asyncio.run(phase(port, args.seconds, good_bodies, args.good, 0, 0, b"", 1))
            cpu1, rss_base = cpu_seconds(proc.pid), peak_rss_mib(proc.pid)
            print(f"baseline: good p50 {base['good']['p50_ms']:.2f} ms, p99 {base['good']['p99_ms']:.2f} ms, "
                  f"{base['good']['req_per_s']:.0f} req/s, errors {base['good']['errors']}", flush=True)
            hit = attack_phase(port, length, args, good_bodies)
            cpu2, rss_hit = cpu_seconds(proc.pid), peak_rss_mib(proc.pid)
            if None not in (cpu0, cpu1, cpu2):  # the server's CPU share of each phase (1.0 = one core)
                base["server_cpu_cores"] = (cpu1 - cpu0) / base["seconds"]
                hit["server_cpu_cores"] = (cpu2 - cpu1) / hit["seconds"]
            refused = refusals(port)
            print(f"attack:   good p50 {hit['good']['p50_ms']:.2f} ms, p99 {hit['good']['p99_ms']:.2f} ms, "
                  f"{hit['good']['req_per_s']:.0f} req/s, errors {hit['good']['errors']}", flush=True)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                exit_code = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                exit_code = proc.wait()

    ratio = hit["good"]["p99_ms"] / base["good"]["p99_ms"]
    over = hit["oversized"]["answers"]
    fl = hit["flood"]["answers"]
    summary = {
        "p99_attack_over_baseline": {"value": ratio, "target": "<= 3", "pass": ratio <= 3},
        "good_requests_all_answered": {"pass": not base["good"]["errors"] and not hit["good"]["errors"]},
        "oversized_all_413": {"pass": bool(over) and set(over) == {"413"}},
        "flood_refused_with_retry_after": {"pass": fl.get("503", 0) > 0
                                           and hit["flood"]["refusals_with_retry_after"] == fl.get("503", 0)},
    }
    report = {"model": f"throwaway a4 ({args.size} widths), fp32 ONNX" if not args.model else str(args.model),
              "cpu_count": os.cpu_count(), "server_threads": args.threads,
              "settings": {k: getattr(args, k) for k in ("seconds", "good", "oversized", "flood", "max_batch",
                                                         "max_request_frames", "max_queue_frames", "client_share",
                                                         "request_timeout_s", "refusal_pause_ms")},
              "oversized_declared_bytes": OVERSIZED_BYTES,
              "load_average_1m": {"start": load_start, "end": os.getloadavg()[0]},
              "baseline": base, "attack": hit, "server_peak_rss_mib": {"baseline": rss_base, "attack": rss_hit},
              "server_refusals": refused, "summary": summary, "server_exit_code": exit_code}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(jsonio.dumps(report, indent=2) + "\n")
    print(f"oversized: {over} (answer p50 {hit['oversized']['answer_ms_p50'] or float('nan'):.1f} ms); "
          f"flood: {fl}; server refusals {refused}; peak RSS {rss_base} -> {rss_hit} MiB")
    for name, s in summary.items():
        value = f"{s['value']:.2f} (target {s['target']}) " if "value" in s else ""
        print(f"{name}: {value}{'PASS' if s['pass'] else 'FAIL'}")
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
