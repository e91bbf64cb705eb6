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
from amc.cli.common import broken_pipe, err_console, say

try:  # Typer >= 0.20 carries its own copy of click; older ones use click itself
    from typer._click import exceptions as _click_errors
except ImportError:  # pragma: no cover - depends on the installed Typer
    from click import exceptions as _click_errors  # type: ignore[no-redef]


def _usage_name(self: typer.core.TyperArgument) -> str:
    """Required arguments as NAME (click's convention), optional ones as [NAME]: Typer 0.29 writes required
    ones as {NAME}, which reads like a placeholder to fill."""
    name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
    return name + ("..." if self.nargs != 1 else "")


def _usage_pieces(self: typer.core.TyperArgument, ctx: typer.Context) -> list[str]:
    """A hidden argument (an old spelling kept for a release) stays out of the usage line as it stays out of
    the Arguments section: `amc data synth [OPTIONS]`, not `... [OUT]` with no OUT explained."""
    return [] if self.hidden else [_usage_name(self)]


def _display_type(self: typer.core.TyperArgument, ctx: typer.Context) -> str:
    """`RUN... <path>` rather than `RUN <list[Path]>`: the usage's `...` says there may be several; the type
    is what each one is, in the lower case every other type is written in."""
    label = _plain_display_type(self, ctx)
    if label.startswith("<list[") and label.endswith("]>"):
        label = "<" + label[len("<list["):-2] + ">"
    return label.replace("Path", "path")


def _short_help(self: typer.core.TyperCommand, limit: int = 45) -> str:
    """The whole first sentence of a command's help in `amc --help` (wrapped, never cut with `...`)."""
    text = " ".join((self.short_help or self.help or "").split("\n\n")[0].split())
    return text


_plain_display_type = typer.core.TyperArgument.display_type
if hasattr(typer.core.TyperArgument, "_usage_display_name"):
    typer.core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]
    typer.core.TyperArgument.get_usage_pieces = _usage_pieces  # type: ignore[method-assign,assignment]
    typer.core.TyperArgument.display_type = _display_type  # type: ignore[method-assign,assignment]
typer.core.TyperCommand.get_short_help_str = _short_help  # type: ignore[method-assign,assignment]
typer.core.TyperGroup.get_short_help_str = _short_help  # type: ignore[method-assign,assignment]

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


def _fail(message: str) -> None:
    """`error: message` on stderr and exit 2, outside any click context (`error()` raises typer.Exit)."""
    err_console.print(f"error: {message.splitlines()[0]}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(2)


def main() -> None:
    """The `amc` entry point (also `python -m amc`)."""
    tune_malloc()
    try:
        code = app(prog_name="amc", standalone_mode=False)
    except BrokenPipeError:  # a plain write (JSON on stdout) to a reader that went away
        broken_pipe()
    except _click_errors.NoArgsIsHelpError as e:  # `amc data`: the group's help, as before
        e.show()
        sys.exit(2)
    except _click_errors.UsageError as e:  # a mistyped option or value: one line, like every other input error
        path = e.ctx.command_path if e.ctx is not None else "amc"
        _fail(f"{e.format_message().replace('Value error, ', '').rstrip('.')}; see `{path} --help`")
    except _click_errors.ClickException as e:
        _fail(e.format_message())
    except typer.Abort:  # Ctrl-C outside a command's own handling
        sys.exit(130)
    else:
        sys.exit(code if isinstance(code, int) else 0)
