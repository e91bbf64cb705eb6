"""The service under a bounded loopback load with bad requests mixed in: right answers, 4xx for the bad
ones, no 5xx, still serving afterwards, and flat memory from one wave to the next. Also: loopback by default.
"""

from __future__ import annotations

import asyncio
import gc
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# engine, model_files: fixtures of the session's tiny trained model
from tests.serve.test_server import BIN, assert_matches, client, engine, frames, live_server, model_files, until  # noqa: F401

httpx = pytest.importorskip("httpx")

from amc.serve.server import create_app  # noqa: E402

L = 128
N = 400  # requests per wave
CONCURRENCY = 16
MAX_BODY = 24_000  # bytes; a good request is at most ~12 kB (two frames as JSON)
POOL = 48  # distinct frames the good requests draw from
BAD = {  # kind -> (expected status, fragment of the error message)
    "length": (422, "frames have 64 samples but this engine takes 128"),
    "binary_nan": (422, "NaN or Inf"),
    "malformed": (400, "malformed JSON"),
    "content_type": (415, "content type 'text/plain' is not supported"),
    "oversize": (413, "over the limit of 1024 bytes"),  # binary, X-Batch-Size 1: exactly 1*2*L*4 bytes may come
}
WAVE_LIMIT_S = 12.0
RSS_MARGIN = 20 * 2**20


@dataclass
class Req:
    kind: str  # "good" or a BAD key
    body: bytes
    headers: dict[str, str]
    rows: list[int]  # pool rows of a good request's frames


def wave(pool: np.ndarray, seed: int = 0) -> list[Req]:
    """N requests, every 4th one bad (the five kinds in turn), the good ones in JSON and binary form."""
    rng = np.random.default_rng(seed)
    j = {"content-type": "application/json"}
    out = []
    for i in range(N):
        if i % 4 == 3:
            kind = list(BAD)[(i // 4) % len(BAD)]
            if kind == "length":
                body, h = json.dumps({"iq": frames(1, length=64)[0].tolist()}).encode(), j
            elif kind == "binary_nan":
                x = pool[rng.integers(0, POOL, 2)].copy()
                x[1, rng.integers(0, 2), rng.integers(0, L)] = np.nan
                body, h = x.astype("<f4").tobytes(), {**BIN, "X-Batch-Size": "2"}
            elif kind == "malformed":
                body, h = b'{"iq": [[0.5, 1.5', j
            elif kind == "content_type":
                body, h = b"iq=1,2,3", {"content-type": "text/plain"}
            else:
                body, h = b"\0" * (MAX_BODY + 4096), {**BIN, "X-Batch-Size": "1"}
            out.append(Req(kind, body, h, []))
            continue
        form = i % 3
        rows = [int(r) for r in rng.integers(0, POOL, 1 if form == 0 else 2 if form == 1 else rng.integers(1, 4))]
        if form == 0:
            out.append(Req("good", json.dumps({"iq": pool[rows[0]].tolist()}).encode(), j, rows))
        elif form == 1:
            out.append(Req("good", json.dumps({"iq": pool[rows].tolist()}).encode(), j, rows))
        else:
            out.append(Req("good", pool[rows].astype("<f4").tobytes(), {**BIN, "X-Batch-Size": str(len(rows))}, rows))
    return out


async def fire(url: str, reqs: list[Req]) -> list[tuple[int, str, Any]]:
    """Send all requests, CONCURRENCY at a time; (status, content type, parsed body) per request, in order."""
    results: list[tuple[int, str, Any]] = [(0, "", None)] * len(reqs)
    todo = iter(range(len(reqs)))
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10.0) as client:

        async def worker() -> None:
            for i in todo:
                r = await client.post("/v1/classify", content=reqs[i].body, headers=reqs[i].headers)
                results[i] = (r.status_code, r.headers.get("content-type", ""), r.json())

        await asyncio.wait_for(asyncio.gather(*[worker() for _ in range(CONCURRENCY)]), WAVE_LIMIT_S)
    return results


def rss() -> int:
    """Resident set size of this process (the server runs in it, on a thread), bytes."""
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    pytest.skip("no VmRSS in /proc/self/status")


def check(reqs: list[Req], results: list[tuple[int, str, Any]], pred: Any) -> None:
    for req, (status, ctype, body) in zip(reqs, results):
        assert status < 500, (req.kind, status, body)
        assert ctype.startswith("application/json"), (req.kind, ctype)
        if req.kind == "good":
            assert status == 200, body
            assert_matches(body["predictions"], pred, req.rows)
        else:
            want, fragment = BAD[req.kind]
            assert status == want, (req.kind, status, body)
            assert fragment in body["error"] and "Traceback" not in body["error"], (req.kind, body)


def test_bounded_load_with_bad_requests_mixed_in(engine) -> None:  # noqa: F811
    pool = frames(POOL, seed=21)
    pred = engine.predict(pool)
    reqs = wave(pool)
    assert sum(r.kind != "good" for r in reqs) == N // 4
    app = create_app(engine, max_body_bytes=MAX_BODY)
    with live_server(app) as (url, _):
        first = asyncio.run(fire(url, reqs))
        rss_first = rss()
        second = asyncio.run(fire(url, reqs))
        rss_second = rss()
        ready = httpx.get(f"{url}/readyz", timeout=5)
        after = httpx.post(f"{url}/v1/classify", json={"iq": pool[:2].tolist()}, timeout=5)
    check(reqs, first, pred)
    check(reqs, second, pred)
    assert ready.status_code == 200 and after.status_code == 200
    assert_matches(after.json()["predictions"], pred, [0, 1])
    m = app.state.metrics
    assert m.value("amc_requests_total", {"status": "500"}) == 0
    assert m.value("amc_requests_total", {"status": "200"}) == 2 * (N - N // 4) + 1
    for kind, metric_kind in (("oversize", "too_large"), ("content_type", "content_type"), ("malformed", "bad_json")):
        assert m.value("amc_errors_total", {"kind": metric_kind}) == 2 * sum(r.kind == kind for r in reqs)
    grew = rss_second - rss_first
    assert grew < RSS_MARGIN, f"RSS grew by {grew / 2**20:.1f} MiB over the second wave of {N} requests"


def test_serve_binds_loopback_by_default_and_announces_only_after_binding(model_files, monkeypatch) -> None:  # noqa: F811
    """`amc serve MODEL` listens on 127.0.0.1 unless told otherwise, and says so only once the port is bound
    (uvicorn's serving loop is stubbed: it records the socket it was handed)."""
    import socket

    import uvicorn
    from typer.testing import CliRunner

    from amc.cli import app

    bound: list[tuple[str, int]] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: bound.append(sockets[0].getsockname()))
    r = CliRunner().invoke(app, ["serve", str(model_files[1]), "--port", "0"])
    assert r.exit_code == 0, r.output
    assert bound[0][0] == "127.0.0.1" and bound[0][1] > 0
    assert f"on http://127.0.0.1:{bound[0][1]} " in r.output
    # a port in use: one line, exit 2, no announcement
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        r = CliRunner().invoke(app, ["serve", str(model_files[1]), "--port", str(busy.getsockname()[1])])
    finally:
        busy.close()
    assert r.exit_code == 2 and "the port is in use; choose another --port" in r.output
    assert "serving" not in r.output and len(bound) == 1
    # a file that is not a model: one line, exit 2, before anything is announced or bound
    r = CliRunner().invoke(app, ["serve", __file__])
    assert r.exit_code == 2 and "unknown model suffix '.py'" in r.output and "serving" not in r.output


class FailingEngine:
    """The real engine, whose run raises while `fail` is set (a CUDA error, a lost device...)."""

    def __init__(self, inner: Any) -> None:
        self._e, self.fail = inner, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._e, name)

    def run(self, x: np.ndarray) -> Any:
        if self.fail:
            raise RuntimeError("device lost at /secret/path/kernel.cu:42")
        return self._e.run(x)


