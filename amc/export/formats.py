"""The export table: one row per format, one small builder function each, parity tolerances.

A format names its file suffix, the precisions it can produce, whether it needs an NVIDIA GPU, the
optional settings it honours and the builder that writes it (``"module:function"``, imported only when
used, so that ``import amc.export`` stays light). Anything a row does not list is refused by name.

Parity tolerances (checked right after every export, on real validation frames where the training
dataset is at hand; see ``amc.export.parity``):

=========  ==============  ================  ===========  ===========  ==================================
precision  max |Δlogit|    argmax agreement  tie margin   mean TV      why
=========  ==============  ================  ===========  ===========  ==================================
fp32       <= 1e-3         >= 99.9 %         1e-3         <= 1e-4      same math, op order / fusion only
fp16       (reported)      >= 99 %           0.05         <= 0.01      10-bit mantissa in convs / LSTM
int8       (reported)      >= 95 %           0.25         <= 0.05      8-bit weights and activations
=========  ==============  ================  ===========  ===========  ==================================

A frame whose PyTorch top-1 / top-2 logit gap is below the tie margin is a near tie: a flip there is
within the precision's noise and is not counted against agreement (both the raw and the counted
agreement are reported). A tiny validation set (say 88 frames) would otherwise fail fp16 on a single
coin-flip frame. Because an untrained or badly calibrated model can make nearly every frame a near
tie, the mean total-variation distance between the two softmax outputs (half the L1 distance per
frame, averaged over frames) is bounded too: that catches a broken artifact whatever the margins.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from amc.config import ConfigError, choice


class ExportError(ConfigError):
    """An export cannot be made or did not verify; the message is one line naming the fix."""


@dataclass(frozen=True)
class Tolerance:
    max_abs_logit: float | None  # bound on max |Δlogit| (None: reported, not checked)
    min_agreement: float  # argmax agreement with PyTorch, near ties excluded
    tie_margin: float  # top-1 / top-2 logit gap below which a frame is a near tie
    max_mean_tv: float  # bound on the mean total-variation distance of the softmax outputs


TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(1e-3, 0.999, 1e-3, 1e-4),
    "fp16": Tolerance(None, 0.99, 0.05, 0.01),
    "int8": Tolerance(None, 0.95, 0.25, 0.05),
    "int8-dynamic": Tolerance(None, 0.95, 0.25, 0.05),
}
PRECISIONS = tuple(TOLERANCES)

# Optional settings, with the value that means "not asked for" (see `refuse_unsupported`).
OPTION_DEFAULTS: dict[str, object] = {
    "plain": False, "with_denoised": False, "calib_frames": 512, "simplify": True,
}


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str  # file suffix; "" for a directory (model repository)
    precisions: tuple[str, ...]  # precisions this format can carry
    needs_gpu: bool  # building it needs an NVIDIA GPU and TensorRT
    options: frozenset[str]  # optional settings it honours (keys of OPTION_DEFAULTS)
    builder: str  # "module:function" taking an ExportJob and writing job.out
    help: str

    def build(self) -> Callable:
        module, fn = self.builder.split(":")
        return getattr(importlib.import_module(module), fn)


FORMATS: dict[str, Format] = {f.name: f for f in [
    Format("onnx", ".onnx", ("fp32", "fp16", "int8", "int8-dynamic"), False,
           frozenset({"with_denoised", "calib_frames", "simplify"}), "amc.export.onnx:build_onnx",
           "ONNX opset 17 with a dynamic batch axis and metadata_props (ONNX Runtime, TensorRT, Triton)"),
    Format("tensorrt", ".engine", ("fp32", "fp16", "int8"), True,
           frozenset({"plain", "with_denoised", "calib_frames", "simplify"}), "amc.export.tensorrt:build_tensorrt",
           "TensorRT engine built from the ONNX file (length-prefixed JSON header; --plain: bare .plan)"),
    Format("triton", "", ("fp32", "fp16", "int8", "int8-dynamic"), False,
           frozenset({"with_denoised", "calib_frames", "simplify"}), "amc.export.triton:build_triton_onnx",
           "Triton model repository serving the ONNX file (onnxruntime_onnx)"),
    Format("triton-tensorrt", "", ("fp32", "fp16", "int8"), True,
           frozenset({"with_denoised", "calib_frames", "simplify"}), "amc.export.triton:build_triton_tensorrt",
           "Triton model repository serving a TensorRT plan (tensorrt_plan)"),
]}

OPTION_FLAGS = {"plain": "--plain", "with_denoised": "--with-denoised", "calib_frames": "--calib-frames",
                "simplify": "--no-simplify"}


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
