"""`amc train` (every model and training setting is an option generated from the configs) and `amc compare`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from amc.cli.common import (
    UsageError,
    check_output,
    check_place,
    console,
    err_console,
    markdown_table,
    say,
    say_wrapped,
    table,
    user_errors,
    write_json,
)
from amc.cli.options import one_of, show, with_config_options
from amc.config import PRESETS, ModelConfig, TrainConfig, preset, to_dict


def preset_default(name: str) -> str | None:
    """The default shown by --help: the a4 preset's value, and the other presets' where they differ."""
    values = {p: {**to_dict(preset(p)[0]), **to_dict(preset(p)[1])}[name] for p in PRESETS}
    others = [f"{p} {show(v)}" for p, v in values.items() if p != "a4" and v != values["a4"]]
    return show(values["a4"]) + (f" (a4; {', '.join(others)})" if others else "")


def register(app: typer.Typer) -> None:
    app.command("train")(user_errors(train_cmd))
    app.command("compare")(user_errors(compare_cmd))


@with_config_options(ModelConfig, TrainConfig, defaults=preset_default)
def train_cmd(
    data: Annotated[Path | None, typer.Argument(
        metavar="DATA", help="Dataset file (amc HDF5, imported RML2016 or RML2018.01A). "
                                                     "[default: the one --config names]")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run directory. [default: runs/run]")] = None,
    preset_name: Annotated[one_of(PRESETS) | None, typer.Option("--preset", help="Recipe the settings start "  # type: ignore[valid-type]
                                                                "from; options override it. [default: a4]")] = None,
    config: Annotated[Path | None, typer.Option(help="Start from a run's config.json (or any JSON with 'model' / "
                                                     "'train' sections) instead of a preset.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run directory from its last.pt.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty run directory.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars (stderr); the epoch lines print either way.")
                        ] = True,
    legacy_data: Annotated[Path | None, typer.Option("--data", hidden=True)] = None,
    legacy_out: Annotated[Path | None, typer.Option("--out-dir", hidden=True)] = None,
    settings: dict[str, Any] | None = None,
) -> None:
    """Train a CLDNN preset with classifier-only mixup; writes a run directory (one line per epoch).

    With --resume the run's own config.json is the starting point; only --epochs, --patience and
    --num-workers may change (anything else is refused by name)."""
    from amc.train.threads import passive_wait

    passive_wait()  # idle OpenMP threads sleep instead of spinning: must happen before torch loads
    from amc.config import run_config
    from amc.train.loop import Interrupted, schedule_note, train

    for name, new, old in (("DATA", data, legacy_data), ("--out", out, legacy_out)):
        if new is not None and old is not None:
            flag = "--data" if name == "DATA" else "--out-dir"
            raise UsageError(f"{name} {new} and {flag} {old} both name the {'dataset' if name == 'DATA' else 'run'}"
                             f"; give it once")
    run_dir = out or legacy_out
    if resume:
        where = run_dir or Path("runs/run")
        if not any((where / name).is_file() for name in ("last.pt", "config.json")):
            raise UsageError(f"no run to resume in {where} (no last.pt or config.json there); start a new run "
                             "without --resume")
    doc = _read_config(config) if config is not None else None
    if doc is None and resume and run_dir is not None and (run_dir / "config.json").is_file() and preset_name is None:
        doc = _read_config(run_dir / "config.json")
    model_cfg, cfg = run_config(preset_name, doc, settings)
    data = data or legacy_data
    if data is not None:
        cfg.data = str(data)
    if not cfg.data:
        raise UsageError("no dataset: give DATA (an HDF5 file; make one with `amc data synth --out FILE`)")
    if run_dir is None and config is not None:
        raise UsageError("--config starts a new run: pass --out DIR for it")
    cfg.out_dir = str(run_dir or "runs/run")
    check_place(cfg.out_dir)
    note = schedule_note(doc, str(config), cfg.epochs) if doc is not None and config is not None else None
    if note:
        say_wrapped(f"note: {note}")
    try:
        s = train(model_cfg.validate(), cfg.validate(), resume=resume, overwrite=overwrite, progress=progress,
                  say=say)
    except Interrupted as e:
        err_console.print(f"{e}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    if s:
        bands = ", ".join(f"{b} {v:.4f}" if v == v else f"{b} -" for b, v in s["bands"].items())  # NaN: no SNR
        say(f"best val_acc {s['best_val_acc']:.4f} at epoch {s['best_epoch']} ({bands}); run in {cfg.out_dir}")


def _read_config(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise UsageError(f"{path}: not valid JSON ({e}); give a run's config.json") from None


def compare_cmd(
    runs: Annotated[list[Path], typer.Argument(
        metavar="RUN", help="Run directories; deltas are against the first.")],
    markdown: Annotated[bool, typer.Option(help="Print a Markdown table (same columns).")] = False,
    json_out: Annotated[str | None, typer.Option("--json", metavar="PATH",
                                                 help="Write the rows as JSON ('-': stdout).")] = None,
) -> None:
    """The ablation table: best val_acc (epoch), band means, deltas against the first run."""
    from amc.eval.compare import compare_runs, differences, table_rows

    check_output(json_out, "--json", list(runs), json_report=True)
    rows = compare_runs(runs)
    if json_out:
        write_json(json_out, rows)
        if json_out == "-":
            return
    columns, cells = table_rows(rows)
    if markdown:
        say(markdown_table(columns, cells))
    else:
        console.print(table(columns, cells, right=range(1, len(columns))))
    notes = differences(rows)
    if notes and markdown:
        say("")  # a line right under a Markdown table would read as one of its rows
    for note in notes:
        say_wrapped(f"note: {note}")
