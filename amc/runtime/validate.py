"""Input validation, one rule set for every caller (the library, the HTTP service, classify).

``validate_iq`` turns what a caller hands over into float32 (B, 2, L) frames or raises ``InputError``
with a ``kind`` (for the service's metrics) and one line naming the problem and the expected shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from amc.config import AmcError


class InputError(AmcError):
    """IQ input the engine cannot take; the message names the problem and the expected shape."""

    def __init__(self, message: str, kind: str = "input") -> None:
        super().__init__(message)
        self.kind = kind  # bad_values, bad_rank, empty, bad_shape, frame_length, non_finite


def _as_array(iq: Any, want: str) -> np.ndarray:
    if hasattr(iq, "detach"):  # a torch tensor; bfloat16 has no numpy dtype, so it is widened first
        try:
            t = iq.detach().cpu()
            iq = (t.float() if str(t.dtype) == "torch.bfloat16" else t).numpy()
        except (TypeError, RuntimeError) as e:  # sparse or other layouts numpy cannot hold
            raise InputError(f"IQ tensor cannot become an array ({str(e).splitlines()[0][:80]}); {want}",
                             "bad_values") from None
    try:
        return np.asarray(iq)
    except (ValueError, TypeError, OverflowError, RecursionError) as e:
        raise InputError(f"IQ input is not an array ({str(e).splitlines()[0][:80]}); {want}", "bad_values") from None


def validate_iq(iq: Any, frame_length: int) -> np.ndarray:
    """(2, L) -> (1, 2, L); (B, 2, L) as is; float32, C-contiguous. Raises InputError otherwise.

    Complex, integer and boolean arrays are refused: integer SDR samples often carry an offset
    (RTL-SDR uint8 is centred at 127.5) that a silent cast would keep. Floats of any width are
    converted to float32. (JSON has one number type: the service reads JSON numbers as float64 first.)
    """
    want = f"expected float32 (B, 2, {frame_length}) or (2, {frame_length})"
    a = _as_array(iq, want)
    if np.iscomplexobj(a):
        raise InputError(f"complex IQ ({a.dtype}) is refused: split it into I and Q rows with "
                         f"np.stack([z.real, z.imag], axis=-2); {want}", "bad_values")
    if a.dtype.kind == "b":
        raise InputError(f"boolean IQ input is refused; {want}", "bad_values")
    if a.dtype.kind in "iu":
        raise InputError(f"integer IQ samples ({a.dtype}) are refused: convert to float yourself (and remove "
                         f"any offset, e.g. RTL-SDR uint8 is centred at 127.5); {want}", "bad_values")
    if a.dtype.kind != "f":
        what = ("ragged (rows of different lengths) or non-numeric" if a.dtype.kind == "O"
                else "text, not numbers" if a.dtype.kind in "US" else f"of dtype {a.dtype}")
        raise InputError(f"IQ input is {what}; {want}", "bad_values")
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise InputError(f"IQ input has shape {a.shape} (rank {a.ndim}); {want}", "bad_rank")
    if a.shape[0] == 0:
        raise InputError(f"IQ input holds no frames (batch 0, shape {a.shape}); {want} with B >= 1", "empty")
    if a.shape[1] != 2:
        hint = (" (it looks like (B, L, 2): transpose it, e.g. iq.transpose(0, 2, 1))"
                if a.shape[2] == 2 and a.shape[1] == frame_length else "")
        raise InputError(f"IQ input has shape {a.shape}: axis 1 must hold the I and Q rows (2){hint}; {want}",
                         "bad_shape")
    if a.shape[2] != frame_length:
        raise InputError(f"frames have {a.shape[2]} samples but this engine takes {frame_length}; {want}",
                         "frame_length")
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf, refused next
        a = np.ascontiguousarray(a, dtype=np.float32)
    finite = np.isfinite(a).reshape(len(a), -1).all(1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise InputError(f"frame {int(bad[0])} (of {len(a)}; {len(bad)} bad) contains NaN or Inf "
                         f"(after conversion to float32); {want} with finite values", "non_finite")
    return a


def check_classes(engine: Any, dataset_classes: list[str]) -> np.ndarray:
    """Map engine class index -> dataset class index (-1 where the dataset lacks that class), so that
    ``mapping[prediction.index]`` compares with dataset labels. Raises InputError naming every dataset
    class the engine does not know. ``engine`` may be an Engine or a list of class names."""
    known = list(getattr(engine, "classes", engine))
    unknown = [c for c in dataset_classes if c not in known]
    if unknown:
        raise InputError(f"the engine does not know class(es) {', '.join(map(repr, unknown))} of the dataset; "
                         f"it was trained on: {', '.join(known)}", "classes")
    where = {c: i for i, c in enumerate(dataset_classes)}
    return np.array([where.get(c, -1) for c in known], dtype=np.int64)
