"""Where the samples come from: a SigMF recording, a raw interleaved IQ file, or a stream on stdin.

``open_source`` returns a ``Recording``: sample rate, centre frequency, sample count (None for a
stream) and ``blocks(n)``, an iterator of complex64 blocks read by chunk into one reused buffer, so
resident memory does not grow with the file (a memory map would leave every page it touched
resident). SigMF metadata, datatype names and the data file of a recording are resolved with the
``sigmf`` package; the samples of files and pipes alike go through one decoder (``decode``) that uses
sigmf's datatype table and its fixed-point scaling (``(x - 2^(b-1)) / 2^(b-1)`` for unsigned,
``x / 2^(b-1)`` for signed), and a test holds it equal to ``sigmf``'s own ``read_samples``. Its own
reader exists because a pipe has no file for sigmf to map, and a file read once by chunk keeps the
same bound.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from amc.classify.frontend import DATA_RATE, name_hints
from amc.config import AmcError

SHORT_FORMATS = {"cf32": "cf32_le", "cf64": "cf64_le", "ci32": "ci32_le", "ci16": "ci16_le", "ci8": "ci8",
                 "cu32": "cu32_le", "cu16": "cu16_le", "cu8": "cu8",
                 # the names SoapySDR / SDR++ (cs*) and UHD (fc*, sc*) give the same formats
                 "cs8": "ci8", "cs16": "ci16_le", "cs32": "ci32_le", "fc32": "cf32_le", "fc64": "cf64_le",
                 "sc8": "ci8", "sc16": "ci16_le"}
SUFFIX_FORMATS = {".cu8": "cu8", ".cs8": "ci8", ".ci8": "ci8", ".cs16": "ci16", ".ci16": "ci16", ".cf32": "cf32",
                  ".fc32": "cf32", ".cfile": "cf32", ".data": "cu8"}  # .data: rtl_433's own cu8 files
DATATYPE = re.compile(r"^c(f32|f64|i32|i16|u32|u16|i8|u8)(_le|_be)?$")  # sigmf's pattern, complex only
ALL_DATATYPES = "cf32_le, cf64_le, ci32_le, ci16_le, ci8, cu32_le, cu16_le, cu8 (or _be)"


class SourceError(AmcError):
    """A recording or stream amc cannot read: the message names the problem and the fix."""


@dataclass
class SampleFormat:
    """One SigMF complex datatype: bytes per sample and how to turn them into complex64."""

    datatype: str
    component: np.dtype
    sample_size: int
    fixed_point: bool
    unsigned: bool
    bits: int

    @classmethod
    def parse(cls, name: str, where: str = "") -> SampleFormat:
        from sigmf.error import SigMFFileError
        from sigmf.sigmffile import dtype_info

        datatype = SHORT_FORMATS.get(name.lower(), name.lower())
        if datatype.startswith("r") and DATATYPE.match("c" + datatype[1:]):
            raise SourceError(f"{where}datatype '{name}' holds real samples; amc classifies complex baseband IQ "
                              f"(convert to complex first); complex types: {ALL_DATATYPES}")
        if not DATATYPE.match(datatype):
            raise SourceError(f"{where}unknown SigMF datatype '{name}'; amc reads {ALL_DATATYPES}")
        try:
            info = dtype_info(datatype)
        except SigMFFileError as e:
            raise SourceError(f"{where}unknown SigMF datatype '{name}' ({e}); amc reads {ALL_DATATYPES}") from None
        return cls(datatype=datatype, component=np.dtype(info["component_dtype"]), sample_size=info["sample_size"],
                   fixed_point=info["is_fixedpoint"], unsigned=info["is_unsigned"],
                   bits=8 * info["component_size"])

    def decode(self, raw: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
        """Whole samples of raw bytes -> complex64 (fixed point scaled to [-1, 1) as sigmf does)."""
        comp = np.frombuffer(raw, dtype=self.component)
        if not self.fixed_point:
            if self.component == np.dtype("<f4"):
                return comp.view(np.complex64).copy()
            with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf, refused by the caller
                return comp.astype(np.float32).view(np.complex64)
        x = comp.astype(np.float32)
        if self.unsigned:
            x -= 2.0 ** (self.bits - 1)
        x *= 2.0 ** -(self.bits - 1)
        return x.view(np.complex64)


@dataclass
class Recording:
    """An opened input: its rate, centre frequency, length and a chunked sample reader."""

    name: str  # what the user gave (a path or '-')
    kind: str  # sigmf, raw or stdin
    fmt: SampleFormat
    sample_rate: float  # Hz
    center_freq: float | None  # Hz (RF), None when unknown
    n_samples: int | None  # None for a stream
    data_path: Path | None = None
    meta_path: Path | None = None  # the SigMF metadata file, when the input is SigMF
    offset_bytes: int = 0  # header bytes before the first sample (SigMF non-conforming datasets)
    metadata: dict[str, Any] = field(default_factory=dict)  # the SigMF metadata as read
    stream: BinaryIO | None = None
    trailing_bytes: int = 0  # bytes at the end of a stream that did not make a whole sample (dropped)
    samples_read: int = 0  # whole samples a stream delivered (set when it ends)
    warnings: list[str] = field(default_factory=list)  # found on opening (a SigMF core:sha512 mismatch)

    def trailing_warning(self) -> str | None:
        """The warning for a stream that ended mid-sample (its whole samples were classified), or None."""
        if not self.trailing_bytes:
            return None
        return (f"{self.name}: the stream ended mid-sample: {self.trailing_bytes} trailing byte(s) after sample "
                f"{self.samples_read} do not make a whole {self.fmt.datatype} sample ({self.fmt.sample_size} bytes) "
                "and were dropped; the results cover every whole sample; was the writer cut off, or is --format "
                "wrong?")

    @property
    def duration_s(self) -> float | None:
        return None if self.n_samples is None else self.n_samples / self.sample_rate

    def frequency_at(self, index: int) -> float | None:
        """The capture's centre frequency at a sample index (SigMF captures may retune)."""
        freq = self.center_freq
        for cap in self.metadata.get("captures", []):
            if cap.get("core:sample_start", 0) <= index and "core:frequency" in cap:
                freq = float(cap["core:frequency"])
        return freq

    def blocks(self, samples: int) -> Iterator[np.ndarray]:
        """complex64 blocks of up to ``samples`` samples, in order, read into one reused buffer."""
        size = samples * self.fmt.sample_size
        buf = bytearray(size)
        view = memoryview(buf)
        if self.stream is not None:
            yield from self._stream_blocks(self.stream, view)
            return
        assert self.data_path is not None and self.n_samples is not None
        left = self.n_samples * self.fmt.sample_size
        with open(self.data_path, "rb", buffering=0) as fh:
            fh.seek(self.offset_bytes)
            while left > 0:
                want = min(size, left)
                got = _read_full(fh, view[:want])
                if got < want:
                    raise SourceError(f"{self.data_path}: the file shrank while being read (ended {left - got} bytes "
                                      "early); classify a finished recording")
                left -= got
                yield self.fmt.decode(view[:got])

    def _stream_blocks(self, stream: BinaryIO, view: memoryview) -> Iterator[np.ndarray]:
        """Whatever the pipe holds now (one read, up to the buffer), as whole samples: a live stream's
        windows are classified as they arrive, not when a whole buffer has filled."""
        ss = self.fmt.sample_size
        read: Any = getattr(stream, "readinto1", None) or getattr(stream, "readinto")  # noqa: B009
        carry = 0  # bytes of a partial sample kept at the front of the buffer
        samples = 0
        while True:
            got = read(view[carry:]) or 0
            if not got:  # end of stream; a partial last sample is dropped and named (trailing_warning)
                self.trailing_bytes = carry
                self.samples_read = samples
                return
            n = carry + got
            whole = n // ss * ss
            if whole:
                samples += whole // ss
                yield self.fmt.decode(view[:whole])
            carry = n - whole
            if carry:
                view[:carry] = view[whole:n]


