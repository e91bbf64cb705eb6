"""TensorRT engines built from amc's ONNX file, in either flavour (``amc.runtime.trt_flavours``).

Precision comes from the ONNX file itself: fp16 is the float16 ONNX (float32 I/O and fragile regions),
int8 the static QDQ ONNX. The network is created strongly typed, so TensorRT follows the graph's types
and no FP16 / INT8 builder flags are set (deprecated in TensorRT 10, gone in 11 and TensorRT-RTX). After
parsing, the network's layers are checked against what the export promised (``amc.export.trt_precision``);
a mismatch fails the export naming the layers. For fp32 the TF32 flag is cleared where it exists, so fp32
means fp32.

Data-centre TensorRT builds on the GPU it targets. TensorRT-RTX builds ahead of time without a GPU, for
the compute capabilities asked for (default: every one the installed TensorRT-RTX supports); the engine
header names them.

One optimisation profile covers batch sizes 1 .. max_batch (opt = opt_batch) on input ``iq``
(B, 2, L). The ``.engine`` file is a 4-byte little-endian JSON length, the JSON metadata, then the
plan; ``plain=True`` writes a header-free ``.plan`` (for Triton / trtexec) with a sidecar ``.json``.
Plan, sidecar and timing cache are each written whole or not at all (``amc.files.atomic_path``).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import onnx
import torch

from amc.export.errors import ExportError
from amc.export.onnx import export_proto
from amc.export.trt_precision import check
from amc.files import atomic_path
from amc.runtime.artifact import attach_onnx, write_engine, write_sidecar
from amc.runtime.trt_flavours import FLAVOURS, Flavour, compute_capabilities, import_flavour, strongly_typed_flags

if TYPE_CHECKING:
    from amc.export.job import ExportJob

MISSING = ("TensorRT needs an NVIDIA GPU and the tensorrt package, from NVIDIA's index: pip install "
           "--extra-index-url https://pypi.nvidia.com -e '.[trt]' in the amc checkout")
DEFAULT_WORKSPACE_GB = 4.0
SEPARATE_TARGETS = {"SM75"}  # left out of the default TensorRT-RTX targets (see parse_compute_capabilities)


def require_tensorrt(flavour: str = "tensorrt") -> Any:
    """The flavour's module, or ExportError saying what is missing to build with it here."""
    fl = FLAVOURS[flavour]
    trt = import_flavour(fl)
    if fl.builds_without_gpu:
        if trt is None:
            raise ExportError(f"building a {fl.title} engine needs the {fl.module} package, which is not "
                              f"installed here: {fl.install_hint()} (no GPU needed to build)")
        return trt
    if trt is None:
        raise ExportError(f"{MISSING}; the tensorrt package is not installed here (on a machine without an "
                          "NVIDIA GPU, --format tensorrt-rtx builds an engine for RTX GPUs)")
    if not torch.cuda.is_available():
        raise ExportError(f"{MISSING}; no CUDA device is visible (check nvidia-smi / CUDA_VISIBLE_DEVICES)")
    return trt


def runs_here(flavour: str, facts: dict[str, Any] | None) -> str:
    """'' when an engine of this flavour built here can run here (so export checks its parity), else why not."""
    fl = FLAVOURS[flavour]
    if not fl.builds_without_gpu:
        return ""  # built on the GPU it runs on
    if not torch.cuda.is_available():
        return f"no GPU here: {fl.title} built it ahead of time"
    cc = "SM{}{}".format(*torch.cuda.get_device_capability())
    targets = (facts or {}).get("compute_capabilities") or []
    if targets and cc not in targets:
        return f"this GPU ({torch.cuda.get_device_name()}, {cc}) is not among its targets"
    return ""


