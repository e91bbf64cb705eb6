"""Build the packaged default model: synthetic data -> a4 training -> ONNX fp32 -> card, in one command.

    OMP_WAIT_POLICY=PASSIVE python -m amc.pretrained.build --work runs/default   # the recipe (~1.5 h on 2 cores)
    python -m amc.pretrained.build --from-run runs/default/run         # re-export and re-card a finished run
    python -m amc.pretrained.build --restamp train.h5                  # re-record the data identity (below)

Writes `amc/pretrained/default.onnx`, `card.json` and `card.md`. The card's accuracy is measured on a
fresh seed of the same synthetic settings (not on frames the model trained or was selected on), with
the metric code training and `amc eval-engine` use; `card.md` names the commands that re-check it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

import amc
from amc import jsonio
from amc.config import DEFAULT_BANDS, SynthConfig, preset, to_dict
from amc.data.build import synth_to_file
from amc.data.io import open_dataset
from amc.data.split import split_from_identity
from amc.data.synth import iter_synthesize
from amc.export import export
from amc.export.metadata import PATH_KEYS
from amc.files import atomic_path
from amc.metrics import Accumulator
from amc.pretrained import CARD_FILE, MODEL_FILE
from amc.runtime import Engine
from amc.runtime.artifact import read_metadata, update_metadata
from amc.train.loop import train

PACKAGE_DIR = Path(__file__).resolve().parent
# The recipe: amc's default synthetic set (rml2016 classes, L=128, SNR -20..18 dB, per-frame ranges),
# more frames per (class, SNR) than `amc data synth`'s default, and the a4 preset at its default width.
DATA: dict[str, Any] = dict(frames_per_class_snr=1000, seed=0)
TRAIN: dict[str, Any] = dict(preset="a4", epochs=8, batch_size=256, lr=2e-3, seed=0)  # width: the preset's
EVAL: dict[str, Any] = dict(frames_per_class_snr=200, seed=20261)  # a fresh seed of the same settings
RECHECK = [f"amc data synth --out train.h5 --frames {DATA['frames_per_class_snr']} --seed {DATA['seed']}"
           "   # the training file again",
           "amc eval-engine default --data train.h5 --split test"]
NOT_FOR = ("Trained and evaluated on amc's synthetic frames only (rml2016 class set, 128 samples, AWGN with "
           "Rician multipath, CFO and sample-rate offset): never on real recordings. Its accuracy on real "
           "signals, other sample rates or classes outside the 11 is unknown; measure it on your data.")


def train_run(work: Path, threads: int) -> Path:
    """Synthesize the recipe's data under work/ and train; returns the run directory."""
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data.h5"
    if not data.is_file():
        synth_to_file(SynthConfig(**DATA).validate(), data)
    model_cfg, cfg = preset(TRAIN["preset"], data=str(data), out_dir=str(work / "run"), threads=threads,
                            **{k: v for k, v in TRAIN.items() if k != "preset"})
    resume = (work / "run" / "last.pt").is_file()
    train(model_cfg, cfg, resume=resume, overwrite=not resume)
    return work / "run"


def evaluate(model: Path, cfg: SynthConfig) -> dict[str, Any]:
    """Accuracy of the engine on cfg's frames: overall, per band, per SNR, per class (all / high band)."""
    return score(model, cfg.class_names, iter_synthesize(cfg))


def score(model: Path, names: list[str], parts: Iterable[Any]) -> dict[str, Any]:
    """Accuracy of the engine on parts (each with x, labels, snr): overall, per band / SNR / class."""
    engine = Engine.load(model, threads=os.cpu_count())
    if list(engine.classes) != names:
        raise ValueError(f"{model} classes {engine.classes} differ from the evaluation set's {names}")
    acc = Accumulator(len(names))
    hi_lo = DEFAULT_BANDS["high"][0]
    hit = np.zeros((2, len(names)))
    seen = np.zeros((2, len(names)))
    for part in parts:
        pred = engine.run(part.x)["logits"].argmax(1)
        acc.update(pred, part.labels, part.snr)
        for row, keep in enumerate((np.ones(len(pred), bool), part.snr >= hi_lo)):
            np.add.at(hit[row], part.labels[keep], pred[keep] == part.labels[keep])
            np.add.at(seen[row], part.labels[keep], 1)
    s = acc.summary(DEFAULT_BANDS)
    conf = np.asarray(acc.confusion)
    return {"frames": s["frames"], "overall": s["acc"], "bands": s["bands"], "per_snr": s["per_snr"],
            "counts": s["counts"],
            "per_class": {c: float(hit[0, i] / seen[0, i]) for i, c in enumerate(names)},
            "per_class_high": {c: float(hit[1, i] / seen[1, i]) for i, c in enumerate(names)},
            "high_frames": int(seen[1].sum()), "confusion_all_snr": conf.tolist()}


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()}-core {model} ({platform.system()} {platform.machine()}), no GPU"


