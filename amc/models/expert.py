"""Expert features of an IQ frame, in plain real-valued torch ops (ONNX / TensorRT exportable).

Input: a power-normalised frame ``x`` of shape (B, 2, L) with I = x[:, 0], Q = x[:, 1], read as the
complex baseband signal z = I + jQ. Complex arithmetic is done on separate real / imaginary tensors
(no complex dtypes), and every reduction is over the time axis, so the output is (B, 13) with no
data-dependent control flow.

The features, in this order (``EXPERT_FEATURES``):

==========  ==========================================================================================
 index       feature
==========  ==========================================================================================
 0  c20      |C20| / C21                              (M20 = E[z^2])
 1  c21      C21 = E[|z|^2]                           (~1 for a normalised frame)
 2  c40      |C40| / C21^2,   C40 = M40 - 3 M20^2
 3  c41      |C41| / C21^2,   C41 = M41 - 3 M20 M21
 4  c42      |C42| / C21^2,   C42 = M42 - |M20|^2 - 2 M21^2
 5  c61      |C61| / C21^3,   C61 = M61 - 5 M21 M40 - 10 M20 M41 + 30 M20^2 M21
 6  c63      |C63| / C21^3,   C63 = M63 - 9 M21 M42 + 12 M21^3 - 3 M20 M43 - 3 M22 M41 + 18 M20 M21 M22
 7  amp_mean mean of a = |z|
 8  amp_std  std of a
 9  amp_kurt E[(a - mean a)^4] / var(a)^2
 10 ph_std   std of the instantaneous phase atan2(Q, I)
 11 if_std   std of the instantaneous frequency f[n] = angle(z[n] conj(z[n-1])) / pi
 12 if_abs   mean |f[n]|
==========  ==========================================================================================

with the moments Mpq = E[z^(p-q) conj(z)^q] (Swami & Sadler's cumulant definitions for zero-mean
complex signals; M22 = conj(M20), M43 = conj(M41), M63 = E[|z|^6]). Expected values, noise-free:
BPSK |C40| = |C42| = 2, |C61| = |C63| = 16; QPSK |C40| = |C42| = 1, |C61| = |C63| = 4; a circular
complex Gaussian has all cumulants of order > 2 at 0. Expectations are sample means over the frame,
stds are population stds.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

EXPERT_FEATURES: tuple[str, ...] = (
    "c20", "c21", "c40", "c41", "c42", "c61", "c63",
    "amp_mean", "amp_std", "amp_kurt", "ph_std", "if_std", "if_abs",
)
NUM_EXPERT_FEATURES = len(EXPERT_FEATURES)

EPS = 1e-8


def atan2(y: Tensor, x: Tensor) -> Tensor:
    """Quadrant-correct arctangent from Atan/Div/Where/Less ops only (ONNX opset 17 has no Atan2).

    Matches torch.atan2 to float32 rounding, including x == 0 (gives +-pi/2, or 0 at the origin).
    """
    base = torch.atan(y / torch.where(x == 0, EPS, x))
    shift = torch.where(y < 0, -math.pi, math.pi)
    return base + torch.where(x < 0, shift, 0.0)


def _cmul(ar: Tensor, ai: Tensor, br: Tensor, bi: Tensor) -> tuple[Tensor, Tensor]:
    return ar * br - ai * bi, ar * bi + ai * br


def _cabs(re: Tensor, im: Tensor) -> Tensor:
    return torch.sqrt(re * re + im * im + EPS)


def _std(v: Tensor) -> Tensor:
    centred = v - v.mean(dim=-1, keepdim=True)
    return torch.sqrt((centred * centred).mean(dim=-1) + EPS)


def cumulant_features(x: Tensor) -> Tensor:
    """(B, 7): |C20|/C21, C21, |C40|/C21^2, |C41|/C21^2, |C42|/C21^2, |C61|/C21^3, |C63|/C21^3."""
    i, q = x[:, 0], x[:, 1]
    p = i * i + q * q  # |z|^2
    z2r, z2i = i * i - q * q, 2.0 * i * q  # z^2
    z4r, z4i = _cmul(z2r, z2i, z2r, z2i)  # z^4

    def mean(v: Tensor) -> Tensor:
        return v.mean(dim=-1)

    m20r, m20i = mean(z2r), mean(z2i)
    m21 = mean(p)
    m40r, m40i = mean(z4r), mean(z4i)
    m41r, m41i = mean(z2r * p), mean(z2i * p)  # z^3 conj(z) = z^2 |z|^2
    m42 = mean(p * p)
    m61r, m61i = mean(z4r * p), mean(z4i * p)  # z^5 conj(z) = z^4 |z|^2
    m63 = mean(p * p * p)
    m22r, m22i = m20r, -m20i
    m43r, m43i = m41r, -m41i

    s20r, s20i = _cmul(m20r, m20i, m20r, m20i)  # M20^2
    c40r, c40i = m40r - 3.0 * s20r, m40i - 3.0 * s20i
    c41r, c41i = m41r - 3.0 * m20r * m21, m41i - 3.0 * m20i * m21
    c42 = m42 - (m20r * m20r + m20i * m20i) - 2.0 * m21 * m21

    a40r, a40i = m21 * m40r, m21 * m40i
    a41r, a41i = _cmul(m20r, m20i, m41r, m41i)
    c61r = m61r - 5.0 * a40r - 10.0 * a41r + 30.0 * s20r * m21
    c61i = m61i - 5.0 * a40i - 10.0 * a41i + 30.0 * s20i * m21

    b43r, b43i = _cmul(m20r, m20i, m43r, m43i)
    b41r, b41i = _cmul(m22r, m22i, m41r, m41i)
    b222 = m20r * m20r + m20i * m20i  # M20 M22 = |M20|^2 (real)
    c63r = m63 - 9.0 * m21 * m42 + 12.0 * m21 * m21 * m21 - 3.0 * b43r - 3.0 * b41r + 18.0 * b222 * m21
    c63i = -3.0 * b43i - 3.0 * b41i

    c21 = m21 + EPS
    c21_2 = c21 * c21
    c21_3 = c21_2 * c21
    feats = [
        _cabs(m20r, m20i) / c21,
        m21,
        _cabs(c40r, c40i) / c21_2,
        _cabs(c41r, c41i) / c21_2,
        torch.abs(c42) / c21_2,
        _cabs(c61r, c61i) / c21_3,
        _cabs(c63r, c63i) / c21_3,
    ]
    return torch.stack(feats, dim=-1)


def signal_features(x: Tensor) -> Tensor:
    """(B, 6): amplitude mean/std/kurtosis, phase std, instantaneous-frequency std / mean abs."""
    i, q = x[:, 0], x[:, 1]
    amp = torch.sqrt(i * i + q * q + EPS)
    amp_mean = amp.mean(dim=-1)
    centred = amp - amp_mean.unsqueeze(-1)
    sq = centred * centred
    var = sq.mean(dim=-1)
    kurt = (sq * sq).mean(dim=-1) / (var * var + EPS)
    phase = atan2(q, i)
    # z[n] conj(z[n-1]) on real tensors
    i1, q1, i0, q0 = i[:, 1:], q[:, 1:], i[:, :-1], q[:, :-1]
    re = i1 * i0 + q1 * q0
    im = q1 * i0 - i1 * q0
    freq = atan2(im, re) / math.pi
    feats = [amp_mean, torch.sqrt(var + EPS), kurt, _std(phase), _std(freq), freq.abs().mean(dim=-1)]
    return torch.stack(feats, dim=-1)


def expert_features(x: Tensor) -> Tensor:
    """(B, 2, L) normalised frame -> (B, NUM_EXPERT_FEATURES) features, order EXPERT_FEATURES."""
    return torch.cat([cumulant_features(x), signal_features(x)], dim=-1)
