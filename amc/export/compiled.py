"""Format 'torch-compiled': the checkpoint and its description in a ``.compiled`` file, for the
torch.compile + CUDA graphs path (``amc.runtime.compiled``). Nothing is compiled here: the export
pipeline's parity check loads the artifact, which compiles it on this machine (the GPU when there is
one) and compares its outputs with eager PyTorch under the precision's tolerance."""

from __future__ import annotations

from typing import TYPE_CHECKING

from amc.runtime.artifact import write_compiled
from amc.runtime.compiled import MIN_BUCKET

if TYPE_CHECKING:
    from amc.export.job import ExportJob


def build_compiled(job: ExportJob) -> None:
    job.extra["compile"] = {"runtime": "torch.compile", "cuda": "mode reduce-overhead (CUDA graphs)",
                            "cpu": "Inductor default mode",
                            "precision": "autocast" if job.precision != "fp32" else "fp32 (TF32 off)",
                            "buckets": f"powers of two from {MIN_BUCKET} to max_batch {job.max_batch}"}
    job.notes.append("torch-compiled: compiled when loaded (the first call of each batch bucket compiles / "
                     "records; amc bench and serve warm up first)")
    write_compiled(job.out, job.ckpt, job.full_metadata())
