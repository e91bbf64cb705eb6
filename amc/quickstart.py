"""`amc quickstart`: data -> train -> export -> eval-engine -> bench on a small embedded default.

Sized to finish in a few minutes on a 2-core CPU: an rml2016-style synthetic dataset (11 classes,
L=128, SNR -20..18 dB), the a4 recipe with classifier-only mixup at a reduced width, ONNX fp32
and int8 exports, each checked against the training metrics, and a short latency benchmark.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amc.config import SynthConfig, preset
from amc.data.build import synth_to_file
from amc.eval.engine_eval import EvalSettings, evaluate_engine
from amc.export import export
from amc.files import ReplaceDir, is_run_dir
from amc.serve.bench import bench
from amc.train.loop import train


@dataclass
class QuickstartConfig:
    """The embedded default; every field is a small, safe value for a laptop CPU."""

    out: str = "runs/quickstart"  # everything goes under this folder
    frames_per_class_snr: int = 40  # 11 classes x 20 SNRs x 40 = 8,800 frames
    epochs: int = 8  # a4 epochs
    width: int = 32  # conv channels and LSTM hidden size
    seed: int = 0  # data and training seed
    int8: bool = True  # also export and check an int8 (QDQ) model
    bench_seconds: float = 1.0  # per batch size
    overwrite: bool = False  # replace an existing quickstart folder


def quickstart(cfg: QuickstartConfig, say: Callable[[str], None] = print, progress: bool = True) -> dict[str, Any]:
    """Run the whole workflow; returns what was made and measured.

    --overwrite replaces only an earlier quickstart folder, and only once this one has finished (a failure
    puts the old one back)."""
    out = Path(cfg.out)
    with ReplaceDir(out, cfg.overwrite, _is_quickstart_dir, "quickstart"):
        return _quickstart(cfg, out, say, progress)


def _is_quickstart_dir(path: Path) -> bool:
    return (path / "data.h5").is_file() or is_run_dir(path / "run")


def _quickstart(cfg: QuickstartConfig, out: Path, say: Callable[[str], None], progress: bool) -> dict[str, Any]:
    made: dict[str, Any] = {}

    precisions = ["fp32"] + (["int8"] if cfg.int8 else [])
    steps = 3 + 2 * len(precisions)
    step = iter(range(1, steps + 1))

    data = out / "data.h5"
    say(f"{next(step)}/{steps} data: synthesizing {cfg.frames_per_class_snr} frames per (class, SNR) -> {data}")
    made["data"] = synth_to_file(SynthConfig(frames_per_class_snr=cfg.frames_per_class_snr, seed=cfg.seed), data)

    run = out / "run"
    say(f"{next(step)}/{steps} train: a4 preset, classifier-only mixup, {cfg.epochs} epochs -> {run}")
    model_cfg, train_cfg = preset("a4", data=str(data), out_dir=str(run), epochs=cfg.epochs, batch_size=128,
                                  lr=3e-3, seed=cfg.seed, conv_channels=cfg.width, rnn_hidden=cfg.width,
                                  denoiser_channels=cfg.width // 2, dense=2 * cfg.width)
    made["train"] = train(model_cfg, train_cfg, progress=progress)

    made["exports"], made["eval"] = {}, {}
    for precision in precisions:
        target = out / f"model_{precision}.onnx"
        say(f"{next(step)}/{steps} export: ONNX {precision} -> {target}")
        res = export(run, fmt="onnx", precision=precision, out=target)
        made["exports"][precision] = {"path": str(res.path), "parity": res.parity}
        say(f"{next(step)}/{steps} eval-engine: {res.path.name} on the run's validation frames")
        rep = evaluate_engine(EvalSettings(model=str(res.path), report_dir=str(out / f"eval_{precision}"),
                                           progress=progress))
        made["eval"][precision] = {k: rep[k] for k in ("verdict", "passed", "exit_code", "summary", "reference_acc",
                                                       "engine_acc", "delta_pp", "ci_pp", "drifted_snrs", "bands",
                                                       "limits", "reference", "frames")}
    say(f"{next(step)}/{steps} bench: ONNX Runtime fp32 latency and throughput")
    made["bench"] = bench(str(out / "model_fp32.onnx"), batches=(1, 64, 256), seconds=cfg.bench_seconds)
    return made
