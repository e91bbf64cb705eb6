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

    Bands are whatever the runs defined; a band the first run lacks gets no delta."""
    rows = []
    for run in runs:
        s = load_summary(run)
        rows.append({"run": str(run), "preset": s.get("preset", ""), "best_val_acc": s["best_val_acc"],
                     "best_epoch": s["best_epoch"], "bands": dict(s["bands"])})
    base = rows[0]
    for r in rows:
        r["delta"] = {"val_acc": r["best_val_acc"] - base["best_val_acc"],
                      **{k: v - base["bands"][k] for k, v in r["bands"].items() if k in base["bands"]}}
    return rows


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
