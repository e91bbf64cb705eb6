"""The ``sdr`` class set: short-range-device transmitters seen through a cheap receiver (RTL-SDR, HackRF).

Frames stand for 125 kHz complex baseband after amc classify's detector has found a transmission,
shifted it to 0 Hz (to within a few kHz) and resampled it to the model's rate. Per frame:

* transmitters with the rates real short-range devices use (frequencies in cycles per output sample,
  ``FS`` = 125 kHz): OOK / 2-ASK / 4-ASK with rectangular pulses of 64 us .. 1.3 ms (8..160 samples),
  a rise time of 1..6 samples and, for ASK, a modulation depth (lowest level 0.1..0.5 of the top);
  2-FSK with modulation index h 0.5..10 (log-uniform) at a peak deviation of 0.02..0.32 cycles/sample
  (2.5..40 kHz), its samples per symbol following from both; GFSK with h 0.3..1.0, BT 0.3..0.5;
  GMSK (h 0.5) with BT 0.3..0.5; PSK / QAM / OQPSK from ``amc.data.modulate`` (RRC, sps 4..16);
  AM-DSB (with carrier) and AM-SSB of a 1.9..10 kHz message; narrow FM (deviation 1.25..6 kHz,
  message 1.25..4 kHz) and wide FM (deviation 15..44 kHz);
* a burst envelope: with probability ``BURST_P`` the transmission starts or stops inside the frame
  (0..60 % of the frame silent), as at a packet's edges;
* channel: random phase and a carrier offset up to ``cfg.max_cfo`` (the recipe: 0.04, 5 kHz, the
  residual after the detector's coarse centring), then AWGN at the label SNR against the power of the
  frame's active part (the burst, not the silence around it);
* receiver: residual DC (0..5 % of the signal's rms), IQ imbalance (gain 0..0.5 dB, phase 0..3 deg:
  what is left after the front end's correction) and 8-bit quantisation at a random gain (the rms at
  4..40 of 127 levels, clipped at full scale), as an RTL-SDR's ADC does.

``docs/data.md`` lists the ranges; tests/test_receiver.py measures each on the frames made.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d

from amc.config import SDR_CLASSES, SynthConfig
from amc.data.dsp import CDTYPE, RDTYPE, expj
from amc.data.modulate import analog, draw, modulate, power

FS = 125e3  # Hz, the rate the frames stand for
__all__ = ["SDR_CLASSES", "sdr_frames"]
ASK_SPS = (8.0, 160.0)  # samples per pulse (log-uniform): 64 us .. 1.3 ms at 125 kHz
ASK_RISE = (1.0, 6.0)  # Gaussian edge smoothing, samples (sigma)
ASK_FLOOR = (0.1, 0.5)  # 2-ASK / 4-ASK lowest level relative to the top
FSK_INDEX = (0.5, 10.0)  # 2-FSK modulation index h (log-uniform)
FSK_DEV = (0.02, 0.32)  # 2-FSK peak deviation, cycles/sample (log-uniform)
FSK_SPS = (2.0, 250.0)  # 2-FSK samples per symbol are h / (2 dev), clipped to this
GFSK_INDEX = (0.3, 1.0)
GAUSS_BT = (0.3, 0.5)
GFSK_SPS = (4.0, 32.0)
NFM = {"dev": (0.01, 0.048), "bw": (0.01, 0.032)}
WBFM = {"dev": (0.12, 0.35), "bw": (0.03, 0.12)}
AM_BW = (0.015, 0.08)
BURST_P = 0.4  # share of frames whose transmission starts or stops inside the frame
BURST_SILENT = (0.0, 0.6)  # the silent part's share of the frame
DC = (0.0, 0.05)  # residual DC, times the signal's rms
IQ_GAIN_DB = (0.0, 0.5)
IQ_PHASE_DEG = (0.0, 3.0)
ADC_RMS = (4.0, 40.0)  # rms in 8-bit levels (full scale 127)


def _pulses(levels: np.ndarray, sps: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """Rectangular pulses (n, length): symbol k of frame i covers samples [k sps_i - t0_i, (k+1) sps_i - t0_i)."""
    n = len(sps)
    t0 = rng.random(n) * sps
    idx = np.floor((np.arange(length)[None, :] + t0[:, None]) / sps[:, None]).astype(np.int64)
    return np.take_along_axis(levels, np.minimum(idx, levels.shape[1] - 1), axis=1)


def _smooth(x: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Each row Gaussian-filtered with its own sigma (samples); scipy.ndimage takes one sigma per call."""
    out = np.empty_like(x)
    for i in range(len(x)):
        out[i] = gaussian_filter1d(x[i], float(sigma[i]), mode="nearest")
    return out


