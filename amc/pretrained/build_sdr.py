"""Build the packaged `sdr` model: short-range-device classes through a cheap receiver, 512 samples at 125 kHz.

    OMP_WAIT_POLICY=PASSIVE python -m amc.pretrained.build_sdr --work runs/sdr_build   # data + training + card
    python -m amc.pretrained.build_sdr --from-run runs/sdr                             # card a (partial) run

Writes `amc/pretrained/sdr.onnx`, `sdr_card.json` and `sdr_card.md`. The card states how far training got
(a run packaged before its last epoch says so), the accuracy per class on fresh frames of the same generator
settings (another seed), and the share of receiver-noise-only windows (8-bit quantised white noise, no
signal) whose top probability reaches the `unknown` threshold, with the threshold that keeps that share
at 2 %.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

import amc
from amc.config import SynthConfig, preset
from amc.data.build import synth_to_file
from amc.data.dsp import CDTYPE
from amc.data.receiver import impair
from amc.export import export
from amc.files import atomic_path
from amc.pretrained import PACKAGED
from amc.pretrained.build import evaluate, machine
from amc.runtime import Engine
from amc.train.loop import train

PACKAGE_DIR = Path(__file__).resolve().parent
DATA: dict[str, Any] = dict(class_set="sdr", snrs=[float(s) for s in range(-3, 31, 3)], frames_per_class_snr=250,
                            max_cfo=0.04, sample_rate=125e3, fading="none", seed=0)
TRAIN: dict[str, Any] = dict(preset="cldnn", epochs=7, batch_size=256, lr=2e-3, seed=0)
EVAL: dict[str, Any] = {**DATA, "frames_per_class_snr": 30, "seed": 20261}
NOISE_FRAMES = 4000
NOT_FOR = ("Trained on amc's synthetic short-range-device frames only (amc.data.receiver: 125 kHz, 512 samples, "
           "burst envelopes, carrier offsets up to 5 kHz, residual DC / IQ imbalance, 8-bit quantisation), never "
           "on real recordings; it expects what `amc classify --scan` hands it: one detected transmission shifted "
           "to baseband and resampled to 125 kHz. Measure it on your captures (benchmarks/sdr_captures.py).")


def noise_share(model: Path, thresholds: list[float], seed: int = 7) -> dict[str, Any]:
    """Share of receiver-noise-only frames whose top probability is >= each threshold, and the 2 % threshold."""
    engine = Engine.load(model)
    rng = np.random.default_rng(seed)
    n, length = NOISE_FRAMES, engine.frame_length
    z = (rng.standard_normal((n, length, 2)) * np.sqrt(0.5)).astype(np.float32).view(CDTYPE)[..., 0]
    z = impair(z, np.ones(n), rng)
    z /= np.sqrt(np.mean(np.abs(z) ** 2, axis=1, keepdims=True))
    x = np.stack([z.real, z.imag], 1).astype(np.float32)
    top = engine.run(x)["probs"].max(1)
    at = float(np.quantile(top, 0.98))
    return {"frames": n, "share_at": {f"{t:g}": float((top >= t).mean()) for t in thresholds},
            "threshold_for_2_percent": round(at, 4)}


def make_card(run: Path, onnx_path: Path, result: dict[str, Any], noise: dict[str, Any]) -> dict[str, Any]:
    cfg = json.loads((run / "config.json").read_text())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    best = max(rows, key=lambda r: r["val_acc"])
    planned = cfg["train"]["epochs"]
    return {
        "name": "amc sdr model", "file": PACKAGED["sdr"].model, "format": "ONNX fp32",
        "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(), "bytes": onnx_path.stat().st_size,
        "classes": cfg["classes"], "frame_length": cfg["frame_length"], "sample_rate": DATA["sample_rate"],
        "amc_version": amc.__version__, "date": time.strftime("%Y-%m-%d"), "machine": machine(),
        "data": {"generator": "amc data synth --class-set sdr (amc.data.receiver)", **DATA,
                 "frames": len(cfg["classes"]) * len(DATA["snrs"]) * DATA["frames_per_class_snr"],
                 "split": "70 / 15 / 15 stratified by (class, SNR); best epoch by validation accuracy"},
        "recipe": {**TRAIN, "model": cfg["model"]},
        "training": {"epochs_planned": planned, "epochs_run": len(rows), "finished": len(rows) >= planned,
                     "best_epoch": best["epoch"], "best_val_acc": best["val_acc"],
                     "hours": sum(r.get("epoch_time_s", 0.0) for r in rows) / 3600,
                     "threads": cfg["train"].get("threads") or "all cores"},
        "evaluation": {"data": {**EVAL, "note": "the training settings, a seed the model never saw"}, **result},
        "noise_only": noise, "not_for": NOT_FOR,
        "recheck": [
            "amc data synth --out sdr_eval.h5 --class-set sdr --snrs -3:30:3 --frames 30 --max-cfo 0.04 "
            "--sample-rate 125000 --fading none --seed 20261",
            "amc eval-engine $(python -c 'import amc.pretrained as p; print(p.model_path(\"sdr\"))') "
            "--data sdr_eval.h5 --split all",
        ],
    }


def card_markdown(c: dict[str, Any]) -> str:
    e, t, nz = c["evaluation"], c["training"], c["noise_only"]
    b = e["bands"]
    state = ("finished" if t["finished"] else f"STOPPED EARLY after {t['epochs_run']} of {t['epochs_planned']} "
             "planned epochs (packaged at the deadline; resume with the build command)")
    lines = [
        f"# {c['name']}", "",
        f"`{c['file']}` ({c['format']}, {c['bytes'] / 1e6:.1f} MB, sha256 `{c['sha256'][:16]}…`), amc "
        f"{c['amc_version']}, built {c['date']} on a {c['machine']}. Select it with `amc classify --model sdr`.", "",
        f"**Data.** {c['data']['frames']:,} synthetic frames of the sdr class set ({', '.join(c['classes'])}), "
        f"{c['frame_length']} samples at 125 kHz, SNR −3..30 dB in 3 dB steps (amc.data.receiver: burst envelopes, "
        f"carrier offset up to 5 kHz, residual DC / IQ imbalance, 8-bit quantisation); seed {c['data']['seed']}.", "",
        f"**Training.** Preset {c['recipe']['preset']}, batch {c['recipe']['batch_size']}, lr {c['recipe']['lr']}; "
        f"{state}; best epoch {t['best_epoch']} (val {t['best_val_acc']:.3f}); {t['hours']:.1f} h with "
        f"{t.get('threads', 1)} torch thread(s) on a shared machine.", "",
        f"**Accuracy** on {e['frames']:,} fresh frames (seed {e['data']['seed']}): overall {e['overall']:.3f}, "
        f"mid band (−4..+6 dB) {b['mid']:.3f}, high (≥ 10 dB) {b['high']:.3f}.", "",
        "| class | all SNRs | ≥ 10 dB |", "|---|---|---|",
    ]
    for k in c["classes"]:
        lines.append(f"| {k} | {e['per_class'][k]:.3f} | {e['per_class_high'][k]:.3f} |")
    share = ", ".join(f"{100 * v:.1f} % at {k}" for k, v in nz["share_at"].items())
    lines += ["", f"**Noise only.** Of {nz['frames']:,} frames of receiver noise alone (8-bit quantised), the share "
              f"whose top probability reaches the threshold: {share}; `--min-prob {nz['threshold_for_2_percent']}` "
              "keeps it at 2 %. In `--scan` mode the detector decides noise first: the model sees only detected "
              "transmissions.", "", f"**What it is not.** {c['not_for']}", "",
              "**Re-check** (fresh frames of the same generator settings; exit 0 when the engine matches its "
              "PyTorch source):", "", "```bash", *c["recheck"], "```", ""]
    return "\n".join(lines)


def build(run: Path, out_dir: Path = PACKAGE_DIR) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    entry = PACKAGED["sdr"]
    onnx_path = out_dir / entry.model
    export(run, fmt="onnx", precision="fp32", out=onnx_path, overwrite=True)
    result = evaluate(onnx_path, SynthConfig(**EVAL).validate())
    noise = noise_share(onnx_path, [0.5, 0.7, 0.9])
    c = make_card(run, onnx_path, result, noise)
    with atomic_path(out_dir / entry.card) as tmp:
        tmp.write_text(json.dumps(c, indent=2) + "\n")
    with atomic_path(out_dir / entry.card.replace(".json", ".md")) as tmp:
        tmp.write_text(card_markdown(c))
    return c


def train_run(work: Path, threads: int) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data.h5"
    if not data.is_file():
        synth_to_file(SynthConfig(**DATA).validate(), data)
    model_cfg, cfg = preset(TRAIN["preset"], data=str(data), out_dir=str(work / "run"), threads=threads,
                            **{k: v for k, v in TRAIN.items() if k != "preset"})
    resume = (work / "run" / "last.pt").is_file()
    train(model_cfg, cfg, resume=resume, overwrite=not resume)
    return work / "run"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("runs/sdr_build"))
    p.add_argument("--from-run", type=Path, help="a run (finished or not) to export and card")
    p.add_argument("--out", type=Path, default=PACKAGE_DIR)
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    c = build(a.from_run or train_run(a.work, a.threads), a.out)
    e = c["evaluation"]
    print(f"wrote {a.out / PACKAGED['sdr'].model}: overall {e['overall']:.3f}, high band {e['bands']['high']:.3f}; "
          f"noise-only share at 0.5: {c['noise_only']['share_at']['0.5']:.3f}")


if __name__ == "__main__":
    main()
