"""Import RML2016.10a / 10b pickles through a restricted unpickler.

The published files are Python-2 pickles of ``{(modulation, snr): float32 array (n, 2, 128)}``.
A pickle can call any importable function while it loads, so this module never uses
``pickle.load`` as is: ``SafeUnpickler.find_class`` admits only what a numpy array needs
(ndarray, dtype, the array reconstructors of every pickle protocol, scalars) and refuses everything else
before it runs.
"""

from __future__ import annotations

import codecs
import os
import pickle
from pathlib import Path

import numpy as np

from amc.data.io import DataError, DatasetWriter

# (module, name) pairs a data pickle may reference; numpy 2 moved numpy.core to numpy._core.
_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    # protocol 5 (pickle.HIGHEST_PROTOCOL since Python 3.8) stores an array's bytes in-band and rebuilds it
    # with numpy's frombuffer: bytes + a numpy dtype + a shape, no code (an object dtype cannot come back
    # from a buffer: numpy refuses it). Out-of-band buffers are not given to the unpickler, so they fail.
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # Python 3 protocol-2 pickles wrap bytes in _codecs.encode(str, 'latin1')
}


class UnsafePickleError(DataError):
    """The pickle references a callable outside the data allowlist."""


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy array/dtype/scalar globals."""

    def find_class(self, module: str, name: str):  # type: ignore[override]
        if (module, name) not in _ALLOWED:
            raise UnsafePickleError(
                f"the pickle references {module}.{name}, which is not numpy array data; refusing to load "
                "it (only RML2016-style pickles of numpy arrays are accepted; nothing was executed)"
            )
        if module.startswith("numpy.core.") and hasattr(np, "_core"):  # numpy 2 names of numpy 1's modules
            module = "numpy._core." + module.removeprefix("numpy.core.")
        if module == "_codecs":
            return codecs.encode
        mod = __import__(module, fromlist=[name])
        return getattr(mod, name)


def safe_load(path: str | os.PathLike[str]) -> object:
    """Load a (Python 2 or 3) data pickle with the restricted unpickler."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; give the path of RML2016.10a_dict.pkl (or 10b)")
    try:
        with open(path, "rb") as fh:
            return SafeUnpickler(fh, encoding="latin1").load()
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{path}: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise DataError(f"{path}: not a readable RML2016 pickle ({type(e).__name__}: {e}); the file may be "
                        "truncated: re-download it") from None


def load_rml2016(path: str | os.PathLike[str]) -> dict[tuple[str, int], np.ndarray]:
    """Load and validate an RML2016 dict: keys (modulation, snr), values (n, 2, L) float arrays."""
    data = safe_load(path)
    if not isinstance(data, dict) or not data:
        raise DataError(f"{path}: expected a non-empty dict {{(modulation, snr): array (n, 2, 128)}}, "
                        f"got {type(data).__name__}")
    out: dict[tuple[str, int], np.ndarray] = {}
    length = None
    for key, arr in data.items():
        if not (isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], (str, bytes))):
            raise DataError(f"{path}: key {key!r} is not (modulation, snr)")
        mod = key[0].decode() if isinstance(key[0], bytes) else key[0]
        arr = np.asarray(arr)
        if arr.ndim != 3 or arr.shape[1] != 2 or arr.dtype.kind != "f":
            raise DataError(f"{path}: entry {key!r} has shape {arr.shape} dtype {arr.dtype}; "
                            "expected float (n, 2, L)")
        if length is not None and arr.shape[2] != length:
            raise DataError(f"{path}: entry {key!r} has frame length {arr.shape[2]}, others {length}")
        if not np.isfinite(arr).all():
            raise DataError(f"{path}: entry {key!r} contains NaN or Inf")
        length = arr.shape[2]
        out[(mod, int(key[1]))] = arr.astype(np.float32, copy=False)
    return out


def import_rml2016(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> dict[str, object]:
    """Convert an RML2016 pickle into an amc HDF5 dataset (no clean frames). Returns a summary."""
    data = load_rml2016(src)
    classes = sorted({k[0] for k in data})
    snrs = sorted({k[1] for k in data})
    length = next(iter(data.values())).shape[2]
    attrs = {"imported_from": Path(src).name, "format": "RML2016 pickle"}
    n = 0
    with DatasetWriter(dst, classes, length, with_clean=False, attrs=attrs) as w:
        for ci, mod in enumerate(classes):
            for snr in snrs:
                arr = data.get((mod, snr))
                if arr is None or len(arr) == 0:
                    continue
                w.append(arr, np.full(len(arr), ci), np.full(len(arr), snr, dtype=np.float32))
                n += len(arr)
    return {"path": str(dst), "frames": n, "classes": classes, "snrs": snrs, "frame_length": length}
