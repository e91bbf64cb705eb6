"""The HTTP service on a real exported ONNX engine: answers, batching, bad input, readiness, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")
httpx = pytest.importorskip("httpx")

from amc.serve.batcher import Batcher, BatcherClosed  # noqa: E402
from amc.serve.server import create_app  # noqa: E402

L = 128
BIN = {"content-type": "application/octet-stream"}


def tiny_model(root: Path) -> tuple[Path, Path]:
    """Train the tiny a4 run (~10 s) once per session and export it to ONNX: (run_dir, model.onnx)."""
    run, onnx_path = root / "run", root / "model.onnx"
    if not onnx_path.exists():
        from amc.config import SynthConfig, preset
        from amc.data.build import synth_to_file
        from amc.export import export
        from amc.train.loop import train

        synth_to_file(SynthConfig(frames_per_class_snr=12, snrs=[-10.0, 0.0, 10.0, 20.0]), root / "d.h5")
        m, t = preset("a4", data=str(root / "d.h5"), out_dir=str(run), epochs=1, batch_size=64, conv_channels=16,
                      rnn_hidden=16, denoiser_channels=8, dense=32)
        train(m, t, progress=False)
        export(run, fmt="onnx", precision="fp32", out=onnx_path)
    return run, onnx_path


@pytest.fixture(scope="session")
def model_files(tmp_path_factory):
    return tiny_model(tmp_path_factory.getbasetemp() / "serve_model")


@pytest.fixture(scope="module")
def engine(model_files):
    from amc.runtime import Engine

    eng = Engine.load(model_files[1])
    assert eng.backend != "torch" and eng.frame_length == L
    return eng


def frames(n: int, seed: int = 0, length: int = L) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, 2, length)).astype(np.float32)
    return x * np.linspace(0.5, 3.0, n, dtype=np.float32)[:, None, None]  # distinct powers, distinct frames


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://amc")


async def until(cond, timeout: float = 10.0) -> None:
    end = time.perf_counter() + timeout
    while not cond():
        assert time.perf_counter() < end, "timed out"
        await asyncio.sleep(0.005)


def assert_matches(preds: list[dict], pred, rows) -> None:
    """Service answers == Engine.predict on the same frames (label, index, top-k probs, eta, SNR)."""
    assert len(preds) == len(rows)
    for p, i in zip(preds, rows):
        assert p["label"] == pred.label[i] and p["index"] == int(pred.index[i])
        top = np.argsort(-pred.probs[i])[: len(p["top_k"])]
        assert [t["label"] for t in p["top_k"]][0] == pred.label[i]
        np.testing.assert_allclose([t["prob"] for t in p["top_k"]], pred.probs[i][top], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose([p["eta"], p["snr_db"]], [pred.eta[i], pred.snr_db[i]], rtol=1e-4, atol=1e-4)


def test_json_and_binary_forms_match_engine_predict(engine):
    x = frames(5, seed=1)
    pred = engine.predict(x)

    async def go():
        app = create_app(engine)
        async with app.router.lifespan_context(app), client(app) as c:
            single = await c.post("/v1/classify", json={"iq": x[2].tolist()})
            batch = await c.post("/v1/classify", json={"iq": x.tolist(), "top_k": 5})
            binary = await c.post("/v1/classify?top_k=2", content=x.astype("<f4").tobytes(),
                                  headers={**BIN, "X-Batch-Size": "5"})
            return single, batch, binary

    single, batch, binary = asyncio.run(go())
    assert single.status_code == batch.status_code == binary.status_code == 200
    assert_matches(single.json()["predictions"], pred, [2])
    assert_matches(batch.json()["predictions"], pred, range(5))
    assert_matches(binary.json()["predictions"], pred, range(5))
    assert len(single.json()["predictions"][0]["top_k"]) == 3  # the app default
    assert [len(p["top_k"]) for p in batch.json()["predictions"]] == [5] * 5
    assert [len(p["top_k"]) for p in binary.json()["predictions"]] == [2] * 5
    assert batch.json()["model"] == {"backend": engine.backend, "precision": engine.precision, "frame_length": L,
                                     "num_classes": len(engine.classes)}


def test_concurrent_requests_are_batched_and_each_caller_gets_its_own_answer(engine):
    n = 32
    x = frames(n, seed=2)
    pred = engine.predict(x)

    async def go():
        # max_batch n and a long delay: the batch runs the moment all n requests wait (no timing assumption)
        app = create_app(engine, max_batch=n, max_delay_ms=60_000)
        async with app.router.lifespan_context(app), client(app) as c:
            await until(lambda: app.state.status["ready"])
            rs = await asyncio.gather(*[c.post("/v1/classify", json={"iq": x[i].tolist()}) for i in range(n)])
            return rs, app.state.metrics, app.state.batcher.stats

    rs, metrics, stats = asyncio.run(go())
    assert [r.status_code for r in rs] == [200] * n
    for i, r in enumerate(rs):
        assert_matches(r.json()["predictions"], pred, [i])
    assert metrics.value("amc_batch_size_count") == 1, stats  # all n callers in one engine call
    assert stats.max_batch_seen == n
    assert metrics.value("amc_requests_total", {"status": "200"}) == n
    assert metrics.value("amc_frames_total") == n


def test_requests_over_max_batch_run_in_slices(engine):
    x = frames(20, seed=3)
    pred = engine.predict(x)

    async def go():
        app = create_app(engine, max_batch=8, max_delay_ms=0)
        async with app.router.lifespan_context(app), client(app) as c:
            await until(lambda: app.state.status["ready"])
            before = app.state.batcher.stats.sizes[:]
            r = await c.post("/v1/classify", json={"iq": x.tolist()})
            return r, app.state.batcher.stats.sizes[len(before):]

    r, sizes = asyncio.run(go())
    assert r.status_code == 200 and sizes == [8, 8, 4]
    assert_matches(r.json()["predictions"], pred, range(20))


def _bad_cases():
    good = frames(2, seed=4)
    j = {"content-type": "application/json"}
    nan = '{"iq": [[NaN' + ", 0.5" * (L - 1) + "], [" + ", ".join(["0.5"] * L) + "]]}"
    inf_b = good.copy()
    inf_b[1, 0, 3] = np.inf
    return [
        ("frame length", json.dumps({"iq": frames(1, length=64)[0].tolist()}), j, 422, "frames have 64 samples"),
        ("rank 1", json.dumps({"iq": [0.0] * L}), j, 422, "rank 1"),
        ("rank 4", json.dumps({"iq": [good.tolist()]}), j, 422, "rank 4"),
        ("three rows", json.dumps({"iq": np.zeros((3, L)).tolist()}), j, 422, "the I and Q rows (2)"),
        ("(L, 2) frame", json.dumps({"iq": np.zeros((L, 2)).tolist()}), j, 422, "transpose it"),
        ("booleans", json.dumps({"iq": [[True] * L, [False] * L]}), j, 422, "boolean"),
        ("integers are numbers", json.dumps({"iq": [[1] * L, [0] * L], "top_k": 0}), j, 422, "top_k"),
        ("NaN literal", nan, j, 422, "NaN"),
        ("Infinity literal", nan.replace("NaN", "-Infinity"), j, 422, "NaN or Inf"),
        ("ragged", json.dumps({"iq": [[0.0] * L, [0.0] * (L - 1)]}), j, 422, "ragged"),
        ("strings", json.dumps({"iq": [["a"] * L, ["b"] * L]}), j, 422, "numbers"),
        ("empty", json.dumps({"iq": []}), j, 422, "rank 1"),
        ("top_k 0", json.dumps({"iq": good[0].tolist(), "top_k": 0}), j, 422, "top_k"),
        ("top_k big", json.dumps({"iq": good[0].tolist(), "top_k": 99}), j, 422, "top_k"),
        ("malformed", '{"iq": [[1, 2', j, 400, "malformed JSON"),
        ("no iq", json.dumps({"frames": good.tolist()}), j, 400, '"iq"'),
        ("not an object", "[1, 2]", j, 400, '"iq"'),
        ("binary NaN", inf_b.tobytes(), {**BIN, "X-Batch-Size": "2"}, 422, "frame 1 (of 2; 1 bad)"),
        ("binary bytes", good.tobytes()[:-4], {**BIN, "X-Batch-Size": "2"}, 400, "expected 2048 bytes"),
        ("binary length", frames(2, length=64).tobytes(), {**BIN, "X-Batch-Size": "2"}, 422, "frame length 64"),
        ("binary header", good.tobytes(), BIN, 400, "X-Batch-Size"),
        ("binary header text", good.tobytes(), {**BIN, "X-Batch-Size": "two"}, 400, "X-Batch-Size"),
        ("binary zero", b"", {**BIN, "X-Batch-Size": "0"}, 422, ">= 1"),
        ("binary over batch limit", frames(40).tobytes(), {**BIN, "X-Batch-Size": "40"}, 413, "limit is 32"),
        ("json over batch limit", json.dumps({"iq": np.zeros((40, 2, L)).tolist()}), j, 413, "limit is 32"),
        ("body too large", b"\0" * 300_000, {**BIN, "X-Batch-Size": "1"}, 413, "over the limit"),
        ("content type", "iq=1", {"content-type": "text/plain"}, 415, "text/plain"),
        ("no content type", b"abc", {}, 415, "not supported"),
    ]


def test_bad_input_gets_4xx_json_error_and_service_keeps_serving(engine):
    good = frames(1, seed=5)
    pred = engine.predict(good)
    cases = _bad_cases()

    async def go():
        app = create_app(engine, max_body_bytes=200_000, max_request_frames=32)
        async with app.router.lifespan_context(app), client(app) as c:
            out = [await c.post("/v1/classify", content=body, headers=h) for _, body, h, _, _ in cases]
            out.append(await c.get("/v1/nothing"))
            out.append(await c.get("/v1/classify"))
            ok = await c.post("/v1/classify", json={"iq": good[0].tolist()})
            return out, ok, app.state.metrics

    out, ok, metrics = asyncio.run(go())
    for (name, _, _, status, text), r in zip(cases, out):
        assert r.status_code == status, (name, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json"), name
        msg = r.json()["error"]
        assert text in msg and "Traceback" not in msg, (name, msg)
    assert out[-2].status_code == 404 and "error" in out[-2].json()
    assert out[-1].status_code == 405 and "error" in out[-1].json()
    assert ok.status_code == 200
    assert_matches(ok.json()["predictions"], pred, [0])
    assert metrics.value("amc_errors_total", {"kind": "frame_length"}) == 2
    assert metrics.value("amc_errors_total", {"kind": "non_finite"}) == 3
    assert metrics.value("amc_requests_total", {"status": "422"}) == sum(c[3] == 422 for c in cases)


class GatedEngine:
    """The real engine with a warm-up that waits for a signal (to observe /readyz before it ends)."""

    def __init__(self, engine) -> None:
        self._e, self.gate = engine, threading.Event()

    def __getattr__(self, name):
        return getattr(self._e, name)

    def warmup(self, batch_sizes=(1,)) -> None:
        assert self.gate.wait(10)
        self._e.warmup(batch_sizes)


class RunGate:
    """The real engine whose first run() after warm-up waits for `gate` (and says it has started)."""

    def __init__(self, engine) -> None:
        self._e, self.gate, self.entered = engine, threading.Event(), threading.Event()
        self.warm = False

    def __getattr__(self, name):
        return getattr(self._e, name)

    def warmup(self, batch_sizes=(1,)) -> None:
        self._e.warmup(batch_sizes)
        self.warm = True

    def run(self, x):
        if self.warm and not self.entered.is_set():
            self.entered.set()
            assert self.gate.wait(20)
        return self._e.run(x)


def test_readyz_is_503_until_warmed_up_and_endpoints_describe_the_model(engine):
    gated = GatedEngine(engine)

    async def go():
        app = create_app(gated)
        async with app.router.lifespan_context(app), client(app) as c:
            alive, before = await c.get("/healthz"), await c.get("/readyz")
            gated.gate.set()
            await until(lambda: app.state.status["ready"])
            after = await c.get("/readyz")
            await c.post("/v1/classify", json={"iq": frames(1)[0].tolist()})
            return alive, before, after, await c.get("/v1/model"), await c.get("/metrics")

    alive, before, after, model, prom = asyncio.run(go())
    assert alive.status_code == 200 and alive.json() == {"status": "alive"}
    assert before.status_code == 503 and before.json()["reason"] == "warming up"
    assert after.status_code == 200
    info = json.loads(model.text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert info["classes"] == engine.classes and info["frame_length"] == L
    assert info["backend"] == engine.backend and info["precision"] == engine.precision
    assert set(info["train_metrics"]["per_snr"]) == {"-10", "0", "10", "20"}
    assert 0.0 <= info["train_metrics"]["val_acc"] <= 1.0
    assert prom.headers["content-type"].startswith("text/plain")
    for line in ('amc_requests_total{status="200"} 1.0', "amc_frames_total 1.0", "amc_batch_size_bucket",
                 "amc_request_latency_seconds_bucket", "amc_ready 1.0"):
        assert line in prom.text


def test_shutdown_drains_a_queued_request_then_refuses_new_ones(engine):
    x = frames(1, seed=6)
    pred = engine.predict(x)

    async def go():
        app = create_app(engine, max_delay_ms=600_000)  # the request would wait 10 min for company
        c = client(app)
        async with app.router.lifespan_context(app):
            await until(lambda: app.state.status["ready"])
            task = asyncio.create_task(c.post("/v1/classify", json={"iq": x[0].tolist()}))
            await until(lambda: app.state.batcher.queued_frames == 1)
            t0 = time.perf_counter()
        drained, waited = await task, time.perf_counter() - t0  # lifespan exit returned only after the drain
        late = await c.post("/v1/classify", json={"iq": x[0].tolist()})
        ready = await c.get("/readyz")
        await c.aclose()
        return drained, waited, late, ready

    drained, waited, late, ready = asyncio.run(go())
    assert drained.status_code == 200 and waited < 300  # answered by the drain, not after the 10 min delay
    assert_matches(drained.json()["predictions"], pred, [0])
    assert late.status_code == 503 and "shutting down" in late.json()["error"]
    assert ready.status_code == 503


@contextlib.contextmanager
def live_server(app):
    """uvicorn on a free 127.0.0.1 port in a thread; yields (url, server); stops it on exit."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        end = time.perf_counter() + 20
        while not server.started or httpx.get(f"{url}/readyz").status_code != 200:
            assert time.perf_counter() < end and thread.is_alive(), "server did not become ready"
            time.sleep(0.02)
        yield url, server
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()
    assert not thread.is_alive()


