"""eval-engine reports: report.json (every field), report.md (the same, readable), per_snr.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from amc.files import atomic_path
from amc.plots import plot_per_snr


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.2f} %"


def to_markdown(r: dict[str, Any]) -> str:
    verdict = "PASS" if r["passed"] else "DRIFT"
    lines = [
        f"# eval-engine: {verdict}",
        "",
        f"- model: `{r['model']}` ({r['backend']}, {r['precision']})",
        f"- data: `{r['data']}`, split `{r['split']}`, {r['frames']} frames",
        f"- overall: train {_pct(r['train_acc'])}, engine {_pct(r['engine_acc'])}, "
        f"delta {r['delta_pp']:+.2f} pp (tolerance {r['tolerance_pp']} pp)",
        f"- rule: {r['rule']}",
    ]
    if "torch_agreement" in r:
        lines.append(f"- argmax agreement with PyTorch: {_pct(r['torch_agreement'])}, "
                     f"max |Δlogit| {r['torch_max_abs_dlogit']:.3g}")
    if r.get("eta_mae") is not None:
        lines.append(f"- eta MAE {r['eta_mae']:.4f}, SNR-estimate RMSE {r['snr_rmse_db']:.2f} dB")
    if r["drifted_snrs"]:
        lines.append(f"- drifted SNRs (dB): {', '.join(f'{s:g}' for s in r['drifted_snrs'])}")
    lines += ["", "| band | train | engine | delta (pp) |", "|---|---|---|---|"]
    for name, b in r["bands"].items():
        lines.append(f"| {name} | {_pct(b['train'])} | {_pct(b['engine'])} | {b['delta_pp']:+.2f} |")
    lines += ["", "| SNR (dB) | frames | train | engine | delta (pp) | drift |", "|---|---|---|---|---|---|"]
    for row in r["per_snr"]:
        d = "—" if row["delta_pp"] is None else f"{row['delta_pp']:+.2f}"
        lines.append(f"| {row['snr']:g} | {row['n']} | {_pct(row['train'])} | {_pct(row['engine'])} | {d} | "
                     f"{'yes' if row['drift'] else 'no'} |")
    return "\n".join(lines) + "\n"


def write_report(out: Path, report: dict[str, Any], bands: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "report.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2, default=float))
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(to_markdown(report))
    curves = {"training (val)": {f"{r['snr']:g}": r["train"] for r in report["per_snr"] if r["train"] is not None},
              "engine": {f"{r['snr']:g}": r["engine"] for r in report["per_snr"]}}
    plot_per_snr(out / "per_snr.png", curves, bands, title=f"eval-engine ({report['precision']})")
