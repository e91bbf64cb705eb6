"""TensorRT engines built from amc's ONNX file (TensorRT 10 / 11 Python API, strongly typed networks).

Precision comes from the ONNX file itself: fp16 is the float16 ONNX (float32 I/O and fragile regions),
int8 the static QDQ ONNX. The network is created STRONGLY_TYPED, so TensorRT follows the graph's types
and no FP16 / INT8 builder flags are set (they are deprecated in TensorRT 10 and gone in 11). For fp32
the TF32 flag is cleared where it still exists, so fp32 means fp32.

One optimisation profile covers batch sizes 1 .. max_batch (opt = opt_batch) on input ``iq``
(B, 2, L). The ``.engine`` file is a 4-byte little-endian JSON length, the JSON metadata, then the
plan; ``plain=True`` writes a header-free ``.plan`` (for Triton / trtexec) with a sidecar ``.json``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import onnx
import torch

from amc.export.errors import ExportError
from amc.export.onnx import export_proto
from amc.runtime.artifact import attach_onnx, write_engine, write_sidecar

if TYPE_CHECKING:
    from amc.export.job import ExportJob

MISSING = "TensorRT needs an NVIDIA GPU and the tensorrt package (pip install 'amc[trt]')"
DEFAULT_WORKSPACE_GB = 4.0


def require_tensorrt() -> Any:
    """The tensorrt module, or ExportError saying what is missing."""
    try:
        import tensorrt as trt
    except ImportError:
        raise ExportError(f"{MISSING}; the tensorrt package is not installed here") from None
    if not torch.cuda.is_available():
        raise ExportError(f"{MISSING}; no CUDA device is visible (check nvidia-smi / CUDA_VISIBLE_DEVICES)")
    return trt


def build_engine(onnx_path: str | os.PathLike[str], out: str | os.PathLike[str], max_batch: int = 256,
                 opt_batch: int | None = None, workspace_gb: float = DEFAULT_WORKSPACE_GB,
                 timing_cache: str | os.PathLike[str] | None = None, plain: bool = False,
                 metadata: dict[str, Any] | None = None, precision: str = "fp32",
                 notes: list[str] | None = None) -> dict[str, Any]:
    """Build a serialized engine from an ONNX file and write it (.engine with header, or bare .plan).

    Returns build facts (TensorRT version, GPU, profile) that belong in the metadata; what the build
    had to work around (a timing cache it could not use) is appended to `notes`.
    """
    trt = require_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ExportError(f"TensorRT's ONNX parser refused {Path(onnx_path).name}: {errors[:300]}")
    inp = network.get_input(0)
    length = int(inp.shape[2])  # (batch, 2, L), batch dynamic (-1)
    opt = max(1, min(opt_batch or min(64, max_batch), max_batch))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)
    profile = builder.create_optimization_profile()
    profile.set_shape(inp.name, (1, 2, length), (opt, 2, length), (max_batch, 2, length))
    config.add_optimization_profile(profile)
    cache_path = Path(timing_cache) if timing_cache else None
    use_timing_cache(config, cache_path, notes if notes is not None else [])
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise ExportError(f"TensorRT could not build an engine from {Path(onnx_path).name} (see the log above)")
    if cache_path:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_bytes(bytes(config.get_timing_cache().serialize()))
    facts = {"tensorrt_version": trt.__version__, "gpu": torch.cuda.get_device_name(),
             "profile": {"min": 1, "opt": opt, "max": max_batch}, "strongly_typed": True}
    meta = {**(metadata or {}), "tensorrt": facts}
    if plain:
        Path(out).write_bytes(bytes(plan))
        write_sidecar(out, meta)
    else:
        write_engine(out, meta, bytes(plan))
    return facts


def use_timing_cache(config: Any, path: Path | None, notes: list[str]) -> Any:
    """Give the builder config the timing cache at `path`, or a fresh one when there is none or TensorRT
    refuses it (``set_timing_cache`` returns False for a cache made by another GPU or TensorRT version;
    a damaged file may not even deserialize). The build then refills the file for this GPU."""
    blob = path.read_bytes() if path is not None and path.is_file() else b""
    if blob:
        try:
            cache = config.create_timing_cache(blob)
        except (RuntimeError, TypeError, ValueError):
            cache = None
        if cache is not None and config.set_timing_cache(cache, False):
            return cache
        notes.append(f"timing cache {path} is from another GPU or TensorRT version (or damaged): "
                     "built without it and replaced it")
    cache = config.create_timing_cache(b"")
    if cache is None or not config.set_timing_cache(cache, False):
        raise ExportError("TensorRT refused a fresh timing cache; check the TensorRT install (see the log above)")
    return cache


def build_tensorrt(job: ExportJob) -> None:
    """Format 'tensorrt': ONNX of the job's precision (in a temp dir), then the engine at job.out."""
    with tempfile.TemporaryDirectory(prefix="amc-trt-") as tmp:
        proto = export_proto(job, Path(tmp))
        attach_onnx(proto, job.full_metadata())
        onnx_path = Path(tmp) / "model.onnx"
        onnx.save(proto, str(onnx_path))
        facts = build_engine(onnx_path, job.out, max_batch=job.max_batch, plain=job.plain,
                             timing_cache=job.checkpoint.parent / "trt_timing.cache",
                             metadata=job.full_metadata(), precision=job.precision, notes=job.notes)
    job.extra["tensorrt"] = facts
