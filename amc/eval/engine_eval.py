"""`amc eval-engine`: is the exported engine the model that was trained? A gate a release pipeline can trust.

The engine is scored on a dataset's frames with the metric code training used (``amc.metrics``) and
compared, per SNR and overall, with a reference for exactly those frames (``amc.eval.reference``):
the training run's own per-frame predictions for its val / test split, else the source PyTorch model
scored on the same frames. The drift rule (``amc.stats``): |Δ| above the precision's tolerance *and*
outside noise by the test that fits the comparison: exact McNemar where engine and reference saw the
same frames (paired), Newcombe's Wilson-based interval where they did not; 1 % family-wise over the
SNRs.

Exit-code contract of the command: 0 pass, 1 drift, 2 anything the user must fix (raised here as
``AmcError``: missing or unreadable files, a dataset whose frame length or classes do not fit the
engine, a ``--run`` that is not the engine's source, no reference for the frames, an existing report).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amc.config import choice
from amc.data.io import DataError, H5Dataset, open_dataset
from amc.data.split import split_from_identity
from amc.eval import reference as refs
from amc.eval.drift import Scores, compare
from amc.eval.report import write_report
from amc.export.parity import TOLERANCES
from amc.files import check_replaceable
from amc.metrics import Accumulator
from amc.progress import Bar
from amc.runtime import Engine, InputError, check_classes

SPLITS = ["val", "test", "all"]


def tolerance_pp(precision: str) -> float:
    """The precision's accuracy tolerance in percentage points (fp32 0.1, fp16 0.5, int8 1.0)."""
    return TOLERANCES[precision].accuracy_pp if precision in TOLERANCES else 1.0


@dataclass
class EvalSettings:
    """Options of one engine evaluation."""

    model: str  # .onnx / .engine / .plan / .pt / run directory / Triton repository
    data: str | None = None  # dataset; default: the one the run trained on (absolute path in the metadata)
    run: str | None = None  # the run directory (or checkpoint) the engine was exported from
    split: str = "val"  # val, test or all
    provider: str = "auto"  # auto, cpu, cuda, tensorrt
    tolerance_pp: float | None = None  # default by precision
    batch_size: int = 512  # frames per engine call
    max_frames: int | None = None  # the first N frames of the split only (quick checks)
    report_dir: str | None = None  # where report.json / report.md / per_snr.png go
    overwrite: bool = False  # replace an existing report
    force: bool = False  # accept a --run that is not the engine's source checkpoint
    progress: bool = True
    notes: list[str] = field(default_factory=list)


def _dataset_path(cfg: EvalSettings, meta: dict[str, Any], base: Path) -> Path:
    if cfg.data:
        path = Path(cfg.data).expanduser()
        if not path.exists():
            raise DataError(f"--data {path}: no such file")
        return path
    recorded = str(meta.get("dataset") or "")
    if not recorded:
        raise DataError("the engine's metadata names no dataset; pass --data FILE")
    path = Path(recorded)
    if not path.is_absolute() and (base / path).exists():  # recorded relative to the model file (amc.export)
        return base / path
    if not path.exists():
        raise DataError(f"the engine's dataset {path} is not there (moved or deleted?); pass --data FILE")
    if not path.is_absolute():
        cfg.notes.append(f"the run recorded its dataset as the relative path {path}; resolved from the "
                         "current directory (re-train or pass --data to be sure)")
    return path


def _fit(engine: Engine, ds: H5Dataset) -> np.ndarray:
    """Engine class index -> dataset class index; refuses frame lengths and class sets that do not fit."""
    if ds.frame_length != engine.frame_length:
        raise DataError(f"{ds.path} holds frames of {ds.frame_length} samples, but the engine takes "
                        f"{engine.frame_length}: pass a dataset of {engine.frame_length}-sample frames (--data)")
    try:
        return np.asarray(check_classes(engine, ds.classes))
    except InputError:
        unknown = [c for c in ds.classes if c not in engine.classes]
        raise DataError(f"{ds.path} has class(es) {', '.join(unknown)} that the engine does not know (dataset: "
                        f"{', '.join(ds.classes)}; engine: {', '.join(engine.classes)})") from None


def _frames(ds: H5Dataset, meta: dict[str, Any], split: str) -> tuple[np.ndarray, str | None]:
    """(frame indices in split order, the split's index sha256; None for 'all')."""
    if split == "all":
        return np.arange(len(ds)), None
    identity = meta.get("split") or {}
    if not identity:
        raise DataError("the engine carries no split identity; pass --split all to evaluate every frame")
    try:
        s = split_from_identity(ds.labels, ds.snr, identity, ds.fingerprint())
    except ValueError as e:
        raise DataError(f"{ds.path}: {e}") from None
    if split == "test":
        if not len(s.test):
            raise DataError(f"the run has no test split (test fraction {identity.get('test_fraction')}); "
                            "use --split val or --split all")
        if identity.get("test_sha256") and s.identity["test_sha256"] != identity["test_sha256"]:
            raise DataError(f"{ds.path}: the test frames differ from the run's: pass the training dataset")
    return (s.val, identity.get("val_sha256", "")) if split == "val" else (s.test, identity.get("test_sha256", ""))


