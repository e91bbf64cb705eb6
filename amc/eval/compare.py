"""The notes' ablation table for any set of runs: best val_acc, band means (any bands), deltas vs the first."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from amc.errors import DataError


def load_summary(run: str | Path) -> dict[str, Any]:
    path = Path(run) / "summary.json"
    if not path.is_file():
        raise DataError(f"{run}: no summary.json; is it a finished `amc train` run directory?")
    return json.loads(path.read_text())


def compare_runs(runs: list[str | Path] | list[Path]) -> list[dict[str, Any]]:
    """One row per run: best val_acc and epoch, band means, deltas against the first run.

    Bands are whatever the runs defined; a band the first run lacks, or one with other SNR edges, gets no delta.
    ``same_val`` says whether the run was validated on the first run's frames (same dataset fingerprint and
    validation split; None: a run too old to say): where not, its deltas compare accuracy on other data, and
    ``differences(rows)`` words the note the CLI prints."""
    rows = []
    for run in runs:
        s = load_summary(run)
        split = s.get("split") or {}
        rows.append({"run": str(run), "preset": s.get("preset", ""), "best_val_acc": s["best_val_acc"],
                     "best_epoch": s["best_epoch"], "bands": dict(s["bands"]), "band_edges": s.get("band_edges"),
                     "val_frames": {k: split.get(k) for k in ("fingerprint", "val_sha256")}})
    base = rows[0]
    for r in rows:
        ids = (r["val_frames"], base["val_frames"])
        r["same_val"] = None if not all(v["val_sha256"] for v in ids) else ids[0] == ids[1]
        same_edges = {k for k in r["bands"] if k in base["bands"] and not _edges_differ(r, base, k)}
        r["delta"] = {"val_acc": r["best_val_acc"] - base["best_val_acc"],
                      **{k: v - base["bands"][k] for k, v in r["bands"].items() if k in same_edges}}
    return rows


def _edges_differ(a: dict[str, Any], b: dict[str, Any], band: str) -> bool:
    ea, eb = (r.get("band_edges") or {} for r in (a, b))
    def edges(e: list[Any]) -> list[float]:  # strict JSON writes an open edge as null
        return [float(x) if x is not None else (-math.inf if i == 0 else math.inf) for i, x in enumerate(e)]

    return band in ea and band in eb and edges(ea[band]) != edges(eb[band])


def differences(rows: list[dict[str, Any]]) -> list[str]:
    """Notes on rows whose deltas do not compare like with like: other validation frames, other band edges."""
    base, notes = rows[0], []
    for r in rows[1:]:
        if r["same_val"] is False:
            fp, base_fp = r["val_frames"]["fingerprint"], base["val_frames"]["fingerprint"]
            what = (f"another dataset (fingerprint {fp} vs {base_fp})" if fp != base_fp
                    else "another validation split of the same dataset")
            notes.append(f"{r['run']} was validated on {what} than {base['run']}: its deltas compare accuracy "
                         "on different frames")
        elif r["same_val"] is None:
            notes.append(f"{r['run']} or {base['run']} does not record its validation frames: the deltas may "
                         "compare different data")
        moved = [k for k in r["bands"] if k in base["bands"] and _edges_differ(r, base, k)]
        if moved:
            notes.append(f"{r['run']} defines band(s) {', '.join(moved)} with other SNR edges: no delta")
    return notes


def _cell(value: float | None, delta: float | None, first: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{100 * value:.2f}"
    if first or delta is None or math.isnan(delta):
        return text
    return f"{text} ({100 * delta:+.2f})"


def table_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """(columns, cells) shared by the terminal table and --markdown: accuracy in %, deltas vs the first
    run in percentage points, in brackets."""
    bands: list[str] = []
    for r in rows:
        bands += [b for b in r["bands"] if b not in bands]
    columns = ["run", "epoch", "val_acc %", *[f"{b} %" for b in bands]]
    cells = []
    for i, r in enumerate(rows):
        cells.append([r["run"], str(r["best_epoch"]), _cell(r["best_val_acc"], r["delta"]["val_acc"], i == 0),
                      *[_cell(r["bands"].get(b), r["delta"].get(b), i == 0) for b in bands]])
    return columns, cells
