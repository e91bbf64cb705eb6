"""The export table: one row per format, one small builder function each.

A format names the runtime artifact kind it writes (whose suffix and GPU need the runtime declares,
``amc.runtime.formats``), whether a Triton repository wraps it, the precisions it can produce, the
optional settings it honours and its builder. Anything a row does not list is refused by name.
Parity tolerances per precision live in ``amc.export.parity``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from amc.config import ConfigError, choice
from amc.export.errors import ExportError
from amc.export.job import ExportJob
from amc.export.parity import PRECISIONS
from amc.runtime.formats import ARTIFACTS

# Optional settings, with the value that means "not asked for" (see `refuse_unsupported`).
OPTION_DEFAULTS: dict[str, object] = {
    "plain": False, "with_denoised": False, "calib_frames": 512, "simplify": True, "compute_capability": None,
}


def builder(module: str, name: str) -> Callable[[ExportJob], None]:
    """The builder `name` of `module`, imported when it is first called: the table (and `amc --help`)
    costs no torch import; building needs torch (amc[train]). tests/test_architecture.py checks each
    row's module is an amc.export module defining that function."""

    def build(job: ExportJob) -> None:
        getattr(importlib.import_module(module), name)(job)

    build.__qualname__ = f"{module}.{name}"
    return build


@dataclass(frozen=True)
class Format:
    name: str
    artifact: str  # the runtime's artifact kind it writes (amc.runtime.formats.ARTIFACTS)
    repository: bool  # a Triton model repository (a directory) around the artifact
    precisions: tuple[str, ...]  # precisions this format can carry
    options: frozenset[str]  # optional settings it honours (keys of OPTION_DEFAULTS)
    build: Callable[[ExportJob], None]  # writes job.out
    help: str
    flavour: str | None = None  # the TensorRT flavour that builds it (amc.runtime.trt_flavours)

    @property
    def suffix(self) -> str:
        """The file suffix export writes; "" for a repository directory."""
        return "" if self.repository else ARTIFACTS[self.artifact].suffixes[0]

    @property
    def needs_gpu(self) -> bool:
        """Running it needs an NVIDIA GPU (building it may not: TensorRT-RTX builds ahead of time)."""
        return ARTIFACTS[self.artifact].needs_gpu


FORMATS: dict[str, Format] = {f.name: f for f in [
    Format("onnx", "onnx", False, ("fp32", "fp16", "int8", "int8-dynamic"),
           frozenset({"with_denoised", "calib_frames", "simplify"}), builder("amc.export.onnx", "build_onnx"),
           "ONNX opset 17 with a dynamic batch axis and metadata_props (ONNX Runtime, TensorRT, Triton)"),
    Format("tensorrt", "tensorrt", False, ("fp32", "fp16", "int8"),
           frozenset({"plain", "with_denoised", "calib_frames", "simplify"}),
           builder("amc.export.tensorrt", "build_tensorrt"),
           "TensorRT engine built from the ONNX file (length-prefixed JSON header; --plain: bare .plan)",
           "tensorrt"),
    Format("tensorrt-rtx", "tensorrt", False, ("fp32", "fp16", "int8"),
           frozenset({"plain", "with_denoised", "calib_frames", "simplify", "compute_capability"}),
           builder("amc.export.tensorrt", "build_tensorrt"),
           "TensorRT-RTX engine for RTX GPUs, built without a GPU (parity checked when it first loads on one)",
           "tensorrt-rtx"),
    Format("triton", "onnx", True, ("fp32", "fp16", "int8", "int8-dynamic"),
           frozenset({"with_denoised", "calib_frames", "simplify"}), builder("amc.export.triton", "build_triton_onnx"),
           "Triton model repository serving the ONNX file (onnxruntime_onnx)"),
    Format("triton-tensorrt", "tensorrt", True, ("fp32", "fp16", "int8"),
           frozenset({"with_denoised", "calib_frames", "simplify"}),
           builder("amc.export.triton", "build_triton_tensorrt"),
           "Triton model repository serving a TensorRT plan (tensorrt_plan)", "tensorrt"),
    Format("triton-tensorrt-rtx", "tensorrt", True, ("fp32", "fp16", "int8"),
           frozenset({"with_denoised", "calib_frames", "simplify", "compute_capability"}),
           builder("amc.export.triton", "build_triton_tensorrt"),
           "Triton model repository with a TensorRT-RTX plan, built without a GPU (flavour in config.pbtxt)",
           "tensorrt-rtx"),
    Format("torch-compiled", "torch-compiled", False, ("fp32", "bf16", "fp16"), frozenset({"with_denoised"}),
           builder("amc.export.compiled", "build_compiled"),
           "PyTorch through torch.compile: CUDA graphs on a GPU, no TensorRT needed (.compiled)"),
]}

OPTION_FLAGS = {"plain": "--plain", "with_denoised": "--with-denoised", "calib_frames": "--calib-frames",
                "simplify": "--no-simplify", "compute_capability": "--compute-capability"}


def _choice(kind: str, value: str, choices: list[str]) -> str:
    try:
        return choice(kind, value, choices)
    except ConfigError as e:
        raise ExportError(str(e)) from None


def get_format(name: str) -> Format:
    return FORMATS[_choice("export format", name, list(FORMATS))]


def check_precision(fmt: Format, precision: str) -> str:
    _choice("precision", precision, list(PRECISIONS))
    if precision not in fmt.precisions:
        why = " (TensorRT takes static QDQ int8 only; use int8)" if precision == "int8-dynamic" else ""
        raise ExportError(f"format '{fmt.name}' does not support precision '{precision}'{why}; "
                          f"choose one of: {', '.join(fmt.precisions)}")
    return precision


def refuse_unsupported(fmt: Format, precision: str, options: dict[str, object]) -> None:
    """Refuse, by flag name, every optional setting the format (or precision) does not honour."""
    for name, value in options.items():
        if value == OPTION_DEFAULTS[name]:
            continue
        if name not in fmt.options:
            raise ExportError(f"{OPTION_FLAGS[name]} does not apply to format '{fmt.name}'; formats that "
                              f"take it: {', '.join(f.name for f in FORMATS.values() if name in f.options)}")
        if name == "calib_frames" and precision != "int8":
            raise ExportError(f"--calib-frames applies to static int8 only, not precision '{precision}'")
