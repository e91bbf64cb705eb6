"""The `amc` command line: thin Typer commands over library functions.

Every command parses options, builds a config, calls one library function and prints a short
summary. Bad input becomes a one-line error on stderr and exit code 2.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import amc
from amc.config import AmcError

app = typer.Typer(help="Automatic modulation classification: data, training, export, verified engines.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
data_app = typer.Typer(help="Datasets: synthesize, import RadioML files, inspect.", no_args_is_help=True)
import_app = typer.Typer(help="Import real RadioML datasets into amc's HDF5 layout.", no_args_is_help=True)
data_app.add_typer(import_app, name="import")
app.add_typer(data_app, name="data")
console = Console()
err_console = Console(stderr=True)


class UsageError(ValueError):
    """Bad command-line input that is not a config or data error."""


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's input errors into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (AmcError, UsageError, FileExistsError, PermissionError) as e:
            err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except OSError as e:
            err_console.print(f"[bold red]error:[/] {escape(str(e.strerror or e))}: {e.filename or ''}".rstrip(": "),
                              highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        console.print(f"amc {amc.__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[bool | None, typer.Option("--version", callback=_version, is_eager=True,
                                                         help="Print the version and exit.")] = None) -> None:
    """amc: from RadioML data to a verified inference engine."""


def floats(text: str, what: str) -> list[float]:
    """Parse '-20:20:2' (start:stop:step, stop exclusive) or '0,10,20' into floats."""
    try:
        if ":" in text:
            start, stop, step = (float(t) for t in text.split(":"))
            if step <= 0 or stop <= start:
                raise ValueError
            n = int(round((stop - start) / step))
            return [start + i * step for i in range(n) if start + i * step < stop]
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UsageError(f"cannot parse {what} '{text}': use start:stop:step (e.g. -20:20:2) or a list "
                         "(e.g. -10,0,10)") from None


# -- amc data ---------------------------------------------------------------------------------
@data_app.command("synth")
@user_errors
def data_synth(
    out: Annotated[Path, typer.Argument(help="Output HDF5 file.")],
    class_set: Annotated[str, typer.Option(help="rml2016 (11 classes, L=128) or rml2018 (24, L=1024).")] = "rml2016",
    classes: Annotated[str | None, typer.Option(help="Comma-separated class subset.")] = None,
    snrs: Annotated[str, typer.Option(help="SNR grid, start:stop:step or a list.")] = "-20:20:2",
    frames: Annotated[int, typer.Option(help="Frames per (class, SNR).")] = 100,
    length: Annotated[int | None, typer.Option(help="Frame length (default: the class set's).")] = None,
    fading: Annotated[str, typer.Option(help="none, rayleigh or rician.")] = "rician",
    max_cfo: Annotated[float, typer.Option(help="Max carrier offset, cycles/sample.")] = 0.0025,
    max_sro_ppm: Annotated[float, typer.Option(help="Max sample-rate offset, ppm.")] = 100.0,
    seed: Annotated[int, typer.Option(help="Seed: the same settings and seed give the same bits.")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Generate a seeded synthetic RadioML-style dataset (stores the clean frames too)."""
    from amc.config import SynthConfig
    from amc.data.build import synth_to_file

    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    cfg = SynthConfig(class_set=class_set, classes=classes.split(",") if classes else None,
                      snrs=floats(snrs, "--snrs"), frames_per_class_snr=frames, frame_length=length,
                      fading=fading, max_cfo=max_cfo, max_sro_ppm=max_sro_ppm, seed=seed)
    summary = synth_to_file(cfg.validate(), out)
    console.print(f"wrote {summary['frames']} frames ({len(summary['classes'])} classes x "
                  f"{len(summary['snrs'])} SNRs, L={summary['frame_length']}) to {out}")


