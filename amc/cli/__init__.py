"""The `amc` command line: thin Typer commands over library functions, one module per command group.

Conventions (every command): what a command reads is positional; the one thing it writes is ``--out``;
``--overwrite`` wherever something could be replaced; ``--json PATH`` (``-`` for stdout) wherever a
table is printed; bad input is one line on stderr and exit code 2. Library functions are imported
inside each command so that ``amc --help`` and shell completion start in a fraction of a second.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from typing import Annotated

import typer

import amc
from amc.cli import classify, data, evaluate, export, quickstart, serve, train
from amc.cli.common import broken_pipe, say


def _usage_name(self: typer.core.TyperArgument) -> str:
    """Required arguments as NAME (click's convention), optional ones as [NAME]: Typer 0.29 writes required
    ones as {NAME}, which reads like a placeholder to fill."""
    name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
    return name + ("..." if self.nargs != 1 else "")


if hasattr(typer.core.TyperArgument, "_usage_display_name"):
    typer.core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]

app = typer.Typer(help="Automatic modulation classification: data, training, export, verified engines.",
                  no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None)
app.add_typer(data.app, name="data")
train.register(app)
export.register(app)
evaluate.register(app)
quickstart.register(app)
serve.register(app)
classify.register(app)


def _version(value: bool) -> None:
    if value:
        say(f"amc {amc.__version__}")
        raise typer.Exit()


@app.callback()
def root(version: Annotated[bool | None, typer.Option("--version", callback=_version, is_eager=True,
                                                         help="Print the version and exit.")] = None) -> None:
    """amc: from RadioML data to a verified inference engine."""


@functools.cache
def tune_malloc() -> bool:
    """Once per process, let glibc keep freed heap memory (mmap threshold 32 MiB, trim threshold 256 MiB).

    Otherwise the generator's tens of MB of numpy temporaries per block go back to the OS and are
    page-faulted in again: 20-40% of its run time on VMs. A process-wide allocator setting belongs to the
    program, not to library code. False (a no-op) where glibc is not available.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-3, 32 << 20)) and bool(libc.mallopt(-1, 256 << 20))  # MMAP, TRIM
    except (OSError, AttributeError):
        return False


def main() -> None:
    """The `amc` entry point (also `python -m amc`)."""
    tune_malloc()
    try:
        app(prog_name="amc")
    except BrokenPipeError:  # a plain write (JSON on stdout) to a reader that went away
        broken_pipe()