def _read_full(fh: Any, view: memoryview) -> int:
    """readinto until the view is full or EOF (pipes return short reads)."""
    total = 0
    while total < len(view):
        n = fh.readinto(view[total:])
        if not n:
            break
        total += n
    return total


# -- opening ----------------------------------------------------------------------------------
def open_source(path: str | os.PathLike[str], fmt: str | None = None, sample_rate: float | None = None,
                center_freq: float | None = None, stdin: BinaryIO | None = None) -> Recording:
    """A SigMF recording (PATH, PATH.sigmf-meta or PATH.sigmf-data), a raw IQ file (``fmt`` and
    ``sample_rate`` needed; the suffix .cu8 / .cs16 / .cf32 / .cfile names the format) or '-' (stdin)."""
    if sample_rate is not None and not (np.isfinite(sample_rate) and sample_rate > 0):
        raise SourceError(f"--sample-rate must be a positive number of Hz, got {sample_rate}")
    name = str(path)
    if name == "-":
        if fmt is None or sample_rate is None:
            raise SourceError("reading IQ from stdin ('-') needs --format (e.g. cu8 for rtl_sdr, cf32 for a GNU "
                              "Radio file sink) and --sample-rate in Hz")
        src = stdin if stdin is not None else sys.stdin.buffer
        return Recording(name="stdin", kind="stdin", fmt=SampleFormat.parse(fmt, "--format: "),
                         sample_rate=float(sample_rate), center_freq=center_freq, n_samples=None, stream=src)
    p = Path(path)
    if p.is_dir():
        raise SourceError(f"{path}: a directory; give a SigMF recording, a raw IQ file or '-' for stdin")
    meta = sigmf_meta_path(p)
    if meta is not None:
        try:
            return _open_sigmf(meta, fmt, sample_rate, center_freq)
        except SourceError:
            raise
        except (TypeError, ValueError, AttributeError, KeyError) as e:  # a field of the wrong type or shape
            raise SourceError(f"{meta}: malformed SigMF metadata ({type(e).__name__}: {e}); check it with "
                              "sigmf_validate") from None
    if p.name.lower().endswith((".sigmf", ".sigmf.gz", ".sigmf.xz", ".sigmf.zip")) and p.is_file():
        raise SourceError(f"{p}: a SigMF archive; extract it first (tar xf {p.name}) and classify the "
                          ".sigmf-meta it holds (amc reads recordings by chunk, which an archive does not allow)")
    if not p.exists():
        raise SourceError(f"{p}: no such file (give a SigMF recording, a raw IQ file or '-' for stdin)")
    if p.is_dir():
        raise SourceError(f"{p}: a directory; give a SigMF recording (.sigmf-meta) or a raw IQ file")
    fmt = fmt or SUFFIX_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise SourceError(f"{p}: not a SigMF recording (no {p.name}.sigmf-meta beside it); for raw interleaved IQ "
                          "give --format (cf32, ci16, cu8, ...) and --sample-rate")
    hints = name_hints(p)  # rtl_433 names: g001_433.92M_250k.cu8
    if sample_rate is None:
        sample_rate = hints.sample_rate
    if sample_rate is None and p.suffix.lower() == ".data":
        sample_rate = DATA_RATE  # what rtl_433 assumes for its .data files
    if sample_rate is None:
        raise SourceError(f"{p}: a raw IQ file carries no sample rate; give --sample-rate in Hz (e.g. 250k, 2.4M) "
                          "or name the file as rtl_433 does (g001_433.92M_250k.cu8)")
    if center_freq is None:
        center_freq = hints.center_freq
    sf = SampleFormat.parse(fmt, "--format: ")
    return Recording(name=name, kind="raw", fmt=sf, sample_rate=float(sample_rate), center_freq=center_freq,
                     n_samples=_count(p, p.stat().st_size, sf, 0), data_path=p)


