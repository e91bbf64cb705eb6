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


@pytest.mark.parametrize("module", ["numpy.core.numeric", "numpy._core.numeric"])
def test_protocol_5_pickles_load_as_numpy_writes_them(tmp_path, module, monkeypatch):
    """pickle.HIGHEST_PROTOCOL (5) rebuilds arrays with numpy's _frombuffer; numpy 1 names it under
    numpy.core, numpy 2 under numpy._core. Both spellings load, with the same floats."""
    core = getattr(np, "_core", None) or np.core
    if module.startswith("numpy._core") and not hasattr(np, "_core"):
        pytest.skip("numpy 1 has no numpy._core")
    import warnings

    with warnings.catch_warnings():  # numpy 2 warns when numpy.core is imported (pickle does, to check)
        warnings.simplefilter("ignore", DeprecationWarning)
        monkeypatch.setattr(core.numeric._frombuffer, "__module__", module)  # the name pickle writes
        data = _rml_dict(np.random.default_rng(3))
        raw = pickle.dumps(data, protocol=5)
    assert module.encode() in raw and b"_frombuffer" in raw
    src = tmp_path / "p5.pkl"
    src.write_bytes(raw)
    loaded = load_rml2016(src)
    assert sorted(loaded) == sorted(data)
    for k, v in data.items():
        np.testing.assert_array_equal(loaded[k], v)
    summary = import_rml2016(src, tmp_path / "p5.h5")
    assert summary["frames"] == 45


def test_protocol_5_hostile_pickle_still_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "evil5.pkl"
    src.write_bytes(pickle.dumps({("QPSK", 0): np.zeros((1, 2, 128), np.float32), ("BPSK", 0): _Evil()},
                                 protocol=5))
    with pytest.raises(UnsafePickleError, match=r"references (posix|os|nt)\.system"):
        load_rml2016(src)
    assert not (tmp_path / "PWNED").exists()


def test_protocol_5_out_of_band_buffers_are_refused(tmp_path):
    arr = np.zeros((1, 2, 128), np.float32)
    buffers: list = []
    raw = pickle.dumps({("QPSK", 0): arr}, protocol=5, buffer_callback=buffers.append)
    src = tmp_path / "oob.pkl"
    src.write_bytes(raw)
    with pytest.raises(DataError, match="not a readable RML2016 pickle"):
        load_rml2016(src)