@import_app.command("rml2016")
@user_errors
def data_import_rml2016(
    src: Annotated[Path, typer.Argument(help="RML2016.10a_dict.pkl or RML2016.10b.dat.")],
    out: Annotated[Path, typer.Argument(help="Output HDF5 file.")],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Import an RML2016.10a/b pickle (through a restricted unpickler) into amc HDF5."""
    from amc.data.rml2016 import import_rml2016

    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    s = import_rml2016(src, out)
    console.print(f"imported {s['frames']} frames ({len(s['classes'])} classes, SNR "
                  f"{min(s['snrs'])}..{max(s['snrs'])} dB, L={s['frame_length']}) to {out}")


@data_app.command("info")
@user_errors
def data_info(path: Annotated[Path, typer.Argument(help="Dataset file (amc HDF5 or RML2018.01A).")]) -> None:
    """Print classes, SNR grid, counts per class/SNR, frame length and clean-frame presence."""
    from amc.data.build import describe

    d = describe(path)
    console.print(f"[bold]{d['path']}[/]: {d['frames']} frames, L={d['frame_length']}, "
                  f"{len(d['classes'])} classes, {len(d['snrs'])} SNRs "
                  f"({min(d['snrs']):g}..{max(d['snrs']):g} dB), clean frames: "
                  f"{'yes' if d['has_clean'] else 'no'}, fingerprint {d['fingerprint']}")
    table = Table("class", *[f"{s:g}" for s in d["snrs"]], "total", title="frames per class and SNR (dB)")
    for name, row in zip(d["classes"], d["counts"]):
        table.add_row(name, *[str(c) for c in row], str(sum(row)))
    console.print(table)


# -- amc train / compare ----------------------------------------------------------------------
def parse_bands(text: str | None) -> dict[str, tuple[float, float]] | None:
    """'low=-14:-6,mid=-4:6,high=10:inf' -> {'low': (-14, -6), ...}."""
    if not text:
        return None
    out = {}
    try:
        for part in text.split(","):
            name, span = part.split("=")
            lo, hi = span.split(":")
            out[name.strip()] = (float(lo), float(hi))
    except ValueError:
        raise UsageError(f"cannot parse --bands '{text}': use name=lo:hi,... "
                         "e.g. low=-14:-6,mid=-4:6,high=10:inf") from None
    return out


Opt = typer.Option


@app.command("train")
@user_errors
def train_cmd(
    data: Annotated[Path, Opt(help="Dataset file (amc HDF5, imported RML2016 or RML2018.01A).")],
    out_dir: Annotated[Path, Opt(help="Run directory.")] = Path("runs/run"),
    preset: Annotated[str, Opt(help="Recipe: cldnn, a3, a4 or a5 (flags override it).")] = "a4",
    epochs: Annotated[int | None, Opt(help="Epochs.")] = None,
    batch_size: Annotated[int | None, Opt(help="Frames per step.")] = None,
    lr: Annotated[float | None, Opt(help="AdamW learning rate.")] = None,
    dropout: Annotated[float | None, Opt(help="Dense-head dropout.")] = None,
    lambda_den: Annotated[float | None, Opt(help="Denoiser MSE weight.")] = None,
    lambda_id: Annotated[float | None, Opt(help="Identity loss weight (clean high-SNR frames).")] = None,
    lambda_eta: Annotated[float | None, Opt(help="Noise-fraction loss weight.")] = None,
    lambda_snr: Annotated[float | None, Opt(help="SNR-consistency loss weight.")] = None,
    lambda_feat: Annotated[float | None, Opt(help="Stem-feature preservation loss weight.")] = None,
    mixup_alpha: Annotated[float | None, Opt(help="Beta(alpha, alpha) of the mixing weight.")] = None,
    mixup_prob: Annotated[float | None, Opt(help="Probability that a batch is mixed (0 = off).")] = None,
    mixup_snr_min: Annotated[float | None, Opt(help="Mix only frames at or above this SNR (dB).")] = None,
    mixup_cls_only: Annotated[bool | None, Opt("--mixup-cls-only/--mixup-all-losses",
                                                   help="Mixup on the classification loss only (default) or "
                                                        "on every loss (legacy).")] = None,
    aug_shift: Annotated[bool | None, Opt("--aug-shift/--no-aug-shift", help="Random circular time shift.")] = None,
    snr_balanced: Annotated[bool | None, Opt("--snr-balanced/--no-snr-balanced",
                                                 help="Draw every SNR equally often.")] = None,
    amp: Annotated[bool, Opt(help="bf16/fp16 autocast where supported.")] = False,
    seed: Annotated[int, Opt(help="Seed of init, order, augmentation and mixup.")] = 0,
    patience: Annotated[int, Opt(help="Stop after N epochs without improvement (0 = off).")] = 0,
    select_metric: Annotated[str, Opt(help="best.pt by val_acc or band:NAME (e.g. band:low).")] = "val_acc",
    bands: Annotated[str | None, Opt(help="SNR bands, e.g. low=-14:-6,mid=-4:6,high=10:inf.")] = None,
    max_frames: Annotated[int | None, Opt(help="Cap on training frames per epoch.")] = None,
    num_workers: Annotated[int, Opt(help="DataLoader workers for streamed (large) datasets.")] = 0,
    degrade_focus: Annotated[str | None, Opt(help="Band to focus degradation sampling on (real data).")] = None,
    conv_channels: Annotated[int | None, Opt(help="Classifier conv width.")] = None,
    rnn_hidden: Annotated[int | None, Opt(help="LSTM/GRU hidden size.")] = None,
    rnn: Annotated[str | None, Opt(help="lstm or gru.")] = None,
    denoiser_channels: Annotated[int | None, Opt(help="Denoiser width.")] = None,
    dense: Annotated[int | None, Opt(help="Dense head width.")] = None,
    resume: Annotated[bool, Opt(help="Continue OUT_DIR from last.pt.")] = False,
    overwrite: Annotated[bool, Opt(help="Replace a non-empty OUT_DIR.")] = False,
    progress: Annotated[bool, Opt(help="Show progress bars.")] = True,
    threads: Annotated[int, Opt(help="CPU threads (0 = one per core).")] = 0,
) -> None:
    """Train a CLDNN preset with classifier-only mixup; writes a run directory."""
    from amc.train.threads import passive_wait

    passive_wait()  # before torch loads OpenMP
    from amc.config import preset as make_preset
    from amc.train.loop import train

    for name, value in (("epochs", epochs), ("batch-size", batch_size), ("max-frames", max_frames)):
        if value is not None and value <= 0:
            raise UsageError(f"--{name} must be > 0, got {value}")
    model_cfg, cfg = make_preset(
        preset, data=str(data), out_dir=str(out_dir), epochs=epochs, batch_size=batch_size, lr=lr,
        dropout=dropout, lambda_den=lambda_den, lambda_id=lambda_id, lambda_eta=lambda_eta,
        lambda_snr=lambda_snr, lambda_feat=lambda_feat, mixup_alpha=mixup_alpha, mixup_prob=mixup_prob,
        mixup_snr_min=mixup_snr_min, mixup_cls_only=mixup_cls_only, aug_shift=aug_shift,
        snr_balanced=snr_balanced, amp=amp, seed=seed, patience=patience, select_metric=select_metric,
        bands=parse_bands(bands), max_frames=max_frames, num_workers=num_workers, degrade_focus=degrade_focus,
        conv_channels=conv_channels, rnn_hidden=rnn_hidden, rnn=rnn, denoiser_channels=denoiser_channels,
        dense=dense, threads=threads)
    model_cfg.validate()
    s = train(model_cfg, cfg, resume=resume, overwrite=overwrite, progress=progress)
    if s:
        b = s["bands"]
        console.print(f"best val_acc {s['best_val_acc']:.4f} at epoch {s['best_epoch']} (low {b['low']:.4f}, "
                      f"mid {b['mid']:.4f}, high {b['high']:.4f}); run in {out_dir}")


@app.command("compare")
@user_errors
def compare_cmd(
    runs: Annotated[list[Path], typer.Argument(help="Run directories; deltas are against the first.")],
    markdown: Annotated[bool, Opt(help="Print a markdown table.")] = False,
    json_out: Annotated[bool, Opt("--json", help="Print JSON.")] = False,
) -> None:
    """The ablation table: best val_acc (epoch), low / mid / high band means, deltas."""
    import json

    from amc.eval.compare import compare_runs, to_markdown

    rows = compare_runs(runs)
    if json_out:
        console.print_json(json.dumps(rows))
    elif markdown:
        console.print(to_markdown(rows), markup=False, highlight=False)
    else:
        table = Table("run", "best val_acc (epoch)", "low", "mid", "high", "Δ val_acc", "Δ low", "Δ mid", "Δ high")
        for r in rows:
            table.add_row(r["run"], f"{r['best_val_acc']:.4f} ({r['best_epoch']})",
                          *[f"{r['bands'][b]:.4f}" for b in ("low", "mid", "high")],
                          *[f"{r['delta'][k]:+.4f}" for k in ("val_acc", "low", "mid", "high")])
        console.print(table)


@app.command("eval-engine")
@user_errors
def eval_engine_cmd(
    model: Annotated[Path, typer.Argument(help="Exported engine: .onnx, .engine, .plan, or a .pt checkpoint.")],
    data: Annotated[Path | None, Opt(help="Dataset (default: the one the run trained on).")] = None,
    run: Annotated[Path | None, Opt(help="Training run directory to compare with "
                                         "(default: the metrics inside the engine).")] = None,
    split: Annotated[str, Opt(help="val (the run's own validation frames), test or all.")] = "val",
    provider: Annotated[str, Opt(help="auto, cpu, cuda or tensorrt.")] = "auto",
    tolerance_pp: Annotated[float | None, Opt(help="Allowed accuracy drift in percentage points "
                                                   "(default fp32 0.1, fp16 0.5, int8 1.0).")] = None,
    report: Annotated[Path | None, Opt(help="Directory for report.json, report.md and per_snr.png.")] = None,
    batch_size: Annotated[int, Opt(help="Frames per engine call.")] = 512,
    progress: Annotated[bool, Opt(help="Show a progress bar.")] = True,
) -> None:
    """Per-SNR accuracy of an exported engine vs the training metrics; exit code 1 on drift."""
    from amc.eval.engine_eval import EvalSettings, evaluate_engine
    from amc.eval.report import to_markdown

    if batch_size <= 0:
        raise UsageError(f"--batch-size must be > 0, got {batch_size}")
    r = evaluate_engine(EvalSettings(model=str(model), data=str(data) if data else None,
                                     run=str(run) if run else None, split=split, provider=provider,
                                     tolerance_pp=tolerance_pp, report_dir=str(report) if report else None,
                                     batch_size=batch_size, progress=progress))
    console.print(to_markdown(r), markup=False, highlight=False)
    if not r["passed"]:
        raise typer.Exit(1)


@app.command("quickstart")
@user_errors
def quickstart_cmd(
    out: Annotated[Path, Opt(help="Folder for the data, run, exports and reports.")] = Path("runs/quickstart"),
    epochs: Annotated[int, Opt(help="Training epochs.")] = 8,
    frames: Annotated[int, Opt(help="Frames per (class, SNR) of the synthetic dataset.")] = 40,
    int8: Annotated[bool, Opt(help="Also export and check an int8 model.")] = True,
    overwrite: Annotated[bool, Opt(help="Replace an existing quickstart folder.")] = False,
) -> None:
    """data -> train -> export -> eval-engine -> bench on a small embedded default (minutes on a CPU)."""
    from amc.train.threads import passive_wait

    passive_wait()  # before torch loads OpenMP
    from amc.quickstart import QuickstartConfig, quickstart

    if epochs <= 0 or frames <= 0:
        raise UsageError("--epochs and --frames must be > 0")
    made = quickstart(QuickstartConfig(out=str(out), epochs=epochs, frames_per_class_snr=frames, int8=int8,
                                       overwrite=overwrite), say=lambda m: console.print(f"[bold]{m}[/]"))
    t = made["train"]
    table = Table("artifact", "where", "result", title="amc quickstart")
    table.add_row("dataset", made["data"]["path"], f"{made['data']['frames']} frames")
    table.add_row("training run", t["run"], f"best val_acc {t['best_val_acc']:.4f} (epoch {t['best_epoch']}); "
                  + ", ".join(f"{b} {v:.3f}" for b, v in t["bands"].items()))
    for p, e in made["exports"].items():
        ev = made["eval"][p]
        table.add_row(f"ONNX {p}", e["path"], f"engine acc {ev['engine_acc']:.4f} vs train {ev['train_acc']:.4f} "
                      f"({ev['delta_pp']:+.2f} pp): {'PASS' if ev['passed'] else 'DRIFT'}")
    for row in made["bench"]["engine"]:
        table.add_row(f"bench batch {row['batch']}", "ONNX Runtime fp32",
                      f"p50 {row['p50_ms']:.2f} ms, {row['frames_per_s']:.0f} frames/s")
    console.print(table)
    if not all(e["passed"] for e in made["eval"].values()):
        raise typer.Exit(1)


# -- amc serve / bench ------------------------------------------------------------------------
def batch_sizes(text: str) -> list[int]:
    """'1,8,64,256' -> [1, 8, 64, 256]."""
    try:
        sizes = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise UsageError(f"cannot parse --batch '{text}': use positive integers, e.g. 1,8,64,256")
    return sizes


@app.command("serve")
@user_errors
def serve_cmd(
    model: Annotated[Path, typer.Argument(help="Model: .onnx, .engine, .pt or a run directory.")],
    host: Annotated[str, Opt(help="Interface to bind (0.0.0.0 to listen on all).")] = "127.0.0.1",
    port: Annotated[int, Opt(help="TCP port.")] = 8000,
    max_batch: Annotated[int, Opt(help="Most frames per engine call (dynamic batching).")] = 256,
    max_delay_ms: Annotated[float, Opt(help="Longest wait to gather a batch, ms.")] = 2.0,
    provider: Annotated[str, Opt(help="auto, cpu, cuda or tensorrt.")] = "auto",
    threads: Annotated[int | None, Opt(help="Engine CPU threads (default: the runtime's).")] = None,
) -> None:
    """Serve a model over HTTP: POST /v1/classify, /healthz, /readyz, /v1/model, /metrics."""
    from amc.serve.server import serve

    if max_batch < 1 or max_delay_ms < 0 or not 0 <= port < 65536:
        raise UsageError("--max-batch must be >= 1, --max-delay-ms >= 0 and --port in 0..65535")
    if not model.exists():
        raise UsageError(f"{model}: no such model file or run directory")
    console.print(f"serving {model} on http://{host}:{port} (max batch {max_batch}, max delay {max_delay_ms:g} ms)")
    try:
        serve(str(model), host=host, port=port, max_batch=max_batch, max_delay_ms=max_delay_ms, provider=provider,
              threads=threads)
    except ValueError as e:  # a model the runtime refuses (CheckpointError, unknown suffix, ...)
        raise UsageError(str(e)) from None


@app.command("bench")
@user_errors
def bench_cmd(
    model: Annotated[Path, typer.Argument(help="Model: .onnx, .engine, .pt or a run directory.")],
    batch: Annotated[str, Opt(help="Batch sizes, comma-separated.")] = "1,8,64,256",
    seconds: Annotated[float, Opt(help="Timed seconds per batch size (warm-up excluded).")] = 2.0,
    compare_torch: Annotated[Path | None, Opt(help="Checkpoint or run dir to time torch eager against.")] = None,
    threads: Annotated[int | None, Opt(help="CPU threads (default: the runtime's).")] = None,
    provider: Annotated[str, Opt(help="auto, cpu, cuda or tensorrt.")] = "auto",
    json_out: Annotated[Path | None, Opt("--json", help="Also write the result as JSON here.")] = None,
) -> None:
    """Latency p50/p90/p99 and frames/s per batch size (optionally against torch eager)."""
    import json

    from amc.serve.bench import bench, print_bench

    if seconds <= 0:
        raise UsageError(f"--seconds must be > 0, got {seconds}")
    for p in (model, compare_torch):
        if p is not None and not p.exists():
            raise UsageError(f"{p}: no such model file or run directory")
    try:
        result = bench(model, batches=batch_sizes(batch), seconds=seconds, compare_torch=compare_torch,
                       threads=threads, provider=provider)
    except ValueError as e:  # a model the runtime refuses, or a batch over the engine's max
        raise UsageError(str(e)) from None
    print_bench(result, console)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=2) + "\n")
        console.print(f"wrote {json_out}")


# -- amc export -------------------------------------------------------------------------------
@app.command("export")
@user_errors
def export_cmd(
    source: Annotated[Path, typer.Argument(help="Run directory (its best.pt) or checkpoint file.")],
    format: Annotated[str, Opt("--format", help="onnx, tensorrt, triton or triton-tensorrt.")] = "onnx",
    precision: Annotated[str, Opt(help="fp32, fp16, int8 (static QDQ) or int8-dynamic (ONNX Runtime CPU).")] = "fp32",
    out: Annotated[Path | None, Opt(help="Output file / repository (default: beside the checkpoint).")] = None,
    opset: Annotated[int, Opt(help="ONNX opset.")] = 17,
    max_batch: Annotated[int, Opt(help="Largest batch (TensorRT profile, Triton max_batch_size).")] = 256,
    force: Annotated[bool, Opt(help="Keep the artifact even if its parity check fails.")] = False,
    data: Annotated[Path | None, Opt(help="Training dataset, if it moved (parity and calibration frames).")] = None,
    calib_frames: Annotated[int, Opt(help="int8 calibration frames from the training split.")] = 512,
    plain: Annotated[bool, Opt(help="TensorRT: bare .plan (for Triton / trtexec) plus a sidecar .json.")] = False,
    with_denoised: Annotated[bool, Opt(help="Add the denoised frame (B, 2, L) as an output.")] = False,
    simplify: Annotated[bool, Opt("--simplify/--no-simplify", help="Simplify with onnxslim if installed.")] = True,
) -> None:
    """Export a run to ONNX / TensorRT / Triton, verified against PyTorch on validation frames."""
    from amc.export import ExportError, export
    from amc.export.parity import summary_line

    try:
        r = export(source, fmt=format, precision=precision, out=out, opset=opset, max_batch=max_batch, force=force,
                   data=data, calib_frames=calib_frames, plain=plain, with_denoised=with_denoised,
                   simplify=simplify)
    except ExportError as e:  # printed without markup: messages name extras like 'amc[trt]'
        err_console.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    for line in [f"wrote {r.path} ({r.format}, {r.precision})", summary_line(r.parity, r.precision),
                 *[f"note: {n}" for n in r.notes]]:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