def parse_compute_capabilities(trt: Any, spec: str | None) -> list[str]:
    """'SM86,SM89' / '8.6,12.0' / '86' -> ['SM86', 'SM89']; 'all': every one the module supports; None: all
    but Turing (SM75), which NVIDIA asks to be built on its own and which has no FP32 GEMM (TensorRT-RTX 1.7
    refuses fp32 and int8 engines, whose float Gemms need it, for SM75: build fp16 with SM75 alone)."""
    known = compute_capabilities(trt)
    if spec is None:
        return [n for n in known if n not in SEPARATE_TARGETS]
    if spec.strip().lower() == "all":
        return known
    wanted = []
    for item in (s.strip() for s in spec.split(",")):
        digits = item.upper().removeprefix("SM").replace(".", "")
        name = f"SM{digits}"
        if not digits.isdigit() or name not in known:
            raise ExportError(f"--compute-capability {item!r}: not one this TensorRT-RTX builds for; "
                              f"choose from {', '.join(known)} or 'all' (e.g. SM86 or 8.6, comma separated)")
        if name not in wanted:
            wanted.append(name)
    return sorted(wanted, key=lambda n: int(n[2:]))


def _set_compute_capabilities(trt: Any, config: Any, names: list[str]) -> None:
    config.num_compute_capabilities = len(names)
    for i, name in enumerate(names):
        config.set_compute_capability(getattr(trt.ComputeCapability, name), i)


def build_engine(onnx_path: str | os.PathLike[str], out: str | os.PathLike[str], max_batch: int = 256,
                 opt_batch: int | None = None, workspace_gb: float = DEFAULT_WORKSPACE_GB,
                 timing_cache: str | os.PathLike[str] | None = None, plain: bool = False,
                 metadata: dict[str, Any] | None = None, precision: str = "fp32",
                 notes: list[str] | None = None, flavour: str = "tensorrt",
                 compute_capability: str | None = None) -> dict[str, Any]:
    """Build a serialized engine from an ONNX file and write it (.engine with header, or bare .plan).

    Returns build facts (flavour, version, targets, profile, precision check, build time, size) that
    belong in the metadata; what the build had to work around is appended to `notes`.
    """
    fl = FLAVOURS[flavour]
    trt = require_tensorrt(flavour)
    notes = notes if notes is not None else []
    meta_in = metadata or {}
    logger = _logger(trt)
    logger.errors.clear()
    builder = trt.Builder(logger)
    network = builder.create_network(strongly_typed_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ExportError(f"{fl.title}'s ONNX parser refused {Path(onnx_path).name}: {errors[:300]}")
    proto = onnx.load(str(onnx_path), load_external_data=False)
    findings = check(trt, network, precision, {n.name: n.op_type for n in proto.graph.node},
                     meta_in.get("quantization"))
    if findings.problems:
        shown = "; ".join(findings.problems[:4])
        more = f" (+{len(findings.problems) - 4} more)" if len(findings.problems) > 4 else ""
        raise ExportError(f"{fl.title} network of this {precision} export breaks its precision promise: "
                          f"{shown}{more}; nothing was written")
    inp = network.get_input(0)
    length = int(inp.shape[2])  # (batch, 2, L), batch dynamic (-1)
    opt = max(1, min(opt_batch or min(64, max_batch), max_batch))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)
    targets: list[str] = []
    if hasattr(config, "set_compute_capability"):
        targets = parse_compute_capabilities(trt, compute_capability)
        _set_compute_capabilities(trt, config, targets)
    elif compute_capability is not None:
        raise ExportError(f"--compute-capability applies to TensorRT-RTX; {fl.title} builds for the GPU it runs on")
    profile = builder.create_optimization_profile()
    profile.set_shape(inp.name, (1, 2, length), (opt, 2, length), (max_batch, 2, length))
    config.add_optimization_profile(profile)
    cache_path = Path(timing_cache) if timing_cache and fl.timing_cache else None
    if cache_path is not None:
        use_timing_cache(config, cache_path, notes)
    t0 = time.perf_counter()
    plan = builder.build_serialized_network(network, config)
    build_s = time.perf_counter() - t0
    if plan is None:
        why = _build_error(logger.errors)
        hint = ""
        if precision == "fp16" and any(n.op_type == "GRU" for n in proto.graph.node):
            hint = ("; a float GRU inside an fp16 network is a known build failure of TensorRT-RTX 1.7 (its "
                    "compiler mis-shapes the GRU): export this run in fp32 or int8, or train it with --rnn lstm")
        raise ExportError(f"{fl.title} could not build an engine from this {precision} export"
                          f"{': ' + why[:200] if why else ''} (full log above){hint}")
    if cache_path is not None:
        save_timing_cache(config, cache_path)
    blob = bytes(plan)
    facts = {"flavour": fl.name, "module": fl.module, "version": str(trt.__version__),
             "tensorrt_version": str(trt.__version__),
             "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
             "compute_capabilities": targets, "profile": {"min": 1, "opt": opt, "max": max_batch},
             "strongly_typed": True, "precision_check": findings.record(), "build_s": round(build_s, 2),
             "plan_bytes": len(blob)}
    meta = {**meta_in, "tensorrt": facts}
    if plain:
        with atomic_path(out, suffix=".tmp.plan") as tmp:
            tmp.write_bytes(blob)
        write_sidecar(out, meta)
    else:
        write_engine(out, meta, blob)
    return facts


