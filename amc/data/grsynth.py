"""`amc data synth --generator gnuradio`: RML2016.10a's GNU Radio chain, written in amc's HDF5 layout.

GNU Radio is an optional dependency that lives outside amc's environment (Debian's python3-gnuradio
is for the system Python), so the chain (amc.data.gr_chain) runs as a subprocess of a Python that
can import it and leaves one file of clean frames per (class, SNR) in a parts directory beside the
output; a stopped run resumes from the parts already made. This side adds the noise (seeded), scales
every frame as the original did (divided by the sum of |x| over the frame; the clean frame by the same
factor) and writes the file atomically.

``defects="fixed"`` (default) corrects the original's known defects: AM-SSB carries its signal, every
frame's noise is set against that frame's measured clean power so the label is the SNR, and every run
draws its own audio clip and channel seed. ``defects="original"`` keeps them (docs/data.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from amc.config import CLASS_SETS, AmcError, SynthConfig, choice
from amc.data import gr_chain
from amc.data.io import DatasetWriter

INSTALL = "apt-get install gnuradio"
ENV_PYTHON = "AMC_GR_PYTHON"


class GnuRadioMissing(AmcError):
    """No Python that can import GNU Radio was found."""


def _imports_gnuradio(python: str) -> bool:
    try:
        r = subprocess.run([python, "-c", "import gnuradio.gr, gnuradio.channels"], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def find_python(candidates: list[str] | None = None) -> str:
    """A Python executable that imports GNU Radio: $AMC_GR_PYTHON, else this one, else python3 on PATH."""
    env = os.environ.get(ENV_PYTHON)
    if env:
        if _imports_gnuradio(env):
            return env
        raise GnuRadioMissing(f"{ENV_PYTHON}={env} cannot import gnuradio; point it at a Python that can, "
                              f"or install GNU Radio ({INSTALL})")
    seen: list[str] = []
    for c in candidates if candidates is not None else [sys.executable, shutil.which("python3") or "",
                                                         "/usr/bin/python3"]:
        if c and c not in seen:
            seen.append(c)
            if _imports_gnuradio(c):
                return c
    raise GnuRadioMissing(f"GNU Radio is not installed: {INSTALL} (Debian / Ubuntu; it brings python3-gnuradio "
                          f"for the system Python), or set {ENV_PYTHON} to a Python that imports gnuradio")


def gr_version(python: str) -> str:
    r = subprocess.run([python, gr_chain.__file__, "--version"], capture_output=True, text=True, timeout=120)
    return r.stdout.strip() or "unknown"


# ---------------------------------------------------------------- noise and scaling (pure numpy)

def add_noise(clean: np.ndarray, snr_db: float, defects: str, rng: np.random.Generator) -> np.ndarray:
    """clean (n, L) complex plus complex AWGN.

    fixed: noise power = the frame's measured clean power / 10^(snr/10), so the label is the SNR.
    original: the channel's noise amplitude 10^(-snr/10) whatever the signal's power (the original's
    noise_amp; GNU Radio's complex Gaussian noise source of amplitude a has total power a^2)."""
    clean = np.asarray(clean, dtype=np.complex64)
    if defects == "original":
        power = np.full((len(clean), 1), (10.0 ** (-snr_db / 10.0)) ** 2)
    else:
        power = np.mean(np.abs(clean.astype(np.complex128)) ** 2, axis=1, keepdims=True) / 10.0 ** (snr_db / 10.0)
    z = rng.standard_normal((2, *clean.shape))
    noise = (z[0] + 1j * z[1]) * np.sqrt(power / 2.0)
    return (clean + noise).astype(np.complex64)


def scale_frames(x: np.ndarray, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both divided by the sum of |x| over each frame (the original's 'energy' normalisation)."""
    e = np.sum(np.abs(x.astype(np.complex128)), axis=1, keepdims=True)
    e[e == 0] = 1.0
    return (x / e).astype(np.complex64), (clean / e).astype(np.complex64)


def to_iq(z: np.ndarray) -> np.ndarray:
    """(n, L) complex -> (n, 2, L) float32."""
    return np.stack([z.real, z.imag], axis=1).astype(np.float32)


def measured_snr_db(clean: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Per-frame SNR of x against its clean frame, dB."""
    c = clean.astype(np.complex128)
    ps = np.mean(np.abs(c) ** 2, axis=1)
    pn = np.mean(np.abs(x.astype(np.complex128) - c) ** 2, axis=1)
    with np.errstate(divide="ignore"):
        return 10 * np.log10(ps / pn)


def noise_seed(seed: int, class_index: int, snr: float) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(*gr_chain.spawn_key(class_index, snr), 1)))


# ---------------------------------------------------------------- the job

def job_for(cfg: SynthConfig, defects: str, parts: Path) -> dict[str, Any]:
    names = CLASS_SETS["rml2016"][0]  # a key's seed follows its class's place in the whole set
    keys = [[c, names.index(c), float(s)] for c in cfg.class_names for s in cfg.snrs]
    return {"seed": cfg.seed, "frames": cfg.frames_per_class_snr, "length": cfg.length, "defects": defects,
            "parts": str(parts), "keys": keys}


def check_config(cfg: SynthConfig, defects: str) -> None:
    choice("defects", defects, list(gr_chain.DEFECTS))
    if cfg.class_set != "rml2016":
        raise AmcError(f"the gnuradio generator makes RML2016.10a's 11 classes; use --class-set rml2016, "
                       f"not {cfg.class_set}")


def synth_gnuradio(cfg: SynthConfig, path: str | os.PathLike[str], defects: str = "fixed",
                   python: str | None = None, on_part: Callable[[int], None] | None = None,
                   keep_parts: bool = False) -> dict[str, Any]:
    """Generate cfg's keys through GNU Radio into an HDF5 file (atomic). Returns a summary.

    Parts go to PATH.parts/ and are reused by a later call with the same settings (resume); the
    directory is removed once the file is written unless keep_parts."""
    cfg.validate()
    check_config(cfg, defects)
    path = Path(path)
    py = python or find_python()
    parts = path.with_name(path.name + ".parts")
    job = job_for(cfg, defects, parts)
    job_file = parts / "job.json"
    if job_file.exists():
        old = json.loads(job_file.read_text())
        if {k: v for k, v in old.items() if k != "parts"} != {k: v for k, v in job.items() if k != "parts"}:
            raise AmcError(f"{parts} holds parts made with other settings; remove it or use the same settings")
    parts.mkdir(parents=True, exist_ok=True)
    job_file.write_text(json.dumps(job))
    proc = subprocess.Popen([py, gr_chain.__file__, str(job_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stderr is not None
    for line in proc.stdout:
        if line.startswith("part ") and on_part is not None:
            on_part(cfg.frames_per_class_snr)
    err = proc.stderr.read()
    if proc.wait() != 0:
        last = next((ln for ln in reversed(err.strip().splitlines()) if ln.strip()), "no message")
        raise AmcError(f"the GNU Radio chain failed ({last.strip()}); parts made so far stay in {parts}")
    version = gr_version(py)
    attrs = {"generator": {"name": "gnuradio", "gnuradio": version, "defects": defects, "class_set": "rml2016",
                           "classes": cfg.class_names, "snrs": list(cfg.snrs),
                           "frames_per_class_snr": cfg.frames_per_class_snr, "frame_length": cfg.length,
                           "seed": cfg.seed, "sample_rate": gr_chain.SAMPLE_RATE,
                           "chain": "RML2016.10a (radioML/dataset) on GNU Radio 3.10, amc.data.gr_chain"}}
    with DatasetWriter(path, cfg.class_names, cfg.length, with_clean=True, attrs=attrs) as w:
        for name, ci, snr in job["keys"]:
            clean = np.load(parts / f"{gr_chain.part_name(name, snr)}.npy")
            x = add_noise(clean, snr, defects, noise_seed(cfg.seed, ci, snr))
            x, c = scale_frames(x, clean)
            n = len(x)
            w.append(to_iq(x), np.full(n, cfg.class_names.index(name)), np.full(n, snr, np.float32), to_iq(c))
    if not keep_parts:
        shutil.rmtree(parts, ignore_errors=True)
    return {"path": str(path), "frames": w.n, "classes": cfg.class_names, "snrs": sorted(cfg.snrs),
            "frame_length": cfg.length, "bytes": path.stat().st_size, "gnuradio": version, "defects": defects}
