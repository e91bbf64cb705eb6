"""Progress bars on stderr with rate and ETA, shared by every long-running step.

Shown only where stderr is a terminal (a log file gets the summary lines, never bar frames) and
removed when done (``transient``): the lines a log needs are printed by the caller on stdout.

While a bar is live, rich redraws it in place: a line that another console writes to the same
terminal is overwritten by the next redraw (rich writes around its own Live, unwrapping the
stdout proxy). ``live_console()`` is the console of the bar on screen, if any: lines printed
through it appear above the bar and stay (``amc.cli.common.say`` does so).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

_LIVE: list[Progress] = []  # the bars on screen now, innermost last


def live_console() -> Console | None:
    """The console of the progress bar on screen (None when no bar shows): print through it while it lives."""
    for progress in reversed(_LIVE):
        if not progress.disable and progress.live.is_started:
            return progress.console
    return None


class LiveBars:
    """A rich Progress that registers itself with ``live_console()`` while it runs."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def __enter__(self) -> Progress:
        self.progress.__enter__()
        _LIVE.append(self.progress)
        return self.progress

    def __exit__(self, *exc: object) -> None:
        if self.progress in _LIVE:
            _LIVE.remove(self.progress)
        self.progress.__exit__(None, None, None)


class RateColumn(TextColumn):
    """'1,234 frames/s' from the task's speed."""

    def __init__(self, unit: str) -> None:
        super().__init__("")
        self.unit = unit

    def render(self, task: Any) -> Any:
        speed = task.finished_speed or task.speed
        self.text_format = "" if speed is None else f"{speed:,.0f} {self.unit}/s"
        return super().render(task)


def make_progress(unit: str, enabled: bool = True, console: Console | None = None, total_known: bool = True
                  ) -> Progress:
    """A bar with count, rate, elapsed time and one ETA; with an unknown total (a build that reports no steps)
    a spinner and the elapsed time only: no `0/?`, no empty ETA."""
    console = console or Console(stderr=True)
    disable = not (enabled and console.is_terminal)
    if not total_known:
        return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                        transient=True, disable=disable)
    return Progress(TextColumn("{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
                    TaskProgressColumn(), RateColumn(unit), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), console=console, transient=True, disable=disable)


class Bar:
    """One task: ``with Bar("synth", total, "frames") as bar: bar.advance(n)`` (total None: unknown)."""

    def __init__(self, description: str, total: int | None, unit: str = "items", enabled: bool = True) -> None:
        self.progress = make_progress(unit, enabled, total_known=total is not None)
        self.live = LiveBars(self.progress)
        self.task = self.progress.add_task(description, total=total)

    def __enter__(self) -> Bar:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__()

    def advance(self, n: int = 1) -> None:
        self.progress.advance(self.task, n)
