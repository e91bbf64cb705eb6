"""Seeded, vectorised synthetic RadioML-style frames, reproducible bit for bit from (SynthConfig, seed).

Every (class, SNR) pair gets ``frames_per_class_snr`` frames, ordered class-major then SNR. Frames are
made in fixed blocks of one class; block ``b`` of the class at position ``k`` of its class set draws
from ``default_rng(SeedSequence(cfg.seed, spawn_key=(k, b)))``, so chunking never changes a frame and a
class subset reproduces the same frames for the classes it keeps.

Pipeline of one block: transmit (amc.data.modulate: every class's free parameters drawn per frame
from the SynthConfig ranges; digital frames modulated at an integer rate and resampled once to their
own fractional samples per symbol, with a random timing phase and the sample-rate offset folded in;
analog frames made at the output rate and resampled for the sample-rate offset) -> random phase and
carrier-frequency offset -> multipath fading -> complex AWGN at exactly the label SNR against the
measured power of each faded clean frame -> x and clean scaled by one factor so that x has unit mean
power. All signal math runs in complex64 / float32; powers are accumulated in float64.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from amc.config import CLASS_SETS, ConfigError, SynthConfig, choice
from amc.data.dsp import CDTYPE, RDTYPE, expj, farrow, resample
from amc.data.modulate import (  # noqa: F401  (re-exported: the generator's public names)
    ANALOG,
    APSK,
    CONSTELLATIONS,
    CPM,
    KNOWN_CLASSES,
    modulate,
    power,
    rrc_taps,
    sps_range,
)
from amc.data.receiver import sdr_frames

FADING_DECAY = 1.0  # tap i has power exp(-i / FADING_DECAY) before normalisation
BLOCK_SAMPLES = 2**18  # frames per block = BLOCK_SAMPLES // frame_length


@dataclass
class SynthResult:
    """Frames (N, 2, L) float32 with their clean versions, labels, SNR labels and class names."""

    x: np.ndarray
    clean: np.ndarray
    labels: np.ndarray
    snr: np.ndarray
    classes: list[str]


# ---------------------------------------------------------------- channel

def apply_cfo(x: np.ndarray, cfo: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """x * exp(j(phase + 2 pi cfo k)) in place; the ramp is an outer product of two short tables."""
    if not (np.any(cfo) or np.any(phase)):
        return x
    n, length = x.shape
    block = 1 << max(2, math.ceil(math.log2(length) / 2))
    coarse = np.arange(-(-length // block)) * block
    hi = expj(phase[:, None] / (2 * np.pi) + cfo[:, None] * coarse)
    lo = expj(cfo[:, None] * np.arange(block))
    x *= (hi[:, :, None] * lo[:, None, :]).reshape(n, -1)[:, :length]
    return x


def apply_sro(x: np.ndarray, ratio: np.ndarray, start: np.ndarray, length: int) -> np.ndarray:
    """Sample x at t_k = start + k * ratio (k < length) by cubic interpolation.

    ratio = 1 + ppm * 1e-6 is the sample-rate offset and start (integer) the timing offset; with
    ratio 1 this is an exact crop. Needs 1 <= t_k and t_k + 2 < x.shape[1].
    """
    n = x.shape[0]
    start = np.asarray(start, np.int64)
    eps = np.asarray(ratio, np.float64) - 1.0
    drift = float(np.abs(eps).max(initial=0.0)) * length
    if drift == 0.0:
        return sliding_window_view(x, length, axis=-1)[np.arange(n), start]  # a plain crop
    if drift > 1.0:
        return resample(x, start, 1.0 + eps, length)
    # the base sample is start + k, mu = k * eps stays inside the nodes
    k = np.repeat(np.arange(length), 2)  # float views interleave re, im
    win = sliding_window_view(x, length + 3, axis=-1)[np.arange(n), start - 1]
    ym, y0, y1, y2 = (win[:, d : d + length].view(x.real.dtype) for d in range(4))
    mu = (eps[:, None] * k).astype(x.real.dtype)
    return farrow(ym, y0, y1, y2, mu).view(x.dtype)


def fading_taps(n: int, cfg: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    """Static multipath taps (n, fading_taps), exponential power profile summing to 1."""
    ntap = cfg.fading_taps
    p = np.exp(-np.arange(ntap) / FADING_DECAY)
    p /= p.sum()
    g = rng.standard_normal((n, ntap, 2)).view(np.complex128)[..., 0] * np.sqrt(0.5)
    if cfg.fading == "rician":
        k = 10 ** (rng.uniform(*cfg.rician_k_db, n) / 10)
        los = np.exp(1j * rng.uniform(0, 2 * np.pi, n))
        g[:, 0] = np.sqrt(k / (k + 1)) * los + np.sqrt(1 / (k + 1)) * g[:, 0]
    return (g * np.sqrt(p)).astype(CDTYPE)


def apply_fading(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """y[k] = sum_i taps[i] x[k + T - 1 - i] (tap i delayed i samples); returns (n, len - T + 1)."""
    ntap = taps.shape[1]
    length = x.shape[1] - ntap + 1
    y = taps[:, :1] * x[:, ntap - 1 : ntap - 1 + length]
    tmp = np.empty_like(y)
    for i in range(1, ntap):
        y += np.multiply(taps[:, i : i + 1], x[:, ntap - 1 - i : ntap - 1 - i + length], out=tmp)
    return y


def complex_normal(shape: tuple[int, int], scale: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Circular complex Gaussian (n, L), E|z|^2 = scale^2 per frame, in polar (Box-Muller) form.

    |z|^2 / scale^2 = -ln(1 - u) is Exp(1), the angle uniform (float32 u: tails cut at 5.8 sigma).
    """
    u = rng.random((2, *shape), dtype=RDTYPE)
    r = np.subtract(1, u[0], out=u[0])
    np.log(r, out=r)
    r *= -1
    np.sqrt(r, out=r)
    r *= scale.astype(RDTYPE)[:, None]
    theta = u[1]
    theta *= RDTYPE(2 * np.pi)
    out = np.empty(shape, CDTYPE)
    np.multiply(np.cos(theta), r, out=out.real)
    np.multiply(np.sin(theta), r, out=out.imag)
    return out


