"""The HTTP service: FastAPI over one Engine, with dynamic batching and Prometheus metrics.

    POST /v1/classify   JSON {"iq": [[I...], [Q...]]} or {"iq": [[[I...], [Q...]], ...]}, optional "top_k";
                        or application/octet-stream: float32 little-endian (B, 2, L), header X-Batch-Size: B
                        (top_k as a query parameter). Answer: {"predictions": [...], "model": {...}}.
    GET  /healthz       the process is alive
    GET  /readyz        200 once the engine is loaded and warmed up, 503 before and while shutting down
    GET  /v1/model      classes, frame length, precision, backend, training metrics
    GET  /metrics       Prometheus text format

Status codes for bad input (the body is always {"error": "..."}; the service keeps serving):
400 the body cannot be read as a request (malformed JSON, no "iq", X-Batch-Size missing, byte count
not B*2*L*4); 408 the body did not arrive before the request's deadline; 413 more frames than
max_request_frames, or a body over its byte limit; 415 a content type other than JSON or
octet-stream; 422 readable but wrong frames (rank, I/Q rows, frame length, empty batch, non-numbers,
NaN/Inf) or a bad top_k; 503 + Retry-After the queue (or this client's share of it) is full, the
deadline passed while queued, or shutting down; 504 the deadline passed in the engine.

Protection, cheapest check first (settings in amc.config.ServeConfig): the byte limit follows from the
frame limit (JSON: max_request_frames x 2 x L x JSON_NUMBER_BYTES + JSON_SLACK_BYTES, capped by
max_body_mib; binary: exactly X-Batch-Size x 2 x L x 4) and is checked against Content-Length before
any byte of the body is read (a chunked body is counted while it arrives and refused at the limit);
a JSON body's commas bound its numbers before it is parsed, its frames are counted before they become
arrays; the batcher's queue is bounded in frames with a per-client share; every request has a deadline;
a client that disconnects takes its queued frames with it; a 413 or a 503 for a full queue or share is
held for refusal_pause_ms (the body unread) so that a client ignoring it cannot retry at full speed.
Refusals are counted in amc_refused_total.

fastapi, uvicorn and prometheus_client are imported here only, inside the functions that need them.
"""

import asyncio
import errno
import json
import logging
import math
import socket
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np

from amc import jsonio
from amc.config import ConfigError, ServeConfig, from_dict, to_dict
from amc.runtime import Engine, InputError, validate_iq
from amc.serve.batcher import Batcher, BatcherClosed, DeadlineExpired, Overloaded

log = logging.getLogger("amc.serve")

