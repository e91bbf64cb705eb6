"""ONNX export: PyTorch -> ONNX (opset 17, dynamic batch), optional onnxslim, fp16, int8, metadata.

``torch_to_onnx`` uses the TorchScript-based exporter (``dynamo=False``): the model has no
data-dependent control flow, and this path gives the plain op set that TensorRT's parser takes. Input
``iq`` is (batch, 2, L) float32; every output has the same dynamic ``batch`` axis. The graph passes
``onnx.checker`` (full check) and strict shape inference.

fp16 (``to_fp16``) converts the network body to float16 and keeps float32 where the numbers are
fragile: the input power normalisation (x^2 of raw, un-normalised IQ overflows fp16 at |x| > 16), the
noise head's log-moment features, the eta sigmoid and everything computed from eta before the FiLM MLP
(fp16 rounds 1 - 1e-4 to 1 and log1p(-eta) to -inf), the expert features, softmax and the SNR clamp.
A GRU stays float32 too (TensorRT's importer cannot build a float16 GRU in a strongly typed network;
see ``FP32_FOR_TENSORRT``); an LSTM runs in float16. Inputs and outputs stay float32, so callers never
see the difference.
"""

from __future__ import annotations

import collections
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
import onnxslim
import torch
from onnx import TensorProto, helper, numpy_helper

from amc.export.graph import check, run_ort
from amc.export.quantize import quantize
from amc.models import INPUT_NAME, InferenceModel
from amc.runtime.artifact import attach_onnx

if TYPE_CHECKING:
    from amc.export.job import ExportJob

# Ops that start a float32 region, and the elementwise / reduction ops a region spreads through.
FP32_ANCHORS = {"Sqrt", "Log", "Exp", "Pow", "Sigmoid", "Softmax", "ReduceMean", "ReduceSum", "Div", "Clip",
                "Atan", "Cast"}
ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Neg", "Abs", "Clip", "Log", "Exp", "Sqrt", "Pow", "ReduceMean",
               "ReduceSum", "ReduceMax", "Unsqueeze", "Squeeze", "Concat", "Sigmoid", "Softmax", "Max", "Min",
               "Constant", "Reshape", "Where", "Atan", "Equal", "Greater", "Less", "Not", "Identity", "Cast"}
# Ops a float16 export keeps in float32 for TensorRT. Its ONNX importer builds GRU's update
# H(t) = (1 - z(t)) h(t) + z(t) H(t-1) from a float32 constant 1, which a strongly typed network refuses
# next to a float16 z(t) (onnx-tensorrt 10.x importGRU). LSTM has no such constant: it stays float16.
FP32_FOR_TENSORRT = {"GRU"}
SIMPLIFY_ATOL = 1e-5  # onnxslim's graph is kept only if its outputs match within this


def torch_to_onnx(model: Any, frame_length: int, path: Path, opset: int, with_denoised: bool) -> onnx.ModelProto:
    """Export an eval-mode CLDNN (wrapped in InferenceModel) and check it."""
    wrapped = InferenceModel(model, with_denoised=with_denoised)
    names = wrapped.output_names
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer notes
        torch.onnx.export(wrapped, (torch.randn(2, 2, frame_length),), str(path), dynamo=False,
                          opset_version=opset, input_names=[INPUT_NAME], output_names=names,
                          dynamic_axes={n: {0: "batch"} for n in [INPUT_NAME, *names]})
    return check(onnx.load(str(path)))


def simplify(proto: onnx.ModelProto, frames: np.ndarray) -> tuple[onnx.ModelProto, str]:
    """onnxslim's graph if its outputs match the original's; else the original."""
    try:
        slim = onnxslim.slim(proto)
        slim = check(slim)
    except Exception as e:  # noqa: BLE001 - any simplifier failure just means "keep the original"
        return proto, f"onnxslim failed ({type(e).__name__}): graph left unsimplified"
    same_io = ([(o.name, _dims(o)) for o in slim.graph.output] == [(o.name, _dims(o)) for o in proto.graph.output]
               and [_dims(i) for i in slim.graph.input] == [_dims(i) for i in proto.graph.input])
    if same_io:
        x = frames[:64]
        err = max(float(np.abs(a - b).max()) for a, b in zip(run_ort(proto, x), run_ort(slim, x)))
        if err <= SIMPLIFY_ATOL:
            return slim, f"simplified with onnxslim: {len(proto.graph.node)} -> {len(slim.graph.node)} nodes"
        return proto, f"onnxslim changed the outputs by {err:.2g}: graph left unsimplified"
    return proto, "onnxslim changed the graph's inputs / outputs: graph left unsimplified"


def _dims(value: Any) -> list[str | int]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


# -- fp16 --------------------------------------------------------------------------------------
def fp32_region(graph: Any) -> set[int]:
    """Indices of nodes kept in float32: anchors and the elementwise chains feeding them, plus
    everything computed elementwise from a Sigmoid (eta) before the next matrix op."""
    producer = {o: i for i, n in enumerate(graph.node) for o in n.output}
    consumers: dict[str, list[int]] = collections.defaultdict(list)
    for i, n in enumerate(graph.node):
        for name in n.input:
            consumers[name].append(i)
    keep: set[int] = set()
    stack = [i for i, n in enumerate(graph.node) if n.op_type in FP32_ANCHORS | FP32_FOR_TENSORRT]
    while stack:  # upstream through elementwise ops
        i = stack.pop()
        if i in keep:
            continue
        keep.add(i)
        stack.extend(producer[t] for t in graph.node[i].input
                     if t in producer and graph.node[producer[t]].op_type in ELEMENTWISE)
    stack = [i for i, n in enumerate(graph.node) if n.op_type == "Sigmoid"]
    while stack:  # downstream of eta
        i = stack.pop()
        for out in graph.node[i].output:
            for j in consumers[out]:
                if graph.node[j].op_type in ELEMENTWISE and j not in keep:
                    keep.add(j)
                    stack.append(j)
    return keep


