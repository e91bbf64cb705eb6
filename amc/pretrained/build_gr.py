"""Build the packaged `gr2016` model: RML2016.10a's GNU Radio chain -> a4 training -> ONNX fp32 -> card.

    python -m amc.pretrained.build_gr --work runs/gr2016 --threads 1    # data (needs GNU Radio), train, card
    python -m amc.pretrained.build_gr --from-run runs/gr2016/run        # card the run's best checkpoint now

Training resumes from the run's last.pt, so the first command started again continues a stopped run;
`--from-run` packages whatever best checkpoint the run has (its card says how many epochs that was of
how many planned). Writes `amc/pretrained/gr2016.onnx`, `gr2016_card.json` and `gr2016_card.md`. The card's
accuracy is measured on a fresh seed of the same GNU Radio settings, and both packaged models are scored on
both generators' fresh frames (which one `amc classify` should use depends on that: README).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import amc
from amc.config import SynthConfig, preset
from amc.data.grsynth import synth_gnuradio
from amc.data.io import open_dataset
from amc.data.synth import iter_synthesize
from amc.export import export
from amc.files import atomic_path
from amc.pretrained import PACKAGED, default_model
from amc.pretrained.build import EVAL as NUMPY_EVAL
from amc.pretrained.build import PACKAGE_DIR, TRAIN, card_markdown, machine, score
from amc.train.loop import train

NAME = "gr2016"
DATA: dict[str, Any] = dict(frames_per_class_snr=1000, seed=2016)  # 220,000 frames, defects fixed
EVAL: dict[str, Any] = dict(frames_per_class_snr=100, seed=20262)  # a fresh seed of the same chain
NOT_FOR = ("Trained and evaluated on frames of RML2016.10a's GNU Radio chain (amc data synth --generator "
           "gnuradio, defects fixed: AM-SSB carries its signal, the label is the measured SNR), never on real "
           "recordings nor on the published RML2016.10a file, whose AM-SSB is noise and whose labels are not "
           "the SNR; measure it on your data.")


def gr_file(path: Path, settings: dict[str, Any]) -> Path:
    """The GNU Radio dataset at path, made (resumably) if it is not there."""
    if not path.is_file():
        synth_gnuradio(SynthConfig(**settings).validate(), path)
    return path


def train_run(work: Path, data: Path, threads: int) -> Path:
    model_cfg, cfg = preset(TRAIN["preset"], data=str(data), out_dir=str(work / "run"), threads=threads,
                            **{k: v for k, v in TRAIN.items() if k != "preset"})
    resume = (work / "run" / "last.pt").is_file()
    train(model_cfg, cfg, resume=resume, overwrite=not resume)
    return work / "run"


def score_file(model: Path, path: Path) -> dict[str, Any]:
    with open_dataset(path) as ds:
        return score(model, ds.classes, ds.iter_chunks(4096, with_clean=False))


def make_card(run: Path, onnx_path: Path, result: dict[str, Any], cross: dict[str, Any]) -> dict[str, Any]:
    cfg = json.loads((run / "config.json").read_text())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    best = max(rows, key=lambda r: r["val_acc"])
    with open_dataset(cfg["dataset"]) as ds:
        frames = len(ds)
    return {
        "name": f"amc {NAME} model (GNU Radio chain)", "file": onnx_path.name, "format": "ONNX fp32",
        "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(), "bytes": onnx_path.stat().st_size,
        "classes": cfg["classes"], "frame_length": cfg["frame_length"], "amc_version": amc.__version__,
        "date": time.strftime("%Y-%m-%d"), "machine": machine(),
        "data": {"generator": "amc data synth --generator gnuradio (amc.data.gr_chain), defects fixed", **DATA,
                 "frames": frames,
                 "split": "70 / 15 / 15 stratified by (class, SNR); best epoch by validation accuracy"},
        "recipe": {**TRAIN, **{k: cfg["train"][k] for k in ("epochs", "batch_size", "lr", "seed")},
                   "model": cfg["model"], "train": {k: cfg["train"][k] for k in (
            "epochs", "batch_size", "lr", "weight_decay", "mixup_alpha", "mixup_prob", "mixup_cls_only", "aug_shift",
            "lambda_den", "lambda_id", "lambda_eta")}, "lr_schedule": "AdamW, linear warm-up then cosine to 2 %"},
        "training": {"epochs_run": len(rows), "epochs_planned": cfg["train"]["epochs"],
                     "best_epoch": best["epoch"], "best_val_acc": best["val_acc"],
                     "hours": sum(r["epoch_time_s"] for r in rows) / 3600},
        "evaluation": {"data": {**EVAL, "note": "GNU Radio chain, defects fixed, a seed the model never saw"},
                       **result},
        "cross": cross,
        "not_for": NOT_FOR,
        "recheck": [
            f"amc data synth --generator gnuradio --out gr.h5 --frames {DATA['frames_per_class_snr']} "
            f"--seed {DATA['seed']}   # the training file, bit for bit (needs GNU Radio)",
            f"amc eval-engine $(python -c 'import amc.pretrained as p; print(p.model_path(\"{NAME}\"))') "
            "--data gr.h5 --split test",
        ],
    }


def markdown(c: dict[str, Any]) -> str:
    """The default card's layout with the GNU Radio data, the training's progress and the cross table."""
    text = card_markdown(c)
    t = c["training"]
    data = (f"**Data.** {c['data']['frames']:,} frames of RML2016.10a's GNU Radio chain (`amc data synth "
            f"--generator gnuradio`, GNU Radio 3.10, defects fixed; docs/data.md): rml2016 classes "
            f"({', '.join(c['classes'])}), {c['frame_length']} samples, SNR −20..18 dB in 2 dB steps; seed "
            f"{c['data']['seed']}; {c['data']['split']}.")
    start = text.index("**Data.**")
    text = text[:start] + data + text[text.index("\n", start):]
    text = text.replace(f"{t['epochs_run']} epochs, batch",
                        f"{t['epochs_run']} of {t['epochs_planned']} planned epochs "
                        f"({'finished' if t['epochs_run'] >= t['epochs_planned'] else 'stopped early: CPU time'}), "
                        "batch")
    rows = ["", "**Both packaged models on both generators' fresh frames** (overall / high band ≥ 10 dB):", "",
            "| model | amc numpy generator | GNU Radio chain |", "|---|---|---|"]
    for name, r in c["cross"].items():
        rows.append(f"| {name} | {r['numpy']['overall']:.3f} / {r['numpy']['bands']['high']:.3f} | "
                    f"{r['gnuradio']['overall']:.3f} / {r['gnuradio']['bands']['high']:.3f} |")
    rows += ["", "Per class at ≥ 10 dB on the GNU Radio frames, this model and the default one:", "",
             "| class | gr2016 | default |", "|---|---|---|"]
    gr, de = c["cross"][NAME]["gnuradio"]["per_class_high"], c["cross"]["default"]["gnuradio"]["per_class_high"]
    rows += [f"| {k} | {gr[k]:.3f} | {de[k]:.3f} |" for k in c["classes"]]
    marker = "**What it is not.**"
    return text.replace(marker, "\n".join(rows[1:]) + "\n\n" + marker, 1)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def previous_default(card_path: Path) -> dict[str, Any] | None:
    """The default model's rows of an earlier card, if that card scored today's default model."""
    try:
        old = json.loads(card_path.read_text())["cross"]["default"]
    except (OSError, ValueError, KeyError):
        return None
    return old if old.get("sha256") == sha256(default_model()) else None


def build(run: Path, eval_file: Path, out_dir: Path = PACKAGE_DIR) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    entry = PACKAGED[NAME]
    onnx_path = out_dir / entry.model
    export(run, fmt="onnx", precision="fp32", out=onnx_path, force=False, overwrite=True)
    result = score_file(onnx_path, eval_file)
    numpy_eval = SynthConfig(**NUMPY_EVAL).validate()
    numpy_parts = list(iter_synthesize(numpy_eval))  # the default card's evaluation frames, made once
    names = numpy_eval.class_names
    cross = {"default": previous_default(out_dir / entry.card) or {
                 "numpy": score(default_model(), names, numpy_parts),
                 "gnuradio": score_file(default_model(), eval_file)},
             NAME: {"numpy": score(onnx_path, names, numpy_parts), "gnuradio": result}}
    cross = {k: {g: {"overall": r["overall"], "bands": r["bands"], "per_class_high": r["per_class_high"]}
                 for g, r in v.items() if g in ("numpy", "gnuradio")} for k, v in cross.items()}
    cross["default"]["sha256"] = sha256(default_model())
    c = make_card(run, onnx_path, result, cross)
    with atomic_path(out_dir / entry.card) as tmp:
        tmp.write_text(json.dumps(c, indent=2) + "\n")
    with atomic_path(out_dir / entry.card.replace(".json", ".md")) as tmp:
        tmp.write_text(markdown(c))
    return c


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("runs/gr2016"), help="data and run directory of the recipe")
    p.add_argument("--data", type=Path, help="the training file (default WORK/data.h5, made if missing)")
    p.add_argument("--from-run", type=Path, help="a run to export and card as it stands (skips training)")
    p.add_argument("--out", type=Path, default=PACKAGE_DIR, help="where the model and its card go")
    p.add_argument("--threads", type=int, default=0, help="training threads (0 = one per core)")
    args = p.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    run = args.from_run or train_run(work, gr_file(args.data or work / "data.h5", DATA), args.threads)
    eval_file = gr_file(work / "eval.h5", EVAL)
    c = build(run, eval_file, args.out)
    e = c["evaluation"]
    md = args.out / PACKAGED[NAME].card.replace(".json", ".md")
    print(f"wrote {args.out / PACKAGED[NAME].model}: overall {e['overall']:.3f}, high band {e['bands']['high']:.3f} "
          f"on {e['frames']:,} fresh GNU Radio frames; card in {md}")


if __name__ == "__main__":
    main()
