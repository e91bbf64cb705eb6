"""The README's `amc classify` picture, end to end on this machine (a few minutes on 2 CPU cores).

1. a synthetic dataset of 5 classes at the generator's nominal 200 kHz, and a small a4 model trained on it
   (the metadata of its ONNX export states the 200 kHz rate);
2. a 1 MS/s SigMF recording at 915 MHz made by ``amc.classify.synth``: the wanted channel 250 kHz above
   centre carries QPSK, silence, GFSK, WBFM, BPSK, 8PSK in turn, at 12 dB in the model's band; an AM
   broadcast-like channel sits 200 kHz below centre the whole time;
3. ``amc classify`` on it (the CLI, as a user runs it), writing docs/classify.png and results/classify_demo.json
   (the summary, segments, truth and per-window accuracy).

    python benchmarks/classify_demo.py [--work runs/classify_demo] [--model packaged | train] [--epochs 16]

``--model packaged`` (the default) classifies with amc's packaged default model (11 classes, no training:
seconds), as `amc classify` does without --model; ``--model train`` trains the 5-class model of step 1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLASSES = ["BPSK", "QPSK", "8PSK", "GFSK", "WBFM"]
PLAN = [("QPSK", 40000), (None, 20000), ("GFSK", 40000), ("WBFM", 50000), ("BPSK", 30000), ("8PSK", 40000)]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "classify_demo")
    ap.add_argument("--model", choices=["packaged", "train"], default="packaged")
    ap.add_argument("--epochs", type=int, default=16)
    ap.add_argument("--frames", type=int, default=300, help="frames per (class, SNR)")
    args = ap.parse_args(argv)
    import torch

    from amc.classify.synth import make_iq, write_sigmf
    from amc.config import SynthConfig, preset
    from amc.data.build import synth_to_file
    from amc.export import export
    from amc.train.loop import train

    torch.set_num_threads(1)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    model = work / "model.onnx"
    if args.model == "train" and not model.exists():
        synth_to_file(SynthConfig(classes=CLASSES, snrs=[-20.0, -10.0, 0.0, 10.0, 20.0],
                                  frames_per_class_snr=args.frames, seed=7), work / "data.h5")
        m, t = preset("a4", data=str(work / "data.h5"), out_dir=str(work / "run"), epochs=args.epochs, batch_size=128,
                      lr=5e-3, mixup_prob=0.0, conv_channels=32, rnn_hidden=32, denoiser_channels=16, dense=64)
        s = train(m, t, progress=False, overwrite=True)
        print(f"trained: best val_acc {s['best_val_acc']:.3f}, per SNR {s['per_snr']}")
        export(work / "run", precision="fp32", out=model)
    x, truth = make_iq(PLAN, model_rate=200e3, up=5, offset_hz=250.3e3, snr_db=12.0,
                       interferers=[("AM-DSB", -200e3, 6.0)], seed=11)
    meta = write_sigmf(work / "capture", x, 1e6, "ci16_le", center_freq=915e6)
    fig = ROOT / "docs" / "classify.png"
    use = ["--model", str(model)] if args.model == "train" else []  # none: the packaged default model
    cmd = [sys.executable, "-m", "amc", "classify", str(meta), *use, "--center-offset", "250e3",
           "--min-windows", "3", "--plot", str(fig), "--rows", str(work / "windows.jsonl"), "--overwrite",
           "--no-progress"]
    shown = ["amc", "classify", "capture.sigmf-meta", *(["--model", "model.onnx"] if use else []), "--center-offset",
             "250e3", "--min-windows", "3", "--plot", "docs/classify.png", "--rows", "windows.jsonl"]
    res = subprocess.run(cmd, capture_output=True, text=True, env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"})
    print("$ " + " ".join(shown))
    print(res.stdout, res.stderr)
    res.check_returncode()
    r = json.loads(subprocess.run([*cmd[:-1], "--json", "-", "--no-annotate"], capture_output=True, text=True,
                                  check=True).stdout)
    rows = [json.loads(line) for line in (work / "windows.jsonl").read_text().splitlines()]
    right = []
    for tr in truth:
        inner = [w["label"] for w in rows if tr.start + 640 <= w["sample_start"] <= tr.start + tr.count - 1280]
        right.append({"label": tr.label, "windows": len(inner),
                      "window_accuracy": sum(lab == tr.label for lab in inner) / max(len(inner), 1)})
    out = {"command": " ".join(shown), "model": args.model, "stdout": res.stdout, "truth": [t.__dict__ for t in truth],
           "segments": r["segments"], "per_segment_window_accuracy": right, "speed": r["speed"]}
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "classify_demo.json").write_text(json.dumps(out, indent=2) + "\n")
    for row in right:
        print(f"{row['label']:>6}: {row['window_accuracy']:.1%} of {row['windows']} windows right")


if __name__ == "__main__":
    main()