def test_uvicorn_on_loopback_serves_and_drains_in_flight_requests_on_exit(engine):
    x = frames(3, seed=7)
    pred = engine.predict(x)
    blocked = RunGate(engine)  # the first request holds the engine: the other two wait in the batcher
    app = create_app(blocked, max_batch=1, max_delay_ms=0)
    results: dict[int, httpx.Response] = {}
    with live_server(app) as (url, server):

        def call(i: int) -> None:
            results[i] = httpx.post(f"{url}/v1/classify", content=x[i:i + 1].tobytes(),
                                    headers={**BIN, "X-Batch-Size": "1"}, timeout=20)

        callers = [threading.Thread(target=call, args=(i,)) for i in range(3)]
        for t in callers:
            t.start()
        assert blocked.entered.wait(10)  # one request is in the engine...
        end = time.perf_counter() + 10
        while app.state.batcher.queued_frames < 2:  # ...and the other two are queued behind it
            assert time.perf_counter() < end
            time.sleep(0.005)
        server.should_exit = True  # what SIGTERM does: stop accepting, finish what is in flight
        blocked.gate.set()
        for t in callers:
            t.join(20)
    assert [results[i].status_code for i in range(3)] == [200] * 3
    for i in range(3):
        assert_matches(results[i].json()["predictions"], pred, [i])


