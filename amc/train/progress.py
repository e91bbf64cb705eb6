"""Training progress on stderr (an epoch bar and a batch bar, with rate and ETA), and the one line per epoch.

The bars show the training rate (frames/s) and the time left for the epoch and for the whole run, and
vanish when done. Where stderr is not a terminal (a log file, `nohup`), the bars stay hidden and a
plain status line with the same rate and ETA is printed every `every_s` seconds instead. The epoch lines
are the caller's (``say``): on stdout whether or not anything else shows.
"""

from __future__ import annotations

import math
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def duration(seconds: float) -> str:
    """'1:02:03' / '4:05' style duration."""
    s = int(round(max(0.0, seconds)))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


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


class EpochProgress:
    def __init__(self, enabled: bool, epochs: int, steps: int, every_s: float = 60.0):
        self.enabled = enabled
        self.console = Console(stderr=True)
        self.epochs, self.steps, self.every_s = epochs, steps, every_s
        self.plain = enabled and not self.console.is_terminal
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
                                 console=self.console, transient=True, disable=not enabled or self.plain)
        self.epoch_task = self.progress.add_task("epochs", total=epochs, info="")
        self.batch_task = self.progress.add_task("batches", total=steps, info="")
        self.epoch = self.step = self.frames = 0
        self.t_run = self.t_epoch = self.t_line = time.perf_counter()
        self.run_steps = 0  # steps done by this process (a resumed run starts later)

    def __enter__(self) -> EpochProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def start_epoch(self, epoch: int) -> None:
        self.epoch, self.step, self.frames = epoch, 0, 0
        self.t_epoch = time.perf_counter()
        self.progress.update(self.epoch_task, completed=epoch)
        self.progress.reset(self.batch_task, total=self.steps, description=f"epoch {epoch + 1}")

    def rate(self) -> float:
        """Training frames/s of the current epoch so far."""
        return self.frames / max(time.perf_counter() - self.t_epoch, 1e-9)

    def eta(self) -> tuple[float, float]:
        """(seconds left in this epoch, seconds left in the run), from this process's measured pace."""
        now = time.perf_counter()
        per_step = (now - self.t_epoch) / max(self.step, 1)
        epoch_left = per_step * (self.steps - self.step)
        done = self.run_steps
        run_per_step = (now - self.t_run) / max(done, 1)  # includes evaluation and checkpoints
        left = (self.epochs - self.epoch) * self.steps - self.step
        return epoch_left, run_per_step * left

    def status(self) -> str:
        epoch_left, run_left = self.eta()
        return (f"epoch {self.epoch + 1}/{self.epochs}  batch {self.step}/{self.steps}  {self.rate():.0f} fr/s  "
                f"ETA epoch {duration(epoch_left)}, run {duration(run_left)}")

    def advance(self, loss: float, frames: int = 0) -> None:
        self.step += 1
        self.run_steps += 1
        self.frames += frames
        _, run_left = self.eta()
        self.progress.update(self.batch_task, advance=1, info=f"loss {loss:.3f}  {self.rate():.0f} fr/s")
        self.progress.update(self.epoch_task, info=f"run ETA {duration(run_left)}")
        if self.plain and time.perf_counter() - self.t_line >= self.every_s:
            self.t_line = time.perf_counter()
            self.console.print(self.status(), highlight=False)

    def finish_epoch(self, epochs_done: int) -> None:
        self.progress.update(self.epoch_task, completed=epochs_done)
