"""What an engine is compared with: like with like, for exactly the frames being scored.

In order of preference, for the frames ``amc eval-engine`` scores:

==================  ==============================================================  =========
reference kind      what it is                                                      test
==================  ==============================================================  =========
``training``        the run's own reference for this split (``val``, ``test``): the  paired
                    source model's prediction for every frame, stored by training
                    in ``best.pt`` and carried in the export metadata
``pytorch``         the source PyTorch checkpoint scored now on the same frames     paired
                    (``--split all``, another dataset file, or an engine exported
                    before references were stored); from ``--run``, else from the
                    path the metadata records, if that file is unchanged
``training-counts`` the run's per-SNR counts without per-frame predictions (old     unpaired
                    artifacts whose checkpoint is not at hand)
``card``            a packaged model's card: its per-SNR counts on fresh frames of   unpaired
                    its generator (any file of its classes, no checkpoint needed)
==================  ==============================================================  =========

Anything else is a one-line refusal (``DataError``, exit 2) saying what to pass. ``--run`` must name the
checkpoint the engine was exported from (its sha256 is in the metadata); another one is refused
unless ``--force`` (then it is the reference, scored on the same frames).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amc.checkpoint import decode_predictions, sha256_file
from amc.errors import DataError
from amc.runtime import Engine

KINDS = ("training", "pytorch", "training-counts", "card")


@dataclass
class Reference:
    kind: str  # one of KINDS
    description: str  # one line for the report
    paired: bool
    predictions: np.ndarray | None = None  # training: predicted class per frame of the split (engine class order)
    model: Engine | None = None  # pytorch: the source model, run on the same batches as the engine
    record: dict[str, Any] | None = None  # training-counts: acc, per_snr, counts
    checkpoint: str | None = None  # the source checkpoint, where known
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "description": self.description, "paired": self.paired,
                "checkpoint": self.checkpoint, "notes": list(self.notes)}


def _sha(path: Path) -> str:
    try:
        return sha256_file(path)
    except OSError as e:
        raise DataError(f"{path}: cannot read the checkpoint ({e.strerror or e})") from None


def _run_checkpoint(run: Path, meta: dict[str, Any]) -> Path:
    if run.is_file():
        return run
    if not run.is_dir():
        raise DataError(f"--run {run}: no such run directory or checkpoint file")
    names = [Path(str(meta.get("checkpoint") or "best.pt")).name, "best.pt", "last.pt"]
    found = [run / n for n in dict.fromkeys(names) if (run / n).is_file()]
    if not found:
        raise DataError(f"--run {run}: no {' or '.join(dict.fromkeys(names))} in this directory; pass the run "
                        "directory the engine was exported from")
    want = meta.get("checkpoint_sha256")
    return next((p for p in found if want and _sha(p) == want), found[0])


def source_checkpoint(engine: Engine, run: str | None, force: bool) -> tuple[Path | None, str, list[str]]:
    """(the engine's source checkpoint or None, why there is none, notes). Refuses a --run whose checkpoint
    is not the engine's source unless force."""
    meta = engine.metadata
    want = str(meta.get("checkpoint_sha256") or "")
    if run:
        path = _run_checkpoint(Path(run), meta)
        got = _sha(path)
        if want and got != want:
            if not force:
                where = meta.get("checkpoint") or "path not recorded"
                raise DataError(f"--run {run}: {path.name} (sha256 {got[:12]}) is not the checkpoint this engine "
                                f"was exported from (sha256 {want[:12]}, {where}); pass that run, or add --force to "
                                "compare with this one anyway")
            return path, "", [f"--force: {path} is not the engine's source checkpoint (sha256 {got[:12]}, the "
                              f"engine's is {want[:12]}); it is the reference anyway"]
        return path, "", []
    if engine.backend == "torch":
        return engine.path, "", []
    recorded = meta.get("checkpoint")
    if not recorded:
        return None, "the engine's metadata names no source checkpoint (exported before amc recorded it)", []
    path = Path(str(recorded))
    if not path.is_absolute():  # recorded relative to the model file's directory (amc.export.metadata)
        path = engine.path.parent / path
    if not path.is_file():
        return None, f"its source checkpoint {path} is no longer there", []
    if want and _sha(path) != want:
        return None, f"its source checkpoint {path} has changed since the export (sha256 differs)", []
    return path, "", []


def _load_model(path: Path, engine: Engine) -> Engine:
    if engine.backend == "torch" and path == engine.path:
        return engine
    model = Engine.load(path, provider="auto")
    if model.classes != engine.classes:
        raise DataError(f"{path} was trained on classes {', '.join(model.classes)}; the engine on "
                        f"{', '.join(engine.classes)}: they cannot be compared")
    if model.frame_length != engine.frame_length:
        raise DataError(f"{path} takes {model.frame_length}-sample frames, the engine {engine.frame_length}: "
                        "they cannot be compared")
    return model


def _stored(meta: dict[str, Any], split: str) -> dict[str, Any] | None:
    rec = (meta.get("reference") or {}).get(split)
    if rec:
        return dict(rec)
    tm = meta.get("train_metrics") or {}
    if split == "val" and tm.get("per_snr"):  # engines exported before per-split references
        return {"split": "val", "acc": tm.get("val_acc"), "per_snr": tm["per_snr"], "counts": tm.get("counts") or {},
                "epoch": meta.get("epoch")}
    return None


def from_card(card: dict[str, Any]) -> Reference:
    """A packaged model's card as an unpaired reference: its per-SNR counts on its evaluation frames."""
    e = card.get("evaluation") or {}
    d = e.get("data") or {}
    return Reference("card", f"the packaged model's card ({card.get('name', 'packaged model')}): per-SNR counts "
                     f"on {e.get('frames', 0):,} fresh frames (seed {d.get('seed')}), unpaired", False,
                     record={"per_snr": e.get("per_snr") or {}, "counts": e.get("counts") or {},
                             "acc": e.get("overall")},
                     checkpoint=None)


def choose(engine: Engine, split: str, split_sha: str | None, frames: int, run: str | None,
           force: bool, card: dict[str, Any] | None = None) -> Reference:
    """The reference for `frames` frames of `split` ('all' or another file: split_sha None); `card`: a packaged
    model's card, the reference of last resort."""
    meta = engine.metadata
    ckpt, why_not, notes = source_checkpoint(engine, run, force)
    forced = bool(notes)  # --force with another run: that run's model is the reference, not the stored one
    rec = _stored(meta, split) if split_sha is not None and not forced else None
    if rec and rec.get("predictions") and rec.get("index_sha256") == split_sha and int(rec["frames"]) >= frames:
        pred = decode_predictions(rec)
        assert pred is not None
        return Reference("training", f"the training run's {split} predictions (best checkpoint, epoch "
                         f"{rec.get('epoch')}), same frames", True, predictions=pred,
                         checkpoint=str(ckpt) if ckpt else meta.get("checkpoint"), notes=notes)
    if ckpt is not None:
        own = engine.backend == "torch" and ckpt == engine.path
        return Reference("pytorch", f"the source PyTorch model {ckpt}{' (the engine itself)' if own else ''}, "
                         "scored on the same frames", True, model=_load_model(ckpt, engine), checkpoint=str(ckpt),
                         notes=notes)
    if rec and rec.get("per_snr"):
        return Reference("training-counts", f"the training run's {split} per-SNR counts (epoch {rec.get('epoch')}; "
                         "no per-frame predictions stored, so unpaired)", False, record=rec,
                         checkpoint=meta.get("checkpoint"))
    if card is not None and (card.get("evaluation") or {}).get("per_snr"):
        ref = from_card(card)
        ref.notes.append(f"no reference for these frames ({why_not}): compared with the packaged model's card, "
                         "unpaired; a difference says these frames differ from the card's, not that the file is "
                         "broken")
        return ref
    what = (f"the engine's metadata holds no {split} reference" if split_sha is not None
            else "the run's references cover its val and test splits only")
    raise DataError(f"no reference for these frames: {what}, and {why_not}; pass --run RUN_DIR (the run the "
                    "engine was exported from) to score its PyTorch model on the same frames")