JSON_TYPE = "application/json"
BINARY_TYPE = "application/octet-stream"
OFFLOAD_PARSE_BYTES = 256 * 1024  # parse bodies above this size in a worker thread
JSON_NUMBER_BYTES = 32  # room per JSON number: "-0.12345678901234567e-05, " is 26 characters
JSON_SLACK_BYTES = 64 * 1024  # brackets, "top_k", whitespace
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiError(Exception):
    """A request the service refuses: HTTP status, a metrics kind, a one-line message, optional Retry-After."""

    def __init__(self, status: int, kind: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.retry_after = status, kind, message, retry_after


# Refusals that protect the service (amc_refused_total{reason}), as opposed to malformed requests.
REFUSALS = ("too_large", "batch_limit", "queue_full", "client_share", "deadline_queued", "deadline_engine",
            "body_timeout", "client_disconnect", "shutting_down")


# Refusals answered after ServeConfig.refusal_pause_ms: a client that ignores them gets an idle connection.
PAUSED = ("too_large", "batch_limit", "queue_full", "client_share")


def json_byte_limit(max_frames: int, frame_length: int, cap: int) -> int:
    """The largest JSON body a request of max_frames frames needs (or `cap` if smaller)."""
    return min(cap, max_frames * 2 * frame_length * JSON_NUMBER_BYTES + JSON_SLACK_BYTES)


def count_json_frames(iq: Any) -> int:
    """Frames in a parsed "iq" value, read from its nesting alone (nothing is converted yet)."""
    if isinstance(iq, list) and iq and isinstance(iq[0], list) and iq[0] and isinstance(iq[0][0], list):
        return len(iq)  # (B, 2, L)
    return 1  # (2, L), or something check_frames will refuse


# -- request parsing (pure functions: bytes in, frames out) ----------------------------------------
def check_frames(x: Any, frame_length: int) -> np.ndarray:
    """Frames -> finite float32 (B, 2, L) by the runtime's one rule set (``validate_iq``); its refusal
    becomes ApiError(422) with the same message (shape hints included) and its kind for the metrics.

    JSON has one number type, so JSON integers arrive here already as float64 (``parse_json``).
    """
    try:
        return validate_iq(x, frame_length)
    except InputError as e:
        raise ApiError(422, e.kind, str(e)) from None


def parse_top_k(value: Any, num_classes: int) -> int:
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise ApiError(422, "bad_top_k", f"top_k must be an integer in 1..{num_classes}, got '{value}'") from None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= num_classes:
        raise ApiError(422, "bad_top_k", f"top_k must be an integer in 1..{num_classes}, got {value!r}")
    return value


def parse_json(body: bytes, frame_length: int, max_frames: int | None = None) -> tuple[np.ndarray, Any]:
    """JSON body -> (frames, top_k or None). Python's json reads NaN / Infinity literals; they are refused.

    With `max_frames`, a body with more commas than that many frames' numbers is refused before it is
    parsed (a scan, no allocation), and a parsed one with more frames before its arrays are built."""
    if max_frames is not None:
        numbers = max_frames * 2 * frame_length
        if body.count(b",") > numbers + 16:
            raise ApiError(413, "batch_limit", f"the body holds more than {numbers} numbers ({max_frames} frames of "
                                               f"2 x {frame_length}); the limit is {max_frames} frames")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, "bad_json", f"malformed JSON: {str(e).splitlines()[0][:120]}") from None
    except RecursionError:
        raise ApiError(400, "bad_json", "malformed JSON: nested too deeply") from None
    if not isinstance(doc, dict) or "iq" not in doc:
        raise ApiError(400, "bad_json", 'expected a JSON object {"iq": [[I...], [Q...]]} or {"iq": [frames...]}')
    n = count_json_frames(doc["iq"])
    if max_frames is not None and n > max_frames:
        raise ApiError(413, "batch_limit", f"{n} frames in one request; the limit is {max_frames}")
    try:
        x = np.array(doc["iq"])
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise ApiError(422, "bad_values", f"iq is ragged or holds non-numbers; expected (2, {frame_length}) "
                                          f"or (B, 2, {frame_length}) numbers") from None
    if x.dtype.kind in "iu":  # JSON numbers written without a decimal point
        x = x.astype(np.float64)
    return check_frames(x, frame_length), doc.get("top_k")


def binary_batch(batch_header: str | None, max_frames: int) -> int:
    """B from X-Batch-Size, checked before the body is read."""
    if batch_header is None:
        raise ApiError(400, "bad_header", "binary requests need an X-Batch-Size header (frames in the body)")
    try:
        b = int(batch_header)
    except ValueError:
        raise ApiError(400, "bad_header", f"X-Batch-Size must be an integer, got '{batch_header[:40]}'") from None
    if b < 1:
        raise ApiError(422, "empty", f"X-Batch-Size must be >= 1, got {b}")
    if b > max_frames:
        raise ApiError(413, "batch_limit", f"{b} frames in one request; the limit is {max_frames}")
    return b


def parse_binary(body: bytes, batch_header: str | None, frame_length: int, max_frames: int) -> np.ndarray:
    """float32 little-endian (B, 2, L) with B in X-Batch-Size -> frames."""
    b = binary_batch(batch_header, max_frames)
    expected = b * 2 * frame_length * 4
    if len(body) != expected:
        if len(body) and len(body) % (b * 8) == 0:
            raise ApiError(422, "frame_length", f"frame length {len(body) // (b * 8)} does not match the model's "
                                                f"{frame_length} ({len(body)} bytes for {b} frames; expected "
                                                f"{expected} = {b}*2*{frame_length}*4)")
        raise ApiError(400, "byte_count", f"expected {expected} bytes ({b}*2*{frame_length}*4, float32 little-endian "
                                          f"(B, 2, L)), got {len(body)}")
    x = np.frombuffer(body, dtype="<f4").reshape(b, 2, frame_length)
    return check_frames(x, frame_length)


