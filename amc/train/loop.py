"""The training loop: a function of (ModelConfig, TrainConfig), read top to bottom.

Each epoch draws its own seeded generators from (seed, epoch), so a run resumed from `last.pt`
replays exactly the epochs it had not finished. Under `torchrun` the step module is wrapped in
DistributedDataParallel, each rank takes a strided share of the epoch, and rank 0 alone writes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from amc import __version__, jsonio
from amc.config import AmcError, ConfigError, ModelConfig, TrainConfig, to_dict
from amc.data.io import DataError, H5Dataset, open_dataset
from amc.data.sampling import degrade, epoch_order, snr_balanced_order, time_shift
from amc.data.split import stratified_split
from amc.files import ReplaceDir, atomic_path, check_replaceable, is_run_dir
from amc.metrics import Accumulator, band_means, snr_key
from amc.models import build_model, normalise
from amc.models.numerics import reproducible_cuda, strict_fp32_scope
from amc.plots import plot_confusion, plot_per_snr
from amc.train.checkpoint import NORMALISATION, load_checkpoint, save_checkpoint
from amc.train.data import FrameSource
from amc.train.losses import TrainStep
from amc.train.mixup import MixupStats, mix
from amc.train.progress import EpochProgress, epoch_summary
from amc.train.reference import add_test_reference, make_record
from amc.train.resume import RunState, restore
from amc.train.threads import configure as configure_threads

LOSS_TERMS = ("total", "ce", "den", "id", "eta", "snr", "feat")


def _dist() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _setup_distributed() -> bool:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        return True
    return False


def _device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def _stop_signal(distributed: bool, stop: bool) -> bool:
    """Rank 0's early-stop decision, shared with every rank (also a per-epoch barrier)."""
    if not distributed:
        return stop
    flag = torch.tensor([1.0 if stop else 0.0], device=_device())  # nccl needs a GPU tensor
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


Tensors = tuple[torch.Tensor, "torch.Tensor | None", torch.Tensor, torch.Tensor]


def _tensor_batch(b: tuple, device: torch.device) -> Tensors:
    x, clean, labels, snr = b

    def t(a: Any) -> torch.Tensor:
        return torch.as_tensor(a).to(device, non_blocking=True)

    return t(x).float(), (t(clean).float() if clean is not None else None), t(labels).long(), t(snr).float()


