# ruff: noqa: F811  (pytest fixtures imported from test_server are parameters here)
"""The service protects itself: byte limits before the body is read, frames counted before arrays are built,
a bounded queue with a per-client share (503 + Retry-After), a per-request deadline, and a client that
disconnects taking its queued frames with it. Against uvicorn on an ephemeral loopback port.
"""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

# engine, model_files: fixtures of the session's tiny trained model
from tests.serve.test_server import L, engine, frames, live_server, model_files, until  # noqa: F401

httpx = pytest.importorskip("httpx")

from amc.config import ConfigError, ServeConfig  # noqa: E402
from amc.serve import server  # noqa: E402
from amc.serve.server import ApiError, create_app, parse_json, url  # noqa: E402

J = {"content-type": "application/json"}


class Gate:
    """The real engine whose first run() after warm-up waits for `gate`; records every run's batch size."""

    def __init__(self, engine) -> None:
        self._e, self.gate, self.entered = engine, threading.Event(), threading.Event()
        self.warm, self.sizes = False, []

    def __getattr__(self, name):
        return getattr(self._e, name)

    def warmup(self, batch_sizes=(1,)) -> None:
        self._e.warmup(batch_sizes)
        self.warm = True

    def run(self, x):
        if self.warm:
            self.sizes.append(len(x))
            if not self.entered.is_set():
                self.entered.set()
                assert self.gate.wait(30)
        return self._e.run(x)


def rss() -> int:
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    pytest.skip("no VmRSS in /proc/self/status")


def raw_exchange(address: str, head: str, body_part: bytes) -> tuple[int, dict[str, str], dict]:
    """Send a request head and only the first part of its body, then read the answer."""
    host, port = address.rsplit("//", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=20) as s:
        s.sendall(head.encode() + body_part)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < int(
                dict(line.split(": ", 1) for line in data.split(b"\r\n\r\n")[0].decode().split("\r\n")[1:])
                .get("content-length", "0")):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head_text, _, payload = data.partition(b"\r\n\r\n")
    lines = head_text.decode().split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, json.loads(payload)


def test_declared_oversized_bodies_are_refused_before_any_body_byte_is_read(engine):
    app = create_app(engine, max_request_frames=64, refusal_pause_ms=200)
    limit = 64 * 2 * L * 32 + 64 * 1024  # JSON: 589 824 bytes
    with live_server(app) as (address, _):
        before = rss()
        answers = []
        for declared in (1 << 30, 28_100_000):  # 1 GiB; the 26.8 MiB body that once took 13 s and +262 MiB
            head = (f"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {declared}\r\n\r\n")
            t0 = time.perf_counter()
            answers.append(raw_exchange(address, head, b'{"iq": [' + b"0.5, " * 4000))  # 20 kB of it sent
            assert time.perf_counter() - t0 >= 0.2  # held for the refusal pause (a sleep's lower bound)
        grown = rss() - before
        metrics = httpx.get(f"{address}/metrics").text
    for status, headers, body in answers:  # answered while almost all of the body was never sent
        assert status == 413 and headers["connection"] == "close"
        assert f"over the limit of {limit} bytes" in body["error"]
    assert grown < 16 * 2**20, grown  # nothing near the declared sizes was buffered or parsed
    assert 'amc_refused_total{reason="too_large"} 2.0' in metrics


