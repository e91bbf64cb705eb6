"""Export a trained run to ONNX, TensorRT or a Triton repository, verified against PyTorch.

``export(source, fmt, precision, ...)`` (``amc.export.pipeline``) is the one entry point (``amc export``
calls it):

1. checks the request against the format table (``amc.export.formats``): unknown formats and
   precisions get a "did you mean", options a format does not honour are refused by name;
2. rebuilds the model from the checkpoint and the description every artifact carries
   (``amc.export.metadata``, stored by ``amc.runtime.artifact``);
3. runs the format's builder into a staging path beside the target;
4. checks parity: the artifact, loaded through ``amc.runtime.Engine``, against PyTorch on the
   run's validation frames (``amc.export.parity``), and stores the result in the artifact's metadata;
5. renames the artifact into place (replacing one only with ``overwrite``), or, when parity fails,
   removes it and raises ``ExportError`` (``force=True`` keeps it, marked failed).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from amc.export.errors import ExportError
from amc.export.formats import Format, check_precision, get_format, refuse_unsupported
from amc.export.job import ExportJob, ExportResult
from amc.export.metadata import build_metadata, portable
from amc.export.parity import TOLERANCES, compare, summary_line
from amc.export.tensorrt import parse_compute_capabilities, require_tensorrt, runs_here
from amc.files import atomic_path, replace_dir
from amc.models import DENOISED_NAME, OUTPUT_NAMES
from amc.runtime import Engine, TorchEngine
from amc.runtime.artifact import model_file, sidecar, update_metadata
from amc.runtime.probe import make_probe
from amc.train.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint, resolve_checkpoint

OPSETS = (13, 20)  # per-channel QDQ needs >= 13; the TorchScript exporter stops at 20


def export(source: str | os.PathLike[str], fmt: str = "onnx", precision: str = "fp32",
           out: str | os.PathLike[str] | None = None, opset: int = 17, max_batch: int = 256, force: bool = False,
           data: str | os.PathLike[str] | None = None, calib_frames: int = 512, plain: bool = False,
           with_denoised: bool = False, simplify: bool = True, overwrite: bool = False,
           compute_capability: str | None = None) -> ExportResult:
    """Export a run directory or checkpoint; see the module docstring. Raises ExportError.

    A run directory means its best.pt; a run without one is exported from last.pt, with a note saying
    so. An existing artifact at the target is replaced only with ``overwrite``."""
    f = get_format(fmt)
    check_precision(f, precision)
    refuse_unsupported(f, precision, {"plain": plain, "with_denoised": with_denoised,
                                      "calib_frames": calib_frames, "simplify": simplify,
                                      "compute_capability": compute_capability})
    if not OPSETS[0] <= opset <= OPSETS[1]:
        raise ExportError(f"--opset {opset} is out of range; amc exports opset {OPSETS[0]}..{OPSETS[1]} (default 17)")
    if max_batch < 1 or calib_frames < 1:
        raise ExportError("--max-batch and --calib-frames must be >= 1")
    if f.flavour:
        parse_compute_capabilities(require_tensorrt(f.flavour), compute_capability)  # refused before any work
    try:
        ckpt_path = resolve_checkpoint(source)
        ckpt = load_checkpoint(ckpt_path)
        model = model_from_checkpoint(ckpt)
    except CheckpointError as e:
        raise ExportError(str(e)) from None
    target = _target(f, precision, ckpt_path, out, plain)
    if not f.suffix and target.exists() and not any(target.glob("*/config.pbtxt")):
        raise ExportError(f"{target} exists and is not a Triton model repository; choose another --out")
    if target.exists() and not overwrite:
        raise ExportError(f"{target} exists; pass --overwrite to replace it (or choose another --out)")
    outputs = list(OUTPUT_NAMES) + ([DENOISED_NAME] if with_denoised else [])
    meta = build_metadata(ckpt, ckpt_path, f.name, precision, max_batch, outputs)
    job = ExportJob(ckpt_path, ckpt, model, f, precision, target, meta, opset=opset, max_batch=max_batch,
                    plain=plain, with_denoised=with_denoised, simplify=simplify,
                    data=Path(data) if data is not None else None,
                    calib_frames=calib_frames, compute_capability=compute_capability)
    if Path(source).is_dir() and ckpt_path.name != "best.pt":
        job.notes.append(f"{source} has no best.pt: exported {ckpt_path.name} (epoch {ckpt.get('epoch', '?')}), "
                         "the last epoch, not the selected one")
    final = _export_file(job, target, force) if f.suffix else _export_dir(job, target, force)
    return ExportResult(path=target, format=f.name, precision=precision, parity=final["parity"],
                        metadata=final, notes=list(job.notes))


def _target(f: Format, precision: str, ckpt_path: Path, out: str | os.PathLike[str] | None, plain: bool) -> Path:
    tag = ("" if precision == "fp32" else f".{precision}") + (".rtx" if f.flavour == "tensorrt-rtx" else "")
    if f.suffix:
        suffix = ".plan" if plain else f.suffix
        if out is None:
            return ckpt_path.parent / f"{ckpt_path.stem}{tag}{suffix}"
        path = Path(out)
        if path.suffix.lower() != suffix or path.is_dir():
            raise ExportError(f"--out {path}: format '{f.name}'{' --plain' if plain else ''} writes a "
                              f"'{suffix}' file; name it like {path.stem or 'model'}{suffix}")
        return path
    if out is None:
        return ckpt_path.parent / f"{f.name}{tag.replace('.', '-')}"
    path = Path(out)
    if path.is_file() or path.suffix:
        raise ExportError(f"--out {path}: format '{f.name}' writes a model repository directory, not a file")
    return path


PROBE_FRAMES = 32  # parity frames an engine built where it cannot run carries, to be checked on load


def _verify(job: ExportJob, artifact: Path, name: str, force: bool) -> dict[str, Any]:
    """Parity of the staged artifact against PyTorch; stores it in the artifact's metadata.

    An engine that cannot run here (TensorRT-RTX on a machine without a suitable GPU) is not run and
    not pretended to pass: its parity is deferred to its first load on a GPU, with a probe of
    PROBE_FRAMES parity frames and PyTorch's logits for them stored in it (``amc.runtime.probe``)."""
    f = job.parity_frames()
    reference = TorchEngine(job.model, job.metadata).run(f.x)
    why_not = runs_here(job.fmt.flavour, job.extra.get("tensorrt")) if job.fmt.flavour else ""
    if why_not:
        job.extra["parity"] = _deferred(job, f, reference, why_not)
        final = job.full_metadata()
        update_metadata(artifact, final)
        return final
    engine = Engine.load(artifact, provider="cpu" if artifact.suffix == ".onnx" else "auto")
    parity = compare(reference, engine.run(f.x), job.precision, f.source, f.labels, f.snr)
    if parity.get("verdict") == "inconclusive":
        job.notes.append(summary_line(parity, job.precision))
    elif not parity["passed"]:
        if not force:
            raise ExportError(f"{name}: {summary_line(parity, job.precision)}; "
                              "the artifact was not kept (pass --force to keep it, marked failed)")
        job.notes.append("parity FAILED; kept because of --force")
    job.extra["parity"] = parity
    final = portable(job.full_metadata(), artifact.parent)  # staged beside its target: the same relative paths
    update_metadata(artifact, final)
    return final


