"""Export readiness: every preset exports to ONNX (opset 17, dynamic batch), passes the checker, runs in
ONNX Runtime with PyTorch's numbers, and uses only ops TensorRT's ONNX parser imports."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from amc.config import preset
from amc.models import CLDNN, INPUT_NAME, OUTPUT_NAMES, InferenceModel, build_model

OPSET = 17

# ONNX ops this model family may emit that onnx-tensorrt's docs/operators.md (TensorRT 8.5 .. 10)
# lists as supported ("Y") for float tensors. Deliberately not the whole table: anything new the
# exporter starts emitting must be checked against it and added here by hand. Conv / MaxPool /
# BatchNormalization on 3-D (1-D spatial) inputs are imported by unsqueezing to 2-D.
TRT_ONNX_OPS = {
    "Abs", "Add", "Atan", "BatchNormalization", "Cast", "Clip", "Concat", "Constant", "ConstantOfShape",
    "Conv", "ConvTranspose", "Div", "Equal", "Exp", "Expand", "Flatten", "Gather", "Gemm", "Greater",
    "GreaterOrEqual", "GRU", "Identity", "Less", "LessOrEqual", "Log", "LSTM", "MatMul", "Max", "MaxPool",
    "Min", "Mul", "Neg", "Not", "Pad", "Pow", "ReduceMax", "ReduceMean", "ReduceSum", "Relu", "Reshape",
    "Shape", "Sigmoid", "Slice", "Softmax", "Split", "Sqrt", "Squeeze", "Sub", "Tanh", "Transpose",
    "Unsqueeze", "Where",
}
# Inputs TensorRT needs as constants (initializer or Constant node): (op, input index).
TRT_CONSTANT_INPUTS = {("Conv", 1), ("ConvTranspose", 1), ("Slice", 3), ("Squeeze", 1), ("Unsqueeze", 1)}


def randomise(model: CLDNN, seed: int = 0) -> CLDNN:
    """Make BatchNorm statistics and FiLM non-trivial so the exported numbers mean something."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
        if model.film is not None:
            last = model.film.mlp[-1]
            last.weight.copy_(0.3 * torch.randn(last.weight.shape, generator=g))
            last.bias.copy_(0.1 * torch.randn(last.bias.shape, generator=g))
    return model


def export(wrapped: InferenceModel, path: Path, length: int) -> onnx.ModelProto:
    names = wrapped.output_names
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer notes
        torch.onnx.export(
            wrapped, (torch.randn(2, 2, length),), str(path), dynamo=False, opset_version=OPSET,
            input_names=[INPUT_NAME], output_names=names,
            dynamic_axes={n: {0: "batch"} for n in [INPUT_NAME, *names]},
        )
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    return proto


def check_trt_friendly(proto: onnx.ModelProto) -> None:
    ops = {n.op_type for n in proto.graph.node}
    assert ops <= TRT_ONNX_OPS, f"ops outside the TensorRT allowlist: {sorted(ops - TRT_ONNX_OPS)}"
    assert all(n.domain in ("", "ai.onnx") for n in proto.graph.node)
    constants = {i.name for i in proto.graph.initializer}
    constants |= {o for n in proto.graph.node if n.op_type == "Constant" for o in n.output}
    for node in proto.graph.node:
        for op, index in TRT_CONSTANT_INPUTS:
            if node.op_type == op and len(node.input) > index and node.input[index]:
                assert node.input[index] in constants, f"{op} input {index} is not a constant"
    for value in proto.graph.input:
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def compare(wrapped: InferenceModel, path: Path, length: int) -> None:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == wrapped.output_names
    g = torch.Generator().manual_seed(1)
    for batch in (1, 7, 64):
        x = 3.0 * torch.randn(batch, 2, length, generator=g)
        with torch.no_grad():
            ref = wrapped(x)
        got = session.run(None, {INPUT_NAME: x.numpy()})
        tols = {"logits": 1e-4, "probs": 1e-5, "eta": 1e-5, "snr_db": 1e-3, "denoised": 1e-4}
        for name, r, o in zip(wrapped.output_names, ref, got):
            assert o.shape == tuple(r.shape), name
            err = float(np.abs(o - r.numpy()).max())
            assert err <= tols[name], f"{name}: max abs error {err} at batch {batch}"


CASES = [("cldnn", 128, 11, {}), ("a3", 128, 11, {}), ("a4", 128, 11, {}), ("a5", 128, 11, {}),
         ("a3", 128, 11, {"rnn": "gru", "rnn_layers": 2}), ("a4", 1024, 24, {})]


@pytest.mark.parametrize("name,length,classes,extra", CASES,
                         ids=[f"{c[0]}-{c[1]}{'-gru' if c[3] else ''}" for c in CASES])
def test_export_matches_onnxruntime(tmp_path: Path, name: str, length: int, classes: int, extra: dict) -> None:
    torch.manual_seed(0)
    cfg, _ = preset(name)
    cfg = dataclasses.replace(cfg, num_classes=classes, frame_length=length, **extra)
    wrapped = InferenceModel(randomise(build_model(cfg)))
    path = tmp_path / f"{name}.onnx"
    proto = export(wrapped, path, length)
    check_trt_friendly(proto)
    batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert proto.graph.input[0].name == INPUT_NAME and batch_dim.dim_param == "batch"
    assert [o.name for o in proto.graph.output] == OUTPUT_NAMES
    for out in proto.graph.output:
        assert out.type.tensor_type.shape.dim[0].dim_param == "batch", out.name
    compare(wrapped, path, length)


def test_export_with_denoised(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg, _ = preset("a4")
    wrapped = InferenceModel(randomise(build_model(cfg)), with_denoised=True)
    path = tmp_path / "a4_den.onnx"
    proto = export(wrapped, path, 128)
    check_trt_friendly(proto)
    assert [o.name for o in proto.graph.output] == OUTPUT_NAMES + ["denoised"]
    compare(wrapped, path, 128)