def prepare(x: torch.Tensor, clean: torch.Tensor | None, snr: torch.Tensor, cfg: TrainConfig,
            gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Normalise, build the denoiser target (clean frame, or degradation pair), time-shift.

    Returns (x_n, target, snr) with target scaled like x_n, so x_n - target is the noise.
    """
    x_n, scale = normalise(x)
    if clean is not None:
        target = clean / scale
    else:  # real data: add Delta dB of noise and use the frame itself as the target
        focus = tuple(cfg.bands[cfg.degrade_focus]) if cfg.degrade_focus else None
        x_deg, snr = degrade(x_n, snr, tuple(cfg.degrade_delta_db), gen, focus)  # type: ignore[arg-type]
        x_deg_n, scale2 = normalise(x_deg)
        x_n, target = x_deg_n, x_n / scale2
    if cfg.aug_shift:
        x_n, target = time_shift([x_n, target], gen)
    return x_n, target, snr


@torch.no_grad()
@strict_fp32_scope()
def evaluate(model: torch.nn.Module, source: FrameSource, batch_size: int, bands: dict,
             device: torch.device, num_classes: int) -> dict[str, Any]:
    """Validation metrics: loss, accuracy per SNR and band, eta / SNR errors, denoiser gain, and the
    predicted class of every frame in the source's order (``predictions``, an int64 array).

    Runs in strict fp32 (TF32 off on CUDA, the flags restored after): these predictions are the stored
    references that eval-engine later compares an fp32 export with under an fp32 tolerance."""
    model.eval()
    acc = Accumulator(num_classes)
    preds = []
    gain_sum, gain_n = 0.0, 0
    for b in source.batches(np.arange(len(source)), batch_size):
        x, clean, y, snr = _tensor_batch(b, device)
        out = model(x)
        loss = F.cross_entropy(out.logits.float(), y, reduction="sum").item()
        has_eta = getattr(model, "has_noise_head", True)
        preds.append(out.logits.argmax(1).cpu().numpy())
        acc.update(preds[-1], y.cpu().numpy(), snr.cpu().numpy(),
                   out.eta.float().cpu().numpy() if has_eta else None,
                   out.snr_db.float().cpu().numpy() if has_eta else None, loss_sum=loss)
        if clean is not None and getattr(model, "denoiser", None) is not None:
            x_n, scale = normalise(x)
            c = clean / scale
            p_c = c.pow(2).mean(dim=(1, 2))
            snr_in = 10 * torch.log10(p_c / (x_n - c).pow(2).mean(dim=(1, 2)).clamp_min(1e-12))
            snr_out = 10 * torch.log10(p_c / (out.denoised.float() - c).pow(2).mean(dim=(1, 2)).clamp_min(1e-12))
            gain_sum += float((snr_out - snr_in).sum())
            gain_n += len(x)
    s = acc.summary(bands)
    s["confusion"] = acc.confusion.tolist()  # type: ignore[union-attr]
    s["confusion_by_snr"] = {snr_key(k): v.tolist() for k, v in sorted(acc.confusion_by_snr.items())}
    s["predictions"] = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    if gain_n:
        s["denoiser_gain_db"] = gain_sum / gain_n
    return s


def _select_value(summary: dict, metric: str) -> float:
    if metric == "val_acc":
        return summary["acc"]
    return summary["bands"][metric.removeprefix("band:")]


def _lr_lambda(total_steps: int):
    warm = max(1, min(200, total_steps // 20))

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        t = (step - warm) / max(1, total_steps - warm)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return f


def _check_run_dir(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse a run directory before anything is read or written (nothing is touched on refusal)."""
    if resume:
        return
    if out.exists() and out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass --overwrite to replace it or --resume "
                              "to continue it")
    check_replaceable(out, overwrite, is_run_dir, "run")


def _clean_stale(out: Path) -> None:
    for stale in out.glob(".*.tmp"):  # temp files of a write that was killed (the targets are intact)
        stale.unlink(missing_ok=True)


def epochs_history(config: Path, done: int, epochs: int) -> list[dict[str, int]]:
    """The run's `--epochs` over its resumes, [{"from_epoch", "epochs"}, ...]: the LR schedule follows the total
    epochs, so a run resumed with other --epochs is repeated by the same sequence, not by its last value."""
    history: list[dict[str, int]] = []
    if done and config.is_file():
        try:
            old = json.loads(config.read_text())
            history = list(old.get("schedule") or [{"from_epoch": 0, "epochs": int(old["train"]["epochs"])}])
        except (ValueError, KeyError, TypeError):
            history = []
    if not history or history[-1]["epochs"] != epochs:
        history.append({"from_epoch": done if history else 0, "epochs": epochs})
    return history


def schedule_note(doc: dict[str, Any], source: str, epochs: int) -> str | None:
    """What `train --config` says of a config whose run changed --epochs on a resume (None if it never did)."""
    history = doc.get("schedule") or []
    if len(history) < 2:
        return None
    steps = ", then ".join(f"--epochs {h['epochs']} from epoch {h['from_epoch']}" for h in history)
    note = (f"{source} comes from a run resumed with other --epochs ({steps}); the LR schedule follows the total, "
            f"so this run (--epochs {epochs} from the start) is not a bit-for-bit repeat")
    if all(b["from_epoch"] == a["epochs"] for a, b in zip(history, history[1:])):  # each part ran to its end
        recipe = " then ".join([f"--epochs {history[0]['epochs']}"]
                               + [f"--resume --epochs {h['epochs']}" for h in history[1:]])
        note += f": to repeat it, train {recipe}"
    return note


