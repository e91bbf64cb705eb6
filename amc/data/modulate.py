"""Transmitters of the synthetic generator: every class with its free parameters drawn per frame.

Each parameter is drawn per frame from its `SynthConfig` range (docs/data.md gives the ranges and
their sources); a range of one value fixes it. Draws do not depend on a range's width (a uniform
u in [0, 1) is always drawn and mapped), so narrowing one parameter leaves every other random
choice of the frame (symbols, message, channel, noise) as it was.

* Linear modulations (PSK, QAM, PAM / ASK, OOK, APSK, OQPSK): random symbols, root-raised-cosine
  pulses of the frame's roll-off, at the frame's samples per symbol. A frame of fractional sps is
  modulated at the next even integer rate and resampled (cubic) to its own, with a random timing
  phase; the receiver's sample-rate offset is folded into that one resampling.
* CPFSK / GFSK / GMSK: binary continuous-phase FSK with the frame's modulation index h and, for the
  Gaussian variants, its BT; the same sps handling.
* Analog AM (DSB / SSB, with or without carrier) and FM of a band-limited random message, made at
  the output rate: message bandwidth, AM index (with carrier; > 1 over-modulates), SSB sideband,
  FM peak deviation, all in cycles per output sample.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from amc.config import SynthConfig, choice, span
from amc.data.dsp import CDTYPE, RDTYPE, expj, fast_len, resample, symbols_needed, upfilter

RRC_SPAN = 16  # RRC filter length in symbols (roll-off 0.1 needs more than 10 to keep ISI below 2 % EVM)
GAUSS_SPAN = 4  # Gaussian frequency-pulse length in symbols (GFSK / GMSK)
# name: (SynthConfig field of the modulation index h or a fixed h, field of BT or None for rectangular pulses)
CPM: dict[str, tuple[str | float, str | None]] = {
    "CPFSK": ("cpfsk_index", None), "GFSK": ("gfsk_index", "gfsk_bt"), "GMSK": (0.5, "gmsk_bt")}
ANALOG = {"AM-DSB": "dsb-wc", "AM-SSB": "ssb-sc", "AM-DSB-WC": "dsb-wc", "AM-DSB-SC": "dsb-sc",
          "AM-SSB-WC": "ssb-wc", "AM-SSB-SC": "ssb-sc", "WBFM": "fm", "FM": "fm"}


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


# DVB-S2 / S2X rings: points per ring and nominal radii (ring 1 = 1); each ring rotated by half a spacing.
APSK = {"16APSK": ((4, 12), (1.0, 2.7)), "32APSK": ((4, 12, 16), (1.0, 2.64, 4.64)),
        "64APSK": ((4, 12, 20, 28), (1.0, 2.4, 4.3, 7.0)),
        "128APSK": ((16, 16, 16, 16, 16, 48), (1.0, 1.8, 2.6, 3.4, 4.2, 5.4))}


def apsk(rings: tuple[int, ...], radii: tuple[float, ...]) -> np.ndarray:
    """DVB-S2-like rings: k points on radius r, each ring rotated by half a point spacing."""
    return np.concatenate([r * psk(k, np.pi / k) for k, r in zip(rings, radii)])


def unit_power(p: np.ndarray) -> np.ndarray:
    return p / np.sqrt(np.mean(np.abs(p) ** 2))


CONSTELLATIONS = {name: unit_power(p) for name, p in {
    "BPSK": psk(2), "QPSK": psk(4, np.pi / 4), "8PSK": psk(8), "16PSK": psk(16), "32PSK": psk(32),
    "OOK": np.array([0.0, 1.0], np.complex128), "PAM4": pam(4), "4ASK": pam(4), "8ASK": pam(8),
    "QAM16": qam(4), "16QAM": qam(4), "QAM64": qam(8), "64QAM": qam(8), "256QAM": qam(16),
    "32QAM": qam(6, 1), "128QAM": qam(12, 2), **{k: apsk(*v) for k, v in APSK.items()},
}.items()}
KNOWN_CLASSES = sorted(set(CONSTELLATIONS) | set(CPM) | set(ANALOG) | {"OQPSK"})


# The generator's fixed realisation before per-frame ranges (amc <= 0.1): one value per parameter, as in
# RML2016's GNU Radio scripts for sps / roll-off / CPFSK (GFSK used h 0.35, BT 0.5). SynthConfig(**LEGACY)
# reproduces that realisation (not its bits); benchmarks/robustness.py trains on it as "before".
LEGACY: dict[str, object] = dict(
    sps=8, rolloff=0.35, apsk_ring_scale=1.0, cpfsk_index=0.5, gfsk_index=0.35, gfsk_bt=0.5, gmsk_bt=0.3,
    am_index=(0.5, 1.0), ssb_sideband="upper", fm_deviation=(0.08, 0.19), message_bw=(0.019, 0.05))


def draw(rng: np.random.Generator, value: object, n: int, log: bool = False) -> np.ndarray:
    """n values uniform (or log-uniform) over the range value (a number fixes it); always draws n."""
    lo, hi = span(value)
    u = rng.random(n)
    if log and lo > 0:
        return lo * (hi / lo) ** u
    return lo + (hi - lo) * u


def sps_range(cfg: SynthConfig) -> tuple[float, float]:
    """The sps range after the cap L / min_symbols (never below the range's lower end)."""
    lo, hi = span(cfg.sps)
    return lo, max(lo, min(hi, cfg.length / cfg.min_symbols))


# ---------------------------------------------------------------- pulse shaping

def rrc_taps(beta: float | np.ndarray, sps: int, span_symbols: int = RRC_SPAN) -> np.ndarray:
    """Root-raised-cosine taps over span symbols (span * sps + 1 taps), unit energy.

    beta a number gives (T,); an array of n roll-offs gives one filter per row, (n, T).
    """
    b = np.atleast_1d(np.asarray(beta, np.float64))[:, None]
    t = (np.arange(-(span_symbols * sps // 2), span_symbols * sps // 2 + 1) / sps)[None, :]
    x = 4 * b * t
    zero = t == 0
    edge = np.isclose(np.abs(x), 1.0) & (b > 0)
    den = np.pi * t * (1 - x**2)
    den = np.where(zero | edge, 1.0, den)
    h = (np.sin(np.pi * t * (1 - b)) + x * np.cos(np.pi * t * (1 + b))) / den
    h = np.where(zero, 1 - b + 4 * b / np.pi, h)
    a = np.pi / (4 * np.where(b > 0, b, 1.0))
    h = np.where(edge, b / np.sqrt(2) * ((1 + 2 / np.pi) * np.sin(a) + (1 - 2 / np.pi) * np.cos(a)), h)
    h /= np.sqrt(np.sum(h**2, axis=-1, keepdims=True))
    return h[0] if np.ndim(beta) == 0 else h


ROLLOFF_STEP = 1 / 400  # grid of the per-frame roll-off table; between rows taps are interpolated


@functools.cache
def rrc_table(sps: int) -> np.ndarray:
    """RRC taps (401, T) for roll-off 0, 1/400, ..., 1 at sps (float32)."""
    return rrc_taps(np.linspace(0.0, 1.0, round(1 / ROLLOFF_STEP) + 1), sps).astype(RDTYPE)


def rrc_rows(beta: np.ndarray, sps: int) -> np.ndarray:
    """Per-frame RRC taps (n, T), linear in roll-off between rows of rrc_table (exact on its grid;
    error < 1e-5 of the peak tap elsewhere): the direct formula costs more than the rest of a frame."""
    table = rrc_table(sps)
    pos = np.clip(np.asarray(beta, np.float64) / ROLLOFF_STEP, 0, len(table) - 1)
    i = np.minimum(pos.astype(np.int64), len(table) - 2)
    w = (pos - i).astype(RDTYPE)[:, None]
    out = table[i + 1] - table[i]
    out *= w
    out += table[i]
    return out


def phase_pulse(sps: int, bt: np.ndarray | None) -> np.ndarray:
    """CPM phase pulse q (rising 0 -> 1) over whole symbols: rect of one symbol, optionally
    Gaussian-filtered (one BT per frame: (n, T); None: rectangular, (T,))."""
    if bt is None:
        return np.arange(1, sps + 1) / sps
    t = np.arange(-(GAUSS_SPAN * sps // 2), GAUSS_SPAN * sps // 2 + 1) / sps
    g = np.exp(-2 * np.pi**2 * bt[:, None] ** 2 * t**2 / np.log(2))
    g /= g.sum(axis=1, keepdims=True)
    c = np.cumsum(g, axis=1)
    c = np.concatenate([c, np.repeat(c[:, -1:], sps - 1, axis=1)], axis=1)
    freq = c.copy()
    freq[:, sps:] -= c[:, :-sps]  # rect (sps samples) convolved with g: a running sum of g
    q = np.cumsum(freq, axis=1) / sps
    return np.concatenate([q, np.ones((len(q), -q.shape[1] % sps))], axis=1)


# ---------------------------------------------------------------- digital transmitters at an integer rate

def linear(name: str, n: int, length: int, sps: int, cfg: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    """n RRC-shaped frames (n, length) at integer sps, one roll-off per frame (steady state only)."""
    taps = rrc_rows(draw(rng, cfg.rolloff, n), sps)
    delay = sps // 2 if name == "OQPSK" else 0
    k = symbols_needed(length + delay, sps, taps.shape[1])
    if name in APSK:
        rings, radii = APSK[name]
        ring = np.repeat(np.arange(len(rings)), rings)
        scale = draw(rng, cfg.apsk_ring_scale, n)
        r = np.asarray(radii)[ring] * np.where(ring > 0, scale[:, None], 1.0)  # (n, points)
        pts = r * apsk(rings, (1.0,) * len(rings))
        pts = (pts / np.sqrt(np.mean(np.abs(pts) ** 2, axis=1, keepdims=True))).astype(CDTYPE)
        sym = np.take_along_axis(pts, rng.integers(0, pts.shape[1], (n, k)), axis=1)
    else:
        pts = CONSTELLATIONS["QPSK" if name == "OQPSK" else name].astype(CDTYPE)
        sym = pts[rng.integers(0, len(pts), (n, k))]
    s = np.empty((n, length + delay), CDTYPE)
    s.real = upfilter(np.ascontiguousarray(sym.real), taps, sps, length + delay)
    s.imag = upfilter(np.ascontiguousarray(sym.imag), taps, sps, length + delay) if np.any(pts.imag) else 0.0
    if delay:  # offset QPSK: Q lags I by half a symbol
        q = s.imag[:, :length].copy()
        s = s[:, delay:].copy()
        s.imag = q
    return s


def cpfsk(bits: np.ndarray, sps: int, h: np.ndarray, q: np.ndarray, length: int) -> np.ndarray:
    """Binary continuous-phase FSK from (n, K) bits in {0, 1}, per-frame index h, phase pulse q.

    Phase in turns = h/2 * sum_k a_k q(t - kT): symbols still inside the pulse go through the
    polyphase filter, finished ones add 1 each (a prefix sum).
    """
    a = (2 * bits - 1).astype(RDTYPE)
    nq = -(-length // sps)
    turns = upfilter(a, q.astype(RDTYPE), sps, nq * sps).reshape(len(a), nq, sps)
    done = np.zeros((len(a), nq), RDTYPE)
    np.cumsum(a[:, : nq - 1], axis=-1, out=done[:, 1:])
    turns += done[:, :, None]
    turns *= (np.asarray(h) / 2).astype(RDTYPE).reshape(-1, 1, 1)
    return expj(turns.reshape(len(a), -1)[:, :length])


def cpm(name: str, n: int, length: int, sps: int, cfg: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    index, bt_field = CPM[name]
    h = draw(rng, getattr(cfg, index) if isinstance(index, str) else index, n)
    q = phase_pulse(sps, draw(rng, getattr(cfg, bt_field), n) if bt_field else None)
    k = symbols_needed(length, sps, q.shape[-1])
    return cpfsk(rng.integers(0, 2, (n, k)), sps, h, q, length)


def digital(name: str, n: int, length: int, cfg: SynthConfig, rng: np.random.Generator,
            ratio: np.ndarray | None) -> np.ndarray:
    """n frames (n, length) at the output rate, each at its own sps, timing phase and resampling ratio.

    Frames are grouped by their even integer base rate (sps rounded up); each group is modulated at
    its base rate and resampled once by base / sps * ratio from a random start within a symbol.
    """
    sps = draw(rng, sps_range(cfg), n)
    timing = rng.random(n)
    extra = np.ones(n) if ratio is None else np.asarray(ratio, np.float64)
    base = np.maximum(2, 2 * np.ceil(sps / 2 - 1e-9)).astype(np.int64)
    out = np.empty((n, length), CDTYPE)
    for b in np.unique(base):
        idx = np.flatnonzero(base == b)
        step = b / sps[idx] * extra[idx]
        start = 1.0 + timing[idx] * b
        mod_len = math.ceil(float(np.max(start + (length - 1) * step))) + 3
        make = linear if name in CONSTELLATIONS or name == "OQPSK" else cpm
        out[idx] = resample(make(name, len(idx), mod_len, int(b), cfg, rng), start, step, length)
    return out


# ---------------------------------------------------------------- analog transmitters at the output rate

def analog(kind: str, n: int, length: int, cfg: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    """AM (DSB / SSB, with or without carrier) or FM of a band-limited random message.

    The message is low-pass Gaussian noise made in the frequency domain: complex Gaussian
    coefficients on bins 1..K (K / length <= bandwidth), so SSB is the analytic signal (one-sided
    spectrum; its conjugate for the lower sideband) and the FM phase is the exact integral
    (coefficients divided by j 2 pi k / length). AM index and FM deviation refer to the message's
    peak over the frame.
    """
    out_len, length = length, fast_len(length)
    bw = draw(rng, cfg.message_bw, n, log=True)
    kmax = np.clip(np.floor(bw * length), 1, length // 2 - 1).astype(np.int64)
    k = np.arange(1, int(kmax.max()) + 1)
    coef = rng.standard_normal((n, len(k), 2), RDTYPE).view(CDTYPE)[..., 0]
    coef *= k <= kmax[:, None]
    if kind.startswith("ssb"):
        spec = np.zeros((n, length), CDTYPE)
        spec[:, 1 : len(k) + 1] = coef
        sig = np.fft.ifft(spec, axis=-1)[:, :out_len]  # message + j Hilbert(message): upper sideband
        lower = rng.random(n) < {"upper": 0.0, "lower": 1.0, "both": 0.5}[cfg.ssb_sideband]
        np.conjugate(sig, out=sig, where=lower[:, None])
        peak = np.max(np.abs(sig.real), axis=-1)
    elif kind == "fm":  # phase in turns = deviation * integral of m / max|m|
        spec = np.zeros((2, n, length // 2 + 1), CDTYPE)
        spec[0, :, 1 : len(k) + 1] = coef
        spec[1, :, 1 : len(k) + 1] = coef * (length / (2j * np.pi * k)).astype(CDTYPE)
        msg, phase = np.fft.irfft(spec, n=length, axis=-1)[:, :, :out_len]
        dev = draw(rng, cfg.fm_deviation, n, log=True)
        return expj(phase * (dev / np.max(np.abs(msg), axis=-1))[:, None])
    else:
        spec = np.zeros((n, length // 2 + 1), CDTYPE)
        spec[:, 1 : len(k) + 1] = coef
        sig = np.fft.irfft(spec, n=length, axis=-1)[:, :out_len]  # type: ignore[assignment]
        peak = np.max(np.abs(sig), axis=-1)
    if kind.endswith("sc"):
        return sig.astype(CDTYPE)
    sig *= (draw(rng, cfg.am_index, n) / peak).astype(sig.real.dtype)[:, None]
    sig += 1
    if kind == "dsb-wc":  # over-modulation: the envelope is cut at zero (carrier pinch-off), not reversed
        np.maximum(sig, 0, out=sig)
    return sig.astype(CDTYPE)


def modulate(name: str, n: int, length: int, cfg: SynthConfig, rng: np.random.Generator,
             unit: bool = True, ratio: np.ndarray | None = None) -> np.ndarray:
    """n clean complex baseband frames (n, length) of one class at the output rate.

    ratio (n,): transmitter samples per output sample of a sample-rate offset (1 + ppm 1e-6), applied
    here for digital classes (in their one resampling); analog frames are made at the output rate
    and left to the caller. unit: scale every frame to unit mean power.
    """
    choice("class", name, KNOWN_CLASSES)
    if name in ANALOG:
        s = analog(ANALOG[name], n, length, cfg, rng)
    else:
        s = digital(name, n, length, cfg, rng, ratio)
    if unit:
        s *= (1.0 / np.sqrt(power(s))).astype(RDTYPE)[:, None]
    return s


def power(x: np.ndarray) -> np.ndarray:
    """Mean |x|^2 of each complex frame (n,)."""
    v = x.view(x.real.dtype)
    return np.einsum("ij,ij->i", v, v, dtype=np.float64) / x.shape[-1]