def _deferred(job: ExportJob, f: Any, reference: dict[str, Any], why_not: str) -> dict[str, Any]:
    n = min(PROBE_FRAMES, len(f.x))
    tol = TOLERANCES[job.precision]
    probe = make_probe(f.x[:n], reference["logits"][:n],
                       {"max_abs_logit": tol.max_abs_logit, "min_agreement": tol.min_agreement,
                        "tie_margin": tol.tie_margin, "max_mean_tv": tol.max_mean_tv}, f.source)
    line = (f"parity vs PyTorch: not checked at export ({why_not}); checked when the engine first loads on "
            f"a GPU, on {n} of {f.source} stored in it with PyTorch's logits")
    return {"passed": None, "deferred": True, "line": line, "frames": n, "source": f.source, "probe": probe}


def _export_file(job: ExportJob, target: Path, force: bool) -> dict[str, Any]:
    with atomic_path(target, suffix=".tmp" + target.suffix) as tmp:
        job.out = tmp
        try:
            job.fmt.build(job)
            final = _verify(job, tmp, target.name, force)
        except BaseException:
            sidecar(tmp).unlink(missing_ok=True)
            raise
    if target.suffix == ".plan":  # the bare plan's description travels beside it
        os.replace(sidecar(tmp), sidecar(target))
        _readable(sidecar(target))
    _readable(target)
    return final


def _readable(path: Path) -> None:
    """Staging files are created private (mkstemp / mkdtemp); published artifacts follow the umask
    like any other file, so that a server running as another user (Triton's container) can read them."""
    umask = os.umask(0)
    os.umask(umask)
    for p in [path, *(path.rglob("*") if path.is_dir() else [])]:
        p.chmod((0o777 if p.is_dir() else 0o666) & ~umask)


def _export_dir(job: ExportJob, target: Path, force: bool) -> dict[str, Any]:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        job.out = staging
        job.fmt.build(job)
        final = _verify(job, model_file(staging), target.name, force)
        replace_dir(staging, target)  # the old repository is renamed aside, deleted once the new one is in
        _readable(target)
        return final
    finally:
        if staging.exists():
            shutil.rmtree(staging)
