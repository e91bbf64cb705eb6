"""A synthetic recording with known segments, made by amc's own generator (tests, benchmarks, demos).

Each segment is one continuous signal of a class from ``amc.data.synth.modulate`` at the model's
rate (``None`` = silence: noise only), upsampled to the recording's rate with ``resample_poly``,
shifted to ``offset_hz`` (plus a small residual carrier offset), with optional interferers in other
channels and white noise at ``snr_db`` measured in the model's band. Written as a SigMF recording (or
raw samples) in cf32_le, ci16_le or cu8.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from amc.config import SynthConfig
from amc.data.receiver import FS, transmit
from amc.data.synth import modulate


@dataclass
class Truth:
    label: str  # class name, or 'noise' for silence
    start: int  # first sample at the recording's rate
    count: int


def make_iq(plan: list[tuple[str | None, int]], model_rate: float = 200e3, up: int = 2, offset_hz: float = 0.0,
            snr_db: float = 20.0, interferers: list[tuple[str, float, float]] | None = None,
            cfg: SynthConfig | None = None, seed: int = 0) -> tuple[np.ndarray, list[Truth]]:
    """complex64 samples at ``model_rate * up`` and the true segments.

    ``plan``: (class or None, samples at the model's rate); ``interferers``: (class, offset Hz, power
    relative to the wanted signal in dB), running through the whole recording.
    """
    cfg = cfg or SynthConfig(fading="none")
    rng = np.random.default_rng(seed)
    parts, truth, pos = [], [], 0
    for name, n in plan:
        s = modulate(name, 1, n, cfg, rng)[0] if name else np.zeros(n, np.complex64)
        parts.append(s)
        truth.append(Truth(name or "noise", pos * up, n * up))
        pos += n
    base = np.concatenate(parts).astype(np.complex64)
    rate = model_rate * up
    x = resample_poly(base, up, 1).astype(np.complex64) if up > 1 else base
    k = np.arange(len(x))
    x *= np.exp(2j * np.pi * (offset_hz / rate) * k).astype(np.complex64)
    on = np.repeat(base != 0, up)[: len(x)]
    signal_power = float(np.mean(np.abs(x[on]) ** 2)) if on.any() else 1.0
    for name, off, rel_db in interferers or []:
        z = resample_poly(modulate(name, 1, len(base), cfg, rng)[0], up, 1)[: len(x)].astype(np.complex64)
        x += z * np.exp(2j * np.pi * (off / rate) * k).astype(np.complex64) * np.float32(10 ** (rel_db / 20))
    # white noise over the recording's band: the model's band (1/up of it) gets 1/up of its power
    noise_power = up * signal_power / 10 ** (snr_db / 10)
    noise = rng.standard_normal((len(x), 2)).astype(np.float32).view(np.complex64)[:, 0]
    x += noise * np.float32(np.sqrt(noise_power / 2))
    return x.astype(np.complex64), truth


def encode(x: np.ndarray, datatype: str) -> bytes:
    """complex64 -> bytes of a SigMF datatype (cf32_le, ci16_le or cu8), scaled to use the range."""
    if datatype == "cf32_le":
        return x.astype("<c8").tobytes()
    peak = float(np.max(np.abs(x.view(np.float32)))) or 1.0
    iq = x.view(np.float32) / peak
    if datatype == "ci16_le":
        return np.round(iq * 32000).astype("<i2").tobytes()
    if datatype == "cu8":
        return np.clip(np.round(iq * 120 + 128), 0, 255).astype(np.uint8).tobytes()
    raise ValueError(f"encode: unsupported datatype {datatype}")


def write_sigmf(base: str | os.PathLike[str], x: np.ndarray, sample_rate: float, datatype: str = "cf32_le",
                center_freq: float | None = None) -> Path:
    """BASE.sigmf-data + BASE.sigmf-meta; returns the metadata path."""
    from sigmf import SigMFFile

    base = Path(base)
    data = base.with_name(base.name + ".sigmf-data")
    data.write_bytes(encode(x, datatype))
    meta = SigMFFile(data_file=str(data), skip_checksum=False,
                     global_info={"core:datatype": datatype, "core:sample_rate": float(sample_rate),
                                  "core:description": "amc synthetic recording", "core:recorder": "amc.classify.synth"})
    meta.add_capture(0, metadata={"core:frequency": float(center_freq)} if center_freq is not None else {})
    meta_path = base.with_name(base.name + ".sigmf-meta")
    meta.tofile(meta_path, overwrite=True)
    return meta_path


@dataclass
class Emitter:
    label: str  # a class of the sdr set (amc.data.receiver), made at 125 kHz
    offset_hz: float  # centre, from the capture's centre
    start_s: float
    stop_s: float
    snr_db: float = 25.0  # against the noise in a 125 kHz band


def make_scene(emitters: list[Emitter], rate: float = 250e3, duration_s: float = 0.5, dc: complex = 0.0,
               iq_gain_db: float = 0.0, iq_phase_deg: float = 0.0, seed: int = 0) -> np.ndarray:
    """A wideband capture (complex64 at ``rate``) holding several short-range-device bursts in white noise,
    with a receiver's DC offset and IQ imbalance (for encode(..., 'cu8') as an RTL-SDR writes it)."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * rate))
    x = (rng.standard_normal((n, 2)).astype(np.float32).view(np.complex64)[:, 0] * np.float32(np.sqrt(0.5)))
    noise_125k = FS / rate  # noise power in a 125 kHz band (unit total power over the capture's band)
    f = Fraction(rate / FS).limit_denominator(64)
    cfg = SynthConfig(class_set="sdr", fading="none", sample_rate=FS)
    for e in emitters:
        m = int(round((e.stop_s - e.start_s) * FS))
        s = transmit(e.label, 1, m, cfg, rng)[0].astype(np.complex64)
        s = resample_poly(s, f.numerator, f.denominator).astype(np.complex64)
        p = float(np.mean(np.abs(s) ** 2)) or 1.0
        s *= np.float32(np.sqrt(noise_125k * 10 ** (e.snr_db / 10) / p))
        a = int(round(e.start_s * rate))
        s = s[: n - a]
        k = np.arange(a, a + len(s))
        x[a:a + len(s)] += s * np.exp(2j * np.pi * e.offset_hz / rate * k).astype(np.complex64)
    g = 10 ** (iq_gain_db / 20)
    ph = np.deg2rad(iq_phase_deg)
    i, q = x.real * np.sqrt(g), (x.imag * np.cos(ph) + x.real * np.sin(ph)) / np.sqrt(g)
    return ((i + 1j * q) + dc).astype(np.complex64)
