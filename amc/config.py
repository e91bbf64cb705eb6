"""Typed configuration for every stage, named presets, and strict JSON round-trips.

Each stage has one dataclass. The resolved config is written into the run directory as JSON so
that a run can be reproduced and a checkpoint rebuilt from its own folder. Unknown keys are an
error that names the closest valid key.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from typing import Any, TypeVar

from amc.errors import AmcError as AmcError  # re-exported: the error types live in amc.errors
from amc.errors import ConfigError as ConfigError

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
# Short-range devices through a cheap receiver at 125 kHz (amc.data.receiver; amc classify --model sdr).
SDR_CLASSES = [
    "OOK", "2ASK", "4ASK", "2FSK", "GFSK", "GMSK", "BPSK", "QPSK", "8PSK", "OQPSK", "QAM16", "QAM64",
    "AM-DSB", "AM-SSB", "NFM", "WBFM",
]
CLASS_SETS = {"rml2016": (RML2016_CLASSES, 128), "rml2018": (RML2018_CLASSES, 1024), "sdr": (SDR_CLASSES, 512)}

# The ablation notes' SNR bands (dB, inclusive); high has no upper bound.
DEFAULT_BANDS: dict[str, tuple[float, float]] = {
    "low": (-14.0, -6.0),
    "mid": (-4.0, 6.0),
    "high": (10.0, float("inf")),
}


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
    """Build a config dataclass from a dict (e.g. JSON); unknown keys raise with the closest valid key.

    JSON has no tuples: lists become tuples where the field is a tuple (also inside the bands dict), so a
    config read back from JSON compares equal to the one written.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            raise ConfigError(f"unknown {cls.__name__} key '{key}'{closest(key, list(fields))}")
    values = {}
    for key, value in data.items():
        kind = str(fields[key].type)
        if (kind.startswith("tuple") or kind == "Range") and isinstance(value, list):
            value = tuple(value)
        elif kind.startswith("dict[str, tuple") and isinstance(value, dict):  # bands: null (amc.jsonio) is an open edge
            value = {k: tuple(-math.inf if e is None and i == 0 else math.inf if e is None else e
                              for i, e in enumerate(v)) for k, v in value.items()}
        values[key] = value
    return cls(**values)


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


@dataclass(frozen=True)
class Bounds:
    """The allowed values of a numeric setting: lo / hi edges (None: unbounded), each closed or open.

    Written as an interval, ``"[1, 100000]"``, ``"(0, 10]"``, ``"[0, 1)"``, ``">= 0"`` or ``"> 0"``; shown by
    ``--help`` in click's notation (``1<=x<=100000``, ``x>0``), like the options click checks itself.
    A value inside the bounds is always finite: NaN and the infinities never are.
    """

    lo: float | None
    hi: float | None
    lo_open: bool = False
    hi_open: bool = False

    @classmethod
    def parse(cls, text: str) -> Bounds:
        text = text.strip()
        if text.startswith((">=", ">")):
            return cls(float(text.lstrip(">=").strip()), None, lo_open=not text.startswith(">="))
        lo, hi = (float(v) for v in text[1:-1].split(","))
        return cls(lo, hi, lo_open=text[0] == "(", hi_open=text[-1] == ")")

    def holds(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.lo is not None and not (value > self.lo if self.lo_open else value >= self.lo):
            return False
        if self.hi is not None and not (value < self.hi if self.hi_open else value <= self.hi):
            return False
        return True

    def __str__(self) -> str:
        lo = "" if self.lo is None else f"{_num(self.lo)}{'<' if self.lo_open else '<='}"
        hi = "" if self.hi is None else f"{'<' if self.hi_open else '<='}{_num(self.hi)}"
        if self.hi is None and self.lo is not None:
            return f"x{'>' if self.lo_open else '>='}{_num(self.lo)}"
        return f"{lo}x{hi}"


def _num(v: float) -> str:
    """1048576 as 1048576 (not 1.04858e+06), 0.0001 as 0.0001, 1e12 as 1e+12."""
    return str(int(v)) if v == int(v) and abs(v) < 1e7 else f"{v:g}"


def setting(default: Any = dataclasses.MISSING, help: str = "", *, factory: Any = dataclasses.MISSING,
            cli: bool = True, flags: tuple[str, ...] = (), choices: tuple[str, ...] = (), shown: str = "",
            bounds: str = "") -> Any:
    """A config field declared once: its default, its help (shown by ``--help``), and how the CLI offers it.

    ``cli=False`` keeps a field off the command line (values the dataset decides); ``flags`` adds short
    spellings beside the generated ``--field-name``; ``choices`` lists the allowed values; ``shown`` is how
    ``--help`` words the default where the value itself would not say it (e.g. None meaning "all");
    ``bounds`` the allowed range of a number (of each number of a range, pair or list), e.g. ``"[0, 1)"``:
    ``check_bounds`` enforces it in every ``validate`` and ``--help`` shows it.
    """
    meta = {"help": help, "cli": cli, "flags": flags, "choices": choices, "shown": shown,
            "bounds": Bounds.parse(bounds) if bounds else None}
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def bounds_of(f: dataclasses.Field) -> Bounds | None:
    return f.metadata.get("bounds")


def check_bounds(obj: Any) -> None:
    """Every number of every bounded setting of a config dataclass is finite and within its bounds (a range,
    pair or list: each of its numbers; None passes where the setting allows it). Raises naming the setting,
    its flag and the allowed range. Booleans and non-numbers in a number's place are refused too."""
    for f in dataclasses.fields(obj):
        b = bounds_of(f)
        value = getattr(obj, f.name)
        if b is None or value is None:
            continue
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        flags = f.metadata.get("flags") or (f"--{f.name.replace('_', '-')}",)
        flag = f" ({flags[0]})" if f.metadata.get("cli", True) else ""
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"{f.name}{flag} must be a number in {b}, got {value!r}")
            if not b.holds(v):
                what = " (a finite number)" if isinstance(v, float) and not math.isfinite(v) else ""
                raise ConfigError(f"{f.name}{flag} must be in range {b}{what}, got {_shown(value)}")
        if str(f.type).startswith("int") and not all(isinstance(v, int) for v in values):
            raise ConfigError(f"{f.name}{flag} must be a whole number, got {value!r}")


