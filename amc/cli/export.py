"""`amc export`: ONNX / TensorRT / Triton, each checked against PyTorch right away."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from amc.cli.common import check_place, say, say_wrapped, user_errors
from amc.cli.options import one_of
from amc.export.formats import FORMATS
from amc.export.parity import PRECISIONS


def precision_help() -> str:
    """Which precisions each format takes, from the one table that decides it (amc.export.formats)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for name, f in FORMATS.items():
        groups.setdefault(f.precisions, []).append(name)
    per = "; ".join(f"{', '.join(names)}: {' '.join(p)}" for p, names in groups.items())
    return f"{per}. int8: static QDQ (TensorRT-ready); int8-dynamic: ONNX Runtime CPU only."


def register(app: typer.Typer) -> None:
    app.command("export")(user_errors(export_cmd))


def export_cmd(
    source: Annotated[Path, typer.Argument(metavar="RUN", help="Run directory (its best.pt; last.pt, with a note, "
                                                               "when it has none) or checkpoint file.")],
    format: Annotated[one_of(list(FORMATS)), typer.Option("--format", help="Artifact format.")] = "onnx",  # type: ignore[valid-type]
    precision: Annotated[one_of(list(PRECISIONS)),  # type: ignore[valid-type]
                         typer.Option(help=precision_help())] = "fp32",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output file or repository directory. "
                                                                 "[default: beside the checkpoint]")] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset (13..20).")] = 17,
    max_batch: Annotated[int, typer.Option(help="Largest batch (TensorRT profile, Triton max_batch_size).",
                                           min=1)] = 256,
    force: Annotated[bool, typer.Option("--force", help="Keep the artifact even if its parity check fails.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing artifact at the target.")
                         ] = False,
    data: Annotated[Path | None, typer.Option(help="Training dataset, if it moved (parity and calibration "
                                                   "frames). [default: the run's]")] = None,
    calib_frames: Annotated[int, typer.Option(help="int8 calibration frames from the training split.", min=1)] = 512,
    plain: Annotated[bool, typer.Option("--plain", help="TensorRT: bare .plan (for Triton / trtexec) plus a "
                                                        "sidecar .json.")] = False,
    compute_capability: Annotated[str | None, typer.Option(
        "--compute-capability", help="tensorrt-rtx: target GPUs, e.g. SM86,SM89 or 8.6,12.0; 'all' adds Turing "
                                     "(SM75, fp16 only). [default: every target of the installed TensorRT-RTX but "
                                     "SM75]")] = None,
    with_denoised: Annotated[bool, typer.Option("--with-denoised",
                                                help="Add the denoised frame (B, 2, L) as an output.")] = False,
    simplify: Annotated[bool, typer.Option("--simplify/--no-simplify", help="Simplify the graph with onnxslim "
                                                                             "(kept only if outputs match).")] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress indicator (stderr).")] = True,
) -> None:
    """Export a run to ONNX / TensorRT / Triton, verified against PyTorch on validation frames."""
    from amc.export import export
    from amc.export.parity import summary_line
    from amc.progress import Bar

    check_place(out)
    with Bar(f"export {format} {precision} (build, then parity)", None, enabled=progress):
        r = export(source, fmt=format, precision=precision, out=out, opset=opset, max_batch=max_batch, force=force,
                   data=data, calib_frames=calib_frames, plain=plain, with_denoised=with_denoised,
                   simplify=simplify, overwrite=overwrite, compute_capability=compute_capability)
    say(f"wrote {r.path} ({r.format}, {r.precision})")
    say(summary_line(r.parity, r.precision))  # one line: the verdict a script greps
    for n in r.notes:
        say_wrapped(f"note: {n}")
