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
from rich.table import Table

import amc
from amc.config import ConfigError

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
        from amc.data.io import DataError

        try:
            return fn(*args, **kwargs)
        except (ConfigError, DataError, UsageError, FileExistsError, PermissionError) as e:
            err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except OSError as e:
            err_console.print(f"[bold red]error:[/] {e.strerror or e}: {e.filename or ''}".rstrip(": "),
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
    max_cfo: Annotated[float, typer.Option(help="Max carrier offset, cycles/sample.")] = 0.01,
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
