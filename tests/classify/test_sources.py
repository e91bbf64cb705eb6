"""Readers: amc's chunked decoder gives exactly what sigmf's own read_samples gives; pipes may trickle."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from amc.classify.sources import SampleFormat, open_source


def sigmf_pair(tmp_path, raw: bytes, datatype: str, rate: float = 1e6):
    from sigmf import SigMFFile

    data = tmp_path / "r.sigmf-data"
    data.write_bytes(raw)
    meta = SigMFFile(data_file=str(data), global_info={"core:datatype": datatype, "core:sample_rate": rate})
    meta.add_capture(0, metadata={"core:frequency": 433.92e6})
    meta.tofile(tmp_path / "r.sigmf-meta", overwrite=True)
    return tmp_path / "r.sigmf-meta"


RAW = {  # datatype -> numpy component type of random test bytes
    "cf32_le": "<f4", "cf64_le": "<f8", "ci16_le": "<i2", "ci16_be": ">i2", "ci32_le": "<i4", "ci8": "i1",
    "cu8": "u1", "cu16_le": "<u2",
}


@pytest.mark.parametrize("datatype", sorted(RAW))
def test_decoder_matches_sigmf_read_samples(tmp_path, datatype):
    import sigmf

    rng = np.random.default_rng(0)
    comp = np.dtype(RAW[datatype])
    n = 5003
    if comp.kind == "f":
        vals = rng.standard_normal(2 * n).astype(comp)
    else:
        info = np.iinfo(comp)
        vals = rng.integers(info.min, info.max, 2 * n, endpoint=True, dtype=np.int64).astype(comp)
    meta = sigmf_pair(tmp_path, vals.tobytes(), datatype)
    want = sigmf.fromfile(str(meta)).read_samples(0, n)
    rec = open_source(tmp_path / "r")
    assert (rec.kind, rec.fmt.datatype, rec.n_samples, rec.sample_rate, rec.center_freq) == (
        "sigmf", datatype, n, 1e6, 433.92e6)
    got = np.concatenate(list(rec.blocks(1000)))  # blocks of 1000: chunking must not change a sample
    assert got.dtype == np.complex64 and len(got) == n
    np.testing.assert_allclose(got, want.astype(np.complex64), rtol=1e-6, atol=1e-7)


class Trickle(io.RawIOBase):
    """A pipe that hands out at most `step` bytes per read."""

    def __init__(self, data: bytes, step: int):
        self.data, self.pos, self.step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = min(self.step, len(b), len(self.data) - self.pos)
        b[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


@pytest.mark.parametrize("step", [1, 3, 7, 4096])
def test_stream_with_short_reads(step):
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 256, 2 * 3001, dtype=np.uint8).tobytes()
    rec = open_source("-", fmt="cu8", sample_rate=2.4e6, stdin=Trickle(raw, step))
    got = np.concatenate(list(rec.blocks(256)))
    want = SampleFormat.parse("cu8").decode(raw)
    np.testing.assert_array_equal(got, want)
    assert rec.n_samples is None and len(got) == 3001
    np.testing.assert_allclose(want[:2], (np.frombuffer(raw[:4], np.uint8).astype(np.float32) - 128).view(
        np.complex64) / 128)


def test_stream_ending_mid_sample_names_the_partial_bytes():
    """27.10: the whole samples are delivered and the partial one is named, not an error that loses them all."""
    rec = open_source("-", fmt="ci16", sample_rate=1e6, stdin=Trickle(b"\x00" * (4 * 10 + 3), 5))
    got = list(rec.blocks(4))
    assert sum(len(b) for b in got) == 10  # the whole samples before it were delivered
    assert re.search(r"ended mid-sample: 3 trailing byte\(s\) after sample 10 .*ci16_le.*dropped",
                     rec.trailing_warning() or "")


@pytest.mark.parametrize("name, datatype", [("cf32", "cf32_le"), ("CS16", "ci16_le"), ("sc16", "ci16_le"),
                                            ("fc32", "cf32_le"), ("cu8", "cu8"), ("ci8", "ci8")])
def test_format_aliases(name, datatype):
    assert SampleFormat.parse(name).datatype == datatype


def test_suffix_names_the_raw_format(tmp_path):
    (tmp_path / "x.cu8").write_bytes(bytes(range(256)) * 4)
    rec = open_source(tmp_path / "x.cu8", sample_rate=1e6)
    assert rec.kind == "raw" and rec.fmt.datatype == "cu8" and rec.n_samples == 512


def test_sigmf_sha512_mismatch_is_a_warning(tmp_path):
    """27.12: a dataset whose SHA-512 differs from the metadata's core:sha512 is read, with a warning."""
    from amc.classify.synth import write_sigmf

    meta = write_sigmf(tmp_path / "rec", np.ones(1000, np.complex64), 1e6, "cf32_le")
    assert open_source(meta).warnings == []  # sigmf wrote the right hash
    data = tmp_path / "rec.sigmf-data"
    raw = bytearray(data.read_bytes())
    raw[100] ^= 1
    data.write_bytes(bytes(raw))
    rec = open_source(meta)
    assert len(rec.warnings) == 1 and re.search(r"rec.sigmf-data: its SHA-512 .* differs from the metadata's "
                                                r"core:sha512", rec.warnings[0])
    assert rec.n_samples == 1000
