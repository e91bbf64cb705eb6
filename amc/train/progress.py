"""Training progress: an epoch bar and a batch bar on stderr (rate and ETA), and the one line per epoch.

The bars show only where stderr is a terminal and vanish when done; the epoch lines are the caller's
(``say``), printed on stdout whether or not the bars show, so a log file gets every epoch.
"""

from __future__ import annotations

import math
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def _band_label(name: str) -> str:
    return name if len(name) <= 6 else name[:5] + "."


def epoch_summary(row: dict[str, Any], epochs: int | None = None, improved: bool = False) -> str:
    """One line, under 80 columns with the default bands (any band names work):

    ``epoch  8/10 loss 1.8016 val 0.4727* low 0.245 mid 0.599 high 0.712  793 fr/s``
    (* = new best). Every other figure (train accuracy, eta MAE, denoiser gain...) is in metrics.jsonl.
    """
    n = f"{row['epoch']:3d}" + (f"/{epochs}" if epochs else "")
    bands = " ".join(f"{_band_label(b)} {'  -  ' if v is None or math.isnan(v) else f'{v:.3f}'}"
                     for b, v in row["bands"].items())
    return (f"epoch {n} loss {row['loss_total']:.4f} val {row['val_acc']:.4f}{'*' if improved else ' '} "
            f"{bands}  {row['samples_per_s']:,.0f} fr/s")


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class EpochProgress:
    """Two bars: epochs (with an ETA from this process's mean epoch time) and the batches of this epoch."""

    def __init__(self, enabled: bool, epochs: int, steps: int):
        self.console = Console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        self.epochs, self.steps = epochs, steps
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
                                 console=self.console, transient=True, disable=not self.enabled)
        self.epoch_task = self.progress.add_task("epochs", total=epochs, info="")
        self.batch_task = self.progress.add_task("batches", total=steps, info="")
        self.t0 = time.perf_counter()
        self.first_epoch: int | None = None
        self.epoch = 0
        self.batches = 0

    def __enter__(self) -> EpochProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def start_epoch(self, epoch: int) -> None:
        if self.first_epoch is None:
            self.first_epoch, self.t0 = epoch, time.perf_counter()
        self.epoch, self.batches = epoch, 0
        self.progress.update(self.epoch_task, completed=epoch)
        self.progress.reset(self.batch_task, total=self.steps, description=f"epoch {epoch + 1}")

    def advance(self, loss: float) -> None:
        self.batches += 1
        self.progress.update(self.batch_task, advance=1, info=f"loss {loss:.3f}")
        if self.enabled and self.first_epoch is not None:
            done = self.epoch - self.first_epoch + self.batches / max(1, self.steps)
            rate = (time.perf_counter() - self.t0) / done  # seconds per epoch
            left = (self.epochs - self.epoch - self.batches / max(1, self.steps)) * rate
            self.progress.update(self.epoch_task, info=f"{rate:.0f} s/epoch, ETA {_clock(left)}")

    def finish_epoch(self, epochs_done: int) -> None:
        self.progress.update(self.epoch_task, completed=epochs_done)