def answer(out: dict[str, np.ndarray], classes: list[str], top_k: int) -> list[dict[str, Any]]:
    """Engine outputs for n frames -> one JSON-ready dict per frame."""
    probs = out["probs"]
    if not (np.isfinite(probs).all() and np.isfinite(out["eta"]).all() and np.isfinite(out["snr_db"]).all()):
        raise ApiError(422, "non_finite_output", "the model produced non-finite outputs for this input "
                                                 "(extreme sample values?)")
    index = out["logits"].argmax(axis=-1)  # as Engine.predict
    order = np.argsort(-probs, axis=-1, kind="stable")[:, :top_k]
    silent = out.get("silent", np.zeros(len(probs), bool))  # below the runtime's power floor: no signal
    return [{"label": "noise" if silent[i] else classes[int(index[i])], "index": -1 if silent[i] else int(index[i]),
             "silent": bool(silent[i]),
             "top_k": [{"label": classes[int(j)], "prob": float(probs[i, j])} for j in order[i]],
             "eta": float(out["eta"][i]), "snr_db": float(out["snr_db"][i])} for i in range(len(probs))]


# -- metrics ----------------------------------------------------------------------------------------
class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = r = CollectorRegistry()
        self.requests = Counter("amc_requests", "Classification requests by HTTP status.", ["status"], registry=r)
        self.frames = Counter("amc_frames", "Frames classified.", registry=r)
        self.errors = Counter("amc_errors", "Refused or failed classification requests by kind.", ["kind"],
                              registry=r)
        self.batch_size = Histogram("amc_batch_size", "Frames per engine call.", buckets=BATCH_BUCKETS, registry=r)
        self.engine_seconds = Histogram("amc_engine_seconds", "Seconds per engine call.", buckets=LATENCY_BUCKETS,
                                        registry=r)
        self.latency = Histogram("amc_request_latency_seconds", "Seconds from request to response (classify).",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.refused = Counter("amc_refused", "Requests refused to protect the service, by reason.", ["reason"],
                               registry=r)
        self.queued = Gauge("amc_queued_frames", "Frames waiting for the engine.", registry=r)
        self.ready = Gauge("amc_ready", "1 when the engine is warmed up and the service takes requests.", registry=r)

    def on_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.engine_seconds.observe(seconds)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """One sample's value (0 when absent), e.g. value('amc_batch_size_count')."""
        return self.registry.get_sample_value(name, labels or {}) or 0.0


# -- the app ----------------------------------------------------------------------------------------
def check_length(request: Any, limit: int) -> None:
    """413 from Content-Length alone, before any byte of the body is read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", f"body of {int(declared)} bytes is over the limit of {limit} bytes")


async def read_body(request: Any, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes (Content-Length: before reading)."""
    check_length(request, limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(engine: Any, config: ServeConfig | None = None, warmup: bool = True,
               max_body_bytes: int | None = None, **settings: Any) -> Any:
    """A FastAPI app serving `engine` (an amc.serve.runtime.Engine or anything with its interface).

    `config` (default ServeConfig()) with `settings` over it (e.g. max_batch=32); `max_body_bytes`
    replaces max_body_mib where a byte count is handier. The engine runs behind a dynamic batcher (at
    most `max_batch` frames, or the engine's own max_batch if smaller, per call; `max_delay_ms` of
    gathering). Warm-up runs in the background at startup; /readyz answers 503 until it is done.
    Shutdown drains queued requests.
    """
    cfg = from_dict(ServeConfig, {**to_dict(config or ServeConfig()), **settings}).validate()
    max_batch, max_delay_ms, max_request_frames = cfg.max_batch, cfg.max_delay_ms, cfg.max_request_frames
    body_cap = int(cfg.max_body_mib * (1 << 20)) if max_body_bytes is None else int(max_body_bytes)
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse as StarletteJSON
    from fastapi.responses import Response
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect

    class JSONResponse(StarletteJSON):
        """Every answer in amc's one strict JSON encoding (amc.jsonio: a non-finite number is null)."""

        def render(self, content: Any) -> bytes:
            return jsonio.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()

    classes = list(engine.classes)
    frame_length = int(engine.frame_length)
    batch = max(1, min(int(max_batch), int(getattr(engine, "max_batch", max_batch) or max_batch)))
    default_k = max(1, min(int(cfg.top_k), len(classes)))
    json_limit = json_byte_limit(max_request_frames, frame_length, body_cap)
    binary_limit = min(body_cap, max_request_frames * 2 * frame_length * 4)
    metrics = Metrics()
    batcher = Batcher(engine.run, max_batch=batch, max_delay_ms=max_delay_ms, on_batch=metrics.on_batch,
                      max_queue_frames=cfg.max_queue_frames, client_frames=cfg.client_frames())
    metrics.queued.set_function(lambda: batcher.queued_frames)
    state: dict[str, Any] = {"ready": False, "reason": "warming up", "closing": False}
    short = {"backend": engine.backend, "precision": engine.precision, "frame_length": frame_length,
             "num_classes": len(classes)}

    async def warm() -> None:
        try:
            if warmup:  # on the engine's own thread, so it never runs beside a batch
                sizes = tuple(sorted({1, batch}))
                await batcher.call(engine.warmup, sizes)
            state.update(ready=not state["closing"], reason="")
            metrics.ready.set(1 if state["ready"] else 0)
        except Exception as e:
            log.exception("engine warm-up failed")
            state["reason"] = f"warm-up failed: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        await batcher.start()
        warm_task = asyncio.create_task(warm())
        try:
            yield
        finally:
            state.update(ready=False, reason="shutting down", closing=True)
            metrics.ready.set(0)
            await warm_task
            await batcher.stop()  # refuses new requests, runs the queued ones, ends the worker
            log.info("amc serve: drained and stopped (%d batches, %d frames)", batcher.stats.batches,
                     batcher.stats.frames)

    app = FastAPI(title="amc", summary="Automatic modulation classification of IQ frames", lifespan=lifespan)
    app.state.engine, app.state.batcher, app.state.metrics, app.state.status = engine, batcher, metrics, state

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse({"error": f"internal error ({type(exc).__name__})"}, status_code=500)

    async def parse(request: Request, client: str, deadline: float) -> tuple[np.ndarray, int]:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in (JSON_TYPE, BINARY_TYPE):
            raise ApiError(415, "content_type", f"content type '{ctype or '(none)'}' is not supported; send "
                                                f"{JSON_TYPE} or {BINARY_TYPE} (float32 LE (B, 2, L) + X-Batch-Size)")
        if ctype == BINARY_TYPE:  # the header says how many bytes may follow: check before reading them
            b = binary_batch(request.headers.get("x-batch-size"), max_request_frames)
            limit = min(binary_limit, b * 2 * frame_length * 4)
        else:
            limit = json_limit
        check_length(request, limit)
        batcher.admit(1, client)  # no room for even one frame (of this client): do not read the body
        try:
            body = await asyncio.wait_for(read_body(request, limit), deadline - time.perf_counter())
        except TimeoutError:
            raise ApiError(408, "body_timeout", f"the body did not arrive within the request deadline "
                                                f"({cfg.request_timeout_s:g} s)") from None
        if ctype == JSON_TYPE:
            if len(body) > OFFLOAD_PARSE_BYTES:
                frames, k = await asyncio.get_running_loop().run_in_executor(None, parse_json, body, frame_length,
                                                                             max_request_frames)
            else:
                frames, k = parse_json(body, frame_length, max_request_frames)
        else:
            frames = parse_binary(body, request.headers.get("x-batch-size"), frame_length, max_request_frames)
            k = None
        k = request.query_params.get("top_k") if k is None else k
        return frames, default_k if k is None else parse_top_k(k, len(classes))

    async def disconnected(request: Request) -> None:
        """Returns when the client goes away (the body has been read: the next message is the disconnect)."""
        while (await request.receive())["type"] != "http.disconnect":
            pass

    async def infer(request: Request, frames: np.ndarray, client: str, deadline: float) -> dict[str, np.ndarray]:
        """The batcher's answer, unless the client disconnects first (its queued frames are then dropped)."""
        work = asyncio.ensure_future(batcher.submit(frames, client, max(deadline - time.perf_counter(), 0.0)))
        gone = asyncio.ensure_future(disconnected(request))
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)  # until its queued frames are gone
        if work.cancelled():
            raise ClientDisconnect()
        return work.result()

    async def classify(request: Request) -> JSONResponse:
        t0 = time.perf_counter()
        deadline = t0 + cfg.request_timeout_s
        status, kind, message, retry = 200, "", "", None
        client = request.client.host if request.client else ""
        try:
            if state["closing"]:
                raise BatcherClosed("the server is shutting down")
            frames, k = await parse(request, client, deadline)
            batcher.admit(len(frames), client)  # before the deadline check: a full queue says so
            if time.perf_counter() >= deadline:
                raise DeadlineExpired(queued=True, retry_after=batcher.retry_after())
            out = await infer(request, frames, client, deadline)
            predictions = answer(out, classes, k)
            metrics.frames.inc(len(frames))
            return JSONResponse({"predictions": predictions, "model": short})
        except ApiError as e:
            status, kind, message, retry = e.status, e.kind, e.message, e.retry_after
        except Overloaded as e:
            status, kind, message, retry = 503, e.reason, f"{e}; retry later", e.retry_after
        except DeadlineExpired as e:
            status, kind, message = (503, "deadline_queued", str(e)) if e.queued else (504, "deadline_engine", str(e))
            retry = e.retry_after if e.queued else None
        except BatcherClosed as e:
            status, kind, message = 503, "shutting_down", str(e)
        except ClientDisconnect:  # the caller went away (mid-body or while queued): nobody to answer
            status, kind, message = 499, "client_disconnect", "client disconnected"
        except InputError as e:  # the runtime refused what the parser let through
            status, kind, message = 422, "input", str(e).splitlines()[0] if str(e) else "invalid input"
        except Exception as e:
            log.exception("classification failed")
            status, kind, message = 500, "internal", f"inference failed ({type(e).__name__})"
        finally:
            metrics.requests.labels(str(status)).inc()
            metrics.latency.observe(time.perf_counter() - t0)
        metrics.errors.labels(kind).inc()
        if kind in REFUSALS:
            metrics.refused.labels(kind).inc()
        if kind in PAUSED and cfg.refusal_pause_ms > 0:
            await asyncio.sleep(cfg.refusal_pause_ms / 1000)  # an idle connection is all a flood gets meanwhile
        headers = {"Retry-After": str(retry)} if retry is not None else None
        if status == 413:  # the body was not read (or not all of it): the connection cannot be reused
            headers = {**(headers or {}), "Connection": "close"}
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    # a plain Starlette route: the hot path skips FastAPI's dependency solving (the body is parsed by hand)
    app.add_route("/v1/classify", classify, methods=["POST"])

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        if state["ready"] and batcher.running:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready", "reason": state["reason"] or "starting"}, status_code=503)

    @app.get("/v1/model")
    async def model_info() -> JSONResponse:
        meta = dict(getattr(engine, "metadata", {}) or {})
        train = meta.get("train_metrics") or {}
        info = {"classes": classes, "frame_length": frame_length, "precision": engine.precision,
                "backend": engine.backend, "max_batch": batch, "max_delay_ms": max_delay_ms,
                "max_request_frames": max_request_frames, "max_json_bytes": json_limit,
                "max_queue_frames": cfg.max_queue_frames, "client_frames": cfg.client_frames(),
                "request_timeout_s": cfg.request_timeout_s, "train_metrics": {k: train.get(k) for k in
                                                                            ("val_acc", "per_snr", "bands")},
                "metadata": {k: v for k, v in meta.items() if k not in ("classes", "train_metrics", "reference")}}
        return JSONResponse(info)

    @app.get("/metrics")
    async def prometheus() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def url(host: str, port: int) -> str:
    """http://host:port, an IPv6 address in brackets (RFC 3986): http://[::1]:8000."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def bind(host: str, port: int) -> socket.socket:
    """A bound TCP socket (port 0: any free one), or ConfigError naming the address and the fix."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        why = "the port is in use" if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
        raise ConfigError(f"cannot listen on {url(host, port)[7:]}: {why}; choose another --port (0 picks a free one) "
                          "or --host") from None
    return sock


def serve(model_path: str, host: str = "127.0.0.1", port: int = 8000, config: ServeConfig | None = None,
          provider: str = "auto", threads: int | None = None, log_level: str = "info", access_log: bool = False,
          graceful_timeout_s: float = 30.0, announce: Callable[[str], None] = print) -> None:
    """Load the engine, bind the port, then announce and serve with uvicorn until SIGINT / SIGTERM (then drain).

    Everything that can fail on bad input (the model file, the address) fails before the announcement."""
    try:
        import uvicorn
    except ImportError:
        raise ConfigError("amc serve needs the HTTP libraries: pip install 'amc[serve]'") from None
    if not log.handlers:  # the service's own lines (warm-up failures, drain) next to uvicorn's
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    cfg = (config or ServeConfig()).validate()
    engine = Engine.load(model_path, provider=provider, threads=threads)
    app = create_app(engine, cfg)
    sock = bind(host, port)
    where = sock.getsockname()
    announce(f"serving {model_path} ({engine.backend} {engine.precision}, L={engine.frame_length}, "
             f"{len(engine.classes)} classes) on {url(host, where[1])} (max batch {cfg.max_batch}, "
             f"max delay {cfg.max_delay_ms:g} ms, queue {cfg.max_queue_frames} frames, "
             f"deadline {cfg.request_timeout_s:g} s)")
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=access_log,
                                           timeout_graceful_shutdown=int(math.ceil(graceful_timeout_s))))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
