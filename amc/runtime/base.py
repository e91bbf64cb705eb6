"""The interface every backend shares: ``Engine.load(path)`` picks the backend from the artifact kind.

Every backend returns the same raw outputs (``logits``, ``probs``, ``eta``, ``snr_db`` and, for
exports made ``with_denoised``, ``denoised``) with eta / snr_db as (B,), and reads classes, frame
length and batch limit from the artifact itself. Batches larger than ``max_batch`` are split.
``predict`` validates its input first (``validate_iq``); ``run`` trusts it.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from amc.config import ConfigError, choice
from amc.errors import DataError
from amc.runtime.artifact import model_file
from amc.runtime.formats import artifact_kind, known_suffixes
from amc.runtime.validate import validate_iq

DEFAULT_MAX_BATCH = 256
# Frames whose mean power |I|^2 + |Q|^2 is below this (-120 dB re full scale 1.0, an rms of 1e-6: below
# one step of any ADC up to 19 bits, so only digital silence or a dead input) hold no signal to classify:
# run() marks them ``silent``, with eta 1 and the lowest SNR estimate, and classify / serve call them noise
# whatever the model says (the model normalises power, so silence would otherwise look like a carrier).
SILENCE_DB = -120.0
SILENCE_POWER = 10 ** (SILENCE_DB / 10)
PROVIDERS = ["auto", "cpu", "cuda", "tensorrt"]
_INSTALL_HINT = {"torch": "install amc[train] or export the run to ONNX (`amc export RUN`)",
                 "torch-compiled": "install amc[train]", "tensorrt": "install amc[trt] (see the README)"}
_BACKENDS: dict[str, type[Engine]] = {}  # backend name -> class, filled as backend modules are imported


@dataclass
class Prediction:
    index: np.ndarray  # (B,) int64 predicted class index
    label: list[str]  # (B,) predicted class names
    probs: np.ndarray  # (B, C) float32 softmax
    logits: np.ndarray  # (B, C) float32
    eta: np.ndarray  # (B,) float32 noise fraction N / (S + N) (zeros without a noise head)
    snr_db: np.ndarray  # (B,) float32 estimated SNR (zeros without a noise head)


class Engine:
    """A loaded model: ``run`` (raw outputs), ``predict`` (validated, labelled), ``warmup``."""

    backend: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.backend:
            _BACKENDS[cls.backend] = cls

    def __init__(self, metadata: dict[str, Any], path: str | os.PathLike[str]) -> None:
        self.metadata = metadata
        self.path = Path(path)
        self.classes: list[str] = list(metadata["classes"])
        self.frame_length: int = int(metadata["frame_length"])
        self.max_batch: int = int(metadata.get("max_batch") or DEFAULT_MAX_BATCH)
        self.precision: str = str(metadata.get("precision", "fp32"))

    @classmethod
    def load(cls, path: str | os.PathLike[str], provider: str = "auto", threads: int | None = None) -> Engine:
        """Open any amc artifact; its kind (suffix, run directory or Triton repository) picks the backend."""
        choice("provider", provider, PROVIDERS)
        if threads is not None and threads < 1:
            raise ConfigError(f"threads must be >= 1, got {threads}")
        p = Path(path)
        if not p.exists():
            raise DataError(f"{p}: no such file or directory; give a run directory or a {known_suffixes()} file")
        if p.is_dir() and not any((p / n).is_file() for n in ("best.pt", "last.pt")):
            p = model_file(p)  # a Triton repository: the model file inside
        kind = artifact_kind(p)
        if kind.backend not in _BACKENDS:  # first model of this kind: import its backend (torch only for torch)
            try:
                importlib.import_module(kind.module)
            except ImportError as e:
                if (e.name or "amc").split(".")[0] == "amc":
                    raise  # a bug, not a missing package
                raise DataError(f"{p}: loading a {kind.name} model needs {e.name or 'a missing package'}, which is "
                                f"not installed; {_INSTALL_HINT.get(kind.name, 'see the README')}") from None
        return _BACKENDS[kind.backend].open(p, provider, threads)

    @classmethod
    def open(cls, path: Path, provider: str, threads: int | None) -> Engine:
        raise NotImplementedError

    def _forward(self, x: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def run(self, iq: np.ndarray) -> dict[str, np.ndarray]:
        """Raw outputs for (B, 2, L) float32 frames, split into chunks of at most max_batch, plus
        ``silent`` (B,) bool: frames below SILENCE_DB (their eta is 1, their SNR the lowest estimate)."""
        x = np.ascontiguousarray(iq, dtype=np.float32)
        if len(x) <= self.max_batch:
            out = self._forward(x)
        else:
            parts = [self._forward(x[i:i + self.max_batch]) for i in range(0, len(x), self.max_batch)]
            out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return mark_silent(out, x, self.snr_floor)

    @property
    def snr_floor(self) -> float:
        """The lowest SNR estimate the model gives (its clamp), reported for silent frames."""
        lo = ((self.metadata.get("model_config") or {}).get("snr_range_db") or (-30.0, 40.0))[0]
        return float(lo)

    def predict(self, iq: Any) -> Prediction:
        """Validate, run, label."""
        out = self.run(validate_iq(iq, self.frame_length))
        index = out["logits"].argmax(1).astype(np.int64)
        return Prediction(index=index, label=[self.classes[i] for i in index], probs=out["probs"],
                          logits=out["logits"], eta=out["eta"], snr_db=out["snr_db"])

    def warmup(self, batch_sizes: tuple[int, ...] | list[int] = (1,)) -> None:
        rng = np.random.default_rng(0)
        for b in batch_sizes:
            self.run(rng.standard_normal((b, 2, self.frame_length)).astype(np.float32))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.path}, {self.precision}, {len(self.classes)} classes, "
                f"L={self.frame_length}, max_batch={self.max_batch})")


def frame_power(x: np.ndarray) -> np.ndarray:
    """Mean |I|^2 + |Q|^2 of each (2, L) frame, accumulated in float64."""
    v = x.reshape(len(x), -1)
    return np.einsum("ij,ij->i", v, v, dtype=np.float64) / x.shape[-1]


def mark_silent(out: dict[str, np.ndarray], x: np.ndarray, snr_floor: float) -> dict[str, np.ndarray]:
    """Add ``silent`` to the outputs; silent frames get eta 1 and the lowest SNR estimate."""
    silent = frame_power(x) < SILENCE_POWER
    out["silent"] = silent
    if silent.any():
        for k, v in (("eta", 1.0), ("snr_db", snr_floor)):
            if k in out:
                out[k] = np.where(silent, np.float32(v), out[k]).astype(np.float32)
    return out


def float_outputs(out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """float32 everywhere, eta / snr_db as (B,)."""
    res = {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}
    for k in ("eta", "snr_db"):
        if k in res:
            res[k] = res[k].reshape(len(res[k]))
    return res