def training_data(cfg: dict[str, Any]) -> dict[str, Any]:
    """The generator settings and frame count of the run's dataset (the recipe's, if the file is gone)."""
    try:
        with open_dataset(cfg["dataset"]) as ds:
            gen = ds.attrs.get("generator")
            settings = json.loads(gen) if isinstance(gen, str) else dict(gen or {})
            return {**settings, "frames": len(ds)}
    except (OSError, ValueError, TypeError):
        d = SynthConfig(**DATA)
        return {**to_dict(d), "frames": len(d.class_names) * len(d.snrs) * d.frames_per_class_snr}


def make_card(run: Path, onnx_path: Path, result: dict[str, Any]) -> dict[str, Any]:
    cfg = json.loads((run / "config.json").read_text())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((run / "summary.json").read_text())
    return {
        "name": "amc default model", "file": MODEL_FILE, "format": "ONNX fp32",
        "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(), "bytes": onnx_path.stat().st_size,
        "classes": cfg["classes"], "frame_length": cfg["frame_length"], "amc_version": amc.__version__,
        "date": time.strftime("%Y-%m-%d"), "machine": machine(),
        "data": {"generator": "amc data synth (amc.data.synth)", **training_data(cfg),
                 "split": "70 / 15 / 15 stratified by (class, SNR); best epoch by validation accuracy"},
        "recipe": {**TRAIN, "model": cfg["model"], "train": {k: cfg["train"][k] for k in (
            "epochs", "batch_size", "lr", "weight_decay", "mixup_alpha", "mixup_prob", "mixup_cls_only", "aug_shift",
            "lambda_den", "lambda_id", "lambda_eta")}, "lr_schedule": "AdamW, linear warm-up then cosine to 2 %"},
        "training": {"epochs_run": len(rows), "best_epoch": summary["best_epoch"],
                     "best_val_acc": summary["best_val_acc"], "val_bands": summary["bands"],
                     "hours": sum(r["epoch_time_s"] for r in rows) / 3600},
        "evaluation": {"data": {**EVAL, "note": "SynthConfig defaults, a seed the model never saw"}, **result},
        "not_for": NOT_FOR,
        "recheck": RECHECK,
    }


def card_markdown(c: dict[str, Any]) -> str:
    e = c["evaluation"]
    b = e["bands"]
    lines = [
        f"# {c['name']}", "",
        f"`{c['file']}` ({c['format']}, {c['bytes'] / 1e6:.1f} MB, sha256 `{c['sha256'][:16]}…`), amc "
        f"{c['amc_version']}, built {c['date']} on a {c['machine']}.", "",
        f"**Data.** {c['data']['frames']:,} synthetic frames of amc's default set: rml2016 classes "
        f"({', '.join(c['classes'])}), {c['frame_length']} samples, SNR −20..18 dB in 2 dB steps, every class's "
        f"transmitter parameters drawn per frame (docs/data.md), Rician multipath, CFO, sample-rate offset; "
        f"seed {c['data']['seed']}; {c['data']['split']}.", "",
        f"**Budget.** Preset {c['recipe']['preset']} (denoiser, noise-fraction FiLM, dual path, classifier-only "
        f"mixup), {c['recipe']['model']['conv_channels']} conv channels, {c['training']['epochs_run']} epochs, batch "
        f"{c['recipe']['batch_size']}, lr {c['recipe']['lr']} ({c['recipe']['lr_schedule']}); best epoch "
        f"{c['training']['best_epoch']}; {c['training']['hours']:.1f} h of training.", "",
        f"**Accuracy** on {e['frames']:,} fresh frames (seed {e['data']['seed']}): overall {e['overall']:.3f}, "
        f"low band (−14..−6 dB) {b['low']:.3f}, mid (−4..+6 dB) {b['mid']:.3f}, high (≥ 10 dB) {b['high']:.3f}.", "",
        "| class | all SNRs | high band (≥ 10 dB) |", "|---|---|---|",
    ]
    for k in c["classes"]:
        lines.append(f"| {k} | {e['per_class'][k]:.3f} | {e['per_class_high'][k]:.3f} |")
    lines += ["", "| SNR (dB) | " + " | ".join(f"{float(s):g}" for s in e["per_snr"]) + " |",
              "|---" * (len(e["per_snr"]) + 1) + "|",
              "| accuracy | " + " | ".join(f"{v:.2f}" for v in e["per_snr"].values()) + " |", "",
              f"**What it is not.** {c['not_for']}", "", "**Re-check.** The generator is seeded, so the training file "
              "can be made again on any machine (the same frames; their last float32 bits may differ with the "
              "CPU's vector unit, which amc's dataset identity allows for); `amc eval-engine` then scores the "
              "packaged engine on its held-out test split against the predictions training recorded for those "
              "frames (paired: exit 0 pass):", "", "```bash", *c["recheck"], "```", ""]
    return "\n".join(lines)


