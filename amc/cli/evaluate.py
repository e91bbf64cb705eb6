"""`amc eval-engine`: the release gate. Exit 0 pass, 1 drift, 4 inconclusive, 2 anything the user must fix,
3 a bug in amc.

Exit code 1 means drift and nothing else: a crash (a bug in amc) is exit 3 with its traceback, Ctrl-C
exit 130; neither can be mistaken for a verdict. 4 (the frames cannot tell) is neither a pass nor a
drift: a pipeline that accepts it says so with --inconclusive-ok (then 0).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from amc.cli.common import (
    EXIT_BROKEN_PIPE,
    check_output,
    check_place,
    console,
    err_console,
    say,
    table,
    user_errors,
    write_json,
)
from amc.cli.options import one_of
from amc.runtime import PROVIDERS

EXIT_INTERNAL = 3


def register(app: typer.Typer) -> None:
    app.command("eval-engine")(gate_exit_codes(user_errors(eval_engine_cmd)))


def gate_exit_codes(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Keep exit code 1 for drift: an unexpected exception is exit 3 (traceback on stderr), Ctrl-C 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, click.exceptions.Exit, click.exceptions.ClickException, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            err_console.print("error: interrupted; no verdict", markup=False, highlight=False)
            raise typer.Exit(130) from None
        except Exception as e:  # a bug, not a verdict and not bad input
            traceback.print_exc()
            first = str(e).splitlines()[0][:200] if str(e) else ""
            err_console.print(f"error: internal error ({type(e).__name__}: {first}); no verdict (exit "
                              f"{EXIT_INTERNAL}); please report it", markup=False, highlight=False)
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper


def eval_engine_cmd(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="Exported engine (.onnx, .engine, .plan), a Triton "
                                                               "repository, a .pt checkpoint, a run directory or "
                                                               "a packaged model's name (default).")],
    data: Annotated[Path | None, typer.Option(help="Dataset. [default: the one the run trained on]")] = None,
    run: Annotated[Path | None, typer.Option(help="The run directory (or checkpoint) the engine was exported from; "
                                                  "its hash must match the engine's. [default: the checkpoint the "
                                                  "engine's metadata names]")] = None,
    split: Annotated[one_of(["auto", "val", "test", "all"]),  # type: ignore[valid-type]
                     typer.Option(help="Frames to score: auto (the validation split, then the test split, then "
                                       "fresh frames of the dataset's generator, until the tolerance is "
                                       "resolved), the run's validation or test split, or all of --data.")
                     ] = "auto",
    max_frames: Annotated[int | None, typer.Option(help="Frames scored at most. [default: 200000 for auto, "
                                                        "the whole split otherwise]", min=1)] = None,
    provider: Annotated[one_of(PROVIDERS), typer.Option(help="Execution provider.")] = "auto",  # type: ignore[valid-type]
    tolerance_pp: Annotated[float | None, typer.Option(help="Allowed accuracy drift in percentage points. "
                                                            "[default: fp32 0.1, fp16 0.5, int8 1.0]", min=0)] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Directory for report.json, report.md and "
                                                                 "per_snr.png.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing report in --out.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Accept a --run that is not the engine's source "
                                                        "checkpoint (its model becomes the reference).")] = False,
    json_out: Annotated[str | None, typer.Option("--json", metavar="PATH",
                                                 help="Write the whole report as JSON ('-': stdout).")] = None,
    batch_size: Annotated[int, typer.Option(help="Frames per engine call.", min=1)] = 512,
    progress: Annotated[bool, typer.Option(help="Show a progress bar (stderr).")] = True,
    inconclusive_ok: Annotated[bool, typer.Option("--inconclusive-ok", help="Exit 0, not 4, when the frames cannot "
                                                                            "tell (INCONCLUSIVE).")] = False,
    legacy_report: Annotated[Path | None, typer.Option("--report", hidden=True)] = None,
) -> None:
    """Engine vs its reference on the same frames, overall, per band and per SNR: exit 0 PASS (shown within
    tolerance), 1 DRIFT, 4 INCONCLUSIVE, 2 bad input."""
    from amc.eval.engine_eval import EvalSettings, evaluate_engine
    from amc.eval.report import BAND_COLUMNS, BAND_TITLE, SNR_COLUMNS, band_rows, headline, snr_rows, wrapped
    from amc.pretrained import packaged_card, resolve_model

    report_dir = out or legacy_report
    check_place(report_dir)
    model_path = resolve_model(model)
    card = packaged_card(model_path)  # a packaged model: its card is the reference where no run is at hand
    check_output(json_out, "--json", [model_path, data, run], overwrite, json_report=True)
    r = evaluate_engine(EvalSettings(model=str(model_path), data=str(data) if data else None,
                                     run=str(run) if run else None, split=split, provider=provider,
                                     tolerance_pp=tolerance_pp,
                                     report_dir=str(report_dir) if report_dir else None, overwrite=overwrite,
                                     force=force, batch_size=batch_size, progress=progress, card=card,
                                     max_frames=max_frames))
    with stdout_may_close():
        if json_out:
            write_json(json_out, r)
        if json_out != "-":
            for line in wrapped(headline(r)):
                say(line)
            console.print(table(BAND_COLUMNS, band_rows(r), title=BAND_TITLE, right=range(1, 7)))
            if r["drifted_snrs"]:
                console.print(table(SNR_COLUMNS, snr_rows(r, only_drifted=True), title="drifted SNRs",
                                    right=range(1, 7)))
            where = f"{report_dir}/report.md" if report_dir else "--out DIR or --json PATH"
            say(f"per-SNR table ({len(r['per_snr'])} SNRs): {where}")
    code = 0 if r["verdict"] == "INCONCLUSIVE" and inconclusive_ok else r["exit_code"]
    if code:
        raise typer.Exit(code)


@contextlib.contextmanager
def stdout_may_close() -> Iterator[None]:
    """A reader that stops early (`| head`) closes stdout: the verdict, not the broken pipe, sets the exit code
    (amc's consoles answer a broken pipe with SystemExit(EXIT_BROKEN_PIPE))."""
    try:
        yield
    except SystemExit as e:
        if e.code != EXIT_BROKEN_PIPE:
            raise
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
