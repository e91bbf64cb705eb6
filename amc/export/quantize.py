"""int8 ONNX with onnxruntime.quantization: static QDQ (TensorRT-ready) or dynamic (CPU).

**Static** (precision ``int8``): ``quant_pre_process`` (symbolic shape inference + graph optimisation),
then ``quantize_static`` in QDQ format, calibrated (min-max) on training frames drawn evenly across
SNRs. Activations and weights are QInt8 *symmetric* (zero point 0, which is what TensorRT's explicit
quantization takes), weights per output channel. Biases stay float32 (``QuantizeBias: False``): ORT's
default stores them as int32 behind a DequantizeLinear, which TensorRT's explicit quantization refuses
(it takes INT8 / FP8 / INT4 / FP4 quantized weights only; onnx-tensorrt issue #850). Only the matrix
ops (Conv, ConvTranspose, Gemm, MatMul) get Q/DQ pairs: the power normalisation, the noise head's
log-moments, FiLM's eta features and softmax stay float, and so do the small Gemms fed by a Concat of
differently scaled features (see ``mixed_range_nodes``). ORT has no static int8 LSTM / GRU, so the
recurrent layer stays float too; the metadata lists every matrix op type left in float and the excluded nodes.

**Dynamic** (precision ``int8-dynamic``): ``quantize_dynamic`` stores weights in int8 and quantizes
activations on the fly per batch (no calibration). It replaces LSTM with ``DynamicQuantizeLSTM`` and
Gemm / MatMul with integer matmuls; ONNX Runtime CPU only (TensorRT refuses these ops). Convolutions
are left float: ORT's ``ConvInteger`` is slower than its float conv on CPU.

``benchmarks/bench_infer.py`` measures both against fp32; keep int8 only where it is faster.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from amc.export.errors import ExportError
from amc.export.graph import check

if TYPE_CHECKING:
    from amc.export.job import ExportJob

MATRIX_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul", "LSTM", "GRU")
STATIC_OPS = ["Conv", "ConvTranspose", "Gemm", "MatMul"]
DYNAMIC_OPS = ["LSTM", "GRU", "Gemm", "MatMul"]
CALIB_BATCH = 64


class _FrameReader(CalibrationDataReader):
    """CalibrationDataReader over an (n, 2, L) array, CALIB_BATCH frames at a time."""

    def __init__(self, frames: np.ndarray, input_name: str = "iq") -> None:
        self._batches = iter([{input_name: np.ascontiguousarray(frames[i:i + CALIB_BATCH], dtype=np.float32)}
                              for i in range(0, len(frames), CALIB_BATCH)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def preprocess(proto: onnx.ModelProto, workdir: Path) -> Path:
    """quant_pre_process into workdir/pre.onnx. ONNX's own shape inference covers this graph (only the
    batch axis is dynamic), so ORT's symbolic shape inference (seconds) is only the fallback."""
    src, dst = workdir / "float.onnx", workdir / "pre.onnx"
    onnx.save(proto, str(src))
    error = None
    for skip_symbolic in (True, False):
        try:
            quant_pre_process(str(src), str(dst), skip_symbolic_shape=skip_symbolic)
            return dst
        except Exception as e:  # noqa: BLE001 - ORT raises assorted types here
            error = e
    raise ExportError(f"int8: onnxruntime's quant_pre_process failed ({type(error).__name__}: "
                      f"{str(error).splitlines()[0][:120] if str(error) else ''})")


def mixed_range_nodes(proto: onnx.ModelProto) -> list[str]:
    """Gemm / MatMul nodes whose input is a Concat: the dense head (RNN outputs in (-1, 1) next to expert
    features), the noise head's MLP (pooled convs next to log-moments) and FiLM's MLP (eta features).
    One per-tensor int8 scale would flatten the small-range part, and these layers cost next to nothing."""
    producer = {o: n for n in proto.graph.node for o in n.output}
    return [n.name for n in proto.graph.node
            if n.op_type in ("Gemm", "MatMul") and getattr(producer.get(n.input[0]), "op_type", "") == "Concat"]


def quantize_static_qdq(proto: onnx.ModelProto, frames: np.ndarray, workdir: Path
                        ) -> tuple[onnx.ModelProto, list[str]]:
    pre = preprocess(proto, workdir)
    out = workdir / "int8.onnx"
    exclude = mixed_range_nodes(onnx.load(str(pre)))
    quantize_static(str(pre), str(out), _FrameReader(frames), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
                    op_types_to_quantize=STATIC_OPS, nodes_to_exclude=exclude,
                    calibrate_method=CalibrationMethod.MinMax,
                    extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False})
    return onnx.load(str(out)), exclude


def quantize_dynamic_int8(proto: onnx.ModelProto, workdir: Path) -> onnx.ModelProto:
    pre = preprocess(proto, workdir)
    out = workdir / "int8-dynamic.onnx"
    quantize_dynamic(str(pre), str(out), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=DYNAMIC_OPS)
    return onnx.load(str(out))


def float_matrix_ops(proto: onnx.ModelProto) -> tuple[dict[str, int], list[str]]:
    """(quantized matrix-op counts, matrix op types with at least one node left in float)."""
    producer = {o: n for n in proto.graph.node for o in n.output}
    quantized: collections.Counter[str] = collections.Counter()
    left: set[str] = set()
    for n in proto.graph.node:
        if n.op_type in ("ConvInteger", "MatMulInteger", "DynamicQuantizeLSTM", "QLinearConv", "QLinearMatMul"):
            quantized[n.op_type] += 1
        elif n.op_type in MATRIX_OPS:
            data = producer.get(n.input[0])
            if data is not None and data.op_type == "DequantizeLinear":
                quantized[n.op_type] += 1
            else:
                left.add(n.op_type)
    return dict(sorted(quantized.items())), sorted(left)


def quantize(proto: onnx.ModelProto, job: ExportJob, workdir: Path) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """int8 model of job.precision and a description of what was quantized."""
    if job.precision == "int8":
        frames, source = job.calibration()
        q, exclude = quantize_static_qdq(proto, frames, workdir)
        info: dict[str, Any] = {"mode": "static QDQ", "activations": "QInt8 symmetric per-tensor (min-max)",
                                "weights": "QInt8 symmetric per-channel", "calib_frames": int(len(frames)),
                                "calib_source": source, "float_nodes": exclude}
    else:
        q = quantize_dynamic_int8(proto, workdir)
        info = {"mode": "dynamic", "activations": "QUInt8 per batch at run time",
                "weights": "QInt8 per-channel"}
    quantized, left = float_matrix_ops(q)
    info.update(quantized_ops=quantized, float_ops=left,
                note="elementwise ops (power normalisation, log-moments, FiLM eta features, softmax) stay float")
    q = check(q)
    return q, info