def test_amc_serve_command_serves_then_exits_cleanly_on_sigterm(model_files, engine, tmp_path):
    import signal
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "serve.log"
    cmd = [sys.executable, "-m", "amc", "serve", str(model_files[1]), "--port", str(port), "--max-delay-ms", "1"]
    root = Path(__file__).resolve().parents[2]
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=root)
    try:
        end = time.perf_counter() + 60
        while True:
            assert proc.poll() is None and time.perf_counter() < end, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        x = frames(2, seed=8)
        r = httpx.post(f"http://127.0.0.1:{port}/v1/classify", json={"iq": x.tolist()}, timeout=10)
        assert r.status_code == 200
        assert_matches(r.json()["predictions"], engine.predict(x), range(2))
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code in (0, -signal.SIGTERM), log.read_text()  # uvicorn re-raises the signal after its clean shutdown
    assert "drained and stopped (" in log.read_text()


def test_batcher_keeps_order_slices_and_drains():
    calls: list[int] = []

    def run(x):
        calls.append(len(x))
        return {"sum": x.sum(axis=(1, 2)), "first": x[:, 0, 0].copy()}

    async def go():
        b = Batcher(run, max_batch=4, max_delay_ms=50)
        await b.start()
        xs = [np.full((n, 2, 3), i, np.float32) + np.arange(n, dtype=np.float32)[:, None, None] / 10
              for i, n in enumerate([1, 2, 1, 6, 1])]
        outs = await asyncio.gather(*[b.submit(x) for x in xs])
        pending = asyncio.ensure_future(b.submit(xs[0]))
        await asyncio.sleep(0)
        await b.stop()
        with pytest.raises(BatcherClosed):
            await b.submit(xs[0])
        return xs, outs, await pending

    xs, outs, drained = asyncio.run(go())
    for x, o in zip(xs, outs):
        np.testing.assert_allclose(o["first"], x[:, 0, 0])
    np.testing.assert_allclose(drained["first"], xs[0][:, 0, 0])
    assert max(calls) <= 4 and sum(calls) == 12 and len(calls) < 11


