"""Vectorised signal-processing kernels of the synthetic generator (numpy, complex64 / float32).

Polyphase upsampling FIR filters (one shared filter or one per frame), float32 complex exponentials,
cubic (Farrow / Lagrange) interpolation at arbitrary per-frame times, and quick FFT lengths. They
are hand-written rather than scipy.signal calls because every frame of a block has its own filter,
rate and start time: scipy's upfirdn / resample_poly take one filter and one rate per call.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

CDTYPE, RDTYPE = np.complex64, np.float32  # working precision of the signal path


def upfilter(values: np.ndarray, taps: np.ndarray, sps: int, length: int) -> np.ndarray:
    """Steady state (n, length) of real (n, K) values upsampled by sps and FIR-filtered (polyphase matmul).

    taps is one filter (T,) for every frame or one filter per frame (n, T).
    """
    ntaps = taps.shape[-1]
    j = -(-ntaps // sps)
    poly = np.zeros((*taps.shape[:-1], j * sps), taps.dtype)
    poly[..., :ntaps] = taps
    poly = poly.reshape(*taps.shape[:-1], j, sps)[..., ::-1, :]
    q = -(-length // sps)
    win = sliding_window_view(values[:, : q + j - 1], j, axis=-1)  # (n, q, j)
    return (win @ poly).reshape(len(values), -1)[:, :length]


def symbols_needed(length: int, sps: int, ntaps: int) -> int:
    """Symbols K that upfilter needs for length steady-state samples."""
    return -(-length // sps) + -(-ntaps // sps) - 1


def expj(turns: np.ndarray) -> np.ndarray:
    """exp(2j * pi * turns) via range reduction to [-1/2, 1/2] turn and float32 sin/cos."""
    a = turns - np.rint(turns)
    a = a.astype(RDTYPE, copy=False)
    a *= RDTYPE(2 * np.pi)
    out = np.empty(turns.shape, CDTYPE)
    np.cos(a, out=out.real)
    np.sin(a, out=out.imag)
    return out


def fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (a quick FFT length)."""
    smooth = (2**a * 3**b * 5**c for a in range(n.bit_length() + 1) for b in range(13) for c in range(9))
    return min(p for p in smooth if p >= n)


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


RESAMPLE_CHUNK = 2**14  # output samples per pass of resample: its temporaries then stay in the L2 cache (2x faster)


def resample(x: np.ndarray, start: np.ndarray, ratio: np.ndarray, length: int) -> np.ndarray:
    """Complex x (n, T) sampled at t_k = start + k * ratio (k < length, per-frame float start / ratio).

    Cubic interpolation; needs 1 <= t_k and t_k + 2 < T.
    """
    n, total = x.shape
    start, ratio = np.asarray(start, np.float64), np.asarray(ratio, np.float64)
    out = np.empty((n, length), x.dtype)
    k = np.arange(length)
    chunk = max(1, RESAMPLE_CHUNK // length)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        t = start[a:b, None] + k * ratio[a:b, None]
        i = t.astype(np.int64)  # floor: t >= 1
        mu = np.repeat((t - i).astype(x.real.dtype), 2, axis=1)  # float views interleave re, im
        i += (np.arange(a, b) * total)[:, None]
        flat = x.ravel()
        ym, y0, y1, y2 = (flat[i + d].view(x.real.dtype) for d in (-1, 0, 1, 2))
        out[a:b] = farrow(ym, y0, y1, y2, mu).view(x.dtype)
    return out
