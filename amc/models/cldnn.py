"""The CLDNN family of the ablation notes: one configurable module for every preset.

Data flow for a batch of IQ frames ``x`` (B, 2, L), float32::

    x_n, scale = normalise(x)               per-frame power normalisation, mean(I^2 + Q^2) = 1
    denoised   = denoise(x_n)               residual 1-D conv encoder-decoder (x_n + residual)
    eta        = estimate_eta(x_n, denoised) noise fraction N / (S + N) in (0, 1), sigmoid head
    logits     = classify(x_n, denoised, eta)

Parts, switched by ``ModelConfig``:

* **Denoiser** (``denoiser``): input conv, ``denoiser_depth`` strided-conv levels down (width
  ``denoiser_channels``, doubling once, capped at 2x), a bottleneck conv, ConvTranspose levels up with
  additive skip connections and a refining conv, and an output conv giving a 2-channel residual
  (initialised small, so the denoiser starts near the identity). Frames whose length is not divisible
  by ``2**denoiser_depth`` are zero-padded on the right and cropped back.
* **Noise-fraction head** (present when ``denoiser`` or ``film``): two strided convs over the raw frame
  and, with a denoiser, the residual ``x_n - denoised``; global mean pooling; plus the scalar features
  log E|x|^4 and (with a denoiser) log E|x_n - denoised|^2; a 2-layer MLP gives a logit, eta =
  sigmoid(logit). ``snr_db = 10 log10((1 - eta) / eta) = -10 / ln(10) * logit``, clamped to
  ``snr_range_db``. Without a noise head (the ``cldnn`` preset) eta, its logit and snr_db are all
  zeros: not estimated; check ``model.has_noise_head``.
* **FiLM** (``film``): an MLP from (2 eta - 1, logit(eta) / 5) to per-channel (delta, beta) for every
  body conv block; gamma = 1 + delta. Its last layer is zero-initialised, so FiLM is exactly the
  identity at init. Applied after BatchNorm, before ReLU.
* **Classifier**: a stem (Conv1d(2, C, k) + BN + ReLU) on the raw frame. With ``dual_path`` a second
  stem sees the denoised frame, and the two are fused by concat + 1x1 conv + BN + ReLU. With a denoiser
  but no dual path the one stem sees the denoised frame. Then ``conv_blocks`` body blocks
  (Conv1d(C, C, k) + BN + FiLM + ReLU + MaxPool); the pooling factors (powers of 2, larger first) bring
  the sequence to <= ``MAX_RNN_STEPS`` steps at ``frame_length`` (128 -> 64, 1024 -> 64). Then an
  LSTM / GRU (batch_first); the last output and the mean over time (2H) feed the dense head
  Linear -> ReLU -> Dropout -> Linear(num_classes).
* **Expert features** (``expert``): the 13 features of ``amc.models.expert`` from the normalised raw
  frame, through BatchNorm, concatenated to the dense head input.

Export: only real-valued ops that ONNX opset 17 and TensorRT's ONNX parser support (Conv,
ConvTranspose, BatchNormalization, MaxPool, LSTM / GRU, Gemm / MatMul, elementwise, reductions, Atan,
Where, ...), no data-dependent control flow. ``InferenceModel`` is the export wrapper with the
constant input / output names.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from amc.config import ModelConfig
from amc.models.expert import NUM_EXPERT_FEATURES, expert_features
from amc.models.layout import from_cl, run, to_cl

INPUT_NAME = "iq"
OUTPUT_NAMES = ["logits", "probs", "eta", "snr_db"]
DENOISED_NAME = "denoised"
MAX_RNN_STEPS = 64  # pooling target of the body at cfg.frame_length
NOISE_HEAD_WIDTH = 32
FILM_HIDDEN = 32
NORM_EPS = 1e-8
PEAK_MIN = 1e-30  # smallest frame peak divided by (an all-zero frame stays zero)
DB_PER_NEPER = 10.0 / math.log(10.0)


class ModelOutput(NamedTuple):
    logits: Tensor  # (B, C)
    eta: Tensor  # (B,) noise fraction N / (S + N); zeros without a noise head
    snr_db: Tensor  # (B,) clamped to cfg.snr_range_db; zeros without a noise head
    denoised: Tensor  # (B, 2, L), normalised scale; the normalised input without a denoiser
    eta_logit: Tensor  # (B,) logit of eta (for BCE-with-logits); zeros without a noise head


def normalise(x: Tensor) -> tuple[Tensor, Tensor]:
    """Unit mean power per frame, mean(I^2 + Q^2) = 1; returns (x_n, scale) with x_n = x / scale, scale (B, 1, 1).

    The frame is first divided by its largest |sample|, so that squaring cannot overflow float32 (or
    float16) for any finite input: 1e19-scaled frames get the same answer as 1.0-scaled ones. An all-zero
    frame stays zero (its peak is clamped to a tiny positive value)."""
    peak = x.abs().amax(dim=(1, 2), keepdim=True).clamp_min(PEAK_MIN)
    y = x / peak
    power = 2.0 * (y * y).mean(dim=(1, 2), keepdim=True)  # mean over time of I^2 + Q^2, <= 2
    scale = torch.sqrt(power + NORM_EPS)
    return y / scale, peak * scale


def snr_db_from_logit(logit: Tensor, snr_range_db: tuple[float, float]) -> Tensor:
    """10 log10((1 - eta) / eta) for eta = sigmoid(logit), i.e. -logit * 10 / ln 10, clamped."""
    return torch.clamp(-DB_PER_NEPER * logit, snr_range_db[0], snr_range_db[1])


def snr_db_from_eta(eta: Tensor, snr_range_db: tuple[float, float]) -> Tensor:
    """10 log10((1 - eta) / eta) from logs of eta clamped away from 0 and 1, then clamped to range."""
    e = torch.clamp(eta, 1e-7, 1.0 - 1e-7)
    return torch.clamp(DB_PER_NEPER * (torch.log1p(-e) - torch.log(e)), snr_range_db[0], snr_range_db[1])


def conv_bn_relu(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    pad: int | str = "same" if stride == 1 else kernel // 2
    return nn.Sequential(
        nn.Conv1d(cin, cout, kernel, stride=stride, padding=pad, bias=False),
        nn.BatchNorm1d(cout),
        nn.ReLU(inplace=True),
    )


def _static_pad(x: Tensor, multiple: int) -> tuple[int, int]:
    """(L, right padding to a multiple) as Python ints. The time axis is static in every export (only
    the batch axis is dynamic), so the tracer may bake these in: its warning is silenced here (not under
    torch.compile, which cannot trace ``warnings.catch_warnings`` and would break the graph there)."""
    if torch.compiler.is_compiling():
        length = int(x.shape[-1])
        return length, (-length) % multiple
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        length = int(x.shape[-1])
    return length, (-length) % multiple


class Denoiser(nn.Module):
    """Residual 1-D conv encoder-decoder: (B, 2, L) -> x + residual, same shape."""

    def __init__(self, channels: int, depth: int) -> None:
        super().__init__()
        self.depth = depth
        widths = [channels * min(2**i, 2) for i in range(depth + 1)]
        self.inp = conv_bn_relu(2, widths[0], 7)
        self.down = nn.ModuleList(conv_bn_relu(widths[i], widths[i + 1], 3, stride=2) for i in range(depth))
        self.mid = conv_bn_relu(widths[-1], widths[-1], 3)
        self.up = nn.ModuleList(
            nn.ConvTranspose1d(widths[i + 1], widths[i], 4, stride=2, padding=1) for i in range(depth)
        )
        self.refine = nn.ModuleList(conv_bn_relu(widths[i], widths[i], 3) for i in range(depth))
        self.out = nn.Conv1d(widths[0], 2, 3, padding=1)
        with torch.no_grad():  # start near the identity but keep every layer trainable
            self.out.weight.mul_(0.1)
            assert self.out.bias is not None
            self.out.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        """(B, 2, L) or channels-last (B, 2, 1, L) (`amc.models.layout`) -> the same shape."""
        length, pad = _static_pad(x, 2**self.depth)
        h = F.pad(x, (0, pad)) if pad else x
        h = run(self.inp, h)
        skips = []
        for down in self.down:
            skips.append(h)
            h = run(down, h)
        h = run(self.mid, h)
        for i in reversed(range(self.depth)):
            h = run(self.refine[i], F.relu(run(self.up[i], h)) + skips[i])
        residual = run(self.out, h)
        if pad:
            residual = residual[..., :length]
        return x + residual


class NoiseHead(nn.Module):
    """Noise fraction logit from the frame (and the denoiser residual): (B, c, L) -> (B,)."""

    def __init__(self, with_residual: bool) -> None:
        super().__init__()
        self.with_residual = with_residual
        cin = 4 if with_residual else 2
        w = NOISE_HEAD_WIDTH
        self.convs = nn.Sequential(conv_bn_relu(cin, w, 7, stride=2), conv_bn_relu(w, w, 5, stride=2))
        n_scalar = 2 if with_residual else 1
        self.mlp = nn.Sequential(nn.Linear(w + n_scalar, w), nn.ReLU(inplace=True), nn.Linear(w, 1))

    def forward(self, x_n: Tensor, denoised: Tensor, channels_last: bool = False) -> Tensor:
        p = (x_n * x_n).sum(dim=1)  # |x|^2, (B, L)
        scalars = [torch.log((p * p).mean(dim=-1, keepdim=True) + 1e-6)]
        h = x_n
        if self.with_residual:
            r = x_n - denoised
            h = torch.cat([x_n, r], dim=1)
            scalars.append(torch.log(2.0 * (r * r).mean(dim=(1, 2)).unsqueeze(-1) + 1e-6))
        pooled = run(self.convs, to_cl(h)).mean(dim=-1).flatten(1) if channels_last else self.convs(h).mean(dim=-1)
        return self.mlp(torch.cat([pooled] + scalars, dim=-1)).squeeze(-1)


class FiLM(nn.Module):
    """eta (B,) -> per-block (gamma, beta), each (B, C, 1); identity at init (zero last layer)."""

    def __init__(self, channels: int, blocks: int) -> None:
        super().__init__()
        self.channels, self.blocks = channels, blocks
        self.mlp = nn.Sequential(
            nn.Linear(2, FILM_HIDDEN), nn.ReLU(inplace=True), nn.Linear(FILM_HIDDEN, 2 * channels * blocks)
        )
        last = self.mlp[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, eta: Tensor) -> list[tuple[Tensor, Tensor]]:
        e = torch.clamp(eta, 1e-4, 1.0 - 1e-4)
        feats = torch.stack([2.0 * e - 1.0, (torch.log(e) - torch.log1p(-e)) / 5.0], dim=-1)
        out = self.mlp(feats).reshape(-1, self.blocks, 2, self.channels, 1)
        return [(1.0 + out[:, b, 0], out[:, b, 1]) for b in range(self.blocks)]


def pool_factors(frame_length: int, blocks: int, max_steps: int = MAX_RNN_STEPS) -> list[int]:
    """Power-of-2 max-pool factor per body block so frame_length / prod <= max_steps (larger first)."""
    k = 0
    while frame_length / 2**k > max_steps:
        k += 1
    exps = [k // blocks + (1 if b < k % blocks else 0) for b in range(blocks)]
    return [2**e for e in exps]


class BodyBlock(nn.Module):
    def __init__(self, channels: int, kernel: int, pool: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, padding="same", bias=False)
        self.bn = nn.BatchNorm1d(channels)
        self.pool = nn.MaxPool1d(pool) if pool > 1 else nn.Identity()

    def forward(self, h: Tensor, film: tuple[Tensor, Tensor] | None) -> Tensor:
        """h: (B, C, L) or channels-last (B, C, 1, L); film: per-frame (gamma, beta), each (B, C, 1)."""
        h = run(self.bn, run(self.conv, h))
        if film is not None:
            gamma, beta = (film[0].unsqueeze(-1), film[1].unsqueeze(-1)) if h.dim() == 4 else film
            h = gamma * h + beta
        return run(self.pool, F.relu(h))


class CLDNN(nn.Module):
    """Configurable CLDNN with optional denoiser, noise-fraction head, FiLM, dual path, experts."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.conv_channels
        self.snr_range_db = (float(cfg.snr_range_db[0]), float(cfg.snr_range_db[1]))
        self.denoiser = Denoiser(cfg.denoiser_channels, cfg.denoiser_depth) if cfg.denoiser else None
        self.has_noise_head = cfg.denoiser or cfg.film
        self.noise_head = NoiseHead(with_residual=cfg.denoiser) if self.has_noise_head else None
        self.film = FiLM(c, cfg.conv_blocks) if cfg.film else None
        self.stem = conv_bn_relu(2, c, cfg.kernel_size)
        self.stem_denoised = conv_bn_relu(2, c, cfg.kernel_size) if cfg.dual_path else None
        self.fuse = conv_bn_relu(2 * c, c, 1) if cfg.dual_path else None
        self.pools = pool_factors(cfg.frame_length, cfg.conv_blocks)
        self.body = nn.ModuleList(BodyBlock(c, cfg.kernel_size, p) for p in self.pools)
        rnn_cls = nn.LSTM if cfg.rnn == "lstm" else nn.GRU
        self.rnn = rnn_cls(c, cfg.rnn_hidden, num_layers=cfg.rnn_layers, batch_first=True,
                           dropout=cfg.dropout if cfg.rnn_layers > 1 else 0.0)
        self.expert_norm = nn.BatchNorm1d(NUM_EXPERT_FEATURES) if cfg.expert else None
        n_in = 2 * cfg.rnn_hidden + (NUM_EXPERT_FEATURES if cfg.expert else 0)
        self.head = nn.Sequential(
            nn.Linear(n_in, cfg.dense), nn.ReLU(inplace=True), nn.Dropout(cfg.dropout),
            nn.Linear(cfg.dense, cfg.num_classes),
        )
        # Training on the CPU runs the conv stack on channels-last (B, C, 1, L) maps (amc.models.layout):
        # the same modules and results, faster. Eval mode (validation, export, inference) keeps (B, C, L).
        self.channels_last = False

    def _cl(self) -> bool:
        return self.channels_last and self.training

    # -- parts -------------------------------------------------------------------------------------
    @staticmethod
    def normalise(x: Tensor) -> tuple[Tensor, Tensor]:
        return normalise(x)

    def denoise(self, x_n: Tensor) -> Tensor:
        """Denoised frame (B, 2, L) at the normalised scale; x_n itself without a denoiser."""
        if self.denoiser is None:
            return x_n
        return from_cl(self.denoiser(to_cl(x_n))) if self._cl() else self.denoiser(x_n)

    def eta_logit(self, x_n: Tensor, denoised: Tensor) -> Tensor:
        """Logit of the noise fraction, (B,); zeros without a noise head."""
        if self.noise_head is None:
            return torch.zeros_like(x_n[:, 0, 0])
        return self.noise_head(x_n, denoised, self._cl())

    def estimate_eta(self, x_n: Tensor, denoised: Tensor) -> Tensor:
        """Noise fraction N / (S + N) in (0, 1), (B,); zeros without a noise head."""
        if self.noise_head is None:
            return torch.zeros_like(x_n[:, 0, 0])
        return torch.sigmoid(self.noise_head(x_n, denoised, self._cl()))

    def stem_features(self, x_n: Tensor) -> Tensor:
        """Raw-path stem features (B, C, L) of a normalised frame (for feature preservation)."""
        return from_cl(run(self.stem, to_cl(x_n))) if self._cl() else self.stem(x_n)

    def classify(self, x_n: Tensor, denoised: Tensor, eta: Tensor) -> Tensor:
        """Logits (B, num_classes) from the normalised frame, its denoised version and eta."""
        cl = self._cl()
        raw, den = (to_cl(x_n), to_cl(denoised)) if cl else (x_n, denoised)
        if self.fuse is not None and self.stem_denoised is not None:
            h = run(self.fuse, torch.cat([run(self.stem, raw), run(self.stem_denoised, den)], dim=1))
        elif self.denoiser is not None:
            h = run(self.stem, den)
        else:
            h = run(self.stem, raw)
        films = self.film(eta) if self.film is not None else [None] * len(self.body)
        for block, film in zip(self.body, films):
            h = block(h, film)
        # (B, C, T) -> (B, T, C); from channels-last (B, C, 1, T) memory that view is already contiguous
        seq, _ = self.rnn((h.squeeze(2) if cl else h).transpose(1, 2))  # (B, T, H)
        feats = [seq[:, -1], seq.mean(dim=1)]
        if self.expert_norm is not None:
            feats.append(self.expert_norm(expert_features(x_n).unsqueeze(-1)).squeeze(-1))
        return self.head(torch.cat(feats, dim=-1))

    def forward(self, x: Tensor) -> ModelOutput:
        x_n, _ = normalise(x)
        denoised = self.denoise(x_n)
        if self.noise_head is None:
            zeros = torch.zeros_like(x_n[:, 0, 0])
            return ModelOutput(self.classify(x_n, denoised, zeros), zeros, zeros, denoised, zeros)
        logit = self.noise_head(x_n, denoised, self._cl())
        eta = torch.sigmoid(logit)
        logits = self.classify(x_n, denoised, eta)
        return ModelOutput(logits, eta, snr_db_from_logit(logit, self.snr_range_db), denoised, logit)


