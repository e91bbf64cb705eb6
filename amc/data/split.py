"""Deterministic train/val/test split, stratified by (class, SNR), with a checkable identity.

The split is a pure function of (labels, snr, fractions, seed), so a run records only its
identity (seed, fractions, dataset fingerprint, sha256 of the validation indices) and evaluation
later rebuilds, and verifies, the very same validation frames.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

PROBE_RTOL = 1e-3  # relative difference of a probe value that means other samples


@dataclass
class Split:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    identity: dict


def _sha(index: np.ndarray) -> str:
    return hashlib.sha256(np.sort(index).astype(np.int64).tobytes()).hexdigest()[:16]


def stratified_split(labels: np.ndarray, snr: np.ndarray, val_fraction: float = 0.15,
                     test_fraction: float = 0.15, seed: int = 0, fingerprint: str = "",
                     probe: list[float] | None = None) -> Split:
    """Split every (class, SNR) group by the same fractions; indices come back sorted. `fingerprint` and
    `probe` (``H5Dataset.fingerprint`` / ``probe``) are recorded in the identity."""
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
    if probe is not None:
        identity["probe"] = [float(v) for v in probe]
    return Split(train=out["train"], val=out["val"], test=out["test"], identity=identity)


def probe_matches(recorded: list[float], probe: list[float]) -> bool:
    """Whether a recorded ``H5Dataset.probe`` matches the file's: the same frames give values equal to far
    better than PROBE_RTOL on any machine; other samples (another generator, another file) miss it by
    percents (the mean |value| of 32 noisy samples varies by ~10 % between draws)."""
    return len(recorded) == len(probe) and all(abs(a - b) <= PROBE_RTOL * max(abs(a), abs(b), 1e-12)
                                               for a, b in zip(recorded, probe, strict=True))


def split_from_identity(labels: np.ndarray, snr: np.ndarray, identity: dict,
                        fingerprint: str | tuple[str, ...] = "", probe: list[float] | None = None) -> Split:
    """Rebuild a recorded split; raises ValueError when the data does not reproduce it.

    `fingerprint`: the dataset's (or the values it may match: ``H5Dataset.fingerprints()``); `probe`: its
    ``H5Dataset.probe()``, checked against the identity's within ``PROBE_RTOL`` where both are known."""
    if identity.get("n") != len(labels):
        raise ValueError(f"the dataset has {len(labels)} frames but the run's split was made on "
                         f"{identity.get('n')}: pass the training dataset (or --split all)")
    accepted = (fingerprint,) if isinstance(fingerprint, str) else tuple(fingerprint)
    if identity.get("fingerprint") and any(accepted) and identity["fingerprint"] not in accepted:
        raise ValueError(f"the dataset's fingerprint {accepted[0]} differs from the one the run was trained on "
                         f"({identity['fingerprint']}): pass the training dataset (or --split all)")
    if identity.get("probe") and probe is not None and not probe_matches(identity["probe"], probe):
        raise ValueError("the dataset's samples differ from the ones the run was trained on (same settings, "
                         "other frames: another generator version?): pass the training dataset (or --split all)")
    split = stratified_split(labels, snr, identity["val_fraction"], identity["test_fraction"],
                             identity["seed"], fingerprint=identity.get("fingerprint", ""))
    if split.identity["val_sha256"] != identity["val_sha256"]:
        raise ValueError("the validation frames differ from the run's: pass the training dataset")
    return split
