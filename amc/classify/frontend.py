"""Receiver front end for real captures: rates written as people write them, rtl_433 file names, DC and IQ fixes.

* ``parse_hz("250k")`` -> 250000.0; ``2.4M``, ``433.92M``, ``1.2e6``, ``868.3MHz`` too (k, M, G; Hz optional).
* ``name_hints("g001_433.92M_250k.cu8")`` -> centre 433.92 MHz, rate 250 kHz: the names rtl_433 writes with
  ``-S`` / ``-w`` (``gNNN_FREQ_RATE.cu8``; its ``.data`` files are cu8 too, at 250 kHz unless named).
* ``IQCorrector``: removes the DC offset and IQ imbalance an 8- or 16-bit receiver adds (RTL-SDR, HackRF):
  the mean of I and Q, then a blind Gram-Schmidt correction from the second moments (Q made orthogonal to
  I and scaled to I's power), all three estimated as running means over the capture so far (one pole,
  ``TAU`` samples). Hand-written because scipy.signal has no IQ-imbalance estimator; it is 20 lines of
  moment arithmetic.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from amc.config import ConfigError

UNITS = {"": 1.0, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "g": 1e9, "G": 1e9}
HZ = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([kKmMgG]?)(?:[hH][zZ])?\s*$")
# rtl_433: g001_433.92M_250k.cu8, g005_868.3M_1024k.cs8, or FREQ_RATE anywhere in the stem
RTL433 = re.compile(r"(?:^|_)(\d+(?:\.\d+)?[kMG])_(\d+(?:\.\d+)?[kM])(?:_|$)")
DATA_RATE = 250e3  # rtl_433's default sample rate (what a bare .data / gfile.cu8 was recorded at)


def parse_hz(value: str | float | None, name: str = "value") -> float | None:
    """'250k' -> 250e3, '2.4M' -> 2.4e6, '-60e3' -> -60e3; None stays None; anything else is a ConfigError."""
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    m = HZ.match(value)
    if not m:
        try:
            return float(value)  # nan / inf: the caller's range check names the option
        except ValueError:
            pass
        raise ConfigError(f"{name} '{value}' is not a frequency; write Hz as a number (250000, 2.4e6) or with k / M "
                          "/ G (250k, 2.4M, 433.92M)")
    return float(m.group(1)) * UNITS[m.group(2)]


@dataclass(frozen=True)
class NameHints:
    center_freq: float | None
    sample_rate: float | None


def name_hints(path: str | Path) -> NameHints:
    """Centre frequency and sample rate an rtl_433-style file name states (None where it states none)."""
    stem = Path(path).name
    for suffix in (".cu8", ".cs8", ".cs16", ".ci16", ".cf32", ".data", ".raw", ".iq"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    m = RTL433.search(stem)
    if not m:
        return NameHints(None, None)
    return NameHints(parse_hz(m.group(1)), parse_hz(m.group(2)))


class IQCorrector:
    """Running DC-offset and IQ-imbalance removal, block by block (state carries across blocks)."""

    TAU = 1 << 16  # samples: the running means' time constant (0.26 s at 250 kS/s)

    def __init__(self, tau: int = TAU):
        self.tau = tau
        self.n = 0
        self.mean = np.zeros(2)  # E[I], E[Q]
        self.mom = np.zeros(3)  # E[I^2], E[Q^2], E[IQ] after DC removal

    def _update(self, est: np.ndarray, new: np.ndarray, k: int) -> np.ndarray:
        if self.n == 0:
            return new
        a = min(1.0, k / self.tau)
        return (1 - a) * est + a * new

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if not len(x):
            return x
        i = x.real.astype(np.float64)
        q = x.imag.astype(np.float64)
        self.mean = self._update(self.mean, np.array([i.mean(), q.mean()]), len(x))
        i -= self.mean[0]
        q -= self.mean[1]
        self.mom = self._update(self.mom, np.array([np.mean(i * i), np.mean(q * q), np.mean(i * q)]), len(x))
        self.n += len(x)
        ii, qq, iq = self.mom
        if ii <= 0 or qq <= 0:
            return (i + 1j * q).astype(np.complex64)
        rho = iq / ii  # Q's leak of I (phase error); Gram-Schmidt removes it, then Q is scaled to I's power
        q -= rho * i
        qq_orth = max(qq - rho * rho * ii, 1e-30)
        q *= math.sqrt(ii / qq_orth)
        return (i + 1j * q).astype(np.complex64)
