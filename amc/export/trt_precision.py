"""What TensorRT made of the export's precision: the parsed network's layers checked against the promise.

A strongly typed network takes every tensor's type from the ONNX file, so after parsing, the layer
types and output types say exactly what will run. Each TensorRT layer is traced to its ONNX node by the
``[ONNX Layer: NAME]`` metadata the parser attaches, else by its name (the importer names layers NODE or
NODE_<n>); layers with neither, such as the body of an LSTM's loop, belong to the last node before them.
The promise, per precision:

* **fp32**: no half / bf16 / 8-bit / 4-bit tensor anywhere, no Q/DQ layer.
* **fp16**: every convolution, Gemm / MatMul and the LSTM's matrix multiplies, recurrences and gates in
  half; the GRU's in float (``amc.export.onnx.FP32_FOR_TENSORRT``); the fragile ops in float: softmax,
  log / exp / sqrt, sigmoid (eta), reductions outside the recurrent layer (the power normalisation and
  the noise head's log-moments), normalisation layers; network inputs and outputs float.
* **int8**: every convolution / transposed convolution and every Gemm the quantization record lists as
  quantized fed by DequantizeLinear on both data and weights (through reshapes), their number equal to
  the record's; the Gemms it lists as float and the recurrent layer's matrix multiplies not fed by Q/DQ;
  every DequantizeLinear reads int8 (no int32 bias DQ: TensorRT refuses it), convolution biases float.

``check(trt, network, precision, quantization)`` returns the findings: a summary (counts per type) and
the problems, each naming the layer and its ONNX node. Export fails on any problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

NODE = re.compile(r"\[ONNX Layer: (.*?)\]")
SUFFIX = re.compile(r"_\d+$")
LOW = {"HALF", "BF16", "INT8", "FP8", "INT4", "FP4"}  # what fp32 must not contain
FLOATING = {"FLOAT", "HALF", "BF16"}
PASS_THROUGH = {"SHUFFLE", "IDENTITY", "SQUEEZE", "UNSQUEEZE"}  # between a DQ and its consumer
RNN_PARTS = {"MATRIX_MULTIPLY", "RECURRENCE", "ACTIVATION"}  # a recurrent layer's math, not its bookkeeping
FRAGILE_UNARY = {"LOG", "EXP", "SQRT"}


@dataclass
class Layer:
    index: int
    name: str
    type: str  # LayerType member name
    node: str  # ONNX node name it came from ("" when none is known)
    op: str  # that node's op type ("" when unknown)
    outputs: list[str]  # DataType member names
    inputs: list[int | None]  # producing layer index per input (None: network input, constant-free, absent)
    detail: str = ""  # unary op / activation type
    bias: str = ""  # convolution bias dtype ("" when none)

    def where(self) -> str:
        return f"{self.name}" + (f" ({self.node})" if self.node and self.node != self.name else "")


@dataclass
class Findings:
    precision: str
    layers: int
    summary: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {"precision": self.precision, "layers": self.layers, "summary": self.summary,
                "problems": list(self.problems), "passed": not self.problems}


def _name(enum_value: Any) -> str:
    return str(getattr(enum_value, "name", enum_value)).split(".")[-1]


def layers(trt: Any, network: Any, ops: dict[str, str]) -> list[Layer]:
    """The network's layers with their ONNX node (``ops``: ONNX node name -> op type)."""
    producer: dict[str, int] = {}
    out: list[Layer] = []
    last = ""
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        m = NODE.search(getattr(layer, "metadata", "") or "")
        named = SUFFIX.sub("", layer.name)  # the importer names layers NODE or NODE_<n>
        node = m.group(1) if m else layer.name if layer.name in ops else named if named in ops else last
        last = node
        kind = _name(layer.type)
        inputs = []
        for j in range(layer.num_inputs):
            t = layer.get_input(j)
            inputs.append(producer.get(t.name) if t is not None else None)
        outputs = []
        for j in range(layer.num_outputs):
            t = layer.get_output(j)
            producer[t.name] = i
            outputs.append(_name(t.dtype))
        detail = bias = ""
        if kind == "UNARY":
            layer.__class__ = trt.IUnaryLayer
            detail = _name(layer.op)
        elif kind == "ACTIVATION":
            layer.__class__ = trt.IActivationLayer
            detail = _name(layer.type)
        elif kind in ("CONVOLUTION", "DECONVOLUTION"):
            layer.__class__ = trt.IConvolutionLayer if kind == "CONVOLUTION" else trt.IDeconvolutionLayer
            if layer.bias is not None and layer.bias.size:
                bias = "FLOAT" if str(layer.bias.dtype) in ("float32", "DataType.FLOAT") else str(layer.bias.dtype)
        out.append(Layer(i, layer.name, kind, node, ops.get(node, ""), outputs, inputs, detail, bias))
    return out


def _from_dq(ls: list[Layer], index: int | None) -> bool:
    """Whether the tensor produced by layer `index` comes from a DequantizeLinear (through reshapes)."""
    while index is not None:
        layer = ls[index]
        if layer.type == "DEQUANTIZE":
            return True
        if layer.type not in PASS_THROUGH or not layer.inputs:
            return False
        index = layer.inputs[0]
    return False