# -- property: random shapes / lengths / values -> 2xx only when valid, else 4xx, never 5xx -----------
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

values = st.one_of(st.floats(-4, 4, width=32), st.floats(width=32), st.sampled_from([0.0, 1e-30, 3e38, -3e38]))
MUTATIONS = ["none", "none", "none", "extreme", "batch", "rows", "length", "rank", "values", "header", "top_k"]


@st.composite
def requests(draw):
    """(form, array, header batch, top_k): a valid request, then at most one random mutation."""
    form = draw(st.sampled_from(["json", "binary"]))
    b, rows, length = draw(st.integers(1, 2)), 2, L
    rank = draw(st.sampled_from([2, 3])) if form == "json" else 3
    header, top_k, elements = None, draw(st.one_of(st.none(), st.integers(1, 11))), st.floats(-4, 4, width=32)
    mutation = draw(st.sampled_from(MUTATIONS))
    if mutation == "batch":
        b = draw(st.sampled_from([0, 3, 4]))
    elif mutation == "rows":
        rows = draw(st.sampled_from([1, 3]))
    elif mutation == "length":
        length = draw(st.sampled_from([0, 1, L - 1, L + 1, 2 * L]))
    elif mutation == "rank":
        rank = draw(st.sampled_from([1, 4]))
    elif mutation in ("values", "extreme"):  # extreme: finite float32 values that overflow x**2
        elements = values if mutation == "values" else st.sampled_from([3e38, -3e38, 1e-45, 0.0])
    elif mutation == "header":
        header = draw(st.integers(-1, 4))
    elif mutation == "top_k":
        top_k = draw(st.sampled_from([-1, 0, 12, 99]))
    shape = {1: (length,), 2: (rows, length), 3: (b, rows, length), 4: (1, b, rows, length)}[rank]
    x = draw(hnp.arrays(np.float32, shape, elements=elements))
    return form, x, b if header is None else header, top_k


