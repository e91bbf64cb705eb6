"""Typed configuration for every stage, named presets, and strict JSON round-trips.

Each stage has one dataclass. The resolved config is written into the run directory as JSON so
that a run can be reproduced and a checkpoint rebuilt from its own folder. Unknown keys are an
error that names the closest valid key.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

RML2016_CLASSES = [
    "8PSK", "AM-DSB", "AM-SSB", "BPSK", "CPFSK", "GFSK", "PAM4", "QAM16", "QAM64", "QPSK", "WBFM",
]
# Corrected class order of RML2018.01A (GOLD_XYZ_OSC.0001_1024.hdf5 stores no names).
RML2018_CLASSES = [
    "OOK", "4ASK", "8ASK", "BPSK", "QPSK", "8PSK", "16PSK", "32PSK", "16APSK", "32APSK",
    "64APSK", "128APSK", "16QAM", "32QAM", "64QAM", "128QAM", "256QAM", "AM-SSB-WC", "AM-SSB-SC",
    "AM-DSB-WC", "AM-DSB-SC", "FM", "GMSK", "OQPSK",
]
CLASS_SETS = {"rml2016": (RML2016_CLASSES, 128), "rml2018": (RML2018_CLASSES, 1024)}

# The ablation notes' SNR bands (dB, inclusive); high has no upper bound.
DEFAULT_BANDS: dict[str, tuple[float, float]] = {
    "low": (-14.0, -6.0),
    "mid": (-4.0, 6.0),
    "high": (10.0, float("inf")),
}


class AmcError(ValueError):
    """Bad input from the user (a value, a file, a frame): one line naming the problem and the fix.

    The CLI prints these as `error: ...` with exit code 2; anything else is a bug and keeps its traceback.
    """


class ConfigError(AmcError):
    """A configuration value or key is invalid; the message names it and the fix."""


def closest(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """' (did you mean X?)' for the closest choice, or '' when nothing is close."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