def _score(engine: Engine, ds: H5Dataset, index: np.ndarray, mapping: np.ndarray, ref: refs.Reference,
           cfg: EvalSettings, bands: dict | None) -> Scores:
    acc = Accumulator(len(ds.classes))
    preds, ref_preds, labels, snrs = [], [], [], []
    dlogit = 0.0
    with Bar("eval-engine", len(index), "frames", enabled=cfg.progress) as bar:
        for b in ds.iter_chunks(chunk=cfg.batch_size, index=index, with_clean=False):
            out = engine.run(b.x)
            pred = np.asarray(out["logits"]).argmax(1)
            acc.update(mapping[pred], b.labels, b.snr, np.asarray(out["eta"]).reshape(-1),
                       np.asarray(out["snr_db"]).reshape(-1))
            preds.append(pred)
            labels.append(b.labels)
            snrs.append(b.snr)
            if ref.model is not None:
                ref_logits = ref.model.run(b.x)["logits"]
                ref_preds.append(ref_logits.argmax(1))
                dlogit = max(dlogit, float(np.abs(ref_logits - out["logits"]).max()))
            bar.advance(len(b.x))
    ref_pred = (np.concatenate(ref_preds) if ref.model is not None
                else ref.predictions[: len(index)] if ref.predictions is not None else None)
    return Scores(engine_pred=np.concatenate(preds), labels=np.concatenate(labels), snr=np.concatenate(snrs),
                  reference_pred=ref_pred, summary=acc.summary(bands),
                  confusion=acc.confusion.tolist(), max_abs_dlogit=dlogit if ref.model is not None else None)  # type: ignore[union-attr]


def evaluate_engine(cfg: EvalSettings) -> dict[str, Any]:
    """Score the engine, compare with its reference, write the report; returns the report dict
    (``passed``, ``exit_code``: 0 pass, 1 drift). Raises AmcError for anything the user must fix."""
    choice("split", cfg.split, SPLITS)
    out = Path(cfg.report_dir) if cfg.report_dir else None
    if out is not None and out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file; the report is a directory (report.json, report.md, "
                              "per_snr.png): choose another path")
    if out is not None and any((out / name).exists() for name in ("best.pt", "last.pt", "config.json")):
        raise FileExistsError(f"--out {out} is a training run directory; write the report elsewhere (e.g. "
                              f"{out / 'eval'})")
    if out is not None and out.exists() and not cfg.overwrite and any(out.iterdir()):
        raise FileExistsError(f"{out} exists; pass --overwrite to replace the report there")
    if out is not None:  # --overwrite replaces only an earlier report (amc.files)
        check_replaceable(out, cfg.overwrite, lambda p: (p / "report.json").is_file(), "eval-engine report")
    engine = Engine.load(cfg.model, provider=cfg.provider)
    meta = engine.metadata
    precision = str(meta.get("precision", "fp32"))
    tol = cfg.tolerance_pp if cfg.tolerance_pp is not None else tolerance_pp(precision)
    bands = {k: tuple(v) for k, v in meta.get("bands", {}).items()} or None
    data = _dataset_path(cfg, meta, engine.path.parent)
    with open_dataset(data) as ds:
        mapping = _fit(engine, ds)
        index, split_sha = _frames(ds, meta, cfg.split)
        index = index[: cfg.max_frames]
        ref = refs.choose(engine, cfg.split, split_sha, len(index), cfg.run, cfg.force)
        scores = _score(engine, ds, index, mapping, ref, cfg, bands)
        classes = list(ds.classes)
    report = compare(scores, ref, mapping, tol, bands)
    report.update(model=str(cfg.model), backend=engine.backend, precision=precision,
                  checkpoint_sha256=meta.get("checkpoint_sha256"), data=str(data.resolve()), split=cfg.split,
                  classes=classes, eta_mae=scores.summary.get("eta_mae"),
                  snr_rmse_db=scores.summary.get("snr_rmse_db"), confusion=scores.confusion,
                  notes=[*cfg.notes, *ref.notes])
    if cfg.max_frames is not None:
        report["notes"].append(f"--max-frames {cfg.max_frames}: the first {len(index)} frames of the split only")
    if out is not None:
        write_report(out, report, bands or {})
    return report