@pytest.fixture(scope="module")
def sync_client(engine):
    with live_server(create_app(engine, max_request_frames=2)) as (url, _), httpx.Client(base_url=url) as c:
        yield c


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(req=requests())
def test_property_only_valid_requests_succeed_and_nothing_is_5xx(sync_client, req):
    form, x, header, top_k = req
    finite = bool(np.isfinite(x).all())
    k_ok = top_k is None or 1 <= top_k <= 11
    query = "" if top_k is None else f"?top_k={top_k}"
    if form == "json":
        body = {"iq": x.tolist()} if top_k is None else {"iq": x.tolist(), "top_k": top_k}
        r = sync_client.post("/v1/classify", content=json.dumps(body), headers={"content-type": "application/json"})
        batch = x[None] if x.ndim == 2 else x
        valid = (x.ndim in (2, 3) and batch.shape[0] >= 1 and batch.shape[1:] == (2, L) and finite and k_ok
                 and batch.shape[0] <= 2)
    else:
        r = sync_client.post(f"/v1/classify{query}", content=x.tobytes(), headers={**BIN, "X-Batch-Size": str(header)})
        # the body carries no shape: any array whose bytes are header * 2 * L float32 values is a valid batch
        valid = 1 <= header <= 2 and x.size == header * 2 * L and finite and k_ok
        batch = x.reshape(-1, 2, L) if valid else x
    assert r.status_code < 500, r.text
    hypothesis.event("valid" if valid else f"refused {r.status_code}")
    if valid:
        assert r.status_code == 200, r.text
        assert len(r.json()["predictions"]) == len(batch)
    else:
        assert 400 <= r.status_code < 500 and r.json()["error"], r.text


