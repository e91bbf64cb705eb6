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

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amc.config import choice
from amc.data.io import DataError, H5Dataset, open_dataset
from amc.data.split import split_from_identity
from amc.eval import reference as refs
from amc.eval import sources
from amc.eval.drift import Scores, compare
from amc.eval.report import write_report
from amc.eval.sources import DEFAULT_MAX_FRAMES
from amc.export.parity import TOLERANCES
from amc.files import check_replaceable
from amc.metrics import Accumulator
from amc.progress import Bar
from amc.runtime import Engine, InputError, check_classes

SPLITS = ["auto", "val", "test", "all"]


def tolerance_pp(precision: str) -> float:
    """The precision's accuracy tolerance in percentage points (fp32 0.1, fp16 0.5, int8 1.0)."""
    return TOLERANCES[precision].accuracy_pp if precision in TOLERANCES else 1.0


@dataclass
class EvalSettings:
    """Options of one engine evaluation."""

    model: str  # .onnx / .engine / .plan / .pt / run directory / Triton repository
    data: str | None = None  # dataset; default: the one the run trained on (absolute path in the metadata)
    run: str | None = None  # the run directory (or checkpoint) the engine was exported from
    split: str = "auto"  # auto (val, then test, then fresh frames, as the tolerance needs), val, test or all
    provider: str = "auto"  # auto, cpu, cuda, tensorrt
    tolerance_pp: float | None = None  # default by precision
    batch_size: int = 512  # frames per engine call
    max_frames: int | None = None  # frames scored at most (auto: sources.DEFAULT_MAX_FRAMES)
    report_dir: str | None = None  # where report.json / report.md / per_snr.png go
    overwrite: bool = False  # replace an existing report
    force: bool = False  # accept a --run that is not the engine's source checkpoint
    card: dict[str, Any] | None = None  # a packaged model's card: the reference where nothing closer exists
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
        where = path if path.is_absolute() else base / path  # name the place it was looked for
        raise DataError(f"the engine's dataset {where} is not there (moved or deleted?); pass --data FILE")
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


def _frames(ds: H5Dataset, meta: dict[str, Any], split: str, optional: bool = False
            ) -> tuple[np.ndarray, str | None]:
    """(frame indices in split order, the split's index sha256; None for 'all'). optional: a missing test
    split is no frames, not an error."""
    if split == "all":
        return np.arange(len(ds)), None
    identity = meta.get("split") or {}
    if not identity:
        raise DataError("the engine carries no split identity; pass --split all to evaluate every frame")
    try:
        s = split_from_identity(ds.labels, ds.snr, identity, ds.fingerprints(), ds.probe())
    except ValueError as e:
        raise DataError(f"{ds.path}: {e}") from None
    if split == "test":
        if not len(s.test):
            if optional:
                return s.test, None
            raise DataError(f"the run has no test split (test fraction {identity.get('test_fraction')}); "
                            "use --split val or --split all")
        if identity.get("test_sha256") and s.identity["test_sha256"] != identity["test_sha256"]:
            raise DataError(f"{ds.path}: the test frames differ from the run's: pass the training dataset")
    return (s.val, identity.get("val_sha256", "")) if split == "val" else (s.test, identity.get("test_sha256", ""))


class _Tally:
    """Per-frame results gathered over the parts scored (val, test, fresh rounds)."""

    def __init__(self, n_classes: int, bands: dict | None):
        self.acc = Accumulator(n_classes)
        self.bands = bands
        self.preds: list[np.ndarray] = []
        self.ref_preds: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.snrs: list[np.ndarray] = []
        self.dlogit: float | None = None
        self.parts: list[dict[str, Any]] = []

    @property
    def frames(self) -> int:
        return int(sum(len(p) for p in self.preds))

    def scores(self) -> Scores:
        cat = np.concatenate
        return Scores(engine_pred=cat(self.preds), labels=cat(self.labels), snr=cat(self.snrs),
                      reference_pred=cat(self.ref_preds) if self.ref_preds else None,
                      summary=self.acc.summary(self.bands), confusion=np.asarray(self.acc.confusion).tolist(),
                      max_abs_dlogit=self.dlogit)