def test_binary_x_batch_size_over_the_limit_is_refused_before_the_body(engine):
    app = create_app(engine, max_request_frames=8)
    with live_server(app) as (address, _):
        head = ("POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                f"X-Batch-Size: 100000\r\nContent-Length: {100000 * 2 * L * 4}\r\n\r\n")
        status, _, body = raw_exchange(address, head, b"\0" * 4096)
    assert status == 413 and body["error"] == "100000 frames in one request; the limit is 8"


def test_json_frames_are_counted_before_parsing_and_before_arrays(monkeypatch):
    three = json.dumps({"iq": np.zeros((3, 2, L)).tolist()}).encode()
    loads = []
    monkeypatch.setattr(server, "json", types.SimpleNamespace(loads=lambda b: loads.append(b) or json.loads(b)))
    with pytest.raises(ApiError, match="more than 512 numbers") as e:
        parse_json(three, L, max_frames=2)  # the commas alone say 768 numbers: never parsed
    assert e.value.status == 413 and loads == []
    many_short = json.dumps({"iq": [[[0.0], [0.0]]] * 100}).encode()  # few numbers, 100 frames
    with pytest.raises(ApiError, match="100 frames in one request; the limit is 2") as e:
        parse_json(many_short, L, max_frames=2)
    assert e.value.status == 413 and len(loads) == 1
    x, _ = parse_json(json.dumps({"iq": np.ones((2, 2, L)).tolist()}).encode(), L, max_frames=2)
    assert x.shape == (2, 2, L)


def clients(address: str, n: int) -> list:
    """httpx clients from distinct loopback addresses (127.0.0.1, .2, ...): distinct clients to the service."""
    return [httpx.AsyncClient(base_url=address, timeout=30,
                              transport=httpx.AsyncHTTPTransport(local_address=f"127.0.0.{i + 1}"))
            for i in range(n)]


def body(n: int, seed: int = 0) -> dict:
    return {"iq": frames(n, seed=seed).tolist()}


def test_a_flood_is_refused_with_503_and_retry_after_while_others_keep_their_share(engine):
    gated = Gate(engine)
    app = create_app(gated, max_batch=4, max_delay_ms=0, max_queue_frames=8, client_share=0.5, max_request_frames=4,
                     refusal_pause_ms=300)
    with live_server(app) as (address, _):
        q = app.state.batcher

        async def go():
            a, b, c = clients(address, 3)
            first = asyncio.create_task(a.post("/v1/classify", json=body(1)))
            await until(gated.entered.is_set)  # the engine is busy with a's first frame
            queued_a = asyncio.create_task(a.post("/v1/classify", json=body(4, 1)))
            await until(lambda: q.queued_frames == 4)
            flood_a = await a.post("/v1/classify", json=body(1, 2))  # a holds its share (4 of 8)
            queued_b = asyncio.create_task(b.post("/v1/classify", json=body(4, 3)))  # b still has room
            await until(lambda: q.queued_frames == 8)
            full_c = await c.post("/v1/classify", json=body(1, 4))  # the queue is full
            gated.gate.set()
            out = [await first, await queued_a, flood_a, await queued_b, full_c]
            for cl in (a, b, c):
                await cl.aclose()
            return out

        first, queued_a, flood_a, queued_b, full_c = asyncio.run(go())
        metrics = httpx.get(f"{address}/metrics").text
    assert [r.status_code for r in (first, queued_a, queued_b)] == [200, 200, 200]
    assert len(queued_a.json()["predictions"]) == 4 and len(queued_b.json()["predictions"]) == 4
    assert flood_a.status_code == 503 and "one client may queue at most 4" in flood_a.json()["error"]
    assert full_c.status_code == 503 and "the queue is full (8 of 8 frames waiting)" in full_c.json()["error"]
    for r in (flood_a, full_c):
        assert int(r.headers["retry-after"]) >= 1
        assert r.elapsed.total_seconds() >= 0.3  # held for the pause (a lower bound set by a sleep, not a speed)
    assert 'amc_refused_total{reason="client_share"} 1.0' in metrics
    assert 'amc_refused_total{reason="queue_full"} 1.0' in metrics
    assert gated.sizes == [1, 4, 4]  # the refused frames never reached the engine


def test_deadline_drops_queued_work_before_inference(engine):
    gated = Gate(engine)
    app = create_app(gated, max_batch=4, max_delay_ms=0, request_timeout_s=0.5)
    with live_server(app) as (address, _):

        async def go():
            (a,) = clients(address, 1)
            first = asyncio.create_task(a.post("/v1/classify", json=body(1)))
            await until(gated.entered.is_set)
            second = asyncio.create_task(a.post("/v1/classify", json=body(2, 1)))
            late = await second  # its deadline passes while the engine is still held by the first
            in_engine = await first
            gated.gate.set()
            await until(lambda: app.state.batcher.queued_frames == 0)
            after = await a.post("/v1/classify", json=body(3, 2))
            await a.aclose()
            return late, in_engine, after

        late, in_engine, after = asyncio.run(go())
        metrics = httpx.get(f"{address}/metrics").text
    assert late.status_code == 503 and "waited in the queue" in late.json()["error"]
    assert int(late.headers["retry-after"]) >= 1
    assert in_engine.status_code == 504 and "while the engine ran it" in in_engine.json()["error"]
    assert after.status_code == 200 and len(after.json()["predictions"]) == 3
    assert gated.sizes == [1, 3]  # the expired request's 2 frames were never run
    assert 'amc_refused_total{reason="deadline_queued"} 1.0' in metrics
    assert 'amc_refused_total{reason="deadline_engine"} 1.0' in metrics


def test_a_client_that_disconnects_takes_its_queued_frames_with_it(engine):
    gated = Gate(engine)
    app = create_app(gated, max_batch=4, max_delay_ms=0)
    with live_server(app) as (address, _):
        q = app.state.batcher

        async def go():
            (a,) = clients(address, 1)
            first = asyncio.create_task(a.post("/v1/classify", json=body(1)))
            await until(gated.entered.is_set)
            payload = json.dumps(body(3, 1)).encode()
            host, port = address.rsplit("//", 1)[1].rsplit(":", 1)
            s = socket.create_connection((host, int(port)))
            s.sendall(f"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
            await until(lambda: q.queued_frames == 3)
            s.close()  # the client goes away while its frames wait
            await until(lambda: q.queued_frames == 0)
            gated.gate.set()
            r = await first
            await a.aclose()
            return r

        first = asyncio.run(go())
        metrics = httpx.get(f"{address}/metrics").text
    assert first.status_code == 200
    assert gated.sizes == [1]  # the departed client's 3 frames never ran
    assert 'amc_refused_total{reason="client_disconnect"} 1.0' in metrics


def test_serve_config_ranges_and_help():
    assert ServeConfig().validate().client_frames() == 4096
    for bad, flag in [({"max_queue_frames": 0}, "--max-queue-frames"), ({"client_share": 1.5}, "--client-share"),
                      ({"request_timeout_s": float("nan")}, "--request-timeout-s"),
                      ({"max_batch": 10**6}, "--max-batch")]:
        with pytest.raises(ConfigError, match=flag):
            ServeConfig(**bad).validate()
    with pytest.raises(ConfigError, match="could never be admitted"):
        ServeConfig(max_queue_frames=100, max_request_frames=80).validate()

    from amc.cli import app

    r = CliRunner().invoke(app, ["serve", "--client-share", "2"])
    assert r.exit_code == 2 and "client_share (--client-share) must be in range 0.01<=x<=1, got 2" in r.output
    text = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200).output
    for option in ("--max-request-frames", "--max-body-mib", "--max-queue-frames", "--client-share",
                   "--request-timeout-s"):
        assert option in text
    assert "[default: 8192; 1<=x<=1048576]" in text  # the range in the one notation every option uses


def test_ipv6_addresses_are_bracketed_in_urls(model_files, monkeypatch):
    assert url("::1", 8000) == "http://[::1]:8000" and url("127.0.0.1", 80) == "http://127.0.0.1:80"
    uvicorn = pytest.importorskip("uvicorn")
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: None)  # announce, then return
    said: list[str] = []
    server.serve(str(model_files[1]), host="::1", port=0, announce=said.append)
    assert " on http://[::1]:" in said[0], said


def test_batches_take_clients_in_turns():
    from amc.serve.batcher import Batcher

    gate, entered, batches = threading.Event(), threading.Event(), []

    def run(x):
        batches.append(sorted({int(v) for v in x[:, 0, 0]}))  # which clients' frames (the value says)
        entered.set()
        assert gate.wait(10)
        return {"first": x[:, 0, 0].copy()}

    async def go():
        b = Batcher(run, max_batch=4, max_delay_ms=0)
        await b.start()
        flood = [asyncio.ensure_future(b.submit(np.full((4, 2, 3), 1, np.float32), "flood")) for _ in range(4)]
        await until(entered.is_set)  # the first flood batch holds the engine; three more wait
        good = asyncio.ensure_future(b.submit(np.full((1, 2, 3), 2, np.float32), "good"))
        await until(lambda: b.queued_frames == 13)
        gate.set()
        out = await good
        await asyncio.gather(*flood)
        await b.stop()
        return out

    out = asyncio.run(go())
    assert out["first"].tolist() == [2.0]
    assert batches[:2] == [[1], [2]]  # the good client's frame runs next, not after the flood's queue
    assert len(batches) == 5
