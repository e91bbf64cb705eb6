"""`amc serve` (HTTP service with dynamic batching) and `amc bench` (latency and throughput)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from amc.cli.common import MAX_THREADS, THREADS_HELP, UsageError, check_output, console, say, user_errors, write_json
from amc.cli.options import one_of, with_config_options
from amc.config import ServeConfig
from amc.runtime import PROVIDERS


def register(app: typer.Typer) -> None:
    app.command("serve")(user_errors(with_config_options(ServeConfig)(serve_cmd)))
    app.command("bench")(user_errors(bench_cmd))


def batch_sizes(text: str) -> list[int]:
    """'1,8,64,256' -> [1, 8, 64, 256]."""
    try:
        sizes = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise UsageError(f"cannot parse --batch-sizes '{text}': use positive integers, e.g. "
                         "--batch-sizes 1,8,64,256")
    return sizes


def serve_cmd(
    model: Annotated[Path | None, typer.Argument(
        metavar="MODEL", help="Model: .onnx, .engine, .pt, a run directory, a Triton repository or "
                                "a packaged model's name. [default: default]")] = None,
    host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0 to listen on all).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port).", min=0, max=65535)] = 8000,
    provider: Annotated[one_of(PROVIDERS), typer.Option(help="Execution provider.")] = "auto",  # type: ignore[valid-type]
    threads: Annotated[int, typer.Option(help=THREADS_HELP, min=0, max=MAX_THREADS)] = 0,
    settings: dict[str, Any] | None = None,
) -> None:
    """Serve a model over HTTP: POST /v1/classify, /healthz, /readyz, /v1/model, /metrics.

    Oversized requests get 413 before their body is read; when the queue (or one client's share of it)
    is full, or a request's deadline passes while it waits, 503 with Retry-After."""
    from amc.config import ServeConfig, from_dict, to_dict
    from amc.pretrained import resolve_model
    from amc.serve.server import serve

    cfg = from_dict(ServeConfig, {**to_dict(ServeConfig()), **(settings or {})}).validate()
    model = resolve_model(model)
    serve(str(model), host=host, port=port, config=cfg, provider=provider, threads=threads or None, announce=say)


def bench_cmd(
    model: Annotated[Path, typer.Argument(metavar="MODEL", help="Model: .onnx, .engine, .compiled, .pt or a run "
                                                                "directory.")],
    batch: Annotated[str, typer.Option("--batch-sizes", metavar="<n,...>",
                                       help="Batch sizes to time, comma-separated (frames per call).")] = "1,8,64,256",
    legacy_batch: Annotated[str | None, typer.Option("--batch", hidden=True)] = None,
    seconds: Annotated[float, typer.Option(help="Timed seconds per batch size (warm-up excluded).", min=0.001)
                       ] = 2.0,
    compare_torch: Annotated[Path | None, typer.Option(help="Checkpoint or run dir to time torch eager "
                                                            "against.")] = None,
    threads: Annotated[int, typer.Option(help=THREADS_HELP, min=0, max=MAX_THREADS)] = 0,
    provider: Annotated[one_of(PROVIDERS), typer.Option(help="Execution provider.")] = "auto",  # type: ignore[valid-type]
    progress: Annotated[bool, typer.Option(help="Show a progress bar (stderr).")] = True,
    json_out: Annotated[str | None, typer.Option("--json", metavar="PATH",
                                                 help="Also write the result as JSON ('-': stdout only).")] = None,
) -> None:
    """Latency p50/p90/p99 and frames/s per batch size (optionally against torch eager)."""
    from amc.serve.bench import bench, print_bench

    check_output(json_out, "--json", [model, compare_torch], json_report=True)
    result = bench(model, batches=batch_sizes(legacy_batch or batch), seconds=seconds, compare_torch=compare_torch,
                   threads=threads or None, provider=provider, progress=progress)
    if json_out:
        write_json(json_out, result)
        if json_out == "-":
            return
    print_bench(result, console)