def _float_out(layer: Layer) -> list[str]:
    return [d for d in layer.outputs if d in FLOATING]


def check(trt: Any, network: Any, precision: str, ops: dict[str, str],
          quantization: dict[str, Any] | None = None) -> Findings:
    """Check the parsed network against the precision's promise (module docstring)."""
    ls = layers(trt, network, ops)
    f = Findings(precision, len(ls))
    counts: dict[str, int] = {}
    for layer in ls:
        for d in layer.outputs:
            counts[d] = counts.get(d, 0) + 1
    f.summary = {f"{k.lower()}_tensors": v for k, v in sorted(counts.items())}
    qdq = [x for x in ls if x.type in ("QUANTIZE", "DEQUANTIZE")]
    f.summary["qdq_layers"] = len(qdq)
    io = [network.get_input(i) for i in range(network.num_inputs)] + \
         [network.get_output(i) for i in range(network.num_outputs)]
    for t in io:
        if _name(t.dtype) != "FLOAT":
            f.problems.append(f"network tensor {t.name} is {_name(t.dtype)}, not FLOAT")
    if precision == "fp32":
        for layer in ls:
            low = sorted(set(layer.outputs) & LOW)
            if low:
                f.problems.append(f"{layer.where()}: {'/'.join(low)} output in an fp32 engine")
    elif precision == "fp16":
        _check_fp16(ls, f)
    elif precision == "int8":
        _check_int8(ls, f, quantization or {})
    return f


def _want(f: Findings, layer: Layer, dtype: str, why: str) -> None:
    got = _float_out(layer)
    if got and any(d != dtype for d in got):
        f.problems.append(f"{layer.where()}: {layer.type.lower()} is {'/'.join(sorted(set(got)))}, "
                          f"expected {dtype} ({why})")


def _check_fp16(ls: list[Layer], f: Findings) -> None:
    half = 0
    for layer in ls:
        rnn = layer.op in ("LSTM", "GRU")
        if layer.type in ("CONVOLUTION", "DECONVOLUTION"):
            _want(f, layer, "HALF", "convolutions run in half")
        elif rnn and layer.type in RNN_PARTS:
            if layer.op == "GRU":
                _want(f, layer, "FLOAT", "the GRU stays float")
            else:
                _want(f, layer, "HALF", "the LSTM runs in half")
        elif layer.type == "MATRIX_MULTIPLY":
            _want(f, layer, "HALF", "Gemm / MatMul run in half")
        elif layer.type in ("SOFTMAX", "NORMALIZATION") or (layer.type == "REDUCE" and not rnn):
            _want(f, layer, "FLOAT", "fragile: softmax, normalisation and reductions stay float")
        elif layer.type == "UNARY" and layer.detail in FRAGILE_UNARY:
            _want(f, layer, "FLOAT", f"fragile: {layer.detail.lower()} stays float")
        elif layer.type == "ACTIVATION" and layer.detail == "SIGMOID":
            _want(f, layer, "FLOAT", "fragile: the eta sigmoid stays float")
        if "HALF" in layer.outputs:
            half += 1
    f.summary["half_layers"] = half
    if not half:
        f.problems.append("no layer runs in half: the network is not an fp16 export")


def _check_int8(ls: list[Layer], f: Findings, quantization: dict[str, Any]) -> None:
    float_nodes = set(quantization.get("float_nodes", []))
    promised = sum(int(v) for v in (quantization.get("quantized_ops") or {}).values())
    quantised = 0
    for layer in ls:
        matrix = layer.type in ("CONVOLUTION", "DECONVOLUTION", "MATRIX_MULTIPLY")
        if layer.type == "DEQUANTIZE" and ls and layer.inputs and layer.inputs[0] is not None:
            src = ls[layer.inputs[0]].outputs
            if src and src[0] != "INT8":
                f.problems.append(f"{layer.where()}: DequantizeLinear of {src[0]} (TensorRT takes int8 only)")
        if layer.bias and layer.bias != "FLOAT":
            f.problems.append(f"{layer.where()}: bias is {layer.bias}, expected FLOAT")
        if "HALF" in layer.outputs:
            f.problems.append(f"{layer.where()}: HALF output in an int8 engine")
        if not matrix:
            continue
        fed = [_from_dq(ls, i) for i in layer.inputs[:2]]
        if layer.op in ("LSTM", "GRU") or layer.node in float_nodes:
            if any(fed):
                f.problems.append(f"{layer.where()}: fed by Q/DQ, but the quantization record keeps it float")
        elif layer.type != "MATRIX_MULTIPLY" or layer.op in ("Gemm", "MatMul"):
            if len(fed) < 2 or not all(fed):
                which = " and ".join(n for n, q in zip(("data", "weights"), fed) if not q) or "weights"
                f.problems.append(f"{layer.where()}: {layer.type.lower()} without DequantizeLinear on its {which}")
            else:
                quantised += 1
    f.summary["quantised_matrix_layers"] = quantised
    if promised and quantised != promised:
        f.problems.append(f"{quantised} matrix layers are quantized, the quantization record promises {promised}")
    if not promised:
        f.problems.append("the export carries no quantization record: not an int8 QDQ export")
