"""Dataset files: HDF5 in the RadioML 2018.01A layout, read by chunk and by index.

Layout (shared with GOLD_XYZ_OSC.0001_1024.hdf5, so one reader serves both):

    X      (N, L, 2) float32   the noisy frame, I and Q in the last axis
    Y      (N, C)    one-hot   class label
    Z      (N, 1)    SNR in dB
    clean  (N, L, 2) float32   amc extra: the frame before AWGN (denoiser target), where known

Attributes (amc files only): ``classes`` (JSON list, in label order), ``snr_grid`` (JSON list),
``generator`` (JSON settings), ``source``. A file without ``classes`` and C = 24 is RML2018.01A
and gets its corrected class order. In memory, frames are ``(n, 2, L)`` float32.

Nothing reads a whole file: labels are decoded chunk by chunk, frames by index or by chunk, so
memory stays bounded whatever the file size. Writes go to a temporary name and are renamed into
place, so a failed write never leaves a partial file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from amc.config import RML2016_CLASSES, RML2018_CLASSES
from amc.errors import DataError as DataError  # re-exported: defined in amc.errors
from amc.files import atomic_path

if TYPE_CHECKING:
    import h5py

LABEL_CHUNK = 65536  # rows of Y decoded at a time
PROBE_FRAMES = 8  # frames `H5Dataset.probe` summarises


@dataclass
class Batch:
    """Frames read from a dataset: x and clean are (n, 2, L) float32."""

    x: np.ndarray
    labels: np.ndarray
    snr: np.ndarray
    clean: np.ndarray | None
    index: np.ndarray


def _open_h5(path: Path, mode: str = "r") -> h5py.File:
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path (make one with `amc data synth`)")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not an HDF5 dataset file")
    import h5py  # lazy: serving / classifying an ONNX model never reads HDF5

    if not h5py.is_hdf5(str(path)):
        raise DataError(f"{path}: not an HDF5 file; amc reads RadioML-layout HDF5 (import pickles with "
                        "`amc data import rml2016`)")
    try:
        return h5py.File(path, mode)
    except OSError as e:
        raise DataError(f"{path}: truncated or corrupted HDF5 file ({_short(e)}); re-create or re-download it") from e


def _short(e: Exception) -> str:
    return str(e).splitlines()[0][:160]


class H5Dataset:
    """A RadioML-layout HDF5 file opened for reading. Use as a context manager or call close()."""

    def __init__(self, path: str | os.PathLike[str], classes: list[str] | None = None):
        self.path = Path(path)
        self._file = _open_h5(self.path)
        try:
            self._check_layout()
            self.classes = classes or self._class_names()
            if len(self.classes) != self._file["Y"].shape[1]:
                raise DataError(f"{self.path}: Y has {self._file['Y'].shape[1]} classes but "
                                f"{len(self.classes)} class names were given")
            self.snr = self._read_column("Z").astype(np.float32).reshape(-1)
            self.labels = self._decode_labels()
        except (OSError, KeyError) as e:
            self.close()
            raise DataError(f"{self.path}: truncated or corrupted HDF5 file ({_short(e)})") from e
        except DataError:
            self.close()
            raise

    # -- layout -------------------------------------------------------------------------------
    def _check_layout(self) -> None:
        f = self._file
        missing = [k for k in ("X", "Y", "Z") if k not in f]
        if missing:
            raise DataError(f"{self.path}: missing dataset(s) {', '.join(missing)}; expected the RadioML "
                            "2018 layout X (N, L, 2), Y (N, C), Z (N, 1)")
        x, y, z = f["X"], f["Y"], f["Z"]
        if x.ndim != 3 or x.shape[2] != 2:
            raise DataError(f"{self.path}: X has shape {x.shape}; expected (N, L, 2) with I and Q last")
        n = x.shape[0]
        if y.ndim != 2 or y.shape[0] != n:
            raise DataError(f"{self.path}: Y has shape {y.shape}; expected ({n}, C) one-hot")
        if z.shape[0] != n or z.size != n:
            raise DataError(f"{self.path}: Z has shape {z.shape}; expected ({n}, 1) SNR in dB")
        if "clean" in f and f["clean"].shape != x.shape:
            raise DataError(f"{self.path}: clean has shape {f['clean'].shape}; expected {x.shape} like X")
        if n == 0:
            raise DataError(f"{self.path}: the dataset holds no frames")

    def _class_names(self) -> list[str]:
        attrs = self._file.attrs
        if "classes" in attrs:
            return list(json.loads(attrs["classes"]))
        c = self._file["Y"].shape[1]
        if c == len(RML2018_CLASSES):
            return list(RML2018_CLASSES)
        if c == len(RML2016_CLASSES):
            return list(RML2016_CLASSES)
        return [f"class{i}" for i in range(c)]

    def _read_column(self, key: str) -> np.ndarray:
        ds = self._file[key]
        out = np.empty(ds.shape, dtype=ds.dtype)
        for start in range(0, ds.shape[0], LABEL_CHUNK):
            out[start:start + LABEL_CHUNK] = ds[start:start + LABEL_CHUNK]
        return out

    def _decode_labels(self) -> np.ndarray:
        y = self._file["Y"]
        labels = np.empty(y.shape[0], dtype=np.int64)
        for start in range(0, y.shape[0], LABEL_CHUNK):
            block = y[start:start + LABEL_CHUNK]
            labels[start:start + len(block)] = np.argmax(block, axis=1)
            bad = block.sum(axis=1) != 1
            if bad.any():
                i = start + int(np.flatnonzero(bad)[0])
                raise DataError(f"{self.path}: Y row {i} is not one-hot; each row needs exactly one 1")
        return labels

    # -- properties ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._file["X"].shape[0])

    @property
    def frame_length(self) -> int:
        return int(self._file["X"].shape[1])

    @property
    def has_clean(self) -> bool:
        return "clean" in self._file

    @property
    def snr_grid(self) -> list[float]:
        return sorted(float(s) for s in np.unique(self.snr))

    @property
    def attrs(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in self._file.attrs.items():
            try:
                out[k] = json.loads(v)
            except (TypeError, ValueError):
                out[k] = v.decode() if isinstance(v, bytes) else v
        return out

    @property
    def sample_rate(self) -> float | None:
        """Nominal sample rate (Hz) from the generator settings; None for imported data (no rate stored)."""
        gen = self.attrs.get("generator")
        rate = gen.get("sample_rate") if isinstance(gen, dict) else None
        return float(rate) if rate else None

    @property
    def nbytes_per_frame(self) -> int:
        return self.frame_length * 2 * 4 * (2 if self.has_clean else 1)

    def fingerprint(self) -> str:
        """The file's identity, the same on every machine: shapes, classes, labels and SNRs exactly, and the
        content: the generator settings (seed included) of a synthetic file, else the bytes of 32 frames
        spread evenly through the file. A synthetic file's samples are not hashed: the same settings give
        the same frames up to a few float32 ulps that depend on the CPU's vector unit (numpy's SIMD sin /
        exp), so their bytes differ between machines; ``probe()`` checks them with a tolerance instead."""
        gen = self.attrs.get("generator")
        return self._fingerprint(json.dumps(gen, sort_keys=True).encode() if isinstance(gen, dict) else None)

    def legacy_fingerprint(self) -> str:
        """The fingerprint amc recorded before it was machine-independent (bytes of 32 frames, always):
        still accepted, so runs trained then keep their splits on the machine that made their data."""
        return self._fingerprint(None)

    def fingerprints(self) -> tuple[str, str]:
        """(fingerprint, legacy fingerprint): the values a run's recorded fingerprint may match."""
        return self.fingerprint(), self.legacy_fingerprint()

    def _fingerprint(self, content: bytes | None) -> str:
        h = hashlib.sha256()
        h.update(json.dumps([len(self), self.frame_length, self.classes]).encode())
        h.update(self.labels.tobytes())
        h.update(self.snr.tobytes())
        if content is not None:
            h.update(content)
        elif len(self):
            h.update(read_rows(self._file, "X", self._probe_rows(32), self.path).tobytes())
        return h.hexdigest()[:16]

    def _probe_rows(self, n: int) -> np.ndarray:
        return np.unique(np.linspace(0, len(self) - 1, min(n, len(self))).astype(np.int64))

    def probe(self) -> list[float]:
        """Mean |value| of the first 32 stored values of 8 frames spread through the file (6 significant
        digits): a check of the samples that holds across machines (``amc.data.split.probe_matches``), where
        their bytes do not. (Not the frames' power: amc's frames are normalised to unit power.)"""
        if not len(self):
            return []
        x = read_rows(self._file, "X", self._probe_rows(PROBE_FRAMES), self.path).astype(np.float64)
        return [float(f"{v:.6g}") for v in np.abs(x.reshape(len(x), -1)[:, :32]).mean(1)]

    # -- reading ------------------------------------------------------------------------------
    def read(self, index: np.ndarray | list[int], with_clean: bool = True) -> Batch:
        """Frames at the given indices (any order, duplicates allowed), as (n, 2, L) float32."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            raise DataError(f"{self.path}: frame index out of range 0..{len(self) - 1}")
        uniq, inverse = np.unique(index, return_inverse=True)
        x = self._read_rows("X", uniq)[inverse]
        clean = self._read_rows("clean", uniq)[inverse] if (with_clean and self.has_clean) else None
        return Batch(x=x, labels=self.labels[index], snr=self.snr[index], clean=clean, index=index)

    def read_range(self, start: int, stop: int, with_clean: bool = True) -> Batch:
        return self.read(np.arange(start, min(stop, len(self))), with_clean=with_clean)

    def iter_chunks(self, chunk: int = 4096, with_clean: bool = True,
                    index: np.ndarray | None = None) -> Iterator[Batch]:
        """Stream the file (or the given sorted indices) chunk by chunk in bounded memory."""
        if index is None:
            for start in range(0, len(self), chunk):
                yield self.read_range(start, start + chunk, with_clean=with_clean)
        else:
            for start in range(0, len(index), chunk):
                yield self.read(index[start:start + chunk], with_clean=with_clean)

    def _read_rows(self, key: str, sorted_index: np.ndarray) -> np.ndarray:
        return read_rows(self._file, key, sorted_index, self.path)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._file.close()

    def __enter__(self) -> H5Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_rows(f: h5py.File, key: str, sorted_index: np.ndarray, path: Path) -> np.ndarray:
    """Rows of X or clean at sorted unique indices, as (n, 2, L) float32; checks for NaN/Inf."""
    ds = f[key]
    if sorted_index.size == 0:
        return np.empty((0, 2, ds.shape[1]), dtype=np.float32)
    lo, hi = int(sorted_index[0]), int(sorted_index[-1]) + 1
    try:
        if hi - lo <= 2 * sorted_index.size:  # dense: one slab read, then pick
            rows = ds[lo:hi][sorted_index - lo]
        else:
            rows = ds[sorted_index]
    except OSError as e:
        raise DataError(f"{path}: cannot read {key} rows {lo}..{hi - 1}: truncated or corrupted "
                        f"file ({_short(e)})") from e
    rows = np.ascontiguousarray(np.asarray(rows, dtype=np.float32).transpose(0, 2, 1))
    finite = np.isfinite(rows).reshape(len(rows), -1).all(1)
    if not finite.all():
        bad = int(sorted_index[np.flatnonzero(~finite)[0]])
        raise DataError(f"{path}: {key} frame {bad} contains NaN or Inf; fix or drop that frame")
    return rows


def open_dataset(path: str | os.PathLike[str], classes: list[str] | None = None) -> H5Dataset:
    return H5Dataset(path, classes=classes)


# -- writing ----------------------------------------------------------------------------------
class DatasetWriter:
    """Append frames chunk by chunk into a RadioML-layout HDF5 file, renamed into place on close."""

    def __init__(self, path: str | os.PathLike[str], classes: list[str], frame_length: int,
                 with_clean: bool, attrs: dict[str, Any] | None = None, chunk_frames: int = 256):
        self.path = Path(path)
        self.classes = list(classes)
        self.length = frame_length
        self._ctx = atomic_path(self.path, suffix=".h5.tmp")
        self._tmp = self._ctx.__enter__()
        try:
            import h5py

            self._f = h5py.File(self._tmp, "w")
        except OSError as e:
            self._ctx.__exit__(type(e), e, None)
            raise DataError(f"{self.path}: cannot write ({_short(e)})") from e
        rows = min(chunk_frames, max(1, 131072 // frame_length))  # chunks of <= 1 MiB
        mk = self._f.create_dataset
        self._x = mk("X", (0, frame_length, 2), maxshape=(None, frame_length, 2), dtype="f4",
                     chunks=(rows, frame_length, 2))
        self._y = mk("Y", (0, len(classes)), maxshape=(None, len(classes)), dtype="i1",
                     chunks=(4096, len(classes)))
        self._z = mk("Z", (0, 1), maxshape=(None, 1), dtype="f4", chunks=(4096, 1))
        self._c = (mk("clean", (0, frame_length, 2), maxshape=(None, frame_length, 2), dtype="f4",
                      chunks=(rows, frame_length, 2)) if with_clean else None)
        self._f.attrs["classes"] = json.dumps(self.classes)
        self._f.attrs["source"] = "amc"
        for k, v in (attrs or {}).items():
            self._f.attrs[k] = json.dumps(v)
        self._snrs: set[float] = set()
        self.n = 0

    def append(self, x: np.ndarray, labels: np.ndarray, snr: np.ndarray, clean: np.ndarray | None = None) -> None:
        """Append frames x (n, 2, L) with integer labels and SNRs (and clean frames)."""
        x = np.asarray(x, dtype=np.float32)
        n = len(x)
        if x.ndim != 3 or x.shape[1:] != (2, self.length):
            raise DataError(f"frames have shape {x.shape}; expected (n, 2, {self.length})")
        if not np.isfinite(x).all():
            raise DataError(f"frames for {self.path} contain NaN or Inf; clean the input first")
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if labels.size and (labels.min() < 0 or labels.max() >= len(self.classes)):
            raise DataError(f"labels must be in 0..{len(self.classes) - 1}")
        if (self._c is None) != (clean is None):
            raise DataError("clean frames must be given for every chunk or for none")
        end = self.n + n
        for ds in (self._x, self._y, self._z) + ((self._c,) if self._c is not None else ()):
            ds.resize(end, axis=0)
        self._x[self.n:end] = x.transpose(0, 2, 1)
        self._y[self.n:end] = np.eye(len(self.classes), dtype=np.int8)[labels]
        self._z[self.n:end, 0] = np.asarray(snr, dtype=np.float32).reshape(-1)
        if self._c is not None and clean is not None:
            self._c[self.n:end] = np.asarray(clean, dtype=np.float32).transpose(0, 2, 1)
        self._snrs.update(float(s) for s in np.unique(snr))
        self.n = end

    def close(self) -> Path:
        if self.n == 0:
            self.abort()
            raise DataError(f"{self.path}: no frames to write")
        self._f.attrs["snr_grid"] = json.dumps(sorted(self._snrs))
        self._f.close()
        self._ctx.__exit__(None, None, None)
        return self.path

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._f.close()
        with contextlib.suppress(Exception):
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_dataset(path: str | os.PathLike[str], x: np.ndarray, labels: np.ndarray, snr: np.ndarray,
                  classes: list[str], clean: np.ndarray | None = None,
                  attrs: dict[str, Any] | None = None) -> Path:
    """Write a whole in-memory dataset (x: (N, 2, L)) atomically."""
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1] != 2:
        raise DataError(f"frames have shape {x.shape}; expected (N, 2, L)")
    with DatasetWriter(path, classes, x.shape[2], clean is not None, attrs) as w:
        w.append(x, labels, snr, clean)
    return Path(path)