def to_fp16(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """Float16 body with float32 I/O and float32 fragile regions (see the module docstring)."""
    model = onnx.shape_inference.infer_shapes(proto)
    g = model.graph
    floats = {v.name for v in [*g.value_info, *g.input, *g.output]
              if v.type.tensor_type.elem_type == TensorProto.FLOAT}
    floats |= {t.name for t in g.initializer if t.data_type == TensorProto.FLOAT}
    keep = fp32_region(g)
    half = {i for i in range(len(g.node)) if i not in keep}
    # Constants take the precision of their consumers (fp16 if any consumer is fp16).
    consumers: dict[str, list[int]] = collections.defaultdict(list)
    for i, n in enumerate(g.node):
        for name in n.input:
            consumers[name].append(i)
    for i, n in enumerate(g.node):
        if n.op_type == "ConstantOfShape" and not n.attribute:
            half.discard(i)  # no value attribute: float32 zeros by definition
        elif n.op_type == "Constant":
            if any(j in half for o in n.output for j in consumers[o]):
                half.add(i)
            else:
                half.discard(i)
    domain: dict[str, str] = {i.name: "fp32" for i in g.input}
    for i, n in enumerate(g.node):
        for o in n.output:
            domain[o] = "fp16" if i in half else "fp32"
        if i in half:
            for attr in n.attribute:  # Constant / ConstantOfShape values
                if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT:
                    attr.t.CopyFrom(_half_tensor(attr.t))
    inits = {t.name: t for t in g.initializer}
    new_nodes, casts, new_inits = [], {}, []

    def cast(name: str, to: str) -> str:
        key = (name, to)
        if key not in casts:
            if name in inits:  # initializers get a converted copy, not a Cast
                copy = _half_tensor(inits[name]) if to == "fp16" else numpy_helper.from_array(
                    numpy_helper.to_array(inits[name]).astype(np.float32))
                copy.name = f"{name}__{to}"
                new_inits.append(copy)
            else:
                elem = TensorProto.FLOAT16 if to == "fp16" else TensorProto.FLOAT
                new_nodes.append(helper.make_node("Cast", [name], [f"{name}__{to}"], to=elem,
                                                  name=f"{name}__cast_{to}"))
            casts[key] = f"{name}__{to}"
        return casts[key]

    for i, n in enumerate(g.node):
        want = "fp16" if i in half else "fp32"
        for k, name in enumerate(n.input):
            if name in floats and domain.get(name, "fp32") != want:
                n.input[k] = cast(name, want)
        new_nodes.append(n)
    for out in g.output:  # float32 outputs
        if out.name in floats and domain.get(out.name) == "fp16":
            src = f"{out.name}__fp16_out"
            for n in new_nodes:
                n.output[:] = [src if o == out.name else o for o in n.output]
                n.input[:] = [src if t == out.name else t for t in n.input]
            new_nodes.append(helper.make_node("Cast", [src], [out.name], to=TensorProto.FLOAT, name=f"{out.name}__out"))
    del g.node[:]
    g.node.extend(new_nodes)
    g.initializer.extend(new_inits)
    used = {t for n in g.node for t in n.input}
    unused = [t for t in g.initializer if t.name not in used]
    for t in unused:  # float32 originals that only fp16 nodes read
        g.initializer.remove(t)
    del g.value_info[:]
    kept = collections.Counter(n.op_type for i, n in enumerate(proto.graph.node)
                               if i in keep and n.op_type != "Constant")
    return check(model), {"fp32_ops": dict(sorted(kept.items()))}


def _half_tensor(t: Any) -> Any:
    a = numpy_helper.to_array(t).astype(np.float32)
    out = numpy_helper.from_array(np.clip(a, -65504.0, 65504.0).astype(np.float16), t.name)
    return out


# -- the builder -------------------------------------------------------------------------------
def export_proto(job: ExportJob, workdir: Path) -> onnx.ModelProto:
    """The ONNX model of the job's precision, without metadata."""
    proto = torch_to_onnx(job.model, job.frame_length, workdir / "fp32.onnx", job.opset, job.with_denoised)
    if job.simplify:
        proto, note = simplify(proto, job.frames())
        job.notes.append(note)
    if job.precision == "fp16":
        proto, info = to_fp16(proto)
        job.extra["fp16"] = info
        job.notes.append(f"fp16 body; kept in float32: {', '.join(info['fp32_ops'])}")
    elif job.precision in ("int8", "int8-dynamic"):
        proto, info = quantize(proto, job, workdir)
        job.extra["quantization"] = info
        job.notes.append(f"int8 {info['mode']}; op types left in float: {', '.join(info['float_ops']) or 'none'}")
    return proto


def build_onnx(job: ExportJob) -> None:
    """Format 'onnx': write job.out (ONNX with amc metadata_props)."""
    with tempfile.TemporaryDirectory(prefix="amc-onnx-") as tmp:
        proto = export_proto(job, Path(tmp))
    attach_onnx(proto, job.full_metadata())
    onnx.save(proto, str(job.out))
