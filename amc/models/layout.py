"""Channels-last feature maps for CPU training: the model's own 1-D modules run as 2-D ops on (B, C, 1, L).

oneDNN's convolution, batch norm and max pooling are much faster on channels-last (NHWC) memory than
on PyTorch's (B, C, L) layout, and PyTorch keeps that layout only for 4-D tensors: measured on the
2-core dev VM, one a4 body block (Conv1d 64x64 k7 + BatchNorm1d + ReLU + MaxPool1d, batch 256, L=128,
one thread) took 110 ms forward + backward as (B, C, L) and 75 ms as channels-last (B, C, 1, L), and
BatchNorm alone 17 vs 7 ms. `run(module, h)` applies a Conv1d / ConvTranspose1d / BatchNorm1d /
MaxPool1d / ReLU (or a Sequential of them) with the module's own parameters and buffers: on a 3-D
tensor it is plain `module(h)`, on a 4-D one the matching 2-D functional op. The modules, their
parameters and state dicts are unchanged, so checkpoints and ONNX exports are the same; the results
agree with the (B, C, L) path to float rounding (`tests/models/test_layout.py`).

On this path the modules' own forward is not called, so forward hooks registered on them do not fire
(register them in eval mode, or on the CLDNN, whose forward always runs), and a module type without a
2-D form here raises TypeError: add its mapping to `run` when the model gains one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def to_cl(x: Tensor) -> Tensor:
    """(B, C, L) -> (B, C, 1, L) in channels-last memory."""
    return x.unsqueeze(2).contiguous(memory_format=torch.channels_last)


def from_cl(h: Tensor) -> Tensor:
    """(B, C, 1, L) -> contiguous (B, C, L)."""
    return h.squeeze(2).contiguous()


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (1, v if isinstance(v, int) else v[0])


def _conv(m: nn.Conv1d, h: Tensor) -> Tensor:
    if m.padding_mode != "zeros":
        raise ValueError(f"channels-last path supports zero padding only, not {m.padding_mode!r}")
    padding: str | tuple[int, int] = m.padding if isinstance(m.padding, str) else (0, m.padding[0])
    return F.conv2d(h, m.weight.unsqueeze(2), m.bias, _pair(m.stride), padding, _pair(m.dilation), m.groups)


def _conv_transpose(m: nn.ConvTranspose1d, h: Tensor) -> Tensor:
    pad = m.padding if isinstance(m.padding, tuple) else (m.padding,)
    return F.conv_transpose2d(h, m.weight.unsqueeze(2), m.bias, _pair(m.stride), (0, int(pad[0])),
                              (0, m.output_padding[0]), m.groups, _pair(m.dilation))


def _batch_norm(m: nn.BatchNorm1d, h: Tensor) -> Tensor:
    """`_BatchNorm.forward`'s logic (running statistics, momentum, num_batches_tracked) on a 4-D tensor."""
    factor = 0.0 if m.momentum is None else m.momentum
    if m.training and m.track_running_stats and m.num_batches_tracked is not None:
        m.num_batches_tracked.add_(1)
        factor = 1.0 / float(m.num_batches_tracked) if m.momentum is None else m.momentum
    batch_stats = m.training or (m.running_mean is None and m.running_var is None)
    keep = not m.training or m.track_running_stats
    return F.batch_norm(h, m.running_mean if keep else None, m.running_var if keep else None,
                        m.weight, m.bias, batch_stats, factor, m.eps)


def run(module: nn.Module, h: Tensor) -> Tensor:
    """module(h) for a (B, C, L) tensor; the same computation as 2-D ops for a (B, C, 1, L) one."""
    if h.dim() == 3:
        return module(h)
    if isinstance(module, nn.Sequential):
        for m in module:
            h = run(m, h)
        return h
    if isinstance(module, nn.Conv1d):
        return _conv(module, h)
    if isinstance(module, nn.ConvTranspose1d):
        return _conv_transpose(module, h)
    if isinstance(module, nn.BatchNorm1d):
        return _batch_norm(module, h)
    if isinstance(module, nn.MaxPool1d):
        k, s = _pair(module.kernel_size), _pair(module.stride)
        return F.max_pool2d(h, k, s, (0, _pair(module.padding)[1]), _pair(module.dilation), module.ceil_mode)
    if isinstance(module, nn.ReLU):
        return F.relu(h, inplace=module.inplace)
    if isinstance(module, nn.Identity):
        return h
    raise TypeError(f"no channels-last form for {type(module).__name__}")