def test_engine_failure_is_a_500_without_details_and_the_service_goes_on(engine) -> None:  # noqa: F811

    failing = FailingEngine(engine)
    x = frames(1, seed=22)

    async def go() -> tuple[Any, Any, Any]:
        app = create_app(failing)
        async with app.router.lifespan_context(app), client(app) as c:
            await until(lambda: app.state.status["ready"])
            failing.fail = True
            bad = await c.post("/v1/classify", json={"iq": x[0].tolist()})
            failing.fail = False
            good = await c.post("/v1/classify", json={"iq": x[0].tolist()})
            return bad, good, app.state.metrics

    bad, good, metrics = asyncio.run(go())
    assert bad.status_code == 500 and bad.json() == {"error": "inference failed (RuntimeError)"}
    assert good.status_code == 200
    assert_matches(good.json()["predictions"], engine.predict(x), [0])
    assert metrics.value("amc_errors_total", {"kind": "internal"}) == 1


def test_streamed_body_without_length_is_cut_at_the_limit(engine) -> None:  # noqa: F811
    """A chunked body (no Content-Length) is refused as soon as it passes max_body_bytes, not read to the end."""
    sent: list[int] = []

    async def body() -> Any:
        for _ in range(64):  # 64 x 4 KiB = 256 KiB offered, limit 16 KiB
            sent.append(1)
            yield b"\0" * 4096

    async def go() -> Any:
        app = create_app(engine, max_body_bytes=16_384)
        async with app.router.lifespan_context(app), client(app) as c:
            return await c.post("/v1/classify", content=body(), headers={**BIN, "X-Batch-Size": "1"})

    r = asyncio.run(go())
    assert r.status_code == 413 and r.json() == {"error": "body is over the limit of 1024 bytes"}  # 1 x 2 x L x 4
    assert len(sent) < 64
