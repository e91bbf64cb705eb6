"""What every command shares: the consoles, the one-line error handler, JSON / table output."""

from __future__ import annotations

import functools
import json
import os
import sys
import textwrap
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.segment import Segment
from rich.table import Table

from amc import jsonio
from amc.config import AmcError
from amc.files import atomic_path, writable_dir
from amc.progress import live_console

# `--threads N` on every command: 0 is each one's default (train: one per core; engines: the runtime's).
MAX_THREADS = 1024
THREADS_HELP = "CPU threads (0: the runtime's default)."
PIPE_WIDTH = 10_000  # output that is not a terminal is never cut or wrapped to fit a width
EXIT_BROKEN_PIPE = 141  # what a shell reports for a writer killed by SIGPIPE (`amc ... | head`)


def broken_pipe() -> None:
    """The reader went away (`| head`): stop writing, exit 141 like any Unix tool, never the drift code 1."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise SystemExit(EXIT_BROKEN_PIPE)


class AmcConsole(Console):
    def __init__(self, *args: Any, strip_trailing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.strip_trailing = strip_trailing

    def on_broken_pipe(self) -> None:  # rich's default exits 1, amc's drift code
        self.quiet = True
        broken_pipe()

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        """Piped output: no trailing blanks (rich pads every table row to the table's width)."""
        text = super()._render_buffer(buffer)
        if not self.strip_trailing:
            return text
        lines = text.split("\n")  # the last piece is unterminated (print(..., end="")): left as it is
        return "\n".join([line.rstrip(" ") for line in lines[:-1]] + lines[-1:])


def _console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return AmcConsole(stderr=stderr)
    return AmcConsole(stderr=stderr, width=PIPE_WIDTH, soft_wrap=True, no_color=True, strip_trailing=True)


console = _console(stderr=False)
err_console = _console(stderr=True)


class UsageError(AmcError):
    """Bad command-line input that is not a config or data error."""


def on_screen(out: Console) -> Console:
    """Where a line for `out` goes: through the progress bar's console while a bar shows on the same terminal,
    so that the bar's next redraw does not wipe the line (amc.progress); else `out` itself."""
    live = live_console()
    return live if live is not None and out.is_terminal else out


def plural(n: int, word: str) -> str:
    """'1 window', '2 windows', '1,024 windows'."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def say(text: str) -> None:
    """A plain line on stdout (no markup, no highlighting, never wrapped)."""
    on_screen(console).print(text, markup=False, highlight=False, soft_wrap=True)


def say_wrapped(text: str, indent: str = "  ", to: Console | None = None) -> None:
    """A plain line wrapped to 80 columns (or the terminal's, if narrower), continued under `indent`:
    notes and other prose that would otherwise run to hundreds of columns in a pipe."""
    out = to or console
    on_screen(out).print(textwrap.fill(text, width=min(80, out.width), subsequent_indent=indent, break_on_hyphens=False,
                            break_long_words=False), markup=False, highlight=False, soft_wrap=True)


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's input errors into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:
            broken_pipe()
        except (AmcError, FileExistsError, PermissionError) as e:
            error(str(e))
        except OSError as e:
            error(f"{e.strerror or e}: {e.filename or ''}".rstrip(": "))

    return wrapper


def error(message: str) -> None:
    """Print `error: message` (first line only) on stderr and exit 2."""
    on_screen(err_console).print(f"error: {message.splitlines()[0] if message else 'failed'}", markup=False,
                      highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def refuse_existing(path: Path, overwrite: bool, what: str = "") -> None:
    """FileExistsError unless the path is free or --overwrite was given."""
    if path.exists() and not overwrite and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(f"{path} exists{what}; pass --overwrite to replace it")


def check_output(target: str | Path | None, option: str, inputs: Sequence[str | Path | None] = (),
                 overwrite: bool | None = None, json_report: bool = False) -> None:
    """Refuse an output path before any work starts: one of the command's inputs (whatever --overwrite says),
    a directory, an existing file (without --overwrite; None: the command has no --overwrite; with
    `json_report`, an earlier JSON report may be replaced: it is what the option writes), or a place that
    cannot be written."""
    if target is None or str(target) == "-":
        return
    path = Path(target)
    for given in inputs:
        if given is not None and str(given) != "-" and Path(given).exists() and path.exists() \
                and os.path.samefile(path, given):
            raise UsageError(f"{option} {path} is an input of this command; choose another path")
    if path.is_dir():
        raise UsageError(f"{option} {path} is a directory; give a file path")
    if path.exists() and not overwrite and not (json_report and _is_json(path)):
        fix = "pass --overwrite or choose another path" if overwrite is False else "choose another path"
        raise FileExistsError(f"{option} {path} exists; {fix}")
    check_place(path, option)


def check_place(target: str | Path | None, option: str = "--out") -> None:
    """Refuse an output (file or directory) that cannot be created, before any work: one message for every
    command, naming the option, the path and the first existing directory above it."""
    if target is None or str(target) == "-":
        return
    path = Path(target)
    parent = path if path.is_dir() else path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not writable_dir(parent):
        raise UsageError(f"{option} {path}: {parent} is not a writable directory; choose another path")


def _is_json(path: Path) -> bool:
    """An earlier `--json` output (small and parseable): replacing it loses nothing the command cannot redo."""
    try:
        if path.stat().st_size > 256 << 20:
            return False
        json.loads(path.read_text())
        return True
    except (OSError, ValueError):
        return False


def write_json(target: str | Path, obj: Any) -> None:
    """`--json PATH`: write obj there atomically ('-' prints it on stdout)."""
    text = jsonio.dumps(obj, indent=2) + "\n"
    if str(target) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".tmp.json") as tmp:
        tmp.write_text(text)
    err_console.print(f"wrote {path}", markup=False, highlight=False)


def table(columns: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None,
          right: Sequence[int] = ()) -> Table:
    """A compact table (columns in `right` right-aligned); the first column never wraps."""
    t = Table(*columns, title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
              show_edge=False)
    for i, col in enumerate(t.columns):
        col.no_wrap = i == 0
        if i in right:
            col.justify = "right"
    for r in rows:
        t.add_row(*r)
    return t


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A valid GitHub-flavoured Markdown table (pipes in cells escaped), one line per row."""
    def cell(v: str) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)
