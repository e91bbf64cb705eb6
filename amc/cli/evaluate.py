"""`amc eval-engine`: per-SNR accuracy of an exported engine against training; exit 1 on drift."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from amc.cli.common import say, user_errors
from amc.cli.options import one_of
from amc.runtime import PROVIDERS


def register(app: typer.Typer) -> None:
    app.command("eval-engine")(user_errors(eval_engine_cmd))


def eval_engine_cmd(
    model: Annotated[Path, typer.Argument(
        metavar="MODEL", help="Exported engine (.onnx, .engine, .plan), a .pt checkpoint or "
                                               "a run directory.")],
    data: Annotated[Path | None, typer.Option(help="Dataset. [default: the one the run trained on]")] = None,
    run: Annotated[Path | None, typer.Option(help="Training run directory to compare with. "
                                                  "[default: the metrics inside the engine]")] = None,
    split: Annotated[one_of(["val", "test", "all"]),  # type: ignore[valid-type]
                     typer.Option(help="Frames to score: the run's validation or test split, or all.")] = "val",
    provider: Annotated[one_of(PROVIDERS), typer.Option(help="Execution provider.")] = "auto",  # type: ignore[valid-type]
    tolerance_pp: Annotated[float | None, typer.Option(help="Allowed accuracy drift in percentage points. "
                                                            "[default: fp32 0.1, fp16 0.5, int8 1.0]", min=0)] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Directory for report.json, report.md and "
                                                                 "per_snr.png.")] = None,
    batch_size: Annotated[int, typer.Option(help="Frames per engine call.", min=1)] = 512,
    progress: Annotated[bool, typer.Option(help="Show a progress bar (stderr).")] = True,
    legacy_report: Annotated[Path | None, typer.Option("--report", hidden=True)] = None,
) -> None:
    """Per-SNR accuracy of an exported engine vs the training metrics; exit 1 on drift, 2 on bad input."""
    from amc.eval.engine_eval import EvalSettings, evaluate_engine
    from amc.eval.report import to_markdown

    report = out or legacy_report
    r = evaluate_engine(EvalSettings(model=str(model), data=str(data) if data else None,
                                     run=str(run) if run else None, split=split, provider=provider,
                                     tolerance_pp=tolerance_pp, report_dir=str(report) if report else None,
                                     batch_size=batch_size, progress=progress))
    say(to_markdown(r))
    if not r["passed"]:
        raise typer.Exit(1)
