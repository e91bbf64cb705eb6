"""Deterministic train/val/test split, stratified by (class, SNR), with a checkable identity.

The split is a pure function of (labels, snr, fractions, seed), so a run records only its
identity (seed, fractions, dataset fingerprint, sha256 of the validation indices) and evaluation
later rebuilds, and verifies, the very same validation frames.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


@dataclass
class Split:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    identity: dict


def _sha(index: np.ndarray) -> str:
    return hashlib.sha256(np.sort(index).astype(np.int64).tobytes()).hexdigest()[:16]


def stratified_split(labels: np.ndarray, snr: np.ndarray, val_fraction: float = 0.15,
                     test_fraction: float = 0.15, seed: int = 0, fingerprint: str = "") -> Split:
    """Split every (class, SNR) group by the same fractions; indices come back sorted."""
    labels = np.asarray(labels)
    snr = np.asarray(snr)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    keys = np.stack([labels.astype(np.float64), snr.astype(np.float64)], axis=1)
    groups, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(groups) + 1))
    for g in range(len(groups)):
        idx = order[bounds[g]:bounds[g + 1]]
        idx = idx[rng.permutation(len(idx))]
        n_val = int(round(len(idx) * val_fraction))
        n_test = int(round(len(idx) * test_fraction))
        if len(idx) >= 3:  # keep every split non-empty where the group allows
            n_val = max(n_val, 1)
            n_test = max(n_test, 1) if test_fraction > 0 else 0
        parts["val"].append(idx[:n_val])
        parts["test"].append(idx[n_val:n_val + n_test])
        parts["train"].append(idx[n_val + n_test:])
    out = {k: np.sort(np.concatenate(v)).astype(np.int64) for k, v in parts.items()}
    identity = {"seed": int(seed), "val_fraction": float(val_fraction),
                "test_fraction": float(test_fraction), "n": int(len(labels)),
                "fingerprint": fingerprint, "val_sha256": _sha(out["val"]),
                "test_sha256": _sha(out["test"])}
    return Split(train=out["train"], val=out["val"], test=out["test"], identity=identity)


def split_from_identity(labels: np.ndarray, snr: np.ndarray, identity: dict, fingerprint: str = "") -> Split:
    """Rebuild a recorded split; raises ValueError when the data does not reproduce it."""
    if identity.get("n") != len(labels):
        raise ValueError(f"the dataset has {len(labels)} frames but the run's split was made on "
                         f"{identity.get('n')}: pass the training dataset (or --split all)")
    if identity.get("fingerprint") and fingerprint and identity["fingerprint"] != fingerprint:
        raise ValueError("the dataset's fingerprint differs from the one the run was trained on: "
                         "pass the training dataset (or --split all)")
    split = stratified_split(labels, snr, identity["val_fraction"], identity["test_fraction"],
                             identity["seed"], fingerprint=identity.get("fingerprint", ""))
    if split.identity["val_sha256"] != identity["val_sha256"]:
        raise ValueError("the validation frames differ from the run's: pass the training dataset")
    return split
