import os
import pickle

import numpy as np
import pytest

from amc.data.io import DataError, open_dataset
from amc.data.rml2016 import UnsafePickleError, import_rml2016, load_rml2016


def _rml_dict(rng):
    return {(mod, snr): rng.standard_normal((5, 2, 128)).astype(np.float32)
            for mod in ("QPSK", "BPSK", "WBFM") for snr in (-20, 0, 18)}


def test_import_round_trip(tmp_path):
    data = _rml_dict(np.random.default_rng(0))
    src = tmp_path / "RML2016.10a_dict.pkl"
    src.write_bytes(pickle.dumps(data, protocol=2))
    out = tmp_path / "rml.h5"
    summary = import_rml2016(src, out)
    assert summary["frames"] == 45 and summary["classes"] == ["BPSK", "QPSK", "WBFM"]
    with open_dataset(out) as ds:
        assert ds.classes == ["BPSK", "QPSK", "WBFM"] and not ds.has_clean
        sel = np.flatnonzero((ds.labels == 1) & (ds.snr == 0))
        np.testing.assert_array_equal(ds.read(sel).x, data[("QPSK", 0)])


def test_python2_style_pickle_with_latin1_bytes(tmp_path):
    """Python 2 stored the array buffer as a str; latin1 decoding must rebuild the same floats."""
    arr = np.arange(2 * 2 * 128, dtype=np.float32).reshape(2, 2, 128)
    src = tmp_path / "py2.pkl"
    src.write_bytes(pickle.dumps({("8PSK", 2): arr}, protocol=2))
    loaded = load_rml2016(src)
    np.testing.assert_array_equal(loaded[("8PSK", 2)], arr)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickle_calling_os_system_is_refused_and_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "evil.pkl"
    src.write_bytes(pickle.dumps({("QPSK", 0): _Evil()}, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"references (posix|os|nt)\.system"):
        import_rml2016(src, tmp_path / "out.h5")
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "out.h5").exists()


@pytest.mark.parametrize("payload,expect", [
    ([1, 2, 3], "expected a non-empty dict"),
    ({("QPSK", 0): np.zeros((2, 3, 128), np.float32)}, "expected float (n, 2, L)"),
    ({("QPSK", 0): np.full((2, 2, 128), np.nan, np.float32)}, "NaN or Inf"),
])
def test_malformed_pickles(tmp_path, payload, expect):
    src = tmp_path / "bad.pkl"
    src.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(DataError) as e:
        load_rml2016(src)
    assert expect in str(e.value)


def test_truncated_pickle(tmp_path):
    src = tmp_path / "t.pkl"
    src.write_bytes(pickle.dumps(_rml_dict(np.random.default_rng(1)), protocol=2)[:500])
    with pytest.raises(DataError, match="truncated"):
        load_rml2016(src)