def choice(kind: str, value: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return value if it is one of choices, else raise naming the closest one."""
    if value not in choices:
        raise ConfigError(
            f"unknown {kind} '{value}'{closest(value, choices)}; choose one of: {', '.join(choices)}"
        )
    return value


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build a config dataclass from a dict; unknown keys raise with the closest valid key."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    for key in data:
        if key not in names:
            raise ConfigError(f"unknown {cls.__name__} key '{key}'{closest(key, names)}")
    obj = cls(**data)
    return obj


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


Range = float | tuple[float, float]  # a per-frame range (lo, hi); a number v means (v, v)


def span(value: Any, name: str = "range") -> tuple[float, float]:
    """(lo, hi) of a range setting: a number v is (v, v); lo must not exceed hi."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), float(value)
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number or a (lo, hi) pair, got {value!r}") from None
    if not lo <= hi:
        raise ConfigError(f"{name} range ({lo:g}, {hi:g}) is empty: lo must be <= hi")
    return lo, hi


# Allowed values of each per-frame range setting of SynthConfig (inclusive).
RANGE_BOUNDS: dict[str, tuple[float, float]] = {
    "sps": (2.0, 1024.0), "rolloff": (0.0, 1.0), "apsk_ring_scale": (0.5, 2.0), "cpfsk_index": (0.01, 4.0),
    "gfsk_index": (0.01, 4.0), "gfsk_bt": (0.05, 10.0), "gmsk_bt": (0.05, 10.0), "am_index": (0.01, 10.0),
    "fm_deviation": (1e-4, 0.49), "message_bw": (1e-3, 0.49),
}


@dataclass
class SynthConfig:
    """Settings of the synthetic RadioML-style generator (stored with the dataset)."""

    class_set: str = "rml2016"  # rml2016 (11 classes, L=128) or rml2018 (24 classes, L=1024)
    classes: list[str] | None = None  # subset of the class set, in this order; None = all
    snrs: list[float] = field(default_factory=lambda: [float(s) for s in range(-20, 20, 2)])  # dB grid
    frames_per_class_snr: int = 100  # frames for every (class, SNR) pair
    frame_length: int | None = None  # samples per frame; None = the class set's (128 / 1024)
    # Per-frame transmitter parameters: each is drawn per frame from a (lo, hi) range (a number fixes
    # it). Frequencies are in cycles per output sample. Ranges and their sources: docs/data.md.
    sps: Range = (4.0, 16.0)  # samples per symbol of digital modulations (fractional; capped, see min_symbols)
    min_symbols: int = 12  # sps is capped at frame_length / min_symbols (never below its lower end)
    rolloff: Range = (0.1, 0.5)  # RRC roll-off of linear modulations
    apsk_ring_scale: Range = (0.93, 1.17)  # APSK outer-ring radii times this (DVB-S2 code rates' ratios)
    cpfsk_index: Range = (0.3, 1.0)  # CPFSK modulation index h (rectangular pulses)
    gfsk_index: Range = (0.25, 0.55)  # GFSK modulation index h
    gfsk_bt: Range = (0.3, 0.5)  # GFSK Gaussian filter bandwidth-time product
    gmsk_bt: Range = (0.25, 0.5)  # GMSK BT (h = 0.5 by definition)
    am_index: Range = (0.2, 1.2)  # peak AM index with carrier (> 1 over-modulates)
    ssb_sideband: str = "both"  # upper, lower or both (each frame picks one)
    fm_deviation: Range = (0.0125, 0.375)  # FM peak frequency deviation (log-uniform)
    message_bw: Range = (0.015, 0.08)  # analog message bandwidth (log-uniform)
    max_cfo: float = 0.0025  # max |carrier-frequency offset|, cycles/sample (RML2016: 500 Hz at 200 kHz)
    max_sro_ppm: float = 100.0  # max |sample-rate offset|, parts per million
    random_phase: bool = True  # uniform random carrier phase
    fading: str = "rician"  # none, rayleigh or rician multipath
    rician_k_db: tuple[float, float] = (0.0, 10.0)  # K-factor range for rician fading, dB
    fading_taps: int = 3  # multipath taps (1 = flat fading)
    seed: int = 0  # one seeded numpy Generator drives every random choice

    def validate(self) -> SynthConfig:
        choice("class set", self.class_set, list(CLASS_SETS))
        choice("fading", self.fading, ["none", "rayleigh", "rician"])
        names, _ = CLASS_SETS[self.class_set]
        for c in self.classes or []:
            choice(f"{self.class_set} class", c, names)
        if self.frames_per_class_snr <= 0:
            raise ConfigError("frames_per_class_snr must be > 0")
        if not self.snrs:
            raise ConfigError("snrs must not be empty")
        if self.frame_length is not None and self.frame_length < 16:
            raise ConfigError("frame_length must be >= 16")
        choice("ssb_sideband", self.ssb_sideband, ["upper", "lower", "both"])
        if self.min_symbols < 1:
            raise ConfigError(f"min_symbols must be >= 1, got {self.min_symbols}")
        for name, (low, high) in RANGE_BOUNDS.items():
            lo, hi = span(getattr(self, name), name)
            if not low <= lo <= hi <= high:
                raise ConfigError(f"{name} ({lo:g}, {hi:g}) must lie within {low:g}..{high:g}")
        return self

    @property
    def class_names(self) -> list[str]:
        names, _ = CLASS_SETS[self.class_set]
        return list(self.classes) if self.classes else list(names)

    @property
    def length(self) -> int:
        return self.frame_length or CLASS_SETS[self.class_set][1]


@dataclass
class ModelConfig:
    """The CLDNN family: denoiser, noise-fraction head, FiLM, dual path, expert features."""

    num_classes: int = 11  # set from the dataset
    frame_length: int = 128  # set from the dataset
    denoiser: bool = True  # learned residual conv encoder-decoder
    dual_path: bool = True  # classifier sees raw and denoised frames (needs denoiser)
    film: bool = True  # FiLM of conv features from the estimated noise fraction
    expert: bool = False  # cumulant / amplitude / phase / frequency features into the dense head
    conv_channels: int = 64  # channels of the classifier's conv blocks
    conv_blocks: int = 3  # conv blocks in the classifier body
    kernel_size: int = 7  # conv kernel of the classifier body
    rnn: str = "lstm"  # lstm or gru
    rnn_hidden: int = 64  # recurrent hidden size
    rnn_layers: int = 1  # recurrent layers
    dense: int = 128  # dense head width
    dropout: float = 0.2  # dropout in the dense head
    denoiser_channels: int = 32  # denoiser width
    denoiser_depth: int = 3  # denoiser encoder (and decoder) levels
    snr_range_db: tuple[float, float] = (-30.0, 40.0)  # clamp of the derived SNR estimate

    def validate(self) -> ModelConfig:
        choice("rnn", self.rnn, ["lstm", "gru"])
        if self.dual_path and not self.denoiser:
            raise ConfigError("dual_path needs the denoiser: set denoiser=True or dual_path=False")
        for name in ("num_classes", "frame_length", "conv_channels", "conv_blocks", "rnn_hidden",
                     "dense", "denoiser_channels", "denoiser_depth"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"model {name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        return self


@dataclass
class TrainConfig:
    """Training recipe: losses, mixup, sampling, schedule, metrics."""

    data: str = ""  # dataset file (HDF5, RadioML layout)
    out_dir: str = "runs/run"  # run directory
    preset: str = "a4"  # named recipe the values started from
    epochs: int = 10  # epochs
    batch_size: int = 256  # frames per step
    lr: float = 2e-3  # AdamW learning rate (cosine schedule)
    weight_decay: float = 1e-4  # AdamW weight decay
    lambda_den: float = 1.0  # weight of MSE(denoised, clean)
    lambda_id: float = 0.05  # weight of the identity loss on high-SNR clean frames
    lambda_eta: float = 0.5  # weight of the noise-fraction loss
    lambda_snr: float = 0.0  # weight of the SNR-consistency loss
    lambda_feat: float = 0.0  # weight of the stem-feature preservation loss
    id_snr_min: float = 10.0  # clean frames from labels at or above this SNR feed the identity loss
    mixup_alpha: float = 0.2  # Beta(alpha, alpha) for the mixing weight
    mixup_prob: float = 0.0  # probability that a batch is mixed (0 = off)
    mixup_snr_min: float | None = None  # only frames at or above this SNR are mixed
    mixup_cls_only: bool = True  # mixup touches only the classification loss
    aug_shift: bool = False  # random circular time shift
    snr_balanced: bool = False  # sample every SNR equally often
    degrade_delta_db: tuple[float, float] = (3.0, 10.0)  # extra-noise range where no clean frame exists
    degrade_focus: str | None = None  # band name to focus degradation on (e.g. low)
    val_fraction: float = 0.15  # validation share, stratified by (class, SNR)
    test_fraction: float = 0.15  # test share, stratified by (class, SNR)
    split_seed: int = 0  # seed of the split
    bands: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_BANDS))
    select_metric: str = "val_acc"  # val_acc or band:NAME chooses best.pt
    patience: int = 0  # stop after this many epochs without improvement (0 = off)
    amp: bool = False  # bf16/fp16 autocast where supported
    seed: int = 0  # seed of init, order, augmentation and mixup
    num_workers: int = 0  # DataLoader workers
    max_frames: int | None = None  # cap on training frames per epoch (None = all)
    log_every: int = 0  # batches between progress updates (0 = auto)
    threads: int = 0  # torch CPU threads (0 = one per core); does not change the results of a run

    def validate(self) -> TrainConfig:
        if self.epochs <= 0 or self.batch_size <= 0:
            raise ConfigError("epochs and batch_size must be > 0")
        if self.threads < 0:
            raise ConfigError(f"threads must be >= 0 (0 = one per core), got {self.threads}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.mixup_alpha <= 0:
            raise ConfigError(f"mixup_alpha must be > 0, got {self.mixup_alpha}")
        if not 0.0 <= self.mixup_prob <= 1.0:
            raise ConfigError(f"mixup_prob must be in [0, 1], got {self.mixup_prob}")
        for name in ("lambda_den", "lambda_id", "lambda_eta", "lambda_snr", "lambda_feat"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not (0 < self.val_fraction < 1 and 0 <= self.test_fraction < 1
                and self.val_fraction + self.test_fraction < 1):
            raise ConfigError("val_fraction and test_fraction must be in (0, 1) and sum below 1")
        validate_bands(self.bands)
        if self.select_metric != "val_acc":
            band = self.select_metric.removeprefix("band:")
            if not self.select_metric.startswith("band:") or band not in self.bands:
                opts = ["val_acc"] + [f"band:{b}" for b in self.bands]
                choice("select metric", self.select_metric, opts)
        if self.degrade_focus is not None:
            choice("band", self.degrade_focus, list(self.bands))
        lo, hi = self.degrade_delta_db
        if not 0 <= lo <= hi:
            raise ConfigError(f"degrade_delta_db must satisfy 0 <= min <= max, got {lo}..{hi}")
        return self


def validate_bands(bands: dict[str, tuple[float, float]]) -> None:
    """Bands must be non-empty intervals that do not overlap."""
    spans = []
    for name, (lo, hi) in bands.items():
        if not lo <= hi:
            raise ConfigError(f"SNR band '{name}' is empty ({lo}..{hi}): the lower edge must be <= the upper")
        spans.append((lo, hi, name))
    spans.sort()
    for (lo1, hi1, n1), (lo2, _, n2) in zip(spans, spans[1:]):
        if lo2 <= hi1:
            raise ConfigError(f"SNR bands '{n1}' and '{n2}' overlap ({lo1}..{hi1} and {lo2}..): make them disjoint")


# Named recipes of the ablation notes. Model keys go to ModelConfig, the rest to TrainConfig.
PRESETS: dict[str, dict[str, Any]] = {
    "cldnn": dict(denoiser=False, dual_path=False, film=False, expert=False, dropout=0.15,
                  lambda_den=0.0, lambda_id=0.0, lambda_eta=0.0, mixup_prob=0.0),
    "a3": dict(denoiser=True, dual_path=True, film=False, expert=False, dropout=0.15,
               lambda_id=0.03, mixup_prob=0.0, aug_shift=False),
    "a4": dict(denoiser=True, dual_path=True, film=True, expert=False, dropout=0.20,
               lambda_id=0.05, mixup_alpha=0.2, mixup_prob=0.5, mixup_cls_only=True, aug_shift=True),
    "a5": dict(denoiser=True, dual_path=True, film=True, expert=True, dropout=0.20,
               lambda_id=0.05, mixup_alpha=0.2, mixup_prob=0.5, mixup_cls_only=True, aug_shift=True,
               snr_balanced=True),
}

MODEL_KEYS = {f.name for f in dataclasses.fields(ModelConfig)}
TRAIN_KEYS = {f.name for f in dataclasses.fields(TrainConfig)}


def preset(name: str, **overrides: Any) -> tuple[ModelConfig, TrainConfig]:
    """A preset's (ModelConfig, TrainConfig), with overrides (None values are ignored)."""
    choice("preset", name, list(PRESETS))
    values = {**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}}
    unknown = [k for k in values if k not in MODEL_KEYS | TRAIN_KEYS]
    if unknown:
        raise ConfigError(f"unknown setting '{unknown[0]}'{closest(unknown[0], sorted(MODEL_KEYS | TRAIN_KEYS))}")
    model = ModelConfig(**{k: v for k, v in values.items() if k in MODEL_KEYS})
    train = TrainConfig(preset=name, **{k: v for k, v in values.items() if k in TRAIN_KEYS})
    return model, train