def _score(engine: Engine, batches: Iterable[Any], n: int, mapping: np.ndarray, ref: refs.Reference,
           tally: _Tally, what: str, progress: bool) -> None:
    """Score one part's batches (x, labels, snr) with the engine and, for a PyTorch reference, the reference."""
    preds, ref_preds = [], []
    with Bar(f"eval-engine {what}", n, "frames", enabled=progress) as bar:
        for b in batches:
            out = engine.run(b.x)
            pred = np.asarray(out["logits"]).argmax(1)
            tally.acc.update(mapping[pred], b.labels, b.snr, np.asarray(out["eta"]).reshape(-1),
                             np.asarray(out["snr_db"]).reshape(-1))
            preds.append(pred)
            tally.labels.append(np.asarray(b.labels))
            tally.snrs.append(np.asarray(b.snr))
            if ref.model is not None:
                ref_logits = ref.model.run(b.x)["logits"]
                ref_preds.append(ref_logits.argmax(1))
                tally.dlogit = max(tally.dlogit or 0.0, float(np.abs(ref_logits - out["logits"]).max()))
            bar.advance(len(b.x))
    got = np.concatenate(preds)
    tally.preds.append(got)
    if ref.model is not None:
        tally.ref_preds.append(np.concatenate(ref_preds))
    elif ref.predictions is not None:
        tally.ref_preds.append(ref.predictions[: len(got)])
    tally.parts.append({"part": what, "frames": int(len(got)), "reference": ref.kind})


def _check_out(out: Path | None, overwrite: bool) -> None:
    if out is not None and out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file; the report is a directory (report.json, report.md, "
                              "per_snr.png): choose another path")
    if out is not None and any((out / name).exists() for name in ("best.pt", "last.pt", "config.json")):
        raise FileExistsError(f"--out {out} is a training run directory; write the report elsewhere (e.g. "
                              f"{out / 'eval'})")
    if out is not None and out.exists() and not overwrite and any(out.iterdir()):
        raise FileExistsError(f"{out} exists; pass --overwrite to replace the report there")
    if out is not None:  # --overwrite replaces only an earlier report (amc.files)
        check_replaceable(out, overwrite, lambda p: (p / "report.json").is_file(), "eval-engine report")


def _parts_text(parts: list[dict[str, Any]]) -> str:
    return " + ".join(f"{p['part']} ({p['frames']:,})" for p in parts)


