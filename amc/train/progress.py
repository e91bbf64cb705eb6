"""Training progress on stderr (an epoch bar and a batch bar, with rate and ETA), and the one line per epoch.

The bars show the training rate (frames/s) and the time left for the epoch and for the whole run, and
vanish when done. Where stderr is not a terminal (a log file, `nohup`), the bars stay hidden and a
plain status line with the same rate and ETA is printed every `every_s` seconds instead. The epoch lines
are the caller's (``say``): on stdout whether or not anything else shows; while the bars show, through
their console so that the redraw does not wipe them (amc.progress.live_console).
"""

from __future__ import annotations

import math
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from amc.progress import LiveBars


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
    """The epoch bar (run ETA) and the batch bar (loss, rate, epoch ETA): one ETA each.

    Both ETAs come from this process's measured pace (a resumed run measures afresh) and read `-:--` until
    there is one; the run's time left is the epoch's plus the remaining whole epochs at the mean duration of
    the epochs finished here (evaluation and checkpoints included), so it is never shorter than the epoch's.
    """

    def __init__(self, enabled: bool, epochs: int, steps: int, every_s: float = 60.0):
        self.enabled = enabled
        self.console = Console(stderr=True)
        self.epochs, self.steps, self.every_s = epochs, steps, every_s
        self.plain = enabled and not self.console.is_terminal
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), console=self.console, transient=True,
                                 disable=not enabled or self.plain)
        self.live = LiveBars(self.progress)
        self.epoch_task = self.progress.add_task("epochs", total=epochs, info="")
        self.batch_task = self.progress.add_task("batches", total=steps, info="")
        self.epoch = self.step = self.frames = 0
        self.t_epoch = self.t_line = time.perf_counter()
        self.epoch_times: list[float] = []  # full epochs finished by this process (a resumed run starts later)

    def __enter__(self) -> EpochProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__()

    def start_epoch(self, epoch: int) -> None:
        self.epoch, self.step, self.frames = epoch, 0, 0
        self.t_epoch = time.perf_counter()
        self.progress.update(self.epoch_task, completed=epoch, info="run ETA -:--")
        self.progress.reset(self.batch_task, total=self.steps, description=f"epoch {epoch + 1}",
                            info="ETA -:--")

    def rate(self) -> float:
        """Training frames/s of the current epoch so far."""
        return self.frames / max(time.perf_counter() - self.t_epoch, 1e-9)

    def eta(self) -> tuple[float | None, float | None]:
        """(seconds left in this epoch, seconds left in the run); None before any step was timed."""
        if self.step == 0:
            return None, None
        per_step = (time.perf_counter() - self.t_epoch) / self.step
        epoch_left = per_step * (self.steps - self.step)
        per_epoch = (sum(self.epoch_times) / len(self.epoch_times) if self.epoch_times
                     else per_step * self.steps)  # no epoch finished yet: training steps only
        return epoch_left, epoch_left + per_epoch * max(self.epochs - self.epoch - 1, 0)

    def status(self) -> str:
        epoch_left, run_left = self.eta()
        return (f"epoch {self.epoch + 1}/{self.epochs}  batch {self.step}/{self.steps}  {self.rate():.0f} fr/s  "
                f"ETA epoch {_eta(epoch_left)}, run {_eta(run_left)}")

    def advance(self, loss: float, frames: int = 0) -> None:
        self.step += 1
        self.frames += frames
        epoch_left, run_left = self.eta()
        self.progress.update(self.batch_task, advance=1,
                             info=f"loss {loss:.3f}  {self.rate():.0f} fr/s  ETA {_eta(epoch_left)}")
        self.progress.update(self.epoch_task, info=f"run ETA {_eta(run_left)}")
        if self.plain and time.perf_counter() - self.t_line >= self.every_s:
            self.t_line = time.perf_counter()
            self.console.print(self.status(), highlight=False)

    def finish_epoch(self, epochs_done: int) -> None:
        """After the epoch's evaluation and checkpoint: its full duration paces the run ETA."""
        self.epoch_times.append(time.perf_counter() - self.t_epoch)
        self.progress.update(self.epoch_task, completed=epochs_done)


def _eta(seconds: float | None) -> str:
    return "-:--" if seconds is None else duration(seconds)
