"""`amc classify`: a recording (SigMF, raw IQ, stdin) through a model -> segments, annotations, picture.

Thin over ``amc.classify.classify``. It writes several things, each named by its own option (--rows,
--annotations, --plot, --json); nothing existing is replaced without --overwrite.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from amc.cli.common import (
    MAX_THREADS,
    THREADS_HELP,
    check_output,
    console,
    err_console,
    plural,
    say_wrapped,
    table,
    user_errors,
    write_json,
)
from amc.cli.options import one_of
from amc.runtime import PROVIDERS

Opt = typer.Option


def register(app: typer.Typer) -> None:
    app.command("classify")(user_errors(classify_cmd))


def classify_cmd(
    input: Annotated[Path, typer.Argument(
        metavar="INPUT", help="SigMF recording (NAME, NAME.sigmf-meta or .sigmf-data), a raw IQ file, or '-' for a "
                              "stream on stdin.", show_default=False)],
    model: Annotated[Path | None, Opt(help="Model: .onnx, .engine, .pt, a run directory or "
                                            "a packaged model's name. [default: default]")] = None,
    format: Annotated[str | None, Opt("--format", help="Raw / stdin sample format: cf32, ci16, cu8 (rtl_sdr), "
                                                       "ci8, cf64, ... or any complex SigMF datatype.")] = None,
    sample_rate: Annotated[str | None, Opt(metavar="<hz>", help="Recording sample rate, Hz: 250000, 250k, 2.4M (raw "
                                                              "and stdin need it unless the file is named as rtl_433 "
                                                              "names it, g001_433.92M_250k.cu8).")] = None,
    center_freq: Annotated[str | None, Opt(metavar="<hz>", help="Centre frequency of the recording, Hz (433.92M; "
                                                              "annotation edges at RF; SigMF metadata and rtl_433 "
                                                              "names have it).")] = None,
    center_offset: Annotated[str | None, Opt(metavar="<hz>", help="Classify this one channel, Hz from the recording's "
                                                                "centre (-60k), window by window: shifted to 0 Hz "
                                                                "and low-pass filtered before resampling (see "
                                                                "--scan). [default: 0]")] = None,
    scan: Annotated[bool | None, Opt("--scan/--no-scan", help="Find every transmission (energy detection on the "
                                                              "spectrogram) and classify each whole [default: on for "
                                                              "a file, the sdr model and no --center-offset].",
                                     show_default=False)] = None,
    threshold_db: Annotated[float, Opt(help="Scan: a transmission needs spectrogram pixels this many dB above the "
                                            "noise floor.")] = 10.0,
    iq_correction: Annotated[bool, Opt("--iq-correction/--no-iq-correction",
                                       help="Remove the DC offset and IQ imbalance of fixed-point recordings (cu8, "
                                            "cs8, ci16).")] = True,
    bandwidth: Annotated[str | None, Opt(metavar="<hz>", help="Channel low-pass width, Hz. [default: the model's "
                                                            "rate]")] = None,
    model_rate: Annotated[str | None, Opt(metavar="<hz>", help="Sample rate the model was trained at, Hz (needed "
                                                             "for models trained on imported data). [default: its "
                                                             "metadata]")] = None,
    hop: Annotated[int | None, Opt(help="Samples between window starts at the model's rate. [default: the "
                                        "frame length, no overlap]")] = None,
    batch_size: Annotated[int, Opt(help="Windows per engine call.")] = 256,
    min_prob: Annotated[float, Opt(help="Windows with a lower top probability are labelled 'unknown'.")] = 0.5,
    min_snr: Annotated[float, Opt(help="Windows with a lower SNR estimate (dB) are labelled 'noise'.")] = -10.0,
    min_windows: Annotated[int, Opt(help="Merge segments shorter than this many windows into a neighbour "
                                         "(1 = every run of windows is a segment).")] = 1,
    rows: Annotated[str | None, Opt(help="Per-window rows (per transmission with --scan): FILE.jsonl, "
                                         "FILE.csv, or '-' (JSONL on stdout; the summary then goes to "
                                         "stderr).")] = None,
    annotations: Annotated[str | None, Opt(help="Write the SigMF annotations here (metadata-only .sigmf-meta) "
                                                "instead of beside the recording.")] = None,
    annotate: Annotated[bool, Opt("--annotate/--no-annotate", help="Write SigMF annotations (into a SigMF "
                                                                   "recording's metadata, or NAME.sigmf-meta "
                                                                   "beside a raw file).")] = True,
    plot: Annotated[Path | None, Opt(help="PNG: spectrogram, class timeline, top probability.")] = None,
    provider: Annotated[one_of(PROVIDERS), Opt(help="Execution provider.")] = "auto",  # type: ignore[valid-type]
    threads: Annotated[int, Opt(help=THREADS_HELP, min=0, max=MAX_THREADS)] = 0,
    json_out: Annotated[str | None, Opt("--json", metavar="PATH", help="Write the full result (every segment) "
                                                                       "as JSON ('-': stdout).")] = None,
    progress: Annotated[bool, Opt("--progress/--no-progress", help="Progress bar on stderr.")] = True,
    overwrite: Annotated[bool, Opt(help="Replace existing --rows / --plot / annotation files.")] = False,
) -> None:
    """Classify a recording or live stream window by window: segments, SigMF annotations, a picture."""
    from amc.classify import ClassifySettings, classify

    rec = input
    base = rec.with_suffix("") if rec.suffix in (".sigmf-meta", ".sigmf-data") else rec
    pair = [Path(f"{base}.sigmf-meta"), Path(f"{base}.sigmf-data")]  # either half of a SigMF recording
    check_output(json_out, "--json", [input, model, *pair], overwrite, json_report=True)
    from amc.pretrained import resolve_model

    model = resolve_model(model)
    from amc.classify.frontend import parse_hz

    result = classify(ClassifySettings(
        input=str(input), model=str(model) if model else None, format=format,
        sample_rate=parse_hz(sample_rate, "--sample-rate"), center_freq=parse_hz(center_freq, "--center-freq"),
        center_offset=parse_hz(center_offset, "--center-offset"), scan=scan, threshold_db=threshold_db,
        correct_iq=iq_correction, bandwidth=parse_hz(bandwidth, "--bandwidth"),
        model_rate=parse_hz(model_rate, "--model-rate"), hop=hop,
        batch_size=batch_size, min_prob=min_prob, min_snr=min_snr, min_windows=min_windows, rows=rows,
        annotate=annotate, annotations=annotations, plot=str(plot) if plot else None, provider=provider,
        threads=threads or None, progress=progress, overwrite=overwrite, json=json_out))
    out = err_console if rows == "-" or json_out == "-" else console
    if json_out:
        write_json(json_out, result)
    print_summary(result, out)
    if result["interrupted"] == "stdout closed by its reader":
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second BrokenPipeError at exit
    elif result["interrupted"]:
        raise typer.Exit(130)


def print_summary(r: dict[str, Any], out: Console) -> None:
    """A few lines and two small tables; fits 80 columns, plain in a pipe."""
    if r.get("mode") == "scan":
        return print_scan(r, out)
    sp = r["speed"]
    rs = r["resample"]
    rate = f"{r['sample_rate'] / 1e6:g} MS/s"
    resample = "" if rs["up"] == rs["down"] else f" (x{rs['up']}/{rs['down']})"
    out.print(f"{Path(r['input']).name}: {r['samples']:,} {r['datatype']} samples ({r['duration_s']:.3f} s at "
              f"{rate})", highlight=False)
    out.print(f"{plural(r['windows'], 'window')} of {r['frame_length']} at {r['model_rate'] / 1e3:g} kHz{resample} in "
              f"{sp['wall_s']:.2f} s: {sp['msps']:.2f} MS/s, real time x{sp['realtime_factor']:.1f}", highlight=False)
    out.print(table(["label", "time", "segments"], [[label, f"{100 * share:5.1f} %", str(n)]
                                                    for label, share, n in _by_share(r)],
                    title="share of time per label", right=(1, 2)))
    segs = r["segments"]
    shown = segs if len(segs) <= 12 else segs[:6] + segs[-6:]
    cells = []
    for i, seg in enumerate(shown):
        if len(segs) > 12 and i == 6:
            cells.append(["...", "", "", "", ""])
        snr = "" if seg["snr_db"] is None else f"{seg['snr_db']:+.1f} dB"
        cells.append([f"{seg['time_s']:.4f}", f"{seg['duration_s']:.4f}", seg["label"], f"{seg['prob']:.2f}", snr])
    title = plural(len(segs), "segment") + (" (first and last 6; all with --json PATH)" if len(segs) > 12 else "")
    out.print(table(["start (s)", "duration (s)", "label", "prob", "SNR est."], cells, title=title,
                    right=(0, 1, 3, 4)))
    for kind, path in r["written"].items():
        out.print(f"wrote {kind}: {path}", highlight=False, soft_wrap=True)
    for note in r["notes"]:
        say_wrapped(f"note: {note}", indent="      ", to=out)
    for warning in r.get("warnings", []):
        say_wrapped(f"warning: {warning}", indent="         ", to=err_console)


def _by_share(r: dict[str, Any]) -> list[tuple[str, float, int]]:
    return sorted(((k, v, r["segments_per_label"].get(k, 0)) for k, v in r["shares"].items()), key=lambda t: -t[1])


def print_scan(r: dict[str, Any], out: Console) -> None:
    """The scan's summary: one line per transmission (first and last 10 when there are more)."""
    sp = r["speed"]
    out.print(f"{Path(r['input']).name}: {r['samples']:,} {r['datatype']} samples ({r['duration_s']:.3f} s at "
              f"{r['sample_rate'] / 1e6:g} MS/s)", highlight=False)
    txs = r["transmissions"]
    out.print(f"{len(txs)} transmissions ({100 * r['busy_share']:.1f} % of the time), {r['windows']:,} windows of "
              f"{r['frame_length']} at {r['model_rate'] / 1e3:g} kHz in {sp['wall_s']:.2f} s: real time "
              f"x{sp['realtime_factor']:.1f}", highlight=False)
    shown = txs if len(txs) <= 20 else txs[:10] + txs[-10:]
    rf = r["center_freq"] is not None
    cells = []
    for i, t in enumerate(shown):
        if len(txs) > 20 and i == 10:
            cells.append(["...", "", "", "", "", "", ""])
        centre = f"{t['center_freq_hz'] / 1e6:.4f}" if rf else f"{t['center_offset_hz'] / 1e3:+.1f}"
        cells.append([f"{t['start_s']:.4f}", f"{t['stop_s'] - t['start_s']:.4f}", centre,
                      f"{t['bandwidth_hz'] / 1e3:.1f}", f"{t['snr_db']:.0f}", t["label"], f"{t['prob']:.2f}"])
    out.print(table(["start (s)", "dur. (s)", "MHz" if rf else "kHz off", "bw kHz", "SNR dB", "label", "prob"],
                    cells, title="transmissions", right=(0, 1, 2, 3, 4, 6)))
    for kind, path in r["written"].items():
        out.print(f"wrote {kind}: {path}", highlight=False, soft_wrap=True)
    for note in r["notes"]:
        say_wrapped(f"note: {note}", indent="      ", to=out)
    for warning in r.get("warnings", []):
        say_wrapped(f"warning: {warning}", indent="         ", to=err_console)