def awgn(x: np.ndarray, snr_db: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """x plus complex white Gaussian noise of power P_x * 10^(-snr/10), P_x measured per frame."""
    var = power(x) * 10.0 ** (-np.asarray(snr_db, np.float64) / 10)
    out = complex_normal(x.shape, np.sqrt(var), rng)
    out += x
    return out


def to_iq(x: np.ndarray, scale: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Complex (n, L) times per-frame scale -> float32 (n, 2, L), the I row then the Q row."""
    if out is None:
        out = np.empty((x.shape[0], 2, x.shape[1]), np.float32)
    sc = scale.astype(x.real.dtype)[:, None]
    np.multiply(x.real, sc, out=out[:, 0])
    np.multiply(x.imag, sc, out=out[:, 1])
    return out


def frames(name: str, snr: np.ndarray, cfg: SynthConfig, rng: np.random.Generator,
           out: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(x, clean) float32 (n, 2, L) for n frames of one class at the given SNRs (dB), into out if given."""
    if cfg.class_set == "sdr":  # short-range devices through a cheap receiver: its own transmitters and channel
        xs, cs = sdr_frames(name, snr, cfg, rng)
        x_out, clean_out = out or (None, None)
        one = np.ones(len(snr))
        return to_iq(xs, one, x_out), to_iq(cs, one, clean_out)
    n, length = len(snr), cfg.length
    ntap = cfg.fading_taps if cfg.fading != "none" else 1
    need = length + ntap - 1
    max_eps = abs(cfg.max_sro_ppm) * 1e-6
    ratio = 1.0 + rng.uniform(-max_eps, max_eps, n)
    if name in ANALOG:  # made at the output rate: crop (and resample for the sample-rate offset)
        margin = 4 + math.ceil(need * max_eps)
        s = apply_sro(modulate(name, n, need + margin, cfg, rng, unit=False), ratio, np.ones(n, np.int64), need)
    else:  # the sample-rate offset joins the transmitter's own resampling to its sps
        s = modulate(name, n, need, cfg, rng, unit=False, ratio=ratio)
    phase = rng.uniform(0, 2 * np.pi, n) if cfg.random_phase else np.zeros(n)
    s = apply_cfo(s, rng.uniform(-cfg.max_cfo, cfg.max_cfo, n), phase)
    if cfg.fading != "none":
        s = apply_fading(s, fading_taps(n, cfg, rng))
    # Pre-AWGN normalisation of s to unit power is folded into the final scale (everything is linear).
    x = awgn(s, snr, rng)
    scale = 1.0 / np.sqrt(power(x))
    x_out, clean_out = out or (None, None)
    return to_iq(x, scale, x_out), to_iq(s, scale, clean_out)


# ---------------------------------------------------------------- public API

def generate(classes: list[str], labels: np.ndarray, snr: np.ndarray, cfg: SynthConfig,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(x, clean) float32 (N, 2, L) for per-frame labels (into classes) and SNRs (dB).

    Classes in index order, each in batches of block_size frames; every draw comes from rng.
    """
    for name in classes:
        choice("class", name, KNOWN_CLASSES)
    labels = np.asarray(labels, np.int64)
    snr = np.asarray(snr, np.float64)
    if labels.shape != snr.shape or labels.ndim != 1:
        raise ConfigError(f"labels and snr must be 1-D of one length, got {labels.shape} and {snr.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        raise ConfigError(f"labels must index classes (0..{len(classes) - 1})")
    x = np.empty((len(labels), 2, cfg.length), np.float32)
    clean = np.empty_like(x)
    size = block_size(cfg.length)
    for c in np.unique(labels):
        every = np.flatnonzero(labels == c)
        for idx in (every[i : i + size] for i in range(0, len(every), size)):
            x[idx], clean[idx] = frames(classes[c], snr[idx], cfg, rng)
    return x, clean


def block_size(length: int) -> int:
    return max(16, BLOCK_SAMPLES // length)


def concat(parts: list[SynthResult]) -> SynthResult:
    cat = [np.concatenate([getattr(p, k) for p in parts]) for k in ("x", "clean", "labels", "snr")]
    return SynthResult(cat[0], cat[1], cat[2], cat[3], classes=list(parts[0].classes))


def piece(r: SynthResult, lo: int, hi: int) -> SynthResult:
    return SynthResult(r.x[lo:hi], r.clean[lo:hi], r.labels[lo:hi], r.snr[lo:hi], r.classes)


def blocks(cfg: SynthConfig) -> Iterator[tuple[int, str, np.ndarray, np.random.Generator]]:
    """(class index, class name, SNRs, rng) of each block: one class per block, its own child seed."""
    cfg.validate()
    set_names = CLASS_SETS[cfg.class_set][0]
    snr_all = np.repeat(np.asarray(cfg.snrs, np.float32), cfg.frames_per_class_snr)
    size = block_size(cfg.length)
    for ci, name in enumerate(cfg.class_names):
        key = set_names.index(name)
        for b, lo in enumerate(range(0, len(snr_all), size)):
            rng = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(key, b)))
            yield ci, name, snr_all[lo : lo + size], rng


def iter_synthesize(cfg: SynthConfig, chunk: int = 8192) -> Iterator[SynthResult]:
    """synthesize(cfg) in chunks of `chunk` frames (the last may be shorter); chunking changes nothing."""
    if chunk <= 0:
        raise ConfigError(f"chunk must be > 0, got {chunk}")
    names = cfg.class_names
    pending: list[SynthResult] = []
    count = 0
    for ci, name, snr, rng in blocks(cfg):
        x, clean = frames(name, snr.astype(np.float64), cfg, rng)
        pending.append(SynthResult(x, clean, np.full(len(snr), ci, np.int64), snr, names))
        count += len(snr)
        if count >= chunk:
            whole, pos = concat(pending), 0
            while count - pos >= chunk:
                yield piece(whole, pos, pos + chunk)
                pos += chunk
            pending, count = ([piece(whole, pos, count)] if count > pos else []), count - pos
    if count:
        yield concat(pending)


def synthesize(cfg: SynthConfig) -> SynthResult:
    """All (class, SNR) pairs, frames_per_class_snr each, class-major then SNR order.

    Equal to concatenating iter_synthesize(cfg) for any chunk size (both walk the same blocks).
    """
    cfg.validate()
    total = len(cfg.class_names) * len(cfg.snrs) * cfg.frames_per_class_snr
    shape = (total, 2, cfg.length)
    out = SynthResult(np.empty(shape, np.float32), np.empty(shape, np.float32), np.empty(total, np.int64),
                      np.empty(total, np.float32), cfg.class_names)
    pos = 0
    for ci, name, snr, rng in blocks(cfg):
        hi = pos + len(snr)
        frames(name, snr.astype(np.float64), cfg, rng, out=(out.x[pos:hi], out.clean[pos:hi]))
        out.labels[pos:hi], out.snr[pos:hi] = ci, snr
        pos = hi
    return out