def package_paths(onnx_path: Path, run: Path) -> dict[str, Any]:
    """The packaged model's paths relative to the recipe's work directory (``run/best.pt``, ``data.h5``):
    export stores them relative to the model file, which means nothing once the file is in the package."""
    meta = read_metadata(onnx_path)
    for key in PATH_KEYS:
        if meta.get(key):
            meta[key] = os.path.relpath((onnx_path.parent / meta[key]).resolve(), run.resolve().parent)
    update_metadata(onnx_path, meta)
    return meta


def restamp(data: Path, out_dir: Path = PACKAGE_DIR) -> dict[str, Any]:
    """Re-record the packaged model's data identity from its training file made again (`card["recheck"][0]`):
    the fingerprint and sample probe of today's definition (``H5Dataset.fingerprint`` / ``probe``); then the
    card's sha256, size and re-check commands. Refuses a file
    whose split is not the model's (other labels, SNRs or order)."""
    onnx_path = out_dir / MODEL_FILE
    meta = read_metadata(onnx_path)
    with open_dataset(data) as ds:
        split_from_identity(ds.labels, ds.snr, {**meta["split"], "fingerprint": ""})  # same frames, same split
        meta["split"] = {**meta["split"], "fingerprint": ds.fingerprint(), "probe": ds.probe()}
    update_metadata(onnx_path, meta)
    c = json.loads((out_dir / CARD_FILE).read_text())
    c.update(sha256=hashlib.sha256(onnx_path.read_bytes()).hexdigest(), bytes=onnx_path.stat().st_size,
             recheck=RECHECK)
    with atomic_path(out_dir / CARD_FILE) as tmp:
        tmp.write_text(json.dumps(c, indent=2) + "\n")
    with atomic_path(out_dir / "card.md") as tmp:
        tmp.write_text(card_markdown(c))
    return c


def build(run: Path, out_dir: Path = PACKAGE_DIR) -> dict[str, Any]:
    """Export run's best checkpoint to out_dir/default.onnx, evaluate it on fresh frames, write the card."""
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / MODEL_FILE
    export(run, fmt="onnx", precision="fp32", out=onnx_path, force=False)
    package_paths(onnx_path, run)
    result = evaluate(onnx_path, SynthConfig(**EVAL).validate())
    c = make_card(run, onnx_path, result)
    with atomic_path(out_dir / CARD_FILE) as tmp:
        tmp.write_text(jsonio.dumps(c, indent=2) + "\n")
    with atomic_path(out_dir / "card.md") as tmp:
        tmp.write_text(card_markdown(c))
    return c


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("runs/default"), help="data and run directory of the recipe")
    p.add_argument("--from-run", type=Path, help="a finished run to export and card (skips data and training)")
    p.add_argument("--out", type=Path, default=PACKAGE_DIR, help="where default.onnx and the card go")
    p.add_argument("--restamp", type=Path, metavar="DATA", help="re-record the packaged model's data identity "
                   "from its training file made again (card's re-check command), then stop")
    p.add_argument("--threads", type=int, default=0, help="training threads (0 = one per core)")
    args = p.parse_args()
    if args.restamp:
        c = restamp(args.restamp, args.out)
        print(f"restamped {args.out / MODEL_FILE} (sha256 {c['sha256'][:16]}) from {args.restamp}")
        return
    run = args.from_run or train_run(args.work, args.threads)
    c = build(run, args.out)
    e = c["evaluation"]
    print(f"wrote {args.out / MODEL_FILE}: overall {e['overall']:.3f}, high band {e['bands']['high']:.3f} "
          f"on {e['frames']:,} fresh frames; card in {args.out / 'card.md'}")


if __name__ == "__main__":
    main()
