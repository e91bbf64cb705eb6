"""`amc eval-engine`: is the exported engine the model that was trained?

The engine is evaluated on exactly the validation frames of its training run (the split identity
travels in its metadata) with the same metric code the training loop used (`amc.metrics`). A
per-SNR or overall delta counts as drift only when it is both larger than the precision's
tolerance and outside the 99 % Wilson interval of the training accuracy for that many frames:
a principled rule, so that 30 frames at one SNR do not fail an fp16 engine for one flipped frame.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

from amc.config import choice
from amc.data.io import DataError, open_dataset
from amc.data.split import split_from_identity
from amc.eval.report import write_report
from amc.metrics import Accumulator, band_means, wilson_interval
from amc.runtime import Engine, check_classes

TOLERANCE_PP = {"fp32": 0.1, "fp16": 0.5, "int8": 1.0, "int8-dynamic": 1.0}
SPLITS = ["val", "test", "all"]


@dataclass
class EvalSettings:
    """Options of one engine evaluation."""

    model: str  # .onnx / .engine / .plan / .pt / run directory
    data: str | None = None  # dataset; default: the one the run trained on
    run: str | None = None  # run directory whose summary / checkpoint to compare with
    split: str = "val"  # val, test or all
    provider: str = "auto"  # auto, cpu, cuda, tensorrt
    tolerance_pp: float | None = None  # default by precision
    batch_size: int = 512  # frames per engine call
    max_frames: int | None = None  # cap (for quick checks)
    report_dir: str | None = None  # where report.json / report.md / per_snr.png go
    progress: bool = True


def drift_rule(train_counts: tuple[int, int] | None, train_acc: float, engine_acc: float, n: int,
               tol_pp: float) -> tuple[bool, tuple[float, float]]:
    """(drifted, interval): |delta| > tolerance AND engine_acc outside the Wilson interval of training."""
    if train_counts is not None:
        lo, hi = wilson_interval(train_counts[0], train_counts[1])
    else:
        lo, hi = wilson_interval(int(round(train_acc * n)), n)
    delta_pp = 100.0 * (engine_acc - train_acc)
    return (abs(delta_pp) > tol_pp and not lo <= engine_acc <= hi), (lo, hi)


def _train_reference(meta: dict, run: str | None) -> dict[str, Any]:
    if run:
        path = Path(run) / "summary.json"
        if not path.is_file():
            raise DataError(f"{run}: no summary.json; pass a finished `amc train` run directory")
        s = json.loads(path.read_text())
        best = Path(run) / "best_val.json"
        counts = json.loads(best.read_text()).get("counts", {}) if best.is_file() else {}
        return {"val_acc": s["best_val_acc"], "per_snr": s["per_snr"], "counts": counts, "bands": s["bands"]}
    tm = meta.get("train_metrics") or {}
    if not tm.get("per_snr"):
        raise DataError("the engine carries no training metrics; pass --run RUN_DIR to compare against")
    return tm


def _frames(ds: Any, meta: dict, split: str) -> np.ndarray:
    choice("split", split, SPLITS)
    if split == "all":
        return np.arange(len(ds))
    identity = meta.get("split") or {}
    if not identity:
        raise DataError("the engine carries no split identity; pass --split all to evaluate every frame")
    try:
        s = split_from_identity(ds.labels, ds.snr, identity, ds.fingerprint())
    except ValueError as e:
        raise DataError(f"{ds.path}: {e}") from None
    return s.val if split == "val" else s.test


def evaluate_engine(cfg: EvalSettings) -> dict[str, Any]:
    """Evaluate, compare with training, write the report; returns the report dict (passed: bool)."""
    engine = Engine.load(cfg.model, provider=cfg.provider)
    meta = engine.metadata
    precision = str(meta.get("precision", "fp32"))
    tol = cfg.tolerance_pp if cfg.tolerance_pp is not None else TOLERANCE_PP.get(precision, 1.0)
    ref = _train_reference(meta, cfg.run)
    bands = {k: tuple(v) for k, v in meta.get("bands", {}).items()} or None
    data = cfg.data or meta.get("dataset")
    if not data:
        raise DataError("no dataset: pass --data FILE")
    with open_dataset(data) as ds:
        mapping = np.asarray(check_classes(engine, ds.classes))  # engine index -> dataset index (-1: unknown)
        index = _frames(ds, meta, cfg.split)[: cfg.max_frames]
        acc = Accumulator(len(ds.classes))
        torch_ref = _torch_reference(cfg, meta)
        agree = n_cmp = 0
        max_dlogit = 0.0
        with Progress(disable=not cfg.progress, transient=True) as bar:
            task = bar.add_task("eval-engine", total=len(index))
            for b in ds.iter_chunks(chunk=cfg.batch_size, index=index, with_clean=False):
                out = engine.run(b.x)
                pred_engine = np.asarray(out["logits"]).argmax(1)
                acc.update(mapping[pred_engine], b.labels, b.snr, np.asarray(out["eta"]).reshape(-1),
                           np.asarray(out["snr_db"]).reshape(-1))
                if torch_ref is not None:
                    ref_logits = torch_ref.run(b.x)["logits"]
                    agree += int((ref_logits.argmax(1) == pred_engine).sum())
                    n_cmp += len(b.x)
                    max_dlogit = max(max_dlogit, float(np.abs(ref_logits - out["logits"]).max()))
                bar.advance(task, len(b.x))
    got = acc.summary(bands)
    report = _compare(got, ref, tol, precision, bands)
    report.update(model=str(cfg.model), backend=engine.backend, data=str(data), split=cfg.split,
                  frames=got["frames"], classes=list(ds.classes), eta_mae=got.get("eta_mae"),
                  snr_rmse_db=got.get("snr_rmse_db"), confusion=acc.confusion.tolist())  # type: ignore[union-attr]
    if torch_ref is not None and n_cmp:
        report["torch_agreement"] = agree / n_cmp
        report["torch_max_abs_dlogit"] = max_dlogit
    if cfg.report_dir:
        write_report(Path(cfg.report_dir), report, bands or {})
    return report


def _torch_reference(cfg: EvalSettings, meta: dict) -> Any:
    """The PyTorch checkpoint, where at hand (run dir given, or the engine is not itself torch)."""
    if Path(cfg.model).suffix == ".pt" or Path(cfg.model).is_dir():
        return None
    ckpt = Path(cfg.run) / "best.pt" if cfg.run else None
    if ckpt is None or not ckpt.is_file():
        return None
    return Engine.load(ckpt)


def _compare(got: dict, ref: dict, tol: float, precision: str, bands: dict | None) -> dict[str, Any]:
    rows, drifted = [], []
    counts = ref.get("counts") or {}
    for snr, eng_acc in got["per_snr"].items():
        if snr not in ref["per_snr"]:
            rows.append({"snr": float(snr), "train": None, "engine": eng_acc, "delta_pp": None,
                         "n": got["counts"][snr][1], "drift": False})
            continue
        tr = ref["per_snr"][snr]
        n = got["counts"][snr][1]
        bad, (lo, hi) = drift_rule(tuple(counts[snr]) if snr in counts else None, tr, eng_acc, n, tol)
        rows.append({"snr": float(snr), "train": tr, "engine": eng_acc, "delta_pp": 100 * (eng_acc - tr), "n": n,
                     "ci": [lo, hi], "drift": bad})
        if bad:
            drifted.append(float(snr))
    n_all = got["frames"]
    overall_bad, ci = drift_rule(None, ref["val_acc"], got["acc"], n_all, tol)
    ref_bands = band_means(ref["per_snr"], bands)
    band_rows = {b: {"train": ref_bands[b], "engine": got["bands"][b],
                     "delta_pp": 100 * (got["bands"][b] - ref_bands[b])} for b in got["bands"]}
    return {"precision": precision, "tolerance_pp": tol, "train_acc": ref["val_acc"], "engine_acc": got["acc"],
            "delta_pp": 100 * (got["acc"] - ref["val_acc"]), "overall_ci": list(ci), "overall_drift": overall_bad,
            "per_snr": rows, "bands": band_rows, "drifted_snrs": drifted,
            "passed": not overall_bad and not drifted,
            "rule": f"drift = |delta| > {tol} pp AND engine accuracy outside the 99 % Wilson interval of training"}
