"""`amc quickstart`: data -> train -> export -> eval-engine -> bench on a small embedded default."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from amc.cli.common import check_output, console, say, table, user_errors, write_json


def register(app: typer.Typer) -> None:
    app.command("quickstart")(user_errors(quickstart_cmd))


def quickstart_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the data, run, exports and reports.")
                   ] = Path("runs/quickstart"),
    epochs: Annotated[int, typer.Option(help="Training epochs.", min=1)] = 8,
    frames: Annotated[int, typer.Option(help="Frames per (class, SNR) of the synthetic dataset.", min=3)] = 40,
    int8: Annotated[bool, typer.Option("--int8/--no-int8", help="Also export and check an int8 model.")] = True,
    bench_seconds: Annotated[float, typer.Option(help="Timed seconds per bench batch size.", min=0.01)] = 1.0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing quickstart folder.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars (stderr).")] = True,
    json_out: Annotated[str | None, typer.Option("--json", metavar="PATH",
                                                 help="Write what was made and measured as JSON ('-': stdout).")
                        ] = None,
) -> None:
    """data -> train -> export -> eval-engine -> bench on a small embedded default (minutes on a CPU)."""
    from amc.train.threads import passive_wait

    check_output(json_out, "--json", [], overwrite, json_report=True)
    passive_wait()  # idle OpenMP threads sleep instead of spinning: must happen before torch loads
    from amc.quickstart import QuickstartConfig, quickstart

    made = quickstart(QuickstartConfig(out=str(out), epochs=epochs, frames_per_class_snr=frames, int8=int8,
                                       bench_seconds=bench_seconds, overwrite=overwrite), say=say, progress=progress)
    if json_out:
        write_json(json_out, made)
    t = made["train"]
    rows = [["data.h5", f"{made['data']['frames']} frames"],
            ["run/", f"val_acc {t['best_val_acc']:.4f} at epoch {t['best_epoch']}; "
             + " ".join(f"{b} {v:.3f}" for b, v in t["bands"].items())]]
    for p, e in made["exports"].items():
        ev = made["eval"][p]
        rows.append([Path(e["path"]).name, ev["summary"]])  # Δ, its interval and the verdict (accuracies: JSON)
    for row in made["bench"]["engine"]:
        rows.append([f"bench batch {row['batch']}", f"ONNX Runtime fp32: p50 {row['p50_ms']:.2f} ms, "
                     f"{row['frames_per_s']:,.0f} frames/s"])
    say(f"amc quickstart: everything is in {out}/")
    console.print(table(["artifact", "result"], rows))
    codes = [e["exit_code"] for e in made["eval"].values()]
    if any(codes):  # DRIFT (1) before INCONCLUSIVE (4): the gate's own exit codes
        raise typer.Exit(1 if 1 in codes else max(codes))
