"""Shared fixtures: tiny datasets made by the tests themselves."""

from __future__ import annotations

import numpy as np
import pytest

from amc.data.io import write_dataset

# Session fixtures that train a model (40 s to a few minutes on a shared 2-core machine): a test that uses one
# runs in the full suite (CI) only, not in the fast subset (`pytest -m "not slow"`).
TRAINING_FIXTURES = {"eval": {"run"}, "classify": {"trained_model"}}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        folder = item.path.parent.name
        names = set(getattr(item, "fixturenames", ()))
        if names & TRAINING_FIXTURES.get(folder, set()):
            item.add_marker(pytest.mark.slow)


def random_frames(n: int, length: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2, length)).astype(np.float32)
    return x / np.sqrt((x**2).sum(1).mean(-1))[:, None, None]


@pytest.fixture
def small_h5(tmp_path):
    """A 3-class, 4-SNR, L=32 dataset with clean frames: 10 frames per (class, SNR)."""
    classes = ["A", "B", "C"]
    snrs = [-10.0, 0.0, 10.0, 20.0]
    labels = np.repeat(np.arange(3), 40)
    snr = np.tile(np.repeat(snrs, 10), 3).astype(np.float32)
    x = random_frames(len(labels), 32, seed=1)
    clean = random_frames(len(labels), 32, seed=2)
    path = tmp_path / "small.h5"
    write_dataset(path, x, labels, snr, classes, clean=clean, attrs={"note": "test"})
    return path, x, labels, snr, clean, classes