def _shown(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ":".join(_shown(v) for v in value) if isinstance(value, tuple) else ",".join(map(_shown, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


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


@dataclass
class SynthConfig:
    """Settings of the synthetic RadioML-style generator (stored with the dataset)."""

    class_set: str = setting("rml2016", "rml2016 (11 classes, L=128), rml2018 (24 classes, L=1024) or sdr "
                                        "(16 short-range-device classes, L=512, 125 kHz)",
                             choices=tuple(CLASS_SETS))
    classes: list[str] | None = setting(None, "subset of the class set, comma-separated, in this order",
                                        shown="all")
    snrs: list[float] = setting(factory=lambda: [float(s) for s in range(-20, 20, 2)],
                                help="SNR grid in dB: start:stop:step (stop included when on the grid) or a list",
                                bounds="[-200, 200]")
    frames_per_class_snr: int = setting(100, "frames for every (class, SNR) pair", flags=("--frames",),
                                        bounds="[1, 1000000]")
    frame_length: int | None = setting(None, "samples per frame", flags=("--length",),
                                       shown="the class set's, 128 / 1024", bounds="[16, 1048576]")
    # Per-frame transmitter parameters: each is drawn per frame from a lo:hi range (a single number fixes
    # it). Frequencies are in cycles per output sample. Ranges and their sources: docs/data.md.
    sps: Range = setting((4.0, 16.0), "samples per symbol of digital modulations, lo:hi (fractional; capped, "
                                      "see --min-symbols)", bounds="[2, 1024]")
    min_symbols: int = setting(12, "sps is capped at frame_length / min_symbols (never below its lower end)",
                               bounds="[1, 10000]")
    rolloff: Range = setting((0.1, 0.5), "RRC roll-off of linear modulations, lo:hi", bounds="[0, 1]")
    apsk_ring_scale: Range = setting((0.93, 1.17), "APSK outer-ring radii times this, lo:hi (DVB-S2 code "
                                                   "rates' ratios)", bounds="[0.5, 2]")
    cpfsk_index: Range = setting((0.3, 1.0), "CPFSK modulation index h, lo:hi (rectangular pulses)", bounds="[0.01, 4]")
    gfsk_index: Range = setting((0.25, 0.55), "GFSK modulation index h, lo:hi", bounds="[0.01, 4]")
    gfsk_bt: Range = setting((0.3, 0.5), "GFSK Gaussian filter bandwidth-time product, lo:hi", bounds="[0.05, 10]")
    gmsk_bt: Range = setting((0.25, 0.5), "GMSK BT, lo:hi (h = 0.5 by definition)", bounds="[0.05, 10]")
    am_index: Range = setting((0.2, 1.2), "peak AM index with carrier, lo:hi (> 1 over-modulates)", bounds="[0.01, 10]")
    ssb_sideband: str = setting("both", "SSB sideband (both: each frame picks one)",
                                choices=("upper", "lower", "both"))
    fm_deviation: Range = setting((0.0125, 0.375), "FM peak frequency deviation, cycles/sample, lo:hi "
                                                   "(log-uniform)", bounds="[0.0001, 0.49]")
    message_bw: Range = setting((0.015, 0.08), "analog message bandwidth, cycles/sample, lo:hi (log-uniform)",
                                bounds="[0.001, 0.49]")
    max_cfo: float = setting(0.0025, "max |carrier-frequency offset|, cycles/sample (RML2016: 500 Hz at 200 kHz)",
                             bounds="[0, 0.5)")
    sample_rate: float = setting(200e3, "nominal sample rate (Hz) the frames stand for; travels into the model for "
                                          "`amc classify` (RML2016's GNU Radio channel model ran at 200 kHz)",
                                 bounds="(0, 1e12]")
    max_sro_ppm: float = setting(100.0, "max |sample-rate offset|, parts per million", bounds="[0, 100000)")
    random_phase: bool = setting(True, "uniform random carrier phase")
    fading: str = setting("rician", "multipath fading", choices=("none", "rayleigh", "rician"))
    rician_k_db: tuple[float, float] = setting((0.0, 10.0), "K-factor range for rician fading, dB", bounds="[-50, 50]")
    fading_taps: int = setting(3, "multipath taps (1 = flat fading)", bounds="[1, 64]")
    seed: int = setting(0, "one seeded numpy Generator drives every random choice", bounds=">= 0")

    def validate(self) -> SynthConfig:
        choice("class set", self.class_set, list(CLASS_SETS))
        choice("fading", self.fading, ["none", "rayleigh", "rician"])
        names, _ = CLASS_SETS[self.class_set]
        for c in self.classes or []:
            choice(f"{self.class_set} class", c, names)
        dup = sorted({c for c in self.classes or [] if (self.classes or []).count(c) > 1})
        if dup:
            raise ConfigError(f"--classes names {', '.join(dup)} more than once; give each class once")
        check_bounds(self)
        if not self.snrs:
            raise ConfigError("snrs (--snrs) must not be empty")
        if len(set(self.snrs)) != len(self.snrs):
            raise ConfigError("snrs (--snrs) must give each SNR once")
        lo, hi = self.rician_k_db
        if not lo <= hi:
            raise ConfigError(f"rician_k_db (--rician-k-db) must be lo:hi with lo <= hi, got {lo:g}:{hi:g}")
        choice("ssb_sideband", self.ssb_sideband, ["upper", "lower", "both"])
        for name in ("sps", "rolloff", "apsk_ring_scale", "cpfsk_index", "gfsk_index", "gfsk_bt", "gmsk_bt",
                     "am_index", "fm_deviation", "message_bw"):  # the per-frame ranges: lo <= hi
            span(getattr(self, name), f"{name} (--{name.replace('_', '-')})")
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

    num_classes: int = setting(11, "set from the dataset", cli=False, bounds="[1, 100000]")
    frame_length: int = setting(128, "set from the dataset", cli=False, bounds="[16, 1048576]")
    denoiser: bool = setting(True, "learned residual conv encoder-decoder")
    dual_path: bool = setting(True, "classifier sees raw and denoised frames (needs denoiser)")
    film: bool = setting(True, "FiLM of conv features from the estimated noise fraction")
    expert: bool = setting(False, "cumulant / amplitude / phase / frequency features into the dense head")
    conv_channels: int = setting(64, "channels of the classifier's conv blocks", bounds="[1, 4096]")
    conv_blocks: int = setting(3, "conv blocks in the classifier body", bounds="[1, 64]")
    kernel_size: int = setting(7, "conv kernel of the classifier body", bounds="[1, 255]")
    rnn: str = setting("lstm", "recurrent layer type", choices=("lstm", "gru"))
    rnn_hidden: int = setting(64, "recurrent hidden size", bounds="[1, 4096]")
    rnn_layers: int = setting(1, "recurrent layers", bounds="[1, 16]")
    dense: int = setting(128, "dense head width", bounds="[1, 65536]")
    dropout: float = setting(0.2, "dropout in the dense head", bounds="[0, 1)")
    denoiser_channels: int = setting(32, "denoiser width", bounds="[1, 4096]")
    denoiser_depth: int = setting(3, "denoiser encoder (and decoder) levels", bounds="[1, 16]")
    snr_range_db: tuple[float, float] = setting((-30.0, 40.0), "clamp of the derived SNR estimate",
                                                bounds="[-100, 100]")

    def validate(self) -> ModelConfig:
        choice("rnn", self.rnn, ["lstm", "gru"])
        if self.dual_path and not self.denoiser:
            raise ConfigError("dual_path needs the denoiser: set denoiser=True or dual_path=False")
        check_bounds(self)
        lo, hi = self.snr_range_db
        if not lo <= hi:
            raise ConfigError(f"snr_range_db must be lo:hi with lo <= hi, got {lo:g}:{hi:g}")
        return self


@dataclass
class TrainConfig:
    """Training recipe: losses, mixup, sampling, schedule, metrics."""

    data: str = setting("", "dataset file (HDF5, RadioML layout), stored as an absolute path", cli=False)
    out_dir: str = setting("runs/run", "run directory", cli=False)
    preset: str = setting("a4", "named recipe the values started from", cli=False)
    epochs: int = setting(10, "epochs", bounds="[1, 100000]")
    batch_size: int = setting(256, "frames per step", bounds="[1, 1048576]")
    lr: float = setting(2e-3, "AdamW learning rate (cosine schedule)", bounds="(0, 10]")
    weight_decay: float = setting(1e-4, "AdamW weight decay", bounds="[0, 10]")
    lambda_den: float = setting(1.0, "weight of MSE(denoised, clean)", bounds="[0, 1000]")
    lambda_id: float = setting(0.05, "weight of the identity loss on high-SNR clean frames", bounds="[0, 1000]")
    lambda_eta: float = setting(0.5, "weight of the noise-fraction loss", bounds="[0, 1000]")
    lambda_snr: float = setting(0.0, "weight of the SNR-consistency loss", bounds="[0, 1000]")
    lambda_feat: float = setting(0.0, "weight of the stem-feature preservation loss", bounds="[0, 1000]")
    id_snr_min: float = setting(10.0, "clean frames from labels at or above this SNR feed the identity loss",
                                bounds="[-200, 200]")
    mixup_alpha: float = setting(0.2, "Beta(alpha, alpha) for the mixing weight", bounds="(0, 1000]")
    mixup_prob: float = setting(0.0, "probability that a batch is mixed (0 = off)", bounds="[0, 1]")
    mixup_snr_min: float | None = setting(None, "only frames at or above this SNR are mixed", bounds="[-200, 200]")
    mixup_cls_only: bool = setting(True, "mixup on the classification loss only, or on every loss (legacy)",
                                   flags=("--mixup-cls-only/--mixup-all-losses",))
    aug_shift: bool = setting(False, "random circular time shift")
    snr_balanced: bool = setting(False, "sample every SNR equally often")
    degrade_delta_db: tuple[float, float] = setting((3.0, 10.0), "extra-noise range where no clean frame exists",
                                                    bounds="[0, 100]")
    degrade_focus: str | None = setting(None, "real data without clean frames: aim degradation at this band, one of "
                                              "the --bands names (low, mid or high by default)")
    val_fraction: float = setting(0.15, "validation share, stratified by (class, SNR)", bounds="(0, 1)")
    test_fraction: float = setting(0.15, "test share, stratified by (class, SNR)", bounds="[0, 1)")
    split_seed: int = setting(0, "seed of the split", bounds=">= 0")
    bands: dict[str, tuple[float, float]] = setting(
        factory=lambda: dict(DEFAULT_BANDS),
        help="SNR bands for band means, any names, disjoint: name=lo:hi,... (hi may be inf)")
    select_metric: str = setting("val_acc", "what chooses best.pt: val_acc or band:NAME (e.g. band:low)")
    patience: int = setting(0, "stop after this many epochs without improvement (0 = off)", bounds="[0, 100000]")
    amp: bool = setting(False, "bf16/fp16 autocast where supported")
    seed: int = setting(0, "seed of init, order, augmentation and mixup", bounds=">= 0")
    num_workers: int = setting(0, "DataLoader workers for streamed (larger than memory) datasets", bounds="[0, 256]")
    max_frames: int | None = setting(None, "cap on training frames per epoch", shown="all", bounds=">= 1")
    threads: int = setting(0, "torch CPU threads (0 = one per core); does not change a run's results",
                           bounds="[0, 1024]")

    def validate(self) -> TrainConfig:
        check_bounds(self)
        if self.val_fraction + self.test_fraction >= 1:
            raise ConfigError("val_fraction and test_fraction (--val-fraction, --test-fraction) must sum below 1")
        validate_bands(self.bands)
        if self.select_metric != "val_acc":
            band = self.select_metric.removeprefix("band:")
            if not self.select_metric.startswith("band:") or band not in self.bands:
                opts = ["val_acc"] + [f"band:{b}" for b in self.bands]
                choice("select metric", self.select_metric, opts)
        if self.degrade_focus is not None:
            choice("band", self.degrade_focus, list(self.bands))
        lo, hi = self.degrade_delta_db
        if not lo <= hi:
            raise ConfigError(f"degrade_delta_db (--degrade-delta-db) must be lo:hi with lo <= hi, got {lo:g}:{hi:g}")
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


def split_settings(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """{model keys}, {train keys} of a flat settings dict; an unknown key raises naming the closest."""
    unknown = [k for k in values if k not in MODEL_KEYS | TRAIN_KEYS]
    if unknown:
        raise ConfigError(f"unknown setting '{unknown[0]}'{closest(unknown[0], sorted(MODEL_KEYS | TRAIN_KEYS))}")
    return ({k: v for k, v in values.items() if k in MODEL_KEYS},
            {k: v for k, v in values.items() if k in TRAIN_KEYS})


def run_config(preset_name: str | None = None, config: dict[str, Any] | None = None,
               overrides: dict[str, Any] | None = None) -> tuple[ModelConfig, TrainConfig]:
    """The (model, train) configs of a run: a preset, or a config document (a run's config.json, or any
    {"model": {...}, "train": {...}} subset, applied over the preset it names), then explicit overrides
    (a value of None means None here, not "unset"). Nothing is validated yet."""
    if preset_name is not None and config is not None:
        raise ConfigError("give a preset or a config file, not both (the config file names its own preset)")
    if config is not None:
        if not isinstance(config, dict) or not ({"model", "train"} & set(config)):
            raise ConfigError('a config file holds {"model": {...}, "train": {...}} (a run\'s config.json)')
        model_doc, train_doc = dict(config.get("model") or {}), dict(config.get("train") or {})
        base_model, base_train = preset(str(train_doc.get("preset", "a4")))
        model = from_dict(ModelConfig, {**to_dict(base_model), **model_doc})
        train = from_dict(TrainConfig, {**to_dict(base_train), **train_doc})
    else:
        model, train = preset(preset_name or "a4")
    model_over, train_over = split_settings(overrides or {})
    return (from_dict(ModelConfig, {**to_dict(model), **model_over}),
            from_dict(TrainConfig, {**to_dict(train), **train_over}))


def preset(name: str, **overrides: Any) -> tuple[ModelConfig, TrainConfig]:
    """A preset's (ModelConfig, TrainConfig), with overrides (None values are ignored)."""
    choice("preset", name, list(PRESETS))
    model_values, train_values = split_settings(
        {**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}})
    return ModelConfig(**model_values), TrainConfig(**{"preset": name, **train_values})


@dataclass
class ServeConfig:
    """Settings of `amc serve`: batching and the limits that protect the service from big or many requests."""

    max_batch: int = setting(256, "most frames per engine call (dynamic batching)", bounds="[1, 65536]")
    max_delay_ms: float = setting(2.0, "longest wait to gather a batch, ms", bounds="[0, 3600000]")
    max_request_frames: int = setting(4096, "most frames in one request (413 beyond); a JSON body may hold at most "
                                            "frames x 2 x L x 32 bytes", bounds="[1, 65536]")
    max_body_mib: float = setting(64.0, "cap on any request body, MiB (413 beyond)", bounds="[0.001, 1024]")
    max_queue_frames: int = setting(8192, "frames waiting for the engine, all clients together (503 + Retry-After "
                                          "beyond)", bounds="[1, 1048576]")
    client_share: float = setting(0.5, "fraction of the queue one client address may hold (503 + Retry-After "
                                       "beyond)", bounds="[0.01, 1]")
    request_timeout_s: float = setting(10.0, "deadline of a request from its arrival: 503 if it expires queued "
                                             "(dropped before inference), 504 in the engine", bounds="[0.01, 3600]")
    refusal_pause_ms: float = setting(250.0, "a 413, or a 503 for a full queue or share, is sent after this pause "
                                             "so that a client ignoring it cannot retry at full speed (its body "
                                             "is not read meanwhile), ms", bounds="[0, 10000]")
    top_k: int = setting(3, "classes per frame in an answer unless the request asks", bounds="[1, 1000]")

    def validate(self) -> ServeConfig:
        check_bounds(self)
        share = int(self.max_queue_frames * self.client_share)
        if self.max_request_frames > share:
            raise ConfigError(f"max_request_frames ({self.max_request_frames}) is over one client's share of the "
                              f"queue ({share} = max_queue_frames x client_share): such a request could never be "
                              "admitted; raise --max-queue-frames or --client-share, or lower --max-request-frames")
        return self

    def client_frames(self) -> int:
        """The most frames one client address may have queued at once."""
        return max(1, int(self.max_queue_frames * self.client_share))
