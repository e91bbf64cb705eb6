"""The notes' ablation table for any set of runs: best val_acc, band means, deltas vs the first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from amc.data.io import DataError


def load_summary(run: str | Path) -> dict[str, Any]:
    path = Path(run) / "summary.json"
    if not path.is_file():
        raise DataError(f"{run}: no summary.json; is it a finished `amc train` run directory?")
    return json.loads(path.read_text())


def compare_runs(runs: list[str | Path] | list[Path]) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        s = load_summary(run)
        rows.append({"run": Path(run).name, "preset": s.get("preset", ""), "best_val_acc": s["best_val_acc"],
                     "best_epoch": s["best_epoch"], "bands": {k: s["bands"][k] for k in ("low", "mid", "high")}})
    base = rows[0]
    for r in rows:
        r["delta"] = {"val_acc": r["best_val_acc"] - base["best_val_acc"],
                      **{k: r["bands"][k] - base["bands"][k] for k in ("low", "mid", "high")}}
    return rows


def to_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| Run | Best Val Acc (epoch) | Low-SNR Mean | Mid-SNR Mean | High-SNR Mean | Δ val_acc | Δ low |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        b, d = r["bands"], r["delta"]
        lines.append(f"| {r['run']} | {r['best_val_acc']:.4f} ({r['best_epoch']}) | {b['low']:.4f} | {b['mid']:.4f} "
                     f"| {b['high']:.4f} | {d['val_acc']:+.4f} | {d['low']:+.4f} |")
    return "\n".join(lines)
