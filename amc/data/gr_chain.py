"""RML2016.10a's GNU Radio signal chain, rebuilt for GNU Radio 3.10 from stock blocks.

This file runs as a script under a Python that can import GNU Radio (Debian's python3-gnuradio is
for the system Python, which cannot import amc's dependencies); `amc.data.grsynth` starts it as a
subprocess. It imports only numpy at module level, so its pure-python parts (constellations, the
stand-in sources, the slicer) import anywhere and are tested without GNU Radio.

    python3 gr_chain.py JOB.json      # JOB: {"seed", "frames", "length", "defects", "parts", "keys"}

For every key (class, class index, SNR) of the job it writes PARTS/<key>.npy: ``frames`` clean frames
(complex64, frames x length) sliced from the transmitter -> channel output as the original did, and
prints ``part <name>`` when the file is in place (atomically). Parts already present are skipped, so
a stopped job resumes. Noise, normalisation and the HDF5 file are amc's side (amc.data.grsynth).

The chain, after radioML/dataset (generate_RML2016.10a.py, transmitters.py, source_alphabet.py):
8 samples per symbol, RRC roll-off 0.35 through a 32-filter polyphase arbitrary resampler for the
linear modulations; GFSK (sensitivity 0.1, BT 0.35); CPFSK (k 0.5); WBFM (wfm_tx, audio 44.1 kHz,
quad rate 220.5 kHz); AM-DSB (1 + m(t) on a 0 Hz carrier) and AM-SSB (Hilbert filter of 401 taps)
from 44.1 kHz audio interpolated to 200 kHz; then channels.dynamic_channel_model(200 kHz, SRO std
0.01 / max 50 Hz, CFO std 0.01 / max 500 Hz, 8 sinusoids, Doppler 1 Hz, LOS, K 4, delays 0 / 0.9 /
1.7, magnitudes 1 / 0.8 / 0.3, 8 taps). What had to change for 3.10 and what ``defects`` selects:
docs/data.md.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

SPS = 8
EBW = 0.35
SAMPLE_RATE = 200e3
AUDIO_RATE = 44.1e3
DISCRETE = ["BPSK", "QPSK", "8PSK", "PAM4", "QAM16", "QAM64", "GFSK", "CPFSK"]
CONTINUOUS = ["WBFM", "AM-DSB", "AM-SSB"]
TX_LEN = {"QAM16": 20000, "QAM64": 30000}  # source items per run; 10000 for the others
CHANNEL = {"sro_std": 0.01, "sro_max": 50.0, "cfo_std": 0.01, "cfo_max": 0.5e3, "sinusoids": 8,
           "doppler": 1.0, "los": True, "k": 4.0, "delays": [0.0, 0.9, 1.7], "mags": [1.0, 0.8, 0.3],
           "taps": 8}
ORIGINAL_CHANNEL_SEED = 0x1337  # the original passed this one seed to every channel
DEFECTS = ("fixed", "original")

# gr-mapper's constellations (unnormalised, as the original used them) and the original's gray maps
# (symbol values): the point for symbol index j is base[symvals[j]].
_SQ = np.sqrt(0.5)
_BASE = {
    "BPSK": [1, -1],
    "QPSK": [(1 + 0j) * (_SQ + 1j * _SQ), 1j * (_SQ + 1j * _SQ), -1 * (_SQ + 1j * _SQ), -1j * (_SQ + 1j * _SQ)],
    "8PSK": [1, _SQ + 1j * _SQ, 1j, -_SQ + 1j * _SQ, -1, -_SQ - 1j * _SQ, -1j, _SQ - 1j * _SQ],
    "PAM4": [-3, -1, 3, 1],
    "QAM16": [complex(i, q) for q in (3, 1, -1, -3) for i in (-3, -1, 1, 3)],
    "QAM64": [complex(i, q) for q in (7, 5, 3, 1, -1, -3, -5, -7) for i in (-7, -5, -3, -1, 1, 3, 5, 7)],
}
_SYMVALS = {
    "BPSK": [0, 1], "QPSK": [0, 1, 3, 2], "8PSK": [0, 1, 3, 2, 7, 6, 4, 5], "PAM4": [0, 1, 3, 2],
    "QAM16": [2, 6, 14, 10, 3, 7, 15, 11, 1, 5, 13, 9, 0, 4, 12, 8],
    "QAM64": [0, 32, 8, 40, 3, 35, 11, 43, 48, 16, 56, 24, 51, 19, 59, 27, 12, 44, 4, 36, 15, 47, 7, 39,
              60, 28, 52, 20, 63, 31, 55, 23, 2, 34, 10, 42, 1, 33, 9, 41, 50, 18, 58, 26, 49, 17, 57, 25,
              14, 46, 6, 38, 13, 45, 5, 37, 62, 30, 54, 22, 61, 29, 53, 21],
}


def constellation(name: str) -> tuple[np.ndarray, int]:
    """(points indexed by symbol value, bits per symbol) of a linear class."""
    base = np.asarray(_BASE[name], dtype=np.complex128)
    pts = base[np.asarray(_SYMVALS[name])]
    return pts, int(np.log2(len(pts)))


def tx_len(name: str) -> int:
    return TX_LEN.get(name, 10000)


# ---------------------------------------------------------------- sources (stand-ins)

def source_bits(n: int, rng: np.random.Generator) -> np.ndarray:
    """n whitened source bits (uint8 0/1).

    The original read Shakespeare's text LSB first and XORed it with a repeating 256-bit random
    sequence; its source_material submodule's files are not published, so the text is replaced by
    seeded random bytes of printable ASCII (the top bit 0, as in text) under the same scrambler."""
    text = rng.integers(32, 127, size=-(-n // 8), dtype=np.uint8)
    bits = np.unpackbits(text, bitorder="little")[:n]
    scrambler = rng.integers(0, 2, size=256, dtype=np.uint8)
    return bits ^ np.resize(scrambler, n)


def speech_audio(n: int, rng: np.random.Generator, rate: float = AUDIO_RATE) -> np.ndarray:
    """n samples of speech-like audio (float32) at the level the original's source gave.

    The original decoded a podcast episode (serial-s01-e01.mp3, not published) through gr-mediatools
    and scaled its 16-bit samples by 1/65535 (full scale 0.5). This stand-in: voiced syllables (a
    gliding fundamental of 85-255 Hz with harmonics rolling off above ~1 kHz), unvoiced bursts,
    and pauses with a faint background; voiced RMS about 0.06 (-18 dBFS speech at that scale)."""
    out = np.zeros(n, dtype=np.float64)
    t0 = 0
    while t0 < n:
        seg = int(rng.uniform(0.08, 0.3) * rate)
        kind = rng.choice(3, p=[0.65, 0.15, 0.2])  # voiced, unvoiced, pause
        k = np.arange(min(seg, n - t0))
        env = np.sin(np.pi * (k + 0.5) / max(seg, 1)) ** 0.5
        if kind == 0:
            f0 = rng.uniform(85, 255) * (1 + rng.uniform(-0.15, 0.15) * k / max(seg, 1))
            phase = 2 * np.pi * np.cumsum(f0) / rate
            harm = np.arange(1, 1 + int(4000 // 255))
            amp = 1.0 / (1 + (harm * f0.mean() / 1000.0) ** 2)
            sig = (amp[:, None] * np.sin(harm[:, None] * phase[None, :]
                                          + rng.uniform(0, 2 * np.pi, len(harm))[:, None])).sum(0)
            sig *= 0.06 * np.sqrt(2) / np.sqrt((amp ** 2).sum()) * rng.uniform(0.5, 1.5)
        elif kind == 1:
            sig = np.diff(rng.normal(0, 0.02, len(k) + 1))
        else:
            sig = rng.normal(0, 3e-4, len(k))
        out[t0:t0 + len(k)] = sig * (env if kind != 2 else 1.0)
        t0 += len(k)
    return np.clip(out, -0.5, 0.5).astype(np.float32)


# ---------------------------------------------------------------- slicing

def slice_starts(raw_len: int, frames_left: int, length: int, rng: np.random.Generator) -> list[int]:
    """Frame starts in one run's output, as the original sampled them: the first 50..500 samples in
    (after the channel's transients), then strides of length .. 5 % of the run (both inclusive)."""
    starts: list[int] = []
    i = int(rng.integers(50, 501))
    top = max(length, round(raw_len * 0.05))
    while i + length < raw_len and len(starts) < frames_left:
        starts.append(i)
        i += int(rng.integers(length, top + 1))
    return starts


def part_name(name: str, snr: float) -> str:
    return f"{name}_{snr:+g}dB"


# ---------------------------------------------------------------- GNU Radio

def build_tx(tb: Any, src: Any, name: str, defects: str) -> Any:
    """Connect src to the class's transmitter in top block tb; returns the last block."""
    from gnuradio import analog, blocks, digital, filter  # type: ignore[import-not-found]

    if name in _BASE:
        pts, bps = constellation(name)
        nfilts = 32
        taps = filter.firdes.root_raised_cosine(nfilts, nfilts, 1.0, EBW, nfilts * 11 * SPS)
        chain = [blocks.pack_k_bits_bb(bps), digital.chunks_to_symbols_bc([complex(p) for p in pts]),
                 filter.pfb_arb_resampler_ccf(SPS, taps, nfilts)]
    elif name == "GFSK":
        from gnuradio import gr

        chain = [blocks.unpacked_to_packed_bb(1, gr.GR_MSB_FIRST), digital.gfsk_mod(SPS, sensitivity=0.1, bt=EBW)]
    elif name == "CPFSK":
        chain = [analog.cpfsk_bc(0.5, 1.0, SPS)]
    elif name == "WBFM":
        chain = [analog.wfm_tx(audio_rate=44100.0, quad_rate=220.5e3)]
    elif name == "AM-DSB":
        carrier = analog.sig_source_c(SAMPLE_RATE, analog.GR_SIN_WAVE, 0.0, 1.0)
        mod = blocks.multiply_cc()
        chain = [filter.mmse_resampler_ff(0.0, AUDIO_RATE / SAMPLE_RATE), blocks.float_to_complex(),
                 blocks.multiply_const_cc(1.0), blocks.add_const_cc(1.0), mod]
        tb.connect(carrier, (mod, 1))
    elif name == "AM-SSB":
        interp = filter.mmse_resampler_ff(0.0, AUDIO_RATE / SAMPLE_RATE)
        if defects == "original":  # 1 + m(t) times a float sine of 0 Hz, which is 0: no signal at all
            carrier = analog.sig_source_f(SAMPLE_RATE, analog.GR_SIN_WAVE, 0.0, 1.0)
            mod = blocks.multiply_ff()
            chain = [interp, blocks.multiply_const_ff(1.0), blocks.add_const_ff(1.0), mod]
            tb.connect(carrier, (mod, 1))
        else:  # the upper sideband of m(t), suppressed carrier (amc's AM-SSB)
            chain = [interp]
        chain.append(filter.hilbert_fc(401))
    else:
        raise ValueError(f"unknown class {name!r}")
    tb.connect(src, *chain)
    return chain[-1]


def run_once(name: str, rng: np.random.Generator, defects: str, clip: np.ndarray | None = None) -> np.ndarray:
    """One run of source -> transmitter -> channel (no noise: amc adds it) -> sink; complex64 samples."""
    from gnuradio import blocks, channels, gr

    tb = gr.top_block()
    n = tx_len(name)
    if name in CONTINUOUS:
        audio = clip if clip is not None else speech_audio(n, rng)
        src = blocks.vector_source_f(audio.tolist(), False)
    else:
        src = blocks.vector_source_b(source_bits(n, rng).tolist(), False)
    last = build_tx(tb, src, name, defects)
    seed = ORIGINAL_CHANNEL_SEED if defects == "original" else int(rng.integers(1, 2**31 - 1))
    c = CHANNEL
    chan = channels.dynamic_channel_model(SAMPLE_RATE, c["sro_std"], c["sro_max"], c["cfo_std"], c["cfo_max"],
                                          c["sinusoids"], c["doppler"], c["los"], c["k"], c["delays"], c["mags"],
                                          c["taps"], 0.0, seed)
    snk = blocks.vector_sink_c()
    tb.connect(last, chan, snk)
    tb.run()
    return np.asarray(snk.data(), dtype=np.complex64)


def make_part(name: str, frames: int, length: int, defects: str, rng: np.random.Generator) -> np.ndarray:
    """frames clean frames of one (class, SNR) key, from as many runs as it takes."""
    out = np.zeros((frames, length), dtype=np.complex64)
    # the original read its audio file from the start on every run: one clip for the whole key
    clip = speech_audio(tx_len(name), rng) if defects == "original" and name in CONTINUOUS else None
    got = 0
    while got < frames:
        raw = run_once(name, rng, defects, clip)
        for s in slice_starts(len(raw), frames - got, length, rng):
            out[got] = raw[s:s + length]
            got += 1
    return out


def spawn_key(class_index: int, snr: float) -> tuple[int, int]:
    """Seed path of a key: its class's position in the class set and its SNR in milli-dB (offset)."""
    return class_index, int(round(snr * 1000)) + 10**6


def run_job(job: dict[str, Any]) -> None:
    parts = Path(job["parts"])
    parts.mkdir(parents=True, exist_ok=True)
    for name, ci, snr in job["keys"]:
        path = parts / f"{part_name(name, snr)}.npy"
        if not path.exists():
            rng = np.random.default_rng(np.random.SeedSequence(job["seed"], spawn_key=(*spawn_key(ci, snr), 0)))
            frames = make_part(name, job["frames"], job["length"], job["defects"], rng)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, frames)
            os.replace(tmp, path)
        print(f"part {path.name}", flush=True)


def version() -> str:
    from gnuradio import gr

    return str(gr.version())


if __name__ == "__main__":
    if sys.argv[1:] == ["--version"]:
        print(version())
    else:
        run_job(json.loads(Path(sys.argv[1]).read_text()))
