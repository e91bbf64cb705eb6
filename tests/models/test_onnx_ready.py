"""Export readiness, checked on the graphs amc ships: every preset's fp32 export (and fp16 / int8 for an
LSTM and a GRU model) made by ``amc.export.export`` uses only ops TensorRT's ONNX parser imports, keeps
the inputs TensorRT needs constant, and has the types a strongly typed TensorRT network takes: int8
DequantizeLinear only on int8 tensors (no int32 biases), zero points 0, recurrent layers without mixed
types. fp32 exports run in ONNX Runtime with PyTorch's numbers at batch 1, 7 and 64."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import amc.export.parity
from amc.config import RML2016_CLASSES, RML2018_CLASSES
from amc.export import export
from amc.models import INPUT_NAME, OUTPUT_NAMES, InferenceModel
from amc.train.checkpoint import load_checkpoint, model_from_checkpoint
from tests.export.conftest import make_checkpoint, parity_holds

# ONNX ops this model family may emit that onnx-tensorrt's docs/operators.md (TensorRT 8.5 .. 10)
# lists as supported ("Y"). Deliberately not the whole table: anything new the exporter starts emitting
# must be checked against it and added here by hand. Conv / MaxPool / BatchNormalization on 3-D (1-D
# spatial) inputs are imported by unsqueezing to 2-D. QuantizeLinear / DequantizeLinear: explicit
# quantization (int8 weights and activations, per-tensor or per-channel scales, zero point 0).
TRT_ONNX_OPS = {
    "Abs", "Add", "Atan", "BatchNormalization", "Cast", "Clip", "Concat", "Constant", "ConstantOfShape",
    "Conv", "ConvTranspose", "DequantizeLinear", "Div", "Equal", "Exp", "Expand", "Flatten", "Gather", "Gemm",
    "Greater", "GreaterOrEqual", "GRU", "Identity", "Less", "LessOrEqual", "Log", "LSTM", "MatMul", "Max",
    "MaxPool", "Min", "Mul", "Neg", "Not", "Pad", "Pow", "QuantizeLinear", "ReduceMax", "ReduceMean",
    "ReduceSum", "Relu", "Reshape", "Shape", "Sigmoid", "Slice", "Softmax", "Split", "Sqrt", "Squeeze", "Sub",
    "Tanh", "Transpose", "Unsqueeze", "Where",
}
# Inputs TensorRT needs as constants (initializer or Constant node): (op, input index).
TRT_CONSTANT_INPUTS = {("Conv", 1), ("ConvTranspose", 1), ("Slice", 3), ("Squeeze", 1), ("Unsqueeze", 1),
                       ("QuantizeLinear", 1), ("QuantizeLinear", 2), ("DequantizeLinear", 1),
                       ("DequantizeLinear", 2)}
F32, F16, I8 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.INT8


@pytest.fixture(autouse=True)
def small_parity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(amc.export.parity, "PARITY_FRAMES", 64)


@pytest.fixture(autouse=True)
def one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def types(proto: onnx.ModelProto) -> dict[str, int]:
    """Element type of every tensor of the graph (inputs, initializers, node outputs)."""
    inferred = onnx.shape_inference.infer_shapes(proto)
    g = inferred.graph
    out = {v.name: v.type.tensor_type.elem_type for v in [*g.input, *g.output, *g.value_info]}
    out.update({t.name: t.data_type for t in g.initializer})
    for n in g.node:
        if n.op_type == "Constant":
            out[n.output[0]] = n.attribute[0].t.data_type
    return out


def check_trt_friendly(proto: onnx.ModelProto) -> None:
    ops = {n.op_type for n in proto.graph.node}
    assert ops <= TRT_ONNX_OPS, f"ops outside the TensorRT allowlist: {sorted(ops - TRT_ONNX_OPS)}"
    assert all(n.domain in ("", "ai.onnx") for n in proto.graph.node)
    constants = {i.name for i in proto.graph.initializer}
    constants |= {o for n in proto.graph.node if n.op_type == "Constant" for o in n.output}
    constants |= {n.output[0] for n in proto.graph.node  # quantized weights: DequantizeLinear(int8 constant)
                  if n.op_type == "DequantizeLinear" and n.input[0] in constants}
    for node in proto.graph.node:
        for op, index in TRT_CONSTANT_INPUTS:
            if node.op_type == op and len(node.input) > index and node.input[index]:
                assert node.input[index] in constants, f"{op} input {index} is not a constant"
    for value in [*proto.graph.input, *proto.graph.output]:
        assert value.type.tensor_type.elem_type == F32, value.name
    t = types(proto)
    inits = {i.name: i for i in proto.graph.initializer}
    for n in proto.graph.node:
        if n.op_type == "DequantizeLinear":  # explicit quantization: int8 data only, never int32 biases
            assert t[n.input[0]] == I8, f"{n.name}: DequantizeLinear of {onnx.TensorProto.DataType.Name(t[n.input[0]])}"
        if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2:
            zero = onnx.numpy_helper.to_array(inits[n.input[2]])
            assert zero.dtype == np.int8 and not zero.any(), f"{n.name}: zero point must be int8 0"
        if n.op_type in ("LSTM", "GRU"):  # TensorRT builds missing initial states as float32 zeros
            data = t[n.input[0]]
            given = [name for name in n.input[1:] if name]
            assert all(t[name] == data for name in given if t.get(name) in (F32, F16)), n.name
            if data != F32:
                states = (5, 6) if n.op_type == "LSTM" else (5,)
                assert all(len(n.input) > i and n.input[i] for i in states), f"{n.name}: initial state missing"
        if n.op_type == "GRU":  # its importer's 1 - z(t) constant is float32
            assert t[n.input[0]] == F32, f"{n.name}: a float16 GRU cannot be built by TensorRT (strongly typed)"


def ort_matches_torch(path: Path, ckpt: Path, with_denoised: bool = False) -> None:
    wrapped = InferenceModel(model_from_checkpoint(load_checkpoint(ckpt)), with_denoised=with_denoised)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == wrapped.output_names
    g = torch.Generator().manual_seed(1)
    length = session.get_inputs()[0].shape[2]
    tols = {"logits": 1e-4, "probs": 1e-5, "eta": 1e-5, "snr_db": 1e-3, "denoised": 1e-4}
    for batch in (1, 7, 64):
        x = 3.0 * torch.randn(batch, 2, length, generator=g)
        with torch.no_grad():
            ref = wrapped(x)
        got = session.run(None, {INPUT_NAME: x.numpy()})
        for name, r, o in zip(wrapped.output_names, ref, got):
            assert o.shape == tuple(r.shape), name
            err = float(np.abs(o - r.numpy()).max())
            assert err <= tols[name], f"{name}: max abs error {err} at batch {batch}"


CASES = [("cldnn", 128, {}), ("a3", 128, {}), ("a4", 128, {}), ("a5", 128, {}),
         ("a3", 128, {"rnn": "gru", "rnn_layers": 2}), ("a4", 1024, {})]


@pytest.mark.parametrize("name,length,extra", CASES, ids=[f"{c[0]}-{c[1]}{'-gru' if c[2] else ''}" for c in CASES])
def test_shipped_fp32_graph_is_tensorrt_ready(tmp_path: Path, name: str, length: int, extra: dict) -> None:
    classes = RML2018_CLASSES if length == 1024 else RML2016_CLASSES
    ckpt = make_checkpoint(tmp_path / "run" / "best.pt", name, frame_length=length, classes=classes,
                           dataset=str(tmp_path / "missing.h5"), **extra)
    path = export(ckpt, out=tmp_path / "m.onnx").path
    proto = onnx.load(str(path))
    check_trt_friendly(proto)
    batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert proto.graph.input[0].name == INPUT_NAME and batch_dim.dim_param == "batch"
    assert [o.name for o in proto.graph.output] == OUTPUT_NAMES
    for out in proto.graph.output:
        assert out.type.tensor_type.shape.dim[0].dim_param == "batch", out.name
    ort_matches_torch(path, ckpt)


@pytest.mark.parametrize("rnn", ["lstm", "gru"])
@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_shipped_reduced_precision_graph_is_tensorrt_ready(tmp_path: Path, rnn: str, precision: str) -> None:
    ckpt = make_checkpoint(tmp_path / "run" / "best.pt", "a4", dataset=str(tmp_path / "missing.h5"), rnn=rnn)
    extra = {"calib_frames": 64} if precision == "int8" else {}
    r = export(ckpt, precision=precision, out=tmp_path / "m.onnx", **extra)
    assert parity_holds(r.parity), r.parity
    proto = onnx.load(str(r.path))
    check_trt_friendly(proto)
    ops = collections.Counter(n.op_type for n in proto.graph.node)
    t = types(proto)
    (recurrent,) = [n for n in proto.graph.node if n.op_type in ("LSTM", "GRU")]
    if precision == "int8":
        assert ops["DequantizeLinear"] > 0 and ops["QuantizeLinear"] > 0
        for n in proto.graph.node:  # every Conv / Gemm bias is a plain float32 initializer
            if n.op_type in ("Conv", "ConvTranspose", "Gemm") and len(n.input) > 2 and n.input[2]:
                assert t[n.input[2]] == F32 and n.input[2] in {i.name for i in proto.graph.initializer}, n.name
    else:  # fp16: convolutions in float16; the LSTM too, the GRU kept float32 for TensorRT
        convs = [n for n in proto.graph.node if n.op_type == "Conv"]
        assert convs and all(t[n.input[1]] == F16 for n in convs)
        assert t[recurrent.input[1]] == (F16 if rnn == "lstm" else F32)


def test_shipped_graph_with_denoised_output(tmp_path: Path) -> None:
    ckpt = make_checkpoint(tmp_path / "run" / "best.pt", "a4", dataset=str(tmp_path / "missing.h5"))
    path = export(ckpt, out=tmp_path / "m.onnx", with_denoised=True).path
    proto = onnx.load(str(path))
    check_trt_friendly(proto)
    assert [o.name for o in proto.graph.output] == OUTPUT_NAMES + ["denoised"]
    ort_matches_torch(path, ckpt, with_denoised=True)