def build_model(cfg: ModelConfig) -> CLDNN:
    """Validate the config and build the model."""
    return CLDNN(cfg.validate())


class InferenceModel(nn.Module):
    """Eval-mode export wrapper: x (B, 2, L) -> (logits, probs, eta, snr_db[, denoised]).

    Puts the wrapped model into eval mode (and keeps it there: ``train()`` is a no-op).
    """

    def __init__(self, model: CLDNN, with_denoised: bool = False) -> None:
        super().__init__()
        self.model = model
        self.with_denoised = with_denoised
        super().train(False)

    def train(self, mode: bool = True) -> InferenceModel:
        return self

    @property
    def output_names(self) -> list[str]:
        return OUTPUT_NAMES + ([DENOISED_NAME] if self.with_denoised else [])

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        out = self.model(x)
        probs = torch.softmax(out.logits, dim=-1)
        if self.with_denoised:
            return out.logits, probs, out.eta, out.snr_db, out.denoised
        return out.logits, probs, out.eta, out.snr_db


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _rnn_flops(m: nn.LSTM | nn.GRU, steps: int) -> int:
    gates = 4 if isinstance(m, nn.LSTM) else 3
    total = 0
    for layer in range(m.num_layers):
        cin = m.input_size if layer == 0 else m.hidden_size
        total += 2 * gates * (cin + m.hidden_size) * m.hidden_size * steps
    return total


