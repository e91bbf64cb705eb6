"""Rich progress for training: an epoch bar, a batch bar, one concise line per epoch, rate and ETA.

The bars show the training rate (frames/s) and the time left for the epoch and for the whole run.
Where stderr is not a terminal (a log file, `nohup`), the bars stay hidden and a plain status line
with the same rate and ETA is printed every `every_s` seconds instead.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def _f(v: float | None) -> str:
    return "—" if v is None else f"{v:.4f}"


def duration(seconds: float) -> str:
    """'1:02:03' / '4:05' style duration."""
    s = int(round(max(0.0, seconds)))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def epoch_summary(row: dict[str, Any]) -> str:
    b = row["bands"]
    extra = f" eta_mae {row['eta_mae']:.3f}" if row.get("eta_mae") is not None else ""
    gain = f" den_gain {row['denoiser_gain_db']:+.1f} dB" if row.get("denoiser_gain_db") is not None else ""
    return (f"epoch {row['epoch']:3d}  loss {row['loss_total']:.4f}  train_acc {_f(row['train_acc'])}  "
            f"val_acc {row['val_acc']:.4f}  low {b['low']:.4f}  mid {b['mid']:.4f}  high {b['high']:.4f}"
            f"{extra}{gain}  {row['samples_per_s']:.0f} fr/s")


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

    def epoch_line(self, row: dict[str, Any]) -> None:
        self.progress.update(self.epoch_task, completed=row["epoch"])
        if self.enabled:
            self.progress.console.print(epoch_summary(row), highlight=False)

    def note(self, text: str) -> None:
        if self.enabled:
            self.progress.console.print(text, highlight=False)