def _write_json(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(jsonio.dumps(obj, indent=2))


class Interrupted(AmcError):
    """Ctrl-C during training: the message says which epoch is safe in last.pt and how to resume."""


def train(model_cfg: ModelConfig, cfg: TrainConfig, resume: bool = False, overwrite: bool = False,
          progress: bool = True, say: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Train a model; returns the run summary (also written to OUT_DIR/summary.json).

    ``say`` gets one line per epoch (and the resume / stop notes) whether or not progress bars show;
    None keeps training silent. The dataset is recorded by absolute path, so the run, its exports and
    eval-engine find it from any working directory."""
    cfg.validate()
    if not cfg.data:
        raise ConfigError("no dataset: give DATA (make one with `amc data synth --out FILE`)")
    cfg = replace(cfg, data=str(Path(cfg.data).expanduser().resolve()))
    configure_threads(cfg.threads)
    distributed = _setup_distributed()
    rank, world = _dist()
    device = _device()
    if device.type == "cuda":  # a resumed run equals an uninterrupted one, on the GPU too
        reproducible_cuda()
    out = Path(cfg.out_dir)
    ds: H5Dataset = open_dataset(cfg.data)  # every input is checked before the run directory is touched
    try:
        if rank == 0:
            _check_run_dir(out, resume, overwrite)
        # A new run replaces an old one only once its first epoch is saved; until then an error or Ctrl-C puts
        # the old directory back (or removes the one this call made): a failed train leaves nothing behind.
        with (ReplaceDir(out, overwrite, is_run_dir, "run") if rank == 0 and not resume
              else contextlib.nullcontext()) as fresh:
            if rank == 0:
                out.mkdir(parents=True, exist_ok=True)
                _clean_stale(out)
            return _train(ds, model_cfg, cfg, out, resume, progress, device, rank, world, distributed,
                          say if rank == 0 and say is not None else (lambda _: None),
                          started=fresh.commit if fresh is not None else (lambda: None))
    except KeyboardInterrupt:
        done = load_checkpoint(out / "last.pt")["epoch"] if (out / "last.pt").is_file() else 0
        raise Interrupted(f"interrupted after epoch {done} of {cfg.epochs}"
                          + (f"; {out / 'last.pt'} holds it: resume with `amc train --out {out} --resume`"
                             if done else "; no epoch finished, nothing was kept to resume")) from None
    finally:
        ds.close()
        if distributed and dist.is_initialized():
            dist.destroy_process_group()


def _train(ds: H5Dataset, model_cfg: ModelConfig, cfg: TrainConfig, out: Path, resume: bool, progress: bool,
           device: torch.device, rank: int, world: int, distributed: bool,
           say: Callable[[str], None], started: Callable[[], None]) -> dict[str, Any]:
    model_cfg = replace(model_cfg, num_classes=len(ds.classes), frame_length=ds.frame_length).validate()
    split = stratified_split(ds.labels, ds.snr, cfg.val_fraction, cfg.test_fraction, cfg.split_seed,
                             fingerprint=ds.fingerprint(), probe=ds.probe())
    if len(split.val) == 0 or len(split.train) == 0:
        raise DataError(f"{ds.path}: too few frames for a train/validation split ({len(ds)} frames); every "
                        "(class, SNR) group needs at least 3 frames: synthesize or import more data")
    budget = (4 << 30) // world
    train_src = FrameSource(ds, split.train, budget, cfg.num_workers)
    val_src = FrameSource(ds, split.val, budget, cfg.num_workers)

    torch.manual_seed(cfg.seed)
    model = build_model(model_cfg).to(device)
    model.channels_last = device.type == "cpu"  # faster CPU steps, same results (amc.models.layout)
    step_module: torch.nn.Module = TrainStep(model, cfg)
    if distributed:
        step_module = torch.nn.parallel.DistributedDataParallel(
            step_module, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n_train = cfg.max_frames or len(train_src)
    steps_per_epoch = math.ceil(math.ceil(n_train / world) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(steps_per_epoch * cfg.epochs))
    amp_dtype = torch.bfloat16 if device.type == "cpu" or torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler(enabled=cfg.amp and amp_dtype == torch.float16)

    meta = {"classes": ds.classes, "frame_length": ds.frame_length, "snr_grid": ds.snr_grid,
            "bands": {k: list(v) for k, v in cfg.bands.items()}, "normalisation": NORMALISATION,
            "split": split.identity, "dataset": str(ds.path), "amc_version": __version__,
            "sample_rate": ds.sample_rate}
    run = RunState()
    if resume and (out / "last.pt").is_file():
        ck, run = restore(out / "last.pt", model_cfg, cfg, split.identity)
        model.load_state_dict(ck["model_state"])
        opt.load_state_dict(ck["optimizer_state"])
        sched.load_state_dict(ck["scheduler_state"])
        if ck.get("scaler_state"):
            scaler.load_state_dict(ck["scaler_state"])
        say(f"resuming {out} after epoch {run.epoch} of {cfg.epochs} (best {cfg.select_metric} {run.best:.4f} "
            f"at epoch {run.best_epoch})")
    elif resume:
        say(f"{out} has no last.pt yet: starting from epoch 1")
    if rank == 0:
        _write_json(out / "config.json", {"model": to_dict(model_cfg), "train": to_dict(cfg), **meta,
                                          "schedule": epochs_history(out / "config.json", run.epoch, cfg.epochs)})
        with atomic_path(out / "metrics.jsonl") as tmp:  # drop epochs after the checkpoint
            tmp.write_text("".join(jsonio.dumps(h) + "\n" for h in run.history))
    if run.stopped(cfg.patience):
        say(f"{out} stopped early at epoch {run.epoch} ({cfg.select_metric} flat for {cfg.patience} epochs); "
            "nothing to resume (raise --patience to train on)")

    bar = EpochProgress(enabled=progress and rank == 0, epochs=cfg.epochs, steps=steps_per_epoch)
    with bar:
        for epoch in range(run.epoch, cfg.epochs if not run.stopped(cfg.patience) else run.epoch):
            bar.start_epoch(epoch)
            t0 = time.perf_counter()
            eseed = _epoch_seed(cfg.seed, epoch)
            rng = np.random.default_rng(eseed)
            gen = torch.Generator().manual_seed(eseed)
            torch.manual_seed(eseed)  # dropout
            order = (snr_balanced_order(train_src.snr, rng, cfg.max_frames) if cfg.snr_balanced
                     else epoch_order(len(train_src), rng, cfg.max_frames))
            order = order[: len(order) // world * world][rank::world]  # equal batch counts on every rank
            step_module.train()
            sums = dict.fromkeys(LOSS_TERMS, 0.0)
            correct = seen = acc_seen = 0
            stats = MixupStats()
            for b in train_src.batches(order, cfg.batch_size):
                x, clean, y, snr = _tensor_batch(b, device)
                x_n, target, snr = prepare(x, clean, snr, cfg, gen)
                mixed = mix(x_n, y, snr, cfg.mixup_alpha, cfg.mixup_prob, cfg.mixup_snr_min, rng)
                stats.add(mixed, len(y))
                run.mixup.add(mixed, len(y))
                with torch.autocast(device.type, dtype=amp_dtype, enabled=cfg.amp):
                    res = step_module(x_n, target, snr, y, mixed)
                opt.zero_grad(set_to_none=True)
                scaler.scale(res["total"]).backward()
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                scaler.step(opt)
                scaler.update()
                sched.step()
                for k in LOSS_TERMS:
                    sums[k] += float(res[k].detach()) * len(y)
                counted = res["acc_mask"]
                correct += int(((res["acc_logits"].argmax(1) == y) & counted).sum())
                acc_seen += int(counted.sum())
                seen += len(y)
                bar.advance(float(res["total"].detach()), len(y))
            train_time = time.perf_counter() - t0
            if rank != 0:
                if _stop_signal(distributed, False):
                    break
                continue
            val = evaluate(model, val_src, max(cfg.batch_size, 512), cfg.bands, device, model_cfg.num_classes)
            val_ref = make_record("val", val, val.pop("predictions"), split.identity, epoch + 1)
            value = _select_value(val, cfg.select_metric)
            improved = value > run.best
            if improved:
                run.best, run.best_epoch, run.bad_epochs = value, epoch + 1, 0
            else:
                run.bad_epochs += 1
            run.epoch = epoch + 1
            row = {"epoch": epoch + 1, **{f"loss_{k}": v / max(1, seen) for k, v in sums.items()},
                   "train_acc": correct / acc_seen if acc_seen else None,  # clean-input logits only
                   "val_loss": val.get("loss"), "val_acc": val["acc"],
                   "per_snr": val["per_snr"], "bands": val["bands"], "eta_mae": val.get("eta_mae"),
                   "snr_rmse_db": val.get("snr_rmse_db"), "denoiser_gain_db": val.get("denoiser_gain_db"),
                   "lr": opt.param_groups[0]["lr"], "epoch_time_s": time.perf_counter() - t0,
                   "samples_per_s": seen * world / max(train_time, 1e-9), "mixup": stats.summary()}
            run.history.append(row)
            state = {"model_state": model.state_dict(), "model_config": to_dict(model_cfg),
                     "train_config": to_dict(cfg), **meta, "epoch": epoch + 1,
                     "metrics": {"val_acc": val["acc"], "per_snr": val["per_snr"], "counts": val["counts"],
                                 "bands": val["bands"], "eta_mae": val.get("eta_mae"),
                                 "snr_rmse_db": val.get("snr_rmse_db")},
                     "reference": {"val": val_ref}}
            if improved:
                save_checkpoint(out / "best.pt", state)
                _write_json(out / "best_val.json", val)
            save_checkpoint(out / "last.pt", {**state, "optimizer_state": opt.state_dict(),
                                              "scheduler_state": sched.state_dict(),
                                              "scaler_state": scaler.state_dict(), **run.to_checkpoint()})
            started()  # the first epoch is safe in last.pt: the run directory this one replaces can go
            with open(out / "metrics.jsonl", "a") as fh:
                fh.write(jsonio.dumps(row) + "\n")
            bar.finish_epoch(row["epoch"])
            say(epoch_summary(row, cfg.epochs, improved))
            stop = run.stopped(cfg.patience)
            if stop:
                say(f"stopping: {cfg.select_metric} has not improved for {cfg.patience} epochs")
            if _stop_signal(distributed, stop):
                break
    if rank != 0:
        return {}
    if not run.history:
        raise ConfigError(f"{out}: no epoch was trained (epochs {cfg.epochs}); raise --epochs")
    test_src = FrameSource(ds, split.test, budget, cfg.num_workers) if len(split.test) else None

    def score_test(m: torch.nn.Module) -> tuple[dict, np.ndarray]:  # once, with the selected best.pt
        assert test_src is not None
        s = evaluate(m.to(device), test_src, max(cfg.batch_size, 512), cfg.bands, device, model_cfg.num_classes)
        return s, s.pop("predictions")

    refs = add_test_reference(out / "best.pt", score_test if test_src else None, split.identity)
    return _finish(out, run.history, run.best_epoch, cfg, meta, run.mixup, refs)


def _finish(out: Path, history: list[dict], best_epoch: int, cfg: TrainConfig, meta: dict,
            run_stats: MixupStats, reference: dict | None = None) -> dict[str, Any]:
    best_row = history[best_epoch - 1]
    best_val = json.loads((out / "best_val.json").read_text())
    summary = {**meta, "band_edges": meta["bands"], "run": str(out), "preset": cfg.preset,
               "best_epoch": best_epoch, "best_val_acc": best_row["val_acc"],
               "select_metric": cfg.select_metric, "per_snr": best_row["per_snr"],
               "bands": band_means(best_row["per_snr"], cfg.bands), "epochs_run": len(history),
               "last_val_acc": history[-1]["val_acc"], "mixup": run_stats.summary(),
               "reference": reference or {}}
    _write_json(out / "summary.json", summary)
    plot_per_snr(out / "per_snr.png", {"val (best epoch)": best_row["per_snr"]}, cfg.bands,
                 title=f"{cfg.preset}: per-SNR accuracy, epoch {best_epoch}", chance=1 / len(meta["classes"]))
    top, (lo, hi) = max(cfg.bands.items(), key=lambda b: b[1][0])  # the band of the highest SNRs
    by_snr = {float(k): np.asarray(v) for k, v in best_val.get("confusion_by_snr", {}).items()}
    in_top = [m for snr, m in by_snr.items() if lo <= snr <= hi]
    panels = {"all SNRs": np.asarray(best_val["confusion"])}
    if in_top:
        span = f">= {lo:g} dB" if math.isinf(hi) else f"{lo:g}..{hi:g} dB"
        panels[f"{top} band ({span})"] = np.sum(in_top, axis=0)
    plot_confusion(out / "confusion.png", panels, meta["classes"],
                   title=f"{cfg.preset}: validation confusion, epoch {best_epoch}")
    return summary