_LOGGERS: dict[str, Any] = {}
_REASON = re.compile(r"(Cannot compile .*?\.(?= |$)|Mismatched number of elements in reshape op)")


def _build_error(errors: list[str]) -> str:
    """The reason in a failed build's log, shortened to what a user can act on ('' when none is found)."""
    for line in (ln for e in errors for ln in e.splitlines()):
        m = _REASON.search(line)
        if m:
            return m.group(1)
    first = next((ln.strip() for e in errors for ln in e.splitlines() if "Error Code" in ln), "")
    return first[:200]


def _logger(trt: Any) -> Any:
    """One logger per TensorRT module for the whole process (TensorRT keeps the first one it is given and
    ignores later ones), printing warnings and errors to stderr (trt.Logger prints to stdout, where amc's
    results go) and keeping the errors, so that a failed build can say why in its one line."""
    name = trt.__name__
    if name not in _LOGGERS:
        class Collecting(trt.ILogger):  # type: ignore[misc, name-defined]
            def __init__(self) -> None:
                trt.ILogger.__init__(self)
                self.errors: list[str] = []

            def log(self, severity: Any, msg: str) -> None:
                if severity <= trt.ILogger.Severity.WARNING:
                    print(f"[{trt.__name__}] {msg}", file=sys.stderr, flush=True)  # stdout: results only
                if severity <= trt.ILogger.Severity.ERROR:
                    self.errors.append(msg)

        _LOGGERS[name] = Collecting()
    return _LOGGERS[name]


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


def save_timing_cache(config: Any, path: Path) -> None:
    """Write the builder's timing cache whole or not at all (a build killed mid-write leaves the old one)."""
    with atomic_path(path, suffix=".tmp.cache") as tmp:
        tmp.write_bytes(bytes(config.get_timing_cache().serialize()))


def build_tensorrt(job: ExportJob) -> None:
    """Formats 'tensorrt' / 'tensorrt-rtx': ONNX of the job's precision (in a temp dir), then the engine."""
    flavour: Flavour = FLAVOURS[job.fmt.flavour or "tensorrt"]
    with tempfile.TemporaryDirectory(prefix="amc-trt-") as tmp:
        proto = export_proto(job, Path(tmp))
        attach_onnx(proto, job.full_metadata())
        onnx_path = Path(tmp) / "model.onnx"
        onnx.save(proto, str(onnx_path))
        facts = build_engine(onnx_path, job.out, max_batch=job.max_batch, plain=job.plain,
                             timing_cache=job.checkpoint.parent / "trt_timing.cache",
                             metadata=job.full_metadata(), precision=job.precision, notes=job.notes,
                             flavour=flavour.name, compute_capability=job.compute_capability)
    job.extra["tensorrt"] = facts
    check_line = facts["precision_check"]
    job.notes.append(f"{flavour.title} {facts['version']}: {check_line['layers']} layers, precision check "
                     f"passed ({_summary(check_line['summary'])}); built in {facts['build_s']:.1f} s, "
                     f"{facts['plan_bytes'] / 1e6:.1f} MB"
                     + (f", for {', '.join(facts['compute_capabilities'])}" if facts["compute_capabilities"] else ""))


def _summary(summary: dict[str, int]) -> str:
    keys = [k for k in ("half_tensors", "float_tensors", "qdq_layers", "quantised_matrix_layers") if summary.get(k)]
    return ", ".join(f"{summary[k]} {k.replace('_', ' ')}" for k in keys)
