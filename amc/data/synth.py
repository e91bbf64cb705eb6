"""Seeded, vectorised synthetic RadioML-style frames, reproducible bit for bit from (SynthConfig, seed).

Every (class, SNR) pair gets ``frames_per_class_snr`` frames, ordered class-major then SNR. Frames are
made in fixed blocks of one class; block ``b`` of the class at position ``k`` of its class set draws
from ``default_rng(SeedSequence(cfg.seed, spawn_key=(k, b)))``, so chunking never changes a frame and a
class subset reproduces the same frames for the classes it keeps.

Pipeline of one block: modulate (a little longer than L, steady state only) -> random phase and
carrier-frequency offset -> random timing offset and sample-rate offset (cubic interpolation, which
also crops) -> multipath fading -> complex AWGN at exactly the label SNR against the measured power of
each faded clean frame -> x and clean scaled by one factor so that x has unit mean power. All signal
math runs in complex64 / float32; powers are accumulated in float64.
"""

from __future__ import annotations

import ctypes
import functools
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from amc.config import CLASS_SETS, ConfigError, SynthConfig, choice

RRC_SPAN = 10  # RRC filter length in symbols
GAUSS_SPAN = 4  # Gaussian frequency-pulse length in symbols (GFSK / GMSK)
CPM = {"CPFSK": (0.5, None), "GFSK": (0.35, 0.5), "GMSK": (0.5, 0.3)}  # name: (modulation index h, BT)
ANALOG = {"AM-DSB": "dsb-wc", "AM-SSB": "ssb-sc", "AM-DSB-WC": "dsb-wc", "AM-DSB-SC": "dsb-sc",
          "AM-SSB-WC": "ssb-wc", "AM-SSB-SC": "ssb-sc", "WBFM": "fm", "FM": "fm"}
MESSAGE_BW = (0.15, 0.4)  # analog message bandwidth, in units of 1/sps cycles/sample
FM_DEVIATION = (0.3, 0.6)  # rms FM frequency deviation, in units of 1/sps cycles/sample
AM_INDEX = (0.5, 1.0)  # modulation index of AM with carrier
FADING_DECAY = 1.0  # tap i has power exp(-i / FADING_DECAY) before normalisation
BLOCK_SAMPLES = 2**18  # frames per block = BLOCK_SAMPLES // frame_length
CDTYPE, RDTYPE = np.complex64, np.float32  # working precision of the signal path


@dataclass
class SynthResult:
    """Frames (N, 2, L) float32 with their clean versions, labels, SNR labels and class names."""

    x: np.ndarray
    clean: np.ndarray
    labels: np.ndarray
    snr: np.ndarray
    classes: list[str]


# ---------------------------------------------------------------- constellations

def psk(m: int, offset: float = 0.0) -> np.ndarray:
    return np.exp(1j * (offset + 2 * np.pi * np.arange(m) / m))


def pam(m: int) -> np.ndarray:
    return np.arange(-(m - 1), m, 2).astype(np.complex128)


def qam(side: int, corner: int = 0) -> np.ndarray:
    """Square side x side grid; corner > 0 removes corner x corner points at each corner (cross QAM)."""
    lv = np.arange(-(side - 1), side, 2)
    i, q = np.meshgrid(lv, lv)
    keep = ~((np.abs(i) > side - 1 - 2 * corner) & (np.abs(q) > side - 1 - 2 * corner))
    return (i[keep] + 1j * q[keep]).astype(np.complex128)


def apsk(rings: tuple[int, ...], radii: tuple[float, ...]) -> np.ndarray:
    """DVB-S2-like rings: k points on radius r, each ring rotated by half a point spacing."""
    return np.concatenate([r * psk(k, np.pi / k) for k, r in zip(rings, radii)])


CONSTELLATIONS = {name: p / np.sqrt(np.mean(np.abs(p) ** 2)) for name, p in {  # unit mean power
    "BPSK": psk(2), "QPSK": psk(4, np.pi / 4), "8PSK": psk(8), "16PSK": psk(16), "32PSK": psk(32),
    "OOK": np.array([0.0, 1.0], np.complex128), "PAM4": pam(4), "4ASK": pam(4), "8ASK": pam(8),
    "QAM16": qam(4), "16QAM": qam(4), "QAM64": qam(8), "64QAM": qam(8), "256QAM": qam(16),
    "32QAM": qam(6, 1), "128QAM": qam(12, 2), "16APSK": apsk((4, 12), (1.0, 2.7)),
    "32APSK": apsk((4, 12, 16), (1.0, 2.64, 4.64)), "64APSK": apsk((4, 12, 20, 28), (1.0, 2.4, 4.3, 7.0)),
    "128APSK": apsk((16, 16, 16, 16, 16, 48), (1.0, 1.8, 2.6, 3.4, 4.2, 5.4)),
}.items()}
KNOWN_CLASSES = sorted(set(CONSTELLATIONS) | set(CPM) | set(ANALOG) | {"OQPSK"})


