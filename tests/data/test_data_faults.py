"""Data edge cases: (class, SNR) groups too small to split, and class names that do not match the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from amc.data.io import DataError, open_dataset
from amc.data.split import split_from_identity, stratified_split
from amc.metrics import Accumulator


def test_tiny_and_missing_class_snr_groups_split_without_loss() -> None:
    """Groups of 1-2 frames go to train whole (nothing to spare for val / test); groups of >= 3 put at
    least one frame in each split; a (class, SNR) pair with no frames is simply absent. No frame is
    lost or duplicated, and the split rebuilds from its identity."""
    sizes = {(0, -10.0): 1, (0, 0.0): 2, (0, 10.0): 3, (1, -10.0): 7, (1, 10.0): 40}  # (1, 0 dB) is empty
    labels = np.concatenate([np.full(n, c) for (c, _), n in sizes.items()])
    snr = np.concatenate([np.full(n, s, np.float32) for (_, s), n in sizes.items()])
    order = np.random.default_rng(0).permutation(len(labels))
    labels, snr = labels[order], snr[order]
    s = stratified_split(labels, snr, seed=3)
    every = np.concatenate([s.train, s.val, s.test])
    assert np.array_equal(np.sort(every), np.arange(len(labels)))  # a partition
    for (c, v), n in sizes.items():
        in_group = (labels == c) & (snr == v)
        counts = [int(in_group[part].sum()) for part in (s.train, s.val, s.test)]
        assert sum(counts) == n
        if n < 3:
            assert counts == [n, 0, 0], ((c, v), counts)
        else:
            assert min(counts) >= 1, ((c, v), counts)
    again = split_from_identity(labels, snr, s.identity)
    assert all(np.array_equal(a, b) for a, b in zip((s.train, s.val, s.test), (again.train, again.val, again.test)))
    # 0 dB has no validation frame at all (its only group had 2): per-SNR metrics leave it out, its band is NaN
    acc = Accumulator(2)
    acc.update(labels[s.val], labels[s.val], snr[s.val])
    got = acc.summary({"low": (-20.0, -5.0), "zero": (-1.0, 1.0)})
    assert set(got["per_snr"]) == {"-10", "10"} and got["acc"] == 1.0
    assert got["bands"]["low"] == 1.0 and np.isnan(got["bands"]["zero"])


def test_class_names_that_do_not_match_the_file_are_refused(small_h5: tuple, tmp_path: Path) -> None:
    path, *_, classes = small_h5  # Y has 3 columns: A, B, C
    with pytest.raises(DataError) as e:
        open_dataset(path, classes=["A", "B"])
    assert str(e.value) == f"{path}: Y has 3 classes but 2 class names were given"
    with open_dataset(path, classes=["x", "y", "z"]) as ds:  # same count: the caller's names win
        assert ds.classes == ["x", "y", "z"]
