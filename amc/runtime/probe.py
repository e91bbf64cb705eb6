"""A parity probe an engine carries when it was built where it cannot run (TensorRT-RTX without a GPU).

The export stores a few of its parity frames and PyTorch's logits for them in the engine's description,
with the precision's bounds (``amc.export.parity.TOLERANCES``). The runtime backend runs the frames once
when it opens the engine on a GPU and refuses an engine that does not reproduce PyTorch: argmax
agreement on the frames that are not near ties, the mean total-variation distance of the softmax
outputs, and max |Δlogit| where the precision bounds it.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np


def _pack(a: np.ndarray) -> dict[str, Any]:
    a = np.ascontiguousarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "float32_b64": base64.b64encode(a.tobytes()).decode("ascii")}


def _unpack(d: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(d["float32_b64"]), dtype=np.float32).reshape(d["shape"]).copy()


def make_probe(frames: np.ndarray, logits: np.ndarray, tolerance: dict[str, Any], source: str) -> dict[str, Any]:
    """The probe record: frames (n, 2, L), PyTorch's logits (n, C), the bounds and where the frames came from."""
    return {"frames": _pack(frames), "logits": _pack(logits), "tolerance": dict(tolerance), "source": source}


def probe_frames(probe: dict[str, Any]) -> np.ndarray:
    return _unpack(probe["frames"])


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def check_probe(probe: dict[str, Any], logits: np.ndarray) -> tuple[bool, str]:
    """(passed, one line) for an engine's logits on the probe frames."""
    ref = _unpack(probe["logits"]).astype(np.float64)
    got = np.asarray(logits, dtype=np.float64)
    tol = probe["tolerance"]
    if got.shape != ref.shape or not np.isfinite(got).all():
        finite = bool(np.isfinite(got).all())
        return False, f"probe: engine logits {got.shape} (finite: {finite}) vs PyTorch {ref.shape}"
    ordered = np.sort(ref, axis=1)
    tie = (ordered[:, -1] - ordered[:, -2]) < float(tol["tie_margin"])
    agree = ref.argmax(1) == got.argmax(1)
    judged = float(agree[~tie].mean()) if (~tie).any() else 1.0
    tv = float(0.5 * np.abs(_softmax(ref) - _softmax(got)).sum(1).mean())
    max_abs = float(np.abs(ref - got).max())
    bound = tol.get("max_abs_logit")
    ok = judged >= float(tol["min_agreement"]) and tv <= float(tol["max_mean_tv"]) and (
        bound is None or max_abs <= float(bound))
    line = (f"probe parity vs PyTorch on {len(ref)} {probe.get('source', 'stored')} frames: agreement "
            f"{100 * judged:.2f} % of {int((~tie).sum())} not near ties, mean TV {tv:.2g}, max |Δlogit| "
            f"{max_abs:.3g} -> {'pass' if ok else 'FAIL'} (agreement >= {100 * float(tol['min_agreement']):g} %, "
            f"TV <= {float(tol['max_mean_tv']):g}" + (f", |Δlogit| <= {float(bound):g})" if bound is not None else ")"))
    return ok, line
