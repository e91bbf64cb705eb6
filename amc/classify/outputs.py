"""What ``amc classify`` writes: per-window rows (JSONL / CSV) and SigMF annotations.

Rows stream into a temporary file renamed into place when the whole recording is done, so an
interrupted or failed run leaves no half-written output (``-`` streams JSONL to stdout instead).
Annotations go into SigMF metadata, validated with ``sigmf``'s own validator before the atomic rename:

* a SigMF recording: its own ``.sigmf-meta`` gains the annotations (everything else is kept as read;
  annotations an earlier run made with the same model are replaced, others are kept);
* a raw IQ file ``NAME``: ``NAME.sigmf-meta`` beside it, a non-conforming-dataset recording
  (``core:dataset`` = ``NAME``), so SigMF tools and the next ``amc classify NAME`` read it directly;
* an explicit ``--annotations PATH`` (and any stdin stream): a metadata-only file
  (``core:metadata_only``) with the stream's datatype, rate and frequency.

Each annotation carries ``core:sample_start``, ``core:sample_count``, ``core:label``,
``core:freq_lower_edge`` / ``core:freq_upper_edge`` (RF when the centre frequency is known, else
relative to baseband, as the SigMF spec asks), ``core:generator`` and ``core:comment``, plus the
``amc`` extension: ``amc:probability``, ``amc:snr_db``, ``amc:windows``, ``amc:model`` and
``amc:model_sha256``.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import numpy as np

from amc import __version__, jsonio
from amc.classify.segments import Segment
from amc.classify.sources import Recording, SourceError
from amc.classify.windows import WindowBatch
from amc.files import atomic_path

EXTENSION = {"name": "amc", "version": "1.0.0", "optional": True}
CSV_FIELDS = ["sample_start", "time_s", "label", "class", "prob", "class2", "prob2", "class3", "prob3", "eta",
              "snr_db", "tail"]


def rows_format(path: str) -> str:
    if path == "-":
        return "jsonl"
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise SourceError(f"--rows {path}: unknown suffix '{suffix}'; use .jsonl or .csv (or '-' for JSONL on stdout)")


class RowWriter:
    """Writes one row per window to an open text file."""

    def __init__(self, fh: IO[str], fmt: str, classes: list[str], names: list[str], sample_rate: float,
                 has_snr: bool, flush: bool = False):
        self.fh, self.fmt = fh, fmt
        self.flush = flush  # a pipe (--rows -): each batch's rows go out as soon as they are made
        self.classes, self.names = classes, names
        self.rate = sample_rate
        self.has_snr = has_snr
        self.k = min(3, len(classes))
        self.csv = csv.writer(fh, lineterminator="\n") if fmt == "csv" else None
        if self.csv is not None:
            self.csv.writerow(CSV_FIELDS)

    def write(self, wb: WindowBatch, label: np.ndarray) -> None:
        top = np.argsort(-wb.probs, axis=1, kind="stable")[:, : self.k]
        p = np.take_along_axis(wb.probs, top, 1)
        cls, names = self.classes, self.names
        eta = wb.eta if self.has_snr else [None] * len(label)
        snr = wb.snr_db if self.has_snr else [None] * len(label)
        rnd = _round
        if self.csv is not None:
            for i in range(len(label)):
                tops = [v for j in range(self.k) for v in (cls[top[i, j]], f"{p[i, j]:.4f}")]
                tops += [""] * (6 - len(tops))  # fewer than 3 classes: empty columns
                self.csv.writerow([int(wb.start[i]), f"{wb.start[i] / self.rate:.6f}", names[label[i]], *tops,
                                   "" if eta[i] is None else f"{eta[i]:.4f}",
                                   "" if snr[i] is None else f"{snr[i]:.2f}", int(wb.tail[i])])
        else:
            lines = []
            for i in range(len(label)):
                row = {"sample_start": int(wb.start[i]), "time_s": round(wb.start[i] / self.rate, 6),
                       "label": names[label[i]], "class": cls[top[i, 0]], "prob": rnd(p[i, 0], 4),
                       "top3": [[cls[top[i, j]], rnd(p[i, j], 4)] for j in range(self.k)],
                       "eta": rnd(eta[i], 4), "snr_db": rnd(snr[i], 2), "tail": bool(wb.tail[i])}
                lines.append(jsonio.dumps(row))
            self.fh.write("\n".join(lines) + "\n")
        if self.flush:
            self.fh.flush()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _round(v: Any, nd: int) -> float | None:
    return None if v is None else round(float(v), nd)


def stdout_text() -> IO[str]:
    return sys.stdout


# -- SigMF annotations --------------------------------------------------------------------------
def annotations_target(rec: Recording, explicit: str | None) -> tuple[Path, str] | None:
    """(path, mode) of the annotations file: mode 'update' (a SigMF recording's own metadata or an
    earlier amc file), 'ncd' (new metadata for a raw file) or 'meta-only'; None when there is no place."""
    if explicit is not None:
        p = Path(explicit)
        if not p.name.endswith(".sigmf-meta"):
            raise SourceError(f"--annotations {explicit}: SigMF metadata files end in .sigmf-meta")
        if rec.meta_path is not None and p.resolve() == rec.meta_path.resolve():
            return rec.meta_path, "update"  # the recording's own metadata: add to it, never replace it
        return p, "meta-only"
    if rec.kind == "sigmf":
        assert rec.meta_path is not None
        return rec.meta_path, "update"
    if rec.kind == "raw":
        assert rec.data_path is not None
        return rec.data_path.with_name(rec.data_path.name + ".sigmf-meta"), "ncd"
    return None


def build_annotations(rec: Recording, segments: list[Segment], band: tuple[float, float], model: dict[str, Any],
                      mode: str) -> dict[str, Any]:
    """The metadata dict to write: the recording's own (update) or a new one, with amc's annotations."""
    if mode == "update":
        meta = copy.deepcopy(rec.metadata)
    else:
        glob = {"core:datatype": rec.fmt.datatype, "core:sample_rate": rec.sample_rate,
                "core:version": _sigmf_version(), "core:recorder": "amc classify",
                "core:description": f"amc classify annotations of {rec.name}"}
        if mode == "ncd":
            assert rec.data_path is not None
            glob["core:dataset"] = rec.data_path.name
        else:
            glob["core:metadata_only"] = True
        capture: dict[str, Any] = {"core:sample_start": 0,
                                   "core:datetime": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        if rec.center_freq is not None:
            capture["core:frequency"] = rec.center_freq
        meta = {"global": glob, "captures": [capture], "annotations": []}
    glob = meta["global"]
    exts = glob.setdefault("core:extensions", [])
    if not any(e.get("name") == "amc" for e in exts):
        exts.append(dict(EXTENSION))
    keep = [a for a in meta.get("annotations", []) if a.get("amc:model_sha256") != model["sha256"]]
    new = []
    for s in segments:
        a: dict[str, Any] = {"core:sample_start": s.start, "core:sample_count": s.count, "core:label": s.label[:20],
                             "core:generator": f"amc {__version__}"}
        freq = rec.frequency_at(s.start)
        base = freq if freq is not None else 0.0
        a["core:freq_lower_edge"], a["core:freq_upper_edge"] = base + band[0], base + band[1]
        snr = "" if s.snr_db is None else f", SNR estimate {s.snr_db:+.1f} dB"
        a["core:comment"] = f"{s.label} (p {s.prob:.2f}{snr}, {s.windows} window{'' if s.windows == 1 else 's'})"
        a["amc:probability"] = round(s.prob, 4)
        if s.snr_db is not None:
            a["amc:snr_db"] = round(s.snr_db, 2)
        a["amc:windows"] = s.windows
        a["amc:model"] = model["name"]
        a["amc:model_sha256"] = model["sha256"]
        new.append(a)
    meta["annotations"] = sorted(keep + new, key=lambda a: a.get("core:sample_start", 0))
    return meta


def _sigmf_version() -> str:
    from sigmf import schema

    return str(schema.get_schema()["properties"]["global"]["properties"]["core:version"].get("default", "1.2.0"))


def validate(meta: dict[str, Any]) -> str | None:
    """sigmf's validator: None when valid, else its first message line."""
    import jsonschema  # sigmf's own dependency, imported with it
    from sigmf import schema
    from sigmf.validate import validate as sigmf_validate

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)  # undeclared extensions: an error for our files
            sigmf_validate(meta, schema.get_schema())
    except (jsonschema.exceptions.ValidationError, DeprecationWarning) as e:
        return str(e).splitlines()[0][:200]
    return None


def write_annotations(rec: Recording, segments: list[Segment], band: tuple[float, float], model: dict[str, Any],
                      explicit: str | None, overwrite: bool) -> tuple[Path, list[str]] | None:
    """Validate and atomically write the annotations; returns (path, notes) or None (nowhere to write)."""
    target = annotations_target(rec, explicit)
    if target is None:
        return None
    path, mode = target
    notes: list[str] = []
    if mode != "update" and path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it (or --annotations PATH)")
    if mode == "update":
        before = validate(rec.metadata)
        if before is not None:
            notes.append(f"{path.name} did not pass sigmf's validator before amc touched it ({before})")
    meta = build_annotations(rec, segments, band, model, mode)
    problem = validate(meta)
    if problem is not None and not (mode == "update" and notes):
        raise SourceError(f"the annotations do not pass sigmf's validator ({problem}); nothing was written")
    with atomic_path(path, suffix=".tmp") as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
    return path, notes
