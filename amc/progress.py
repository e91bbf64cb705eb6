"""Progress bars on stderr with rate and ETA, shared by every long-running step.

Shown only where stderr is a terminal (a log file gets the summary lines, never bar frames) and
removed when done (``transient``): the lines a log needs are printed by the caller on stdout.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RateColumn(TextColumn):
    """'1,234 frames/s' from the task's speed."""

    def __init__(self, unit: str) -> None:
        super().__init__("")
        self.unit = unit

    def render(self, task: Any) -> Any:
        speed = task.finished_speed or task.speed
        self.text_format = "" if speed is None else f"{speed:,.0f} {self.unit}/s"
        return super().render(task)


def make_progress(unit: str, enabled: bool = True, console: Console | None = None) -> Progress:
    console = console or Console(stderr=True)
    return Progress(TextColumn("{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
                    TaskProgressColumn(), RateColumn(unit), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), console=console, transient=True,
                    disable=not (enabled and console.is_terminal))


class Bar:
    """One task: ``with Bar("synth", total, "frames") as bar: bar.advance(n)``."""

    def __init__(self, description: str, total: int | None, unit: str = "items", enabled: bool = True) -> None:
        self.progress = make_progress(unit, enabled)
        self.task = self.progress.add_task(description, total=total)

    def __enter__(self) -> Bar:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def advance(self, n: int = 1) -> None:
        self.progress.advance(self.task, n)