def test_silent_frames_are_noise_not_a_class(engine):
    """27.6: an all-zero frame used to come back WBFM p 0.54 at +12.5 dB. Frames below the runtime's power floor
    (-120 dB re full scale) are 'noise', eta 1, the lowest SNR estimate; a quiet but real frame is not."""
    from amc.runtime.base import SILENCE_POWER

    x = frames(4, seed=3)
    x[0] = 0.0
    x[1] *= np.float32(np.sqrt(SILENCE_POWER / 10))  # near zero: a tenth of the floor's power
    x[2] *= np.float32(np.sqrt(SILENCE_POWER * 100))  # quiet but above it
    out = engine.run(x)
    assert out["silent"].tolist() == [True, True, False, False]
    assert out["eta"][:2].tolist() == [1.0, 1.0] and (out["snr_db"][:2] == engine.snr_floor).all()

    async def go():
        app = create_app(engine)
        async with app.router.lifespan_context(app), client(app) as c:
            return await c.post("/v1/classify", json={"iq": x.tolist()})

    preds = asyncio.run(go()).json()["predictions"]
    assert [p["label"] for p in preds[:2]] == ["noise", "noise"] and [p["index"] for p in preds[:2]] == [-1, -1]
    assert [p["silent"] for p in preds] == [True, True, False, False]
    assert preds[2]["label"] in engine.classes and preds[3]["label"] in engine.classes
    assert preds[0]["snr_db"] == engine.snr_floor
