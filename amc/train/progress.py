"""Rich progress for training: an epoch bar, a batch bar and one concise line per epoch."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def _f(v: float | None) -> str:
    return "—" if v is None else f"{v:.4f}"


def epoch_summary(row: dict[str, Any]) -> str:
    b = row["bands"]
    extra = f" eta_mae {row['eta_mae']:.3f}" if row.get("eta_mae") is not None else ""
    gain = f" den_gain {row['denoiser_gain_db']:+.1f} dB" if row.get("denoiser_gain_db") is not None else ""
    return (f"epoch {row['epoch']:3d}  loss {row['loss_total']:.4f}  train_acc {_f(row['train_acc'])}  "
            f"val_acc {row['val_acc']:.4f}  low {b['low']:.4f}  mid {b['mid']:.4f}  high {b['high']:.4f}"
            f"{extra}{gain}  {row['samples_per_s']:.0f} fr/s")


class EpochProgress:
    def __init__(self, enabled: bool, epochs: int, steps: int):
        self.enabled = enabled
        self.console = Console(stderr=True)
        self.steps = steps
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
                                 console=self.console, transient=True, disable=not enabled)
        self.epoch_task = self.progress.add_task("epochs", total=epochs, info="")
        self.batch_task = self.progress.add_task("batches", total=steps, info="")

    def __enter__(self) -> EpochProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def start_epoch(self, epoch: int) -> None:
        self.progress.update(self.epoch_task, completed=epoch)
        self.progress.reset(self.batch_task, total=self.steps, description=f"epoch {epoch + 1}")

    def advance(self, loss: float) -> None:
        self.progress.update(self.batch_task, advance=1, info=f"loss {loss:.3f}")

    def epoch_line(self, row: dict[str, Any]) -> None:
        self.progress.update(self.epoch_task, completed=row["epoch"])
        if self.enabled:
            self.progress.console.print(epoch_summary(row), highlight=False)

    def note(self, text: str) -> None:
        if self.enabled:
            self.progress.console.print(text, highlight=False)
