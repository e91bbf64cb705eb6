"""How much accuracy a model loses on transmitter realisations it did not see, per parameter family.

Two models of the same small budget (a4, width 32) on rml2016 frames, both seeded alike:

* **before**: trained on the generator's old fixed realisation (`amc.data.modulate.LEGACY`: sps 8,
  roll-off 0.35, CPFSK h 0.5, GFSK h 0.35 / BT 0.5, AM index 0.5..1, upper sideband only, one FM
  deviation band, one message band) -- every family narrow;
* **after**: trained on the default per-frame ranges of `SynthConfig` -- every family full.

Each is tested on fresh frames (another seed, SNR 10..18 dB so the signal is clear): on its own
realisation (seen), and per family on the other realisation of that family with the rest kept as
trained (unseen): the before-model on family F full, the after-model on family F narrow (the
reverse). Accuracy is over the classes the family shapes. `--isolate` adds, per family, a model
trained with only F narrow (the rest full) and tests it on F full.

    python benchmarks/robustness.py --out results/robustness.json     # also writes results/robustness.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from amc.config import SynthConfig, preset
from amc.data.build import synth_to_file
from amc.data.modulate import LEGACY
from amc.data.synth import synthesize
from amc.runtime import Engine
from amc.train.loop import train

FAMILIES = {  # name: (SynthConfig fields, the rml2016 classes they shape)
    "symbol rate and pulse (sps, roll-off)": (["sps", "rolloff", "apsk_ring_scale"],
                                              ["8PSK", "BPSK", "CPFSK", "GFSK", "PAM4", "QAM16", "QAM64", "QPSK"]),
    "FSK (index h, BT)": (["cpfsk_index", "gfsk_index", "gfsk_bt", "gmsk_bt"], ["CPFSK", "GFSK"]),
    "analog (AM index, sideband, FM deviation, message)": (["am_index", "ssb_sideband", "fm_deviation",
                                                            "message_bw"], ["AM-DSB", "AM-SSB", "WBFM"]),
}
TRAIN_SNRS = [float(s) for s in range(0, 20, 2)]
TEST_SNRS = [float(s) for s in range(10, 20, 2)]


def realisation(narrow: list[str]) -> dict:
    """SynthConfig overrides: the LEGACY values for the listed fields, the defaults for the rest."""
    return {k: LEGACY[k] for k in narrow}


def all_fields() -> list[str]:
    return [f for fields, _ in FAMILIES.values() for f in fields]


def fit(name: str, narrow: list[str], args: argparse.Namespace, work: Path) -> Path:
    data = work / f"{name}.h5"
    synth_to_file(SynthConfig(snrs=TRAIN_SNRS, frames_per_class_snr=args.frames, seed=args.seed,
                              **realisation(narrow)).validate(), data)
    w = args.width
    model_cfg, cfg = preset("a4", data=str(data), out_dir=str(work / name), epochs=args.epochs, lr=3e-3,
                            batch_size=128, seed=args.seed, conv_channels=w, rnn_hidden=w, denoiser_channels=w // 2,
                            dense=2 * w, threads=args.threads)
    t0 = time.perf_counter()
    s = train(model_cfg, cfg, overwrite=True, progress=False)
    print(f"  trained {name}: val_acc {s['best_val_acc']:.3f} in {time.perf_counter() - t0:.0f} s", flush=True)
    return work / name


def score(engine: Engine, narrow: list[str], args: argparse.Namespace) -> dict:
    """Accuracy per class on a fresh test set of the realisation (narrow fields at LEGACY)."""
    cfg = SynthConfig(snrs=TEST_SNRS, frames_per_class_snr=args.test_frames, seed=args.seed + 1000,
                      **realisation(narrow)).validate()
    r = synthesize(cfg)
    pred = engine.run(r.x)["logits"].argmax(1)
    return {c: float(np.mean(pred[r.labels == i] == i)) for i, c in enumerate(r.classes)}


def mean(acc: dict, classes: list[str]) -> float:
    return float(np.mean([acc[c] for c in classes]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=60, help="training frames per (class, SNR), SNR 0..18 dB")
    p.add_argument("--test-frames", type=int, default=100, help="test frames per (class, SNR), SNR 10..18 dB")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--threads", type=int, default=0, help="torch threads of training (0 = one per core)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--isolate", action="store_true", help="also one model per family trained with only it narrow")
    p.add_argument("--out", type=Path, default=Path("results/robustness.json"))
    args = p.parse_args()
    t_start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="robustness_"))
    every = all_fields()
    models = {"before": fit("before", every, args, work), "after": fit("after", [], args, work)}
    if args.isolate:
        for i, (fields, _) in enumerate(FAMILIES.values()):
            models[f"isolate_{i}"] = fit(f"isolate_{i}", fields, args, work)
    engines = {k: Engine.load(v, threads=1) for k, v in models.items()}
    seen = {"before": score(engines["before"], every, args), "after": score(engines["after"], [], args)}
    rows = []
    for i, (family, (fields, classes)) in enumerate(FAMILIES.items()):
        rest = [f for f in every if f not in fields]
        row = {"family": family, "fields": fields, "classes": classes,
               "before_seen": mean(seen["before"], classes),
               "before_unseen": score(engines["before"], rest, args),  # F full, the rest narrow as trained
               "after_seen": mean(seen["after"], classes),
               "after_unseen": score(engines["after"], fields, args)}  # F narrow, the rest full as trained
        for k in ("before_unseen", "after_unseen"):
            row[f"{k}_per_class"] = row[k]
            row[k] = mean(row[k], classes)
        if args.isolate:
            e = engines[f"isolate_{i}"]
            row["isolated_seen"] = mean(score(e, fields, args), classes)
            row["isolated_unseen"] = mean(score(e, [], args), classes)
        rows.append(row)
        print(f"{family}: before {row['before_seen']:.3f} -> {row['before_unseen']:.3f} on unseen; "
              f"after {row['after_seen']:.3f} -> {row['after_unseen']:.3f}", flush=True)
    result = {
        "benchmark": "robustness", "date": time.strftime("%Y-%m-%d"), "machine": platform.machine(),
        "cpu_count": os.cpu_count(), "seconds": time.perf_counter() - t_start,
        "budget": {"class_set": "rml2016", "train_snrs": TRAIN_SNRS, "frames_per_class_snr": args.frames,
                   "epochs": args.epochs, "width": args.width, "preset": "a4", "batch_size": 128, "lr": 3e-3,
                   "test_snrs": TEST_SNRS, "test_frames_per_class_snr": args.test_frames, "seed": args.seed},
        "legacy": {k: v for k, v in LEGACY.items()}, "defaults": {f: getattr(SynthConfig(), f) for f in every},
        "seen_per_class": seen, "families": rows,
        "seen_all": {k: mean(v, list(v)) for k, v in seen.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=list) + "\n")
    md = args.out.with_suffix(".md")
    md.write_text(markdown(result, args.isolate))
    print(f"wrote {args.out} and {md}")


def markdown(r: dict, isolate: bool) -> str:
    b = r["budget"]
    lines = [
        "# Robustness to unseen transmitter realisations (`benchmarks/robustness.py`)", "",
        f"{r['date']}, {r['cpu_count']}-core {r['machine']} CPU, {r['seconds'] / 60:.0f} min. Budget per model: "
        f"a4 width {b['width']}, {b['epochs']} epochs, batch {b['batch_size']}, lr {b['lr']}, rml2016, "
        f"{b['frames_per_class_snr']} frames per (class, SNR) at SNR 0..18 dB; tests: {b['test_frames_per_class_snr']} "
        f"fresh frames per (class, SNR) at SNR 10..18 dB. Accuracy over the classes each family shapes.", "",
        "*before*: trained on the old fixed realisation (every family narrow); *after*: trained on the default "
        "per-frame ranges (every family full). *Unseen*: the other realisation of that one family, the rest as "
        "trained (before: the family at its full range; after: the family at the old narrow values).", "",
        "| family | classes | before: seen | before: unseen | loss (pp) | after: seen | after: unseen | loss (pp) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in r["families"]:
        lb = 100 * (row["before_seen"] - row["before_unseen"])
        la = 100 * (row["after_seen"] - row["after_unseen"])
        lines.append(f"| {row['family']} | {', '.join(row['classes'])} | {row['before_seen']:.3f} | "
                     f"{row['before_unseen']:.3f} | {lb:+.1f} | {row['after_seen']:.3f} | {row['after_unseen']:.3f} | "
                     f"{la:+.1f} |")
    sa = r["seen_all"]
    lines += ["", f"All 11 classes on their own realisation: before {sa['before']:.3f}, after {sa['after']:.3f}."]
    if isolate:
        lines += ["", "Trained with only that family narrow (the rest full), tested on it narrow (seen) and full:", "",
                  "| family | seen | unseen (full) | loss (pp) |", "|---|---|---|---|"]
        for row in r["families"]:
            lines.append(f"| {row['family']} | {row['isolated_seen']:.3f} | {row['isolated_unseen']:.3f} | "
                         f"{100 * (row['isolated_seen'] - row['isolated_unseen']):+.1f} |")
    lines += ["", "Per class (seen realisation):", "", "| class | before | after |", "|---|---|---|"]
    for c in r["seen_per_class"]["before"]:
        lines.append(f"| {c} | {r['seen_per_class']['before'][c]:.3f} | {r['seen_per_class']['after'][c]:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
