import json

import h5py
import numpy as np
import pytest

from amc.config import RML2018_CLASSES
from amc.data.io import DataError, DatasetWriter, open_dataset, write_dataset


def test_round_trip_layout_and_values(small_h5):
    path, x, labels, snr, clean, classes = small_h5
    with h5py.File(path) as f:  # the RadioML 2018 layout on disk
        assert f["X"].shape == (120, 32, 2) and f["X"].dtype == np.float32
        assert f["Y"].shape == (120, 3) and f["Y"][:].sum(1).tolist() == [1] * 120
        assert f["Z"].shape == (120, 1)
        assert json.loads(f.attrs["classes"]) == classes
        np.testing.assert_array_equal(f["X"][5, :, 0], x[5, 0])  # I row -> column 0
    with open_dataset(path) as ds:
        assert len(ds) == 120 and ds.frame_length == 32 and ds.has_clean
        assert ds.classes == classes and ds.snr_grid == [-10.0, 0.0, 10.0, 20.0]
        np.testing.assert_array_equal(ds.labels, labels)
        idx = np.array([7, 3, 3, 119, 0])  # any order, duplicates
        b = ds.read(idx)
        np.testing.assert_array_equal(b.x, x[idx])
        np.testing.assert_array_equal(b.clean, clean[idx])
        np.testing.assert_array_equal(b.labels, labels[idx])
        np.testing.assert_array_equal(b.snr, snr[idx])
        got = np.concatenate([c.x for c in ds.iter_chunks(chunk=50)])
        np.testing.assert_array_equal(got, x)
        assert ds.attrs["note"] == "test"


def test_reads_rml2018_layout_without_names(tmp_path):
    """GOLD_XYZ_OSC-style file: int64 one-hot Y, int64 Z, no attributes -> corrected class order."""
    n, length = 48, 64
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 24, n)
    path = tmp_path / "GOLD_XYZ_OSC.0001_1024.hdf5"
    with h5py.File(path, "w") as f:
        f["X"] = rng.standard_normal((n, length, 2)).astype(np.float32)
        f["Y"] = np.eye(24, dtype=np.int64)[labels]
        f["Z"] = rng.choice([-20, 0, 30], size=(n, 1)).astype(np.int64)
    with open_dataset(path) as ds:
        assert ds.classes == RML2018_CLASSES and ds.classes[0] == "OOK" and ds.classes[-1] == "OQPSK"
        np.testing.assert_array_equal(ds.labels, labels)
        assert not ds.has_clean and ds.read([1, 2]).clean is None


@pytest.mark.parametrize("case", ["missing", "not_hdf5", "truncated", "missing_key", "bad_shape", "nan"])
def test_bad_files_name_the_file_and_problem(tmp_path, small_h5, case):
    path = small_h5[0]
    bad = tmp_path / "bad.h5"
    if case == "missing":
        bad = tmp_path / "nope.h5"
        expect = "no such file"
    elif case == "not_hdf5":
        bad.write_text("hello")
        expect = "not an HDF5 file"
    elif case == "truncated":
        data = path.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
        expect = "truncated or corrupted"
    elif case == "missing_key":
        with h5py.File(bad, "w") as f:
            f["X"] = np.zeros((2, 8, 2), np.float32)
            f["Y"] = np.eye(2)
        expect = "missing dataset(s) Z"
    elif case == "bad_shape":
        with h5py.File(bad, "w") as f:
            f["X"] = np.zeros((2, 8, 3), np.float32)
            f["Y"] = np.eye(2)
            f["Z"] = np.zeros((2, 1))
        expect = "expected (N, L, 2)"
    else:
        with h5py.File(bad, "w") as f:
            x = np.zeros((2, 8, 2), np.float32)
            x[1, 3, 0] = np.nan
            f["X"] = x
            f["Y"] = np.eye(2)
            f["Z"] = np.zeros((2, 1))
        with open_dataset(bad) as ds, pytest.raises(DataError, match="frame 1 contains NaN"):
            ds.read([0, 1])
        return
    with pytest.raises(DataError) as e:
        open_dataset(bad)
    assert str(bad) in str(e.value) and expect in str(e.value)
    assert "\n" not in str(e.value)


def test_writer_refuses_bad_frames_and_leaves_no_file(tmp_path):
    out = tmp_path / "o.h5"
    with pytest.raises(DataError, match="NaN or Inf"):
        write_dataset(out, np.full((2, 2, 8), np.inf, np.float32), [0, 1], [0, 0], ["a", "b"])
    with pytest.raises(DataError, match=r"expected \(n, 2, 8\)"):
        with DatasetWriter(out, ["a"], 8, with_clean=False) as w:
            w.append(np.zeros((1, 2, 8), np.float32), [0], [0])
            w.append(np.zeros((1, 3, 8), np.float32), [0], [0])
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temp file is left behind


def test_existing_file_survives_failed_rewrite(small_h5):
    path = small_h5[0]
    before = path.read_bytes()
    with pytest.raises(DataError):
        write_dataset(path, np.full((1, 2, 32), np.nan, np.float32), [0], [0], ["A"])
    assert path.read_bytes() == before


def test_streaming_memory_is_bounded(tmp_path):
    """Chunked reads of a file much larger than one chunk keep only a chunk in memory."""
    import tracemalloc

    path = tmp_path / "big.h5"
    with DatasetWriter(path, ["a", "b"], 1024, with_clean=False) as w:
        for _ in range(8):  # 8 x 1024 frames x 8 KiB = 64 MiB
            w.append(np.ones((1024, 2, 1024), np.float32), np.zeros(1024, int), np.zeros(1024))
    with open_dataset(path) as ds:
        tracemalloc.start()
        total = 0.0
        for b in ds.iter_chunks(chunk=256, with_clean=False):
            total += float(b.x[:, 0, 0].sum())
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert total == 8192
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.1f} MiB for a 64 MiB file"


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        path = write_dataset(tmp_path / "m.h5", np.zeros((1, 2, 8), np.float32), [0], [0], ["a"])
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