def ask(name: str, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """OOK (levels 0 / 1), 2-ASK (floor / 1), 4-ASK (floor .. 1 in four steps): real envelopes (n, length)."""
    sps = draw(rng, ASK_SPS, n, log=True)
    k = int(math.ceil(length / ASK_SPS[0])) + 2
    m = {"OOK": 2, "2ASK": 2, "4ASK": 4}[name]
    sym = rng.integers(0, m, (n, k)) / (m - 1)
    floor = np.zeros(n) if name == "OOK" else draw(rng, ASK_FLOOR, n)
    levels = floor[:, None] + (1 - floor[:, None]) * sym
    env = _smooth(_pulses(levels, sps, length, rng), draw(rng, ASK_RISE, n))
    return env.astype(CDTYPE)


def fsk(n: int, length: int, h: np.ndarray, sps: np.ndarray, bt: np.ndarray | None,
        rng: np.random.Generator) -> np.ndarray:
    """Binary continuous-phase FSK: frequency +-h / (2 sps) cycles/sample, optionally Gaussian-shaped."""
    k = int(math.ceil(length / float(np.min(sps)))) + 2
    a = (2 * rng.integers(0, 2, (n, k)) - 1).astype(np.float64)
    freq = _pulses(a, sps, length, rng)
    if bt is not None:  # Gaussian filter of the frequency pulse: sigma = sps sqrt(ln 2) / (2 pi BT)
        freq = _smooth(freq, sps * math.sqrt(math.log(2)) / (2 * math.pi * bt))
    freq *= (h / (2 * sps))[:, None]
    return expj(np.cumsum(freq, axis=1))


def transmit(name: str, n: int, length: int, cfg: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    """n clean frames (n, length) of one sdr class, before the channel."""
    if name in ("OOK", "2ASK", "4ASK"):
        return ask(name, n, length, rng)
    if name == "2FSK":
        h = draw(rng, FSK_INDEX, n, log=True)
        dev = draw(rng, FSK_DEV, n, log=True)
        sps = np.clip(h / (2 * dev), *FSK_SPS)
        return fsk(n, length, h, sps, None, rng)
    if name in ("GFSK", "GMSK"):
        h = draw(rng, GFSK_INDEX, n) if name == "GFSK" else np.full(n, 0.5)
        sps = draw(rng, GFSK_SPS, n, log=True)
        return fsk(n, length, h, sps, draw(rng, GAUSS_BT, n), rng)
    if name in ("NFM", "WBFM"):
        p = NFM if name == "NFM" else WBFM
        c = _with(cfg, fm_deviation=p["dev"], message_bw=p["bw"])
        return analog("fm", n, length, c, rng)
    if name == "AM-DSB":
        return analog("dsb-wc", n, length, _with(cfg, message_bw=AM_BW), rng)
    if name == "AM-SSB":
        return analog("ssb-sc", n, length, _with(cfg, message_bw=AM_BW, ssb_sideband="both"), rng)
    return modulate(name, n, length, _with(cfg, sps=(4.0, 16.0)), rng, unit=False)


def _with(cfg: SynthConfig, **kw: Any) -> SynthConfig:
    return dataclasses.replace(cfg, **kw)


def burst_mask(n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """(n, length) bool: True where the transmitter is on (a start or stop inside BURST_P of the frames)."""
    cut = rng.random(n) < BURST_P
    silent = np.where(cut, draw(rng, BURST_SILENT, n), 0.0)
    at_start = rng.random(n) < 0.5
    k = np.arange(length)[None, :]
    edge = (silent * length)[:, None]
    return np.where(at_start[:, None], k >= edge, k < length - edge)


def impair(x: np.ndarray, rms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Residual DC, IQ imbalance and 8-bit quantisation at a random gain; returns complex64 (n, L)."""
    n = len(x)
    dc = draw(rng, DC, n) * rms * expj(rng.random(n))
    g = 10 ** (draw(rng, IQ_GAIN_DB, n) / 20)
    ph = np.deg2rad(draw(rng, IQ_PHASE_DEG, n))
    i = x.real * np.sqrt(g)[:, None]
    q = (x.imag * np.cos(ph)[:, None] + x.real * np.sin(ph)[:, None]) / np.sqrt(g)[:, None]
    y = (i + 1j * q) + dc[:, None]
    scale = draw(rng, ADC_RMS, n, log=True) / np.sqrt(np.maximum(power(y.astype(CDTYPE)), 1e-30))
    y *= scale[:, None]
    iq = np.clip(np.rint(np.stack([y.real, y.imag], -1)), -127, 127) / scale[:, None, None]
    return iq.astype(RDTYPE).view(CDTYPE)[..., 0]


def sdr_frames(name: str, snr: np.ndarray, cfg: SynthConfig, rng: np.random.Generator) -> tuple[np.ndarray,
                                                                                                     np.ndarray]:
    """(x, clean) complex64 (n, L) of one sdr class at the given SNRs (dB), x at unit mean power."""
    n, length = len(snr), cfg.length
    s = transmit(name, n, length, cfg, rng).astype(CDTYPE)
    on = burst_mask(n, length, rng)
    s *= on
    dark = ~np.any(np.abs(s) > 0, axis=1)  # an OOK frame whose on-pulses all fell in the silence: show a pulse
    s[dark] = on[dark]
    phase = rng.uniform(0, 1, n)
    cfo = rng.uniform(-cfg.max_cfo, cfg.max_cfo, n)
    s *= expj(phase[:, None] + cfo[:, None] * np.arange(length))
    active = np.einsum("ij,ij->i", s.real, s.real) + np.einsum("ij,ij->i", s.imag, s.imag)
    p_on = active / np.maximum(on.sum(1), 1)
    sigma = np.sqrt(p_on * 10.0 ** (-np.asarray(snr, np.float64) / 10) / 2)
    noise = (rng.standard_normal((n, length, 2)) * sigma[:, None, None]).astype(RDTYPE).view(CDTYPE)[..., 0]
    x = impair(s + noise, np.sqrt(power(s + noise)), rng)
    scale = (1.0 / np.sqrt(np.maximum(power(x), 1e-30))).astype(RDTYPE)[:, None]
    return x * scale, s * scale