def sigmf_meta_path(p: Path) -> Path | None:
    """The .sigmf-meta file of a SigMF input named any of the usual ways, or None for other inputs."""
    from sigmf.sigmffile import get_sigmf_filenames

    lower = p.name.lower()
    if lower.endswith((".sigmf-meta", ".sigmf-data")):
        meta = get_sigmf_filenames(p)["meta_fn"]
        if not meta.is_file():
            raise SourceError(f"{meta}: no such SigMF metadata file (the recording needs its .sigmf-meta)")
        return meta
    candidate = p.with_name(p.name + ".sigmf-meta")
    return candidate if candidate.is_file() else None


def _count(path: Path, nbytes: int, fmt: SampleFormat, header: int) -> int:
    n, rest = divmod(nbytes, fmt.sample_size)
    if rest:
        raise SourceError(f"{path}: {nbytes} bytes of samples is not a whole number of {fmt.datatype} samples "
                          f"({fmt.sample_size} bytes each; {rest} byte(s) left over): truncated file or wrong format")
    if n == 0:
        raise SourceError(f"{path}: holds no samples")
    return n


def _open_sigmf(meta_path: Path, fmt: str | None, sample_rate: float | None,
                center_freq: float | None) -> Recording:
    from sigmf.error import SigMFError
    from sigmf.sigmffile import get_dataset_filename_from_metadata

    try:
        metadata = json.loads(meta_path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise SourceError(f"{meta_path}: not valid JSON ({str(e).splitlines()[0][:100]}); is it a SigMF "
                          "metadata file?") from None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("global"), dict):
        raise SourceError(f"{meta_path}: no 'global' object; not SigMF metadata")
    metadata.setdefault("captures", [])
    metadata.setdefault("annotations", [])
    glob = metadata["global"]
    where = f"{meta_path}: "
    if "core:datatype" not in glob:
        raise SourceError(f"{where}core:datatype is missing; SigMF metadata must name its sample format")
    sfmt = SampleFormat.parse(str(glob["core:datatype"]), where)
    if fmt is not None and SampleFormat.parse(fmt, "--format: ").datatype != sfmt.datatype:
        raise SourceError(f"{where}the metadata says {sfmt.datatype} but --format says {fmt}; drop --format "
                          "(SigMF recordings name their own datatype)")
    channels = int(glob.get("core:num_channels", 1) or 1)
    if channels != 1:
        raise SourceError(f"{where}{channels} interleaved channels; amc classify reads single-channel recordings")
    rate = glob.get("core:sample_rate")
    if rate is None:
        if sample_rate is None:
            raise SourceError(f"{where}the metadata has no core:sample_rate; give it with --sample-rate (Hz)")
        rate = sample_rate
    elif sample_rate is not None and abs(float(rate) - sample_rate) > 1e-9 * float(rate):
        raise SourceError(f"{where}the metadata says core:sample_rate {float(rate):g} Hz but --sample-rate says "
                          f"{sample_rate:g}; drop --sample-rate (or fix the metadata)")
    if not (isinstance(rate, (int, float)) and np.isfinite(rate) and rate > 0):
        raise SourceError(f"{where}core:sample_rate is {rate!r}; it must be a positive number of Hz")
    if metadata.get("global", {}).get("core:metadata_only"):
        raise SourceError(f"{where}a metadata-only SigMF file (core:metadata_only); there are no samples to classify")
    try:
        data_path = get_dataset_filename_from_metadata(meta_path, metadata)
    except SigMFError as e:
        raise SourceError(f"{where}{e}") from None
    if data_path is None:
        raise SourceError(f"{where}its dataset {meta_path.with_suffix('.sigmf-data').name} is missing")
    captures = metadata["captures"]
    header = int(captures[0].get("core:header_bytes", 0)) if captures else 0
    trailing = int(glob.get("core:trailing_bytes", 0))
    nbytes = Path(data_path).stat().st_size - header - trailing
    if nbytes < 0:
        raise SourceError(f"{where}the dataset is smaller than its header and trailing bytes; truncated file")
    freq = center_freq
    if freq is None and captures and "core:frequency" in captures[0]:
        freq = float(captures[0]["core:frequency"])
    rec = Recording(name=str(meta_path), kind="sigmf", fmt=sfmt, sample_rate=float(rate), center_freq=freq,
                    n_samples=_count(Path(data_path), nbytes, sfmt, header), data_path=Path(data_path),
                    meta_path=meta_path, offset_bytes=header, metadata=metadata)
    want = glob.get("core:sha512")
    if isinstance(want, str) and want:
        got = sha512_file(Path(data_path))
        if got.lower() != want.strip().lower():
            rec.warnings.append(f"{Path(data_path).name}: its SHA-512 ({got[:16]}...) differs from the metadata's "
                                f"core:sha512 ({want.strip()[:16]}...): the dataset changed or is not the one the "
                                "metadata describes; classified as it is")
    return rec


def sha512_file(path: Path) -> str:
    """SHA-512 of a whole file (SigMF's core:sha512 covers the dataset file), read by chunk."""
    h = hashlib.sha512()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