def evaluate_engine(cfg: EvalSettings) -> dict[str, Any]:
    """Score the engine, compare with its reference, write the report; returns the report dict
    (``verdict``, ``exit_code``: 0 PASS, 1 DRIFT, 4 INCONCLUSIVE). Raises AmcError for anything the
    user must fix."""
    choice("split", cfg.split, SPLITS)
    out = Path(cfg.report_dir) if cfg.report_dir else None
    _check_out(out, cfg.overwrite)
    engine = Engine.load(cfg.model, provider=cfg.provider)
    meta = engine.metadata
    precision = str(meta.get("precision", "fp32"))
    tol = cfg.tolerance_pp if cfg.tolerance_pp is not None else tolerance_pp(precision)
    bands = {k: tuple(v) for k, v in meta.get("bands", {}).items()} or None
    data = _dataset_path(cfg, meta, engine.path.parent)
    budget = cfg.max_frames if cfg.max_frames is not None else (DEFAULT_MAX_FRAMES if cfg.split == "auto" else None)
    notes: list[str] = []
    with open_dataset(data) as ds:
        mapping = _fit(engine, ds)
        classes = list(ds.classes)
        tally = _Tally(len(classes), bands)
        first: refs.Reference | None = None
        for part in (["val", "test"] if cfg.split == "auto" else [cfg.split]):
            index, split_sha = _frames(ds, meta, part, cfg.split == "auto" and part == "test")
            left = None if budget is None else budget - tally.frames
            if not len(index) or (left is not None and left <= 0):
                continue
            index = index[:left]
            try:
                ref = refs.choose(engine, part, split_sha, len(index), cfg.run, cfg.force, cfg.card)
            except DataError as e:
                if first is None:
                    raise
                notes.append(f"the {part} split was not added: {str(e).split(': ', 1)[-1]}")
                break
            if first is not None and ref.paired != first.paired:
                notes.append(f"the {part} split was not added: its reference is "
                             f"{'paired' if ref.paired else 'unpaired'}, the {tally.parts[0]['part']} split's not")
                break
            first = first or ref
            _score(engine, ds.iter_chunks(chunk=cfg.batch_size, index=index, with_clean=False), len(index), mapping,
                   ref, tally, part, cfg.progress)
            report = compare(tally.scores(), first, mapping, tol, bands)
            if cfg.split != "auto" or report["verdict"] != "INCONCLUSIVE" or not first.paired:
                break
        assert first is not None
        if cfg.split == "auto" and report["verdict"] == "INCONCLUSIVE":
            report = _fresh(cfg, engine, ds, mapping, first, tally, tol, bands, budget, report, notes)
    final = tally.scores()
    report.update(model=str(cfg.model), backend=engine.backend, precision=precision,
                  checkpoint_sha256=meta.get("checkpoint_sha256"), data=str(data.resolve()), split=cfg.split,
                  frames_from=_parts_text(tally.parts), parts=tally.parts,
                  classes=classes, eta_mae=final.summary.get("eta_mae"), snr_rmse_db=final.summary.get("snr_rmse_db"),
                  confusion=final.confusion,
                  notes=[*cfg.notes, *first.notes, *notes])
    if cfg.max_frames is not None:
        report["notes"].append(f"--max-frames {cfg.max_frames}: {tally.frames} frames scored at most")
    if out is not None:
        write_report(out, report, bands or {})
    return report


def _fresh(cfg: EvalSettings, engine: Engine, ds: H5Dataset, mapping: np.ndarray, first: refs.Reference,
           tally: _Tally, tol: float, bands: dict | None, budget: int | None, report: dict[str, Any],
           notes: list[str]) -> dict[str, Any]:
    """Rounds of fresh frames from the file's generator settings while the verdict stays INCONCLUSIVE."""
    gen = sources.generator_settings(ds)
    if gen is None:
        notes.append(f"INCONCLUSIVE on the run's splits, and no fresh frames can be made: {ds.path} records no "
                     "generator settings (imported data); pass more labelled frames with --data FILE --split all")
        return report
    try:
        ref = refs.choose(engine, "all", None, 0, cfg.run, cfg.force)
    except DataError as e:
        notes.append(f"INCONCLUSIVE on the run's splits, and fresh frames need the source PyTorch model as "
                     f"their reference: {str(e).split(': ', 1)[-1]}")
        return report
    for round_ in range(sources.ROUNDS):
        want = sources.frames_wanted(report, tally.frames)
        left = None if budget is None else budget - tally.frames
        if want is None or want <= 0:
            break
        if left is not None and left <= 0:
            notes.append(f"INCONCLUSIVE within the frame budget ({budget:,} frames; about {tally.frames + want:,} "
                         "would resolve the tolerance): raise --max-frames")
            break
        plan = sources.fresh_plan(gen, min(want, left) if left is not None else want, round_)
        n = len(plan.class_names) * len(plan.snrs) * plan.frames_per_class_snr
        _score(engine, sources.fresh_batches(plan, cfg.batch_size), n, mapping, ref, tally,
               f"fresh seed {plan.seed}", cfg.progress)
        report = compare(tally.scores(), ref, mapping, tol, bands)
        if report["verdict"] != "INCONCLUSIVE":
            break
    report["reference"] = {**first.to_dict(), "description": f"{first.description}; on fresh frames "
                           f"{ref.description}"} if tally.parts[-1]["reference"] != first.kind else first.to_dict()
    return report