# ---------------------------------------------------------------- pulse shaping and modulators

def rrc_taps(beta: float, sps: int, span: int = RRC_SPAN) -> np.ndarray:
    """Root-raised-cosine taps over span symbols (span * sps + 1 taps), unit energy."""
    t = np.arange(-(span * sps // 2), span * sps // 2 + 1) / sps
    h = np.empty_like(t)
    zero = np.isclose(t, 0.0)
    edge = np.isclose(np.abs(4 * beta * t), 1.0) if beta > 0 else np.zeros_like(zero)
    rest = ~(zero | edge)
    tr = t[rest]
    h[rest] = (np.sin(np.pi * tr * (1 - beta)) + 4 * beta * tr * np.cos(np.pi * tr * (1 + beta))) / (
        np.pi * tr * (1 - (4 * beta * tr) ** 2))
    h[zero] = 1 - beta + 4 * beta / np.pi
    if edge.any():
        a = np.pi / (4 * beta)
        h[edge] = beta / np.sqrt(2) * ((1 + 2 / np.pi) * np.sin(a) + (1 - 2 / np.pi) * np.cos(a))
    return h / np.sqrt(np.sum(h**2))


def upfilter(values: np.ndarray, taps: np.ndarray, sps: int, length: int) -> np.ndarray:
    """Steady state (n, length) of real (n, K) values upsampled by sps and FIR-filtered (polyphase matmul)."""
    j = -(-len(taps) // sps)
    poly = np.zeros(j * sps, values.dtype)
    poly[: len(taps)] = taps
    poly = poly.reshape(j, sps)[::-1]
    q = -(-length // sps)
    win = sliding_window_view(values[:, : q + j - 1], j, axis=-1)
    return (win @ poly).reshape(len(values), -1)[:, :length]


def symbols_needed(length: int, sps: int, ntaps: int) -> int:
    """Symbols K that upfilter needs for length steady-state samples."""
    return -(-length // sps) + -(-ntaps // sps) - 1


def linear_modulate(symbols: np.ndarray, sps: int, rolloff: float, length: int) -> np.ndarray:
    """RRC-shaped complex baseband (n, length) from (n, K) complex symbols (steady state only)."""
    taps = rrc_taps(rolloff, sps)
    out = np.empty((len(symbols), length), CDTYPE)
    out.real = upfilter(symbols.real, taps, sps, length)
    out.imag = upfilter(symbols.imag, taps, sps, length) if np.iscomplexobj(symbols) else 0.0
    return out


def expj(turns: np.ndarray) -> np.ndarray:
    """exp(2j * pi * turns) via range reduction to [-1/2, 1/2] turn and float32 sin/cos."""
    a = turns - np.rint(turns)
    a = a.astype(RDTYPE, copy=False)
    a *= RDTYPE(2 * np.pi)
    out = np.empty(turns.shape, CDTYPE)
    np.cos(a, out=out.real)
    np.sin(a, out=out.imag)
    return out


def gaussian_pulse(sps: int, bt: float | None) -> np.ndarray:
    """CPM frequency pulse: rect of one symbol, optionally Gaussian-filtered (BT); sums to sps."""
    rect = np.ones(sps)
    if bt is None:
        return rect
    t = np.arange(-(GAUSS_SPAN * sps // 2), GAUSS_SPAN * sps // 2 + 1) / sps
    g = np.exp(-2 * np.pi**2 * bt**2 * t**2 / np.log(2))
    return np.convolve(rect, g / g.sum())


def cpfsk(bits: np.ndarray, sps: int, h: float, bt: float | None, length: int) -> np.ndarray:
    """Binary continuous-phase FSK (GFSK / GMSK when bt is given) from (n, K) bits in {0, 1}.

    Phase in turns = h/2 * sum_k a_k q(t - kT), q the phase pulse rising 0 -> 1: symbols still
    inside the pulse go through the polyphase filter, finished ones add 1 each (a prefix sum).
    """
    a = (2 * bits - 1).astype(RDTYPE)
    q = np.cumsum(gaussian_pulse(sps, bt)) / sps
    q = np.concatenate([q, np.ones(-len(q) % sps)])  # a whole number of symbols, held at 1
    nq = -(-length // sps)
    turns = upfilter(a, q, sps, nq * sps).reshape(len(a), nq, sps)
    done = np.zeros((len(a), nq), RDTYPE)
    np.cumsum(a[:, : nq - 1], axis=-1, out=done[:, 1:])
    turns += done[:, :, None]
    turns *= RDTYPE(h / 2)
    return expj(turns.reshape(len(a), -1)[:, :length])


def fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (a quick FFT length)."""
    smooth = (2**a * 3**b * 5**c for a in range(n.bit_length() + 1) for b in range(13) for c in range(9))
    return min(p for p in smooth if p >= n)


def analog(kind: str, n: int, length: int, sps: int, rng: np.random.Generator) -> np.ndarray:
    """AM (DSB / SSB, with or without carrier) or FM of a band-limited random message.

    The message is low-pass Gaussian noise made in the frequency domain: complex Gaussian
    coefficients on bins 1..K (K / length <= bandwidth), so SSB is the analytic signal (one-sided
    spectrum) and the FM phase is the exact integral (coefficients divided by j 2 pi k / length).
    """
    out_len, length = length, fast_len(length)
    bw = rng.uniform(*MESSAGE_BW, n) / sps
    kmax = np.clip(np.floor(bw * length), 1, length // 2 - 1).astype(np.int64)
    k = np.arange(1, int(kmax.max()) + 1)
    coef = rng.standard_normal((n, len(k), 2), RDTYPE).view(CDTYPE)[..., 0]
    coef *= k <= kmax[:, None]
    if kind.startswith("ssb"):
        spec = np.zeros((n, length), CDTYPE)
        spec[:, 1 : len(k) + 1] = coef
        sig: np.ndarray = np.fft.ifft(spec, axis=-1)  # message + j Hilbert(message)
    else:
        spec = np.zeros((n, length // 2 + 1), CDTYPE)
        spec[:, 1 : len(k) + 1] = coef
        if kind == "fm":  # phase in turns = dev / rms(m) * integral of m
            rms = np.sqrt(2 * np.sum(np.abs(coef) ** 2, axis=-1, dtype=np.float64)) / length
            dev = rng.uniform(*FM_DEVIATION, n) / sps
            spec[:, 1 : len(k) + 1] *= (length / (2j * np.pi * k)).astype(CDTYPE)
            spec *= (dev / rms).astype(RDTYPE)[:, None]
            return expj(np.fft.irfft(spec, n=length, axis=-1)[:, :out_len])
        sig = np.fft.irfft(spec, n=length, axis=-1)
    sig = sig[:, :out_len]
    if kind.endswith("sc"):
        return sig.astype(CDTYPE)
    sig *= (rng.uniform(*AM_INDEX, n) / np.max(np.abs(sig), axis=-1)).astype(RDTYPE)[:, None]
    sig += 1
    return sig.astype(CDTYPE)


def modulate(name: str, n: int, length: int, cfg: SynthConfig, rng: np.random.Generator,
             unit: bool = True) -> np.ndarray:
    """n clean complex baseband frames (n, length) of one class, at unit mean power when unit."""
    choice("class", name, KNOWN_CLASSES)
    sps = cfg.sps
    if name in CONSTELLATIONS or name == "OQPSK":
        pts = CONSTELLATIONS["QPSK" if name == "OQPSK" else name]
        delay = sps // 2 if name == "OQPSK" else 0
        k = symbols_needed(length + delay, sps, RRC_SPAN * sps + 1)
        sym = pts.astype(CDTYPE)[rng.integers(0, len(pts), (n, k))]
        if np.all(pts.imag == 0):
            sym = np.ascontiguousarray(sym.real)
        s = linear_modulate(sym, sps, cfg.rolloff, length + delay)
        if delay:  # offset QPSK: Q lags I by half a symbol
            q = s.imag[:, :length].copy()
            s = s[:, delay:].copy()
            s.imag = q
    elif name in CPM:
        h, bt = CPM[name]
        k = symbols_needed(length, sps, len(gaussian_pulse(sps, bt)))
        s = cpfsk(rng.integers(0, 2, (n, k)), sps, h, bt, length)
    else:
        s = analog(ANALOG[name], n, length, sps, rng)
    if unit:
        s *= (1.0 / np.sqrt(power(s))).astype(RDTYPE)[:, None]
    return s


# ---------------------------------------------------------------- channel

def power(x: np.ndarray) -> np.ndarray:
    """Mean |x|^2 of each complex frame (n,)."""
    v = x.view(x.real.dtype)
    return np.einsum("ij,ij->i", v, v, dtype=np.float64) / x.shape[-1]


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


def farrow(ym: np.ndarray, y0: np.ndarray, y1: np.ndarray, y2: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Cubic Lagrange interpolation (nodes -1, 0, 1, 2) at offsets mu; real arrays of one shape."""
    c3 = y2 - ym
    c3 *= 1 / 6
    c2 = y0 - y1
    c2 *= 0.5
    c3 += c2  # c3 = (y2 - ym) / 6 + (y0 - y1) / 2
    np.add(ym, y1, out=c2)
    c2 *= 0.5
    c2 -= y0  # c2 = (ym + y1) / 2 - y0
    c1 = y1 - y0
    c1 -= c2
    c1 -= c3  # c1 = y1 - y0 - c2 - c3
    for c in (c2, c1, y0):  # Horner, in place
        c3 *= mu
        c3 += c
    return c3


def apply_sro(x: np.ndarray, ratio: np.ndarray, start: np.ndarray, length: int) -> np.ndarray:
    """Sample x at t_k = start + k * ratio (k < length) by cubic interpolation.

    ratio = 1 + ppm * 1e-6 is the sample-rate offset and start (integer) the timing offset; with
    ratio 1 this is an exact crop. Needs 1 <= t_k and t_k + 2 < x.shape[1].
    """
    n, total = x.shape
    start = np.asarray(start, np.int64)
    eps = np.asarray(ratio, np.float64) - 1.0
    drift = float(np.abs(eps).max(initial=0.0)) * length
    if drift == 0.0:
        return sliding_window_view(x, length, axis=-1)[np.arange(n), start]  # a plain crop
    k = np.repeat(np.arange(length), 2)  # float views interleave re, im
    if drift <= 1.0:  # the base sample is start + k, mu = k * eps stays inside the nodes
        win = sliding_window_view(x, length + 3, axis=-1)[np.arange(n), start - 1]
        ym, y0, y1, y2 = (win[:, d : d + length].view(x.real.dtype) for d in range(4))
        mu = (eps[:, None] * k).astype(x.real.dtype)
    else:
        t = start[:, None] + k * (1.0 + eps[:, None])
        i = np.floor(t)
        mu = (t - i).astype(x.real.dtype)
        base = 2 * (i.astype(np.int64) + (np.arange(n) * total)[:, None]) + np.tile([0, 1], length)
        flat = x.view(x.real.dtype).ravel()
        ym, y0, y1, y2 = (flat[base + 2 * d] for d in (-1, 0, 1, 2))
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
    n, length = len(snr), cfg.length
    ntap = cfg.fading_taps if cfg.fading != "none" else 1
    need = length + ntap - 1
    max_eps = abs(cfg.max_sro_ppm) * 1e-6
    lead = 1 if max_eps > 0 else 0
    margin = 3 + math.ceil(need * max_eps) if max_eps > 0 else 0
    s = modulate(name, n, need + cfg.sps + margin + lead, cfg, rng, unit=False)
    phase = rng.uniform(0, 2 * np.pi, n) if cfg.random_phase else np.zeros(n)
    cfo = rng.uniform(-cfg.max_cfo, cfg.max_cfo, n)
    start = rng.integers(0, cfg.sps, n) + lead
    ratio = 1.0 + rng.uniform(-max_eps, max_eps, n)
    s = apply_sro(apply_cfo(s, cfo, phase), ratio, start, need)
    if cfg.fading != "none":
        s = apply_fading(s, fading_taps(n, cfg, rng))
    # Pre-AWGN normalisation of s to unit power is folded into the final scale (everything is linear).
    x = awgn(s, snr, rng)
    scale = 1.0 / np.sqrt(power(x))
    x_out, clean_out = out or (None, None)
    return to_iq(x, scale, x_out), to_iq(s, scale, clean_out)


# ---------------------------------------------------------------- public API

@functools.cache
def tune_malloc() -> bool:
    """Once per process, let glibc keep freed heap memory (mmap threshold 32 MiB, trim threshold 256 MiB).

    Otherwise each block's tens of MB of numpy temporaries go back to the OS and are page-faulted in
    again: 20-40% of the run time on VMs. False (a no-op) where glibc is not available.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-3, 32 << 20)) and bool(libc.mallopt(-1, 256 << 20))  # MMAP, TRIM
    except (OSError, AttributeError):
        return False


def generate(classes: list[str], labels: np.ndarray, snr: np.ndarray, cfg: SynthConfig,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(x, clean) float32 (N, 2, L) for per-frame labels (into classes) and SNRs (dB).

    Classes in index order, each in batches of block_size frames; every draw comes from rng.
    """
    for name in classes:
        choice("class", name, KNOWN_CLASSES)
    tune_malloc()
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
    tune_malloc()
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
