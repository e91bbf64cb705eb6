"""``classify``: one recording through one model, with every output, as a function that returns data.

The CLI (``amc classify``) is a thin layer over this; ``iter_windows`` is the streaming core for code
that wants the windows themselves.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from amc.classify.channel import Channeliser, RateError, RateMatch
from amc.classify.outputs import RowWriter, annotations_target, rows_format, sha256_file, write_annotations
from amc.classify.plot import Spectrogram, Timeline, draw
from amc.classify.scan_run import scan
from amc.classify.segments import Labeller, SegmentMerger, absorb_short, shares
from amc.classify.sources import Recording, SourceError, open_source
from amc.classify.windows import PipelineStats, iter_windows
from amc.config import SDR_CLASSES, AmcError, ConfigError
from amc.files import atomic_path
from amc.runtime import Engine

DEFAULT_MIN_SNR = -10.0  # dB: below it (the -14..-6 dB band) a window's class is near chance: call it noise


@dataclass
class ClassifySettings:
    """Everything ``amc classify`` takes (the CLI options, one to one)."""

    input: str  # SigMF recording, raw IQ file, or '-' for stdin
    model: str | None  # engine file or run directory (None: the packaged default, when there is one)
    format: str | None = None  # raw / stdin datatype: cf32, ci16, cu8, ... (SigMF names its own)
    sample_rate: float | None = None  # Hz; raw and stdin need it, SigMF has it
    center_freq: float | None = None  # Hz (RF) of the recording's centre, for annotation edges
    center_offset: float | None = None  # Hz: the one channel to classify (None: scan a file, 0 Hz for a stream)
    scan: bool | None = None  # detect and classify every transmission (None: for a file, the sdr model and no
    #                           center_offset)
    threshold_db: float = 10.0  # scan: a transmission needs spectrogram pixels this far above the noise floor
    correct_iq: bool = True  # front end: remove DC offset and IQ imbalance of fixed-point recordings
    bandwidth: float | None = None  # Hz: channel low-pass (default: the model's rate)
    model_rate: float | None = None  # Hz: overrides the rate stored in the model
    hop: int | None = None  # model-rate samples between window starts (default: the frame length)
    batch_size: int = 256  # windows per engine call
    min_prob: float = 0.5  # windows whose top probability is below this are 'unknown'
    min_snr: float | None = DEFAULT_MIN_SNR  # dB; windows estimated below this are 'noise' (None = off)
    min_windows: int = 1  # segments of fewer windows are merged into a neighbour (1 = every run is a segment)
    rows: str | None = None  # .jsonl / .csv path, or '-' for JSONL on stdout
    annotate: bool = True  # write SigMF annotations (beside a file input)
    annotations: str | None = None  # explicit .sigmf-meta path (metadata-only file)
    plot: str | None = None  # PNG path
    provider: str = "auto"  # engine provider: auto, cpu, cuda, tensorrt
    threads: int | None = None  # engine CPU threads
    progress: bool = True  # progress bar on stderr
    overwrite: bool = False  # replace existing output files
    json: str | None = None  # the CLI's --json target (written by the CLI; checked here against the others)
    chunk: int = 1 << 16  # input samples per read

    def check(self) -> None:
        if not 0.0 <= self.min_prob <= 1.0:
            raise ConfigError(f"--min-prob must be in [0, 1], got {self.min_prob}")
        if self.hop is not None and self.hop < 1:
            raise ConfigError(f"--hop must be >= 1 sample, got {self.hop}")
        if self.min_windows < 1:
            raise ConfigError(f"--min-windows must be >= 1, got {self.min_windows}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.center_offset is not None and not math.isfinite(self.center_offset):
            raise ConfigError(f"--center-offset must be a finite number of Hz, got {self.center_offset}")
        for name, v in (("--center-freq", self.center_freq), ("--min-snr", self.min_snr)):
            if v is not None and not math.isfinite(v):
                raise ConfigError(f"{name} must be a finite number, got {v}")
        if self.sample_rate is not None and not (math.isfinite(self.sample_rate) and self.sample_rate > 0):
            raise ConfigError(f"--sample-rate must be a positive number of Hz, got {self.sample_rate}")
        outs = [(o, p) for o, p in (("--rows", self.rows), ("--plot", self.plot), ("--annotations", self.annotations),
                                    ("--json", self.json)) if p]
        for i, (o1, p1) in enumerate(outs):
            for o2, p2 in outs[i + 1:]:
                same = p1 == p2 if "-" in (p1, p2) else Path(p1).resolve() == Path(p2).resolve()
                if same:
                    raise ConfigError(f"{o1} and {o2} both write to {p1}; give each its own path")
        for name, v in (("--model-rate", self.model_rate), ("--bandwidth", self.bandwidth)):
            if v is not None and not (math.isfinite(v) and v > 0):
                raise ConfigError(f"{name} must be a positive number of Hz, got {v}")


def model_rate(engine: Any, override: float | None) -> float:
    if override is not None:
        return float(override)
    rate = engine.metadata.get("sample_rate")
    if not rate:
        raise RateError(f"{engine.path}: the model does not state the sample rate it was trained at (trained on "
                        "imported data, or before amc stored rates); give it with --model-rate HZ (e.g. 200e3)")
    return float(rate)


def has_noise_head(engine: Any) -> bool:
    mc = engine.metadata.get("model_config") or {}
    return bool(mc.get("denoiser") or mc.get("film")) if mc else True


def _check_new(path: str | None, overwrite: bool, what: str) -> None:
    if path and path != "-" and Path(path).exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it ({what})")


class _Progress:
    """A rich progress bar on stderr: samples, MS/s and the real-time factor."""

    def __init__(self, enabled: bool, rec: Recording):
        self.rate = rec.sample_rate
        cols = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn()]
        if rec.n_samples is None:
            cols = [TextColumn("{task.description}"), TextColumn("{task.fields[info]}"), TimeElapsedColumn()]
        self.progress = Progress(*cols, console=Console(stderr=True), transient=True, disable=not enabled)
        self.task = self.progress.add_task("classify", total=rec.n_samples, info="")

    def __enter__(self) -> _Progress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def update(self, stats: PipelineStats) -> None:
        dt = max(time.perf_counter() - stats.started, 1e-9)
        msps = stats.samples_done / dt / 1e6
        self.progress.update(self.task, completed=stats.samples_done,
                             info=f"{stats.samples_done / 1e6:.1f} MS, {msps:.2f} MS/s, "
                                  f"real time x{msps * 1e6 / self.rate:.1f}")


def classify(s: ClassifySettings, stdin: BinaryIO | None = None, stdout: IO[str] | None = None) -> dict[str, Any]:
    """Classify a recording; write the outputs asked for; return the summary (segments, shares, speed)."""
    s.check()
    if s.model is None:
        raise ConfigError("no model: give --model (an .onnx / .engine file, a .pt checkpoint or a run directory)")
    rec = open_source(s.input, s.format, s.sample_rate, s.center_freq, stdin=stdin)
    if s.rows:
        rows_format(s.rows)
    _check_new(s.rows, s.overwrite, "--rows")
    _check_new(s.plot, s.overwrite, "--plot")
    target = annotations_target(rec, s.annotations) if s.annotate else None
    if target is not None and target[1] != "update":
        _check_new(str(target[0]), s.overwrite, "annotations")
    if s.plot and Path(s.plot).suffix.lower() != ".png":
        raise ConfigError(f"--plot {s.plot}: the picture is a PNG; name it .png")
    try:
        engine = Engine.load(s.model, provider=s.provider, threads=s.threads)
    except AmcError:
        raise
    except ValueError as e:  # a model the runtime refuses
        raise ConfigError(str(e)) from None
    match = RateMatch.find(rec.sample_rate, model_rate(engine, s.model_rate))
    length = engine.frame_length
    if rec.n_samples is not None and -(-rec.n_samples * match.up // match.down) < length:
        raise SourceError(f"{rec.name}: {rec.n_samples} samples ({rec.n_samples / rec.sample_rate * 1e3:.3g} ms) "
                          f"make fewer than one {length}-sample window at the model's {match.model_rate:g} Hz; "
                          "nothing to classify")
    if s.scan or (s.scan is None and s.center_offset is None and rec.kind != "stdin"
                  and list(engine.classes) == SDR_CLASSES):  # the sdr model is made for whole captures
        return scan(s, rec, engine, match, stdout)
    channel = Channeliser(match, s.center_offset or 0.0, s.bandwidth)
    noise_head = has_noise_head(engine)
    labeller = Labeller(engine.classes, s.min_prob, s.min_snr, noise_head)
    merger = SegmentMerger(labeller.names, noise_head)
    window_in = max(1, int(length * match.ratio))
    timeline = Timeline(labeller.names, rec.n_samples, window_in) if s.plot else None
    spec = Spectrogram(rec.n_samples, window_in) if s.plot else None
    model_info = {"name": engine.path.name, "sha256": sha256_file(engine.path)}
    engine.warmup((min(s.batch_size, engine.max_batch),))  # first-call set-up stays out of the speed figures
    stats = PipelineStats()
    with contextlib.ExitStack() as stack:
        writer = _open_rows(stack, s, engine.classes, labeller.names, rec.sample_rate, noise_head, stdout)
        bar = stack.enter_context(_Progress(s.progress, rec))
        windows = iter_windows(rec, engine, channel, hop=s.hop, batch=s.batch_size, chunk=s.chunk, stats=stats,
                               on_block=spec)
        interrupted = None
        try:
            for wb in windows:
                label, prob = labeller(wb)
                merger.add(label, prob, wb)
                if timeline is not None:
                    timeline.add(wb.own_start, wb.own_end, label, prob, wb.snr_db)
                if writer is not None:
                    writer.write(wb, label)
                bar.update(stats)
        except KeyboardInterrupt:  # a live stream stopped with Ctrl-C: keep what was classified
            if not stats.windows:
                raise
            interrupted = "interrupted (Ctrl-C)"
        except BrokenPipeError:  # `--rows - | head`: the reader of the rows went away
            if s.rows != "-" or not stats.windows:
                raise
            interrupted, writer = "stdout closed by its reader", None
        finally:
            windows.close()
        wall = time.perf_counter() - stats.started
        segments = absorb_short(merger.finish(), s.min_windows)
        if interrupted:
            n_samples = stats.samples_done
        else:
            n_samples = rec.n_samples if rec.n_samples is not None else stats.samples_read
        warnings = [*rec.warnings, *[w for w in [rec.trailing_warning()] if w]]
        notes = [] if not interrupted else [f"{interrupted}: the outputs cover the first {n_samples:,} samples "
                                            f"({n_samples / rec.sample_rate:.3f} s), all classified windows"]
        if match.up > match.down:
            notes.append(f"the recording ({rec.sample_rate:g} Hz) is slower than the model's rate "
                         f"({match.model_rate:g} Hz): the model sees an upsampled, partly empty band")
        if stats.tail_samples:
            notes.append(f"the last {stats.tail_samples} model-rate samples lie past the samples the regular windows "
                         "own: classified by one window ending at the last sample (overlapping the one before, "
                         "marked tail)")
        if s.min_snr is not None and not noise_head:
            notes.append("the model has no noise-fraction head: no SNR estimate, --min-snr not applied")
        written: dict[str, str] = {}
        if target is not None:
            res = write_annotations(rec, segments, channel.band, model_info, s.annotations, s.overwrite)
            if res is not None:
                written["annotations"] = str(res[0])
                notes += res[1]
        if s.plot and spec is not None and timeline is not None:
            title = (f"{Path(rec.name).name}: {rec.sample_rate / 1e6:g} MS/s"
                     + (f" at {rec.center_freq / 1e6:.4f} MHz" if rec.center_freq is not None else "")
                     + f", channel {(s.center_offset or 0.0) / 1e3:+g} kHz, model {model_info['name']}")
            draw(s.plot, spec, timeline, {"sample_rate": rec.sample_rate, "n_samples": n_samples,
                                          "center_freq": rec.center_freq, "band": channel.band, "title": title,
                                          "min_prob": s.min_prob, "min_snr": labeller.min_snr, "has_snr": noise_head})
            written["plot"] = s.plot
        if s.rows:
            written["rows"] = s.rows
    result = _summary(rec, engine, match, channel, stats, wall, n_samples, segments, written, notes,
                      model_info, noise_head, s, interrupted)
    result["warnings"] = warnings
    return result


def _open_rows(stack: contextlib.ExitStack, s: ClassifySettings, classes: list[str], names: list[str], rate: float,
               has_snr: bool, stdout: IO[str] | None) -> RowWriter | None:
    if not s.rows:
        return None
    fmt = rows_format(s.rows)
    if s.rows == "-":
        return RowWriter(stdout or sys.stdout, fmt, classes, names, rate, has_snr, flush=True)
    tmp = stack.enter_context(atomic_path(s.rows, suffix=".tmp"))
    fh = stack.enter_context(open(tmp, "w", newline=""))
    return RowWriter(fh, fmt, classes, names, rate, has_snr)


def _summary(rec: Recording, engine: Any, match: RateMatch, channel: Channeliser, stats: PipelineStats, wall: float,
             n_samples: int, segments: list, written: dict[str, str], notes: list[str],
             model_info: dict[str, str], noise_head: bool, s: ClassifySettings,
             interrupted: str | None) -> dict[str, Any]:
    per_label: dict[str, int] = {}
    for seg in segments:
        per_label[seg.label] = per_label.get(seg.label, 0) + 1
    msps = n_samples / max(wall, 1e-9) / 1e6
    return {
        "input": rec.name, "kind": rec.kind, "datatype": rec.fmt.datatype, "sample_rate": rec.sample_rate,
        "center_freq": rec.center_freq, "samples": n_samples, "duration_s": n_samples / rec.sample_rate,
        "model": str(engine.path), "model_sha256": model_info["sha256"], "classes": list(engine.classes),
        "frame_length": engine.frame_length, "model_rate": match.model_rate,
        "resample": {"up": match.up, "down": match.down, "error_ppm": match.error_ppm},
        "channel": {"center_offset": channel.center_offset, "bandwidth": channel.bandwidth, "band": list(channel.band)},
        "hop": s.hop or engine.frame_length, "min_prob": s.min_prob, "min_snr": s.min_snr if noise_head else None,
        "windows": stats.windows, "tail_samples": stats.tail_samples,
        "min_windows": s.min_windows, "shares": shares(segments), "segments_per_label": per_label,
        "segments": [seg.as_dict(rec.sample_rate) for seg in segments],
        "speed": {"wall_s": wall, "msps": msps, "realtime_factor": msps * 1e6 / rec.sample_rate,
                  "windows_per_s": stats.windows / max(wall, 1e-9), "infer_s": stats.infer_s,
                  "engine_wait_s": stats.wait_s},
        "written": written, "notes": notes, "interrupted": interrupted,
    }
