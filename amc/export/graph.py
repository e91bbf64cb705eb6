"""Checks every exported ONNX graph passes, and a quick CPU run of a graph in memory."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

from amc.export.errors import ExportError


def check(proto: onnx.ModelProto) -> onnx.ModelProto:
    """onnx.checker (full) plus strict shape inference; returns the inferred model."""
    try:
        onnx.checker.check_model(proto, full_check=True)
        return onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportError(f"the exported ONNX graph does not check: {str(e).splitlines()[0][:200]}") from None


def run_ort(proto: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    """The graph's outputs for x on ONNX Runtime's CPU provider."""
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})