def flops_per_frame(model: nn.Module, frame_length: int) -> int:
    """FLOPs (2 x multiply-adds) of Conv1d / ConvTranspose1d / Linear / LSTM / GRU for one frame.

    Counted with forward hooks on a single random frame in eval mode; elementwise ops, norms,
    pooling and activations are not counted.
    """
    total = 0

    def hook(m: nn.Module, inputs: tuple[Tensor, ...], output: Any) -> None:
        nonlocal total
        if isinstance(m, nn.Conv1d):
            out = output
            total += 2 * out.shape[1] * out.shape[2] * (m.in_channels // m.groups) * m.kernel_size[0]
        elif isinstance(m, nn.ConvTranspose1d):
            x = inputs[0]
            total += 2 * x.shape[1] * x.shape[2] * (m.out_channels // m.groups) * m.kernel_size[0]
        elif isinstance(m, nn.Linear):
            total += 2 * m.in_features * m.out_features * (output.numel() // m.out_features)
        elif isinstance(m, (nn.LSTM, nn.GRU)):
            total += _rnn_flops(m, inputs[0].shape[1 if m.batch_first else 0])

    kinds = (nn.Conv1d, nn.ConvTranspose1d, nn.Linear, nn.LSTM, nn.GRU)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.randn(1, 2, frame_length))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total
