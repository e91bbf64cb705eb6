"""`amc data synth | import | info`."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

import typer

from amc.cli.common import (
    UsageError,
    check_output,
    check_place,
    console,
    markdown_table,
    refuse_existing,
    say,
    say_wrapped,
    table,
    user_errors,
    write_json,
)
from amc.cli.options import with_config_options
from amc.config import SynthConfig

app = typer.Typer(help="Datasets: synthesize, import RadioML files, inspect.", no_args_is_help=True,
                  rich_markup_mode=None)
import_app = typer.Typer(help="Import real RadioML datasets into amc's HDF5 layout.", no_args_is_help=True,
                         rich_markup_mode=None)
app.add_typer(import_app, name="import")

MAX_BYTES = 16 << 30  # a dataset above this needs --force


def output_path(out: Path | None, legacy: Path | None, example: str) -> Path:
    """The output file, checked before any work: given once, and not a directory."""
    if out is not None and legacy is not None:
        raise UsageError(f"the output is given twice: OUT {legacy} and --out {out}; give it once (--out FILE)")
    path = out or legacy
    if path is None:
        raise UsageError(f"no output file: pass --out FILE (e.g. --out {example})")
    if path.is_dir():
        raise UsageError(f"--out {path} is a directory; give a file path (e.g. --out {path / Path(example).name})")
    return path


def check_room(path: Path, nbytes: int, force: bool) -> None:
    """Refuse a dataset larger than MAX_BYTES (unless --force) or than the free space where it goes."""
    gib = nbytes / (1 << 30)
    if nbytes > MAX_BYTES and not force:
        raise UsageError(f"this dataset would take about {gib:.1f} GiB (over {MAX_BYTES >> 30} GiB); "
                         "fewer --frames or SNRs, or pass --force")
    parent = path.resolve().parent
    while not parent.exists():
        parent = parent.parent
    free = shutil.disk_usage(parent).free
    if nbytes > free:
        raise UsageError(f"this dataset would take about {gib:.1f} GiB but {parent} has "
                         f"{free / (1 << 30):.1f} GiB free; choose another --out or fewer frames")


@app.command("synth")
@user_errors
@with_config_options(SynthConfig)
def synth_cmd(
    legacy_out: Annotated[Path | None, typer.Argument(hidden=True, metavar="OUT")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output HDF5 file.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")] = False,
    force: Annotated[bool, typer.Option("--force", help=f"Write datasets above {MAX_BYTES >> 30} GiB.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar (stderr).")] = True,
    generator: Annotated[str, typer.Option(
        "--generator", help="numpy: amc's own generator (per-frame parameter ranges); gnuradio: RML2016.10a's "
                            "GNU Radio chain (needs GNU Radio: apt-get install gnuradio; docs/data.md)")] = "numpy",
    defects: Annotated[str, typer.Option(
        "--defects", help="gnuradio only: fixed (AM-SSB carries its signal, the label is the measured SNR) or "
                          "original (the published chain's defects kept)")] = "fixed",
    settings: dict[str, Any] | None = None,
) -> None:
    """Generate a seeded synthetic RadioML-style dataset (stores the clean frames too)."""
    from amc.config import choice, from_dict, to_dict
    from amc.data.build import estimate_bytes, synth_to_file
    from amc.progress import Bar

    choice("generator", generator, ["numpy", "gnuradio"])
    path = output_path(out, legacy_out, "data/rml16.h5")
    check_place(path)
    refuse_existing(path, overwrite)
    cfg = from_dict(SynthConfig, {**to_dict(SynthConfig()), **(settings or {})}).validate()
    check_room(path, estimate_bytes(cfg), force)
    total = len(cfg.class_names) * len(cfg.snrs) * cfg.frames_per_class_snr
    if generator == "gnuradio":
        from amc.data.grsynth import check_config, find_python, synth_gnuradio

        check_config(cfg, defects)
        python = find_python()
        with Bar("synth", total, "frames", enabled=progress) as bar:
            summary = synth_gnuradio(cfg, path, defects=defects, python=python, on_part=bar.advance)
    else:
        if defects != "fixed":
            raise UsageError("--defects applies to --generator gnuradio only")
        with Bar("synth", total, "frames", enabled=progress) as bar:
            summary = synth_to_file(cfg, path, on_chunk=bar.advance)
    say(f"wrote {summary['frames']} frames ({len(summary['classes'])} classes x {len(summary['snrs'])} SNRs, "
        f"L={summary['frame_length']}, {summary['bytes'] / 1e6:.1f} MB) to {path}")


@import_app.command("rml2016")
@user_errors
def import_rml2016_cmd(
    src: Annotated[Path, typer.Argument(metavar="SRC", help="RML2016.10a_dict.pkl or RML2016.10b.dat.")],
    legacy_out: Annotated[Path | None, typer.Argument(hidden=True, metavar="OUT")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output HDF5 file.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")] = False,
) -> None:
    """Import an RML2016.10a/b pickle (through a restricted unpickler) into amc HDF5."""
    from amc.data.rml2016 import import_rml2016

    path = output_path(out, legacy_out, "data/rml2016a.h5")
    check_place(path)
    refuse_existing(path, overwrite)
    s: dict[str, Any] = import_rml2016(src, path)
    say(f"imported {s['frames']} frames ({len(s['classes'])} classes, SNR {min(s['snrs']):g}..{max(s['snrs']):g} dB, "
        f"L={s['frame_length']}) to {path}")


def _snr_span(snrs: list[float], counts: list[int]) -> str:
    present = [s for s, c in zip(snrs, counts) if c]
    if not present:
        return "-"
    step = {round(b - a, 6) for a, b in zip(present, present[1:])}
    grid = f" step {step.pop():g}" if len(step) == 1 else ""
    return f"{min(present):g}..{max(present):g}{grid} ({len(present)})"


@app.command("info")
@user_errors
def info_cmd(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="Dataset file (amc HDF5 or RML2018.01A).")],
    full: Annotated[bool, typer.Option(help="Print the whole class x SNR grid of counts.")] = False,
    markdown: Annotated[bool, typer.Option(help="Print the table as Markdown.")] = False,
    json_out: Annotated[str | None, typer.Option("--json", metavar="PATH",
                                                 help="Write the description as JSON ('-': stdout).")] = None,
) -> None:
    """Classes, SNR grid, counts per class and SNR, frame length, clean-frame presence."""
    from amc.data.build import describe

    check_output(json_out, "--json", [path], json_report=True)
    d = describe(path)
    if json_out:
        write_json(json_out, d)
        if json_out == "-":
            return
    snrs, counts = d["snrs"], d["counts"]
    say_wrapped(f"{d['path']}: {d['frames']} frames, L={d['frame_length']}, {len(d['classes'])} classes, "
                f"{len(snrs)} SNRs ({min(snrs):g}..{max(snrs):g} dB), clean frames: "
                f"{'yes' if d['has_clean'] else 'no'}, fingerprint {d['fingerprint']}")
    if full:  # one row per class (names whole), the SNRs across, in as many blocks as the width needs
        columns = ["class", *[f"{s:g}" for s in snrs]]
        rows = [[name, *[str(c) for c in row]] for name, row in zip(d["classes"], counts)]
        if markdown:
            say("")  # a Markdown table must not follow a paragraph line directly
            say(markdown_table(columns, rows))
            return
        say("frames per class (rows) and SNR in dB (columns):")
        for k, cols in enumerate(snr_blocks(columns, rows, console.width)):
            if k:
                console.print("")
            block = [[r[0], *[r[i] for i in cols]] for r in rows]
            console.print(table([columns[0], *[columns[i] for i in cols]], block, right=range(1, len(cols) + 1)))
        return
    columns = ["class", "frames", "SNRs (dB)", "per SNR"]
    rows = []
    for name, row in zip(d["classes"], counts):
        nz = [c for c in row if c]
        per = "-" if not nz else (f"{nz[0]}" if min(nz) == max(nz) else f"{min(nz)}..{max(nz)}")
        rows.append([name, str(sum(row)), _snr_span(snrs, row), per])
    if markdown:
        say("")  # a Markdown table must not follow a paragraph line directly
        say(markdown_table(columns, rows))
    else:
        console.print(table(columns, rows, right=(1, 3)))


def snr_blocks(columns: list[str], rows: list[list[str]], width: int) -> list[list[int]]:
    """The column indices (1..) of each block of a wide table whose first column repeats in every block, so that
    each block fits `width` (a column of amc's table() takes its widest cell plus 3: padding and divider; at least
    one column per block)."""
    def w(i: int) -> int:
        return max(len(columns[i]), *(len(r[i]) for r in rows)) + 3

    blocks: list[list[int]] = [[]]
    used = w(0)
    for i in range(1, len(columns)):
        if blocks[-1] and used + w(i) > width:
            blocks.append([])
            used = w(0)
        blocks[-1].append(i)
        used += w(i)
    return blocks
