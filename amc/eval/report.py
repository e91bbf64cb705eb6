"""eval-engine reports: report.json (every field), report.md (the same, readable), per_snr.png, and
the rows of the short terminal summary (bands, drifted SNRs, verdict)."""

from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path
from typing import Any

from amc import jsonio
from amc.files import atomic_path
from amc.plots import plot_engine_drift
from amc.stats import level_text


def pct(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}"


def pp(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:+.2f}"


def interval(ci: list[float] | None) -> str:
    return "-" if ci is None else f"[{ci[0]:+.1f}, {ci[1]:+.1f}]"


def snrs(values: list[float]) -> str:
    return ", ".join(f"{s:g}" for s in values) if values else "none"


def headline(r: dict[str, Any]) -> list[str]:
    """The lines above the tables: verdict, what was compared with what, the rule, overall numbers (one
    logical line each; ``wrapped`` fits them to a terminal)."""
    ov = r["overall"]
    test = f"McNemar p {ov['p']:.2g}" if ov.get("p") is not None else "Newcombe (unpaired)"
    lines = [f"eval-engine: {r['verdict']}" + (f" (drift at SNR {snrs(r['drifted_snrs'])} dB)" if r["drifted_snrs"]
                                               else " (overall drift)" if ov["drift"] else ""),
             f"engine:    {r['model']} ({r['backend']}, {r['precision']})",
             f"frames:    {r['frames']} of {r['data']}, split {r['split']}",
             f"reference: {r['reference']['description']}",
             f"rule:      {r['rule']['text']}",
             f"overall:   reference {pct(r['reference_acc'])} %, engine {pct(r['engine_acc'])} %, "
             f"Δ {pp(r['delta_pp'])} pp",
             f"test:      {level_text(ov['level'])} interval of Δ {interval(ov['ci_pp'])} pp, {test}"]
    if r.get("agreement") is not None:
        extra = (f", max |Δlogit| {r['torch_max_abs_dlogit']:.3g}" if r.get("torch_max_abs_dlogit") is not None else "")
        lines.append(f"agreement: {pct(r['agreement'])} % of frames get the reference's class{extra}")
    if r.get("eta_mae") is not None:
        lines.append(f"estimates: eta MAE {r['eta_mae']:.4f}, SNR RMSE {r['snr_rmse_db']:.2f} dB")
    lines += [f"note: {n}" for n in r.get("notes", [])]
    return lines


def wrapped(lines: list[str], width: int = 80) -> list[str]:
    """Lines of at most `width` columns where the words allow it, continuations indented under the value."""
    out = []
    for line in lines:
        key = re.match(r"[a-z]+:\s+", line)
        indent = " " * (len(key.group()) if key else 2)
        glued = re.sub(r"(\S) (%|pp|dB)(?=[\s,;.)]|$)", "\\1\x00\\2", line)  # a number keeps its unit
        out += [w.replace("\x00", " ") for w in textwrap.wrap(glued, width, subsequent_indent=indent,
                                                              break_long_words=False, break_on_hyphens=False)] or [""]
    return out


BAND_TITLE = "bands: means of the per-SNR accuracies (shown, not tested)"
BAND_COLUMNS = ["band", "SNR dB", "frames", "ref %", "engine %", "Δ pp", "drifted SNRs"]
SNR_COLUMNS = ["SNR dB", "frames", "ref %", "engine %", "Δ pp", "interval pp", "p", "drift"]


def band_rows(r: dict[str, Any]) -> list[list[str]]:
    return [[name, f"{b['range'][0]:g}..{b['range'][1]:g}", str(b["frames"]), pct(b["reference"]), pct(b["engine"]),
             pp(b["delta_pp"]), snrs(b["drifted_snrs"])] for name, b in r["bands"].items()]


def snr_rows(r: dict[str, Any], only_drifted: bool = False) -> list[list[str]]:
    return [[f"{row['snr']:g}", str(row["n"]), pct(row["reference"]), pct(row["engine"]), pp(row["delta_pp"]),
             interval(row["ci_pp"]), "-" if row.get("p") is None else f"{row['p']:.2g}",
             "DRIFT" if row["drift"] else "no"] for row in r["per_snr"] if row["drift"] or not only_drifted]


def _md_table(columns: list[str], rows: list[list[str]]) -> list[str]:
    def cell(v: str) -> str:
        return str(v).replace("|", "\\|")

    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]]


def to_markdown(r: dict[str, Any]) -> str:
    head = headline(r)
    lines = [f"# {head[0]}", "", *[f"- {h}" for h in head[1:]], "", "## Bands", "",
             "Means of the per-SNR accuracies, shown, not tested: the verdict is per SNR and overall.", "",
             *_md_table(BAND_COLUMNS, band_rows(r)), "", "## Per SNR", "",
             *_md_table(SNR_COLUMNS, snr_rows(r)), "",
             f"Δ = engine - reference; intervals at {level_text(r['rule']['snr_level'])} per SNR "
             f"(Bonferroni); exit code {r['exit_code']}."]
    return "\n".join(lines) + "\n"


def write_report(out: Path, report: dict[str, Any], bands: dict) -> None:
    """report.json, report.md and per_snr.png in `out` (each written atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "report.json") as tmp:
        tmp.write_text(jsonio.dumps(report, indent=2) + "\n")
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(to_markdown(report))
    plot_engine_drift(out / "per_snr.png", report, bands)
