"""Frames for training and evaluation: in memory when they fit a budget, else streamed from HDF5.

Both paths yield the same numpy batches for the same order, so a 21 GB RML2018 file trains in
bounded memory (DataLoader workers read batches by index) and a small file trains from RAM.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import torch

from amc.data.io import H5Dataset, read_rows

NumpyBatch = tuple[np.ndarray, "np.ndarray | None", np.ndarray, np.ndarray]  # x, clean, labels, snr


class _BatchReader(torch.utils.data.Dataset):
    """One item = one batch of frames read by index; each worker opens the file itself."""

    def __init__(self, path: Path, index: np.ndarray, labels: np.ndarray, snr: np.ndarray,
                 batches: list[np.ndarray], with_clean: bool):
        self.path, self.index, self.labels, self.snr = path, index, labels, snr
        self.batches, self.with_clean = batches, with_clean
        self._file: h5py.File | None = None

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> NumpyBatch:
        if self._file is None:
            self._file = h5py.File(self.path, "r")
        pos = self.batches[i]  # positions in the split; labels / snr are the split's own arrays
        rows = self.index[pos]  # rows of the file
        uniq, inverse = np.unique(rows, return_inverse=True)
        x = read_rows(self._file, "X", uniq, self.path)[inverse]
        clean = read_rows(self._file, "clean", uniq, self.path)[inverse] if self.with_clean else None
        return x, clean, self.labels[pos], self.snr[pos]


def _as_is(item: NumpyBatch) -> NumpyBatch:
    """DataLoader collate that keeps the numpy batch as it is (same types as the in-memory path)."""
    return item


class FrameSource:
    """The frames of one split (`index` into the dataset), served as batches in a given order."""

    def __init__(self, ds: H5Dataset, index: np.ndarray, memory_budget: int = 4 << 30, num_workers: int = 0):
        self.path = ds.path
        self.index = np.asarray(index, dtype=np.int64)
        self.labels = ds.labels[self.index]
        self.snr = ds.snr[self.index]
        self.with_clean = ds.has_clean
        self.num_workers = num_workers
        self.in_memory = len(self.index) * ds.nbytes_per_frame <= memory_budget
        self.x: np.ndarray | None = None
        self.clean: np.ndarray | None = None
        if self.in_memory:
            xs, cs = [], []
            for b in ds.iter_chunks(chunk=8192, index=self.index, with_clean=self.with_clean):
                xs.append(b.x)
                if b.clean is not None:
                    cs.append(b.clean)
            self.x = np.concatenate(xs)
            self.clean = np.concatenate(cs) if cs else None

    def __len__(self) -> int:
        return len(self.index)

    def batches(self, order: np.ndarray, batch_size: int) -> Iterator[NumpyBatch]:
        """Batches of positions `order` (into this split), in that order."""
        chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        if self.in_memory:
            assert self.x is not None
            for pos in chunks:
                clean = self.clean[pos] if self.clean is not None else None
                yield self.x[pos], clean, self.labels[pos], self.snr[pos]
            return
        reader = _BatchReader(self.path, self.index, self.labels, self.snr, chunks, self.with_clean)
        loader = torch.utils.data.DataLoader(reader, batch_size=None, shuffle=False, collate_fn=_as_is,  # type: ignore[arg-type]

                                             num_workers=self.num_workers,
                                             persistent_workers=False, prefetch_factor=4 if self.num_workers else None)
        yield from loader
