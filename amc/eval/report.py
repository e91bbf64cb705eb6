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
    """An interval in pp, to the same 2 decimals as the Δ it brackets."""
    return "-" if ci is None else f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"


def snrs(values: list[float]) -> str:
    return ", ".join(f"{s:g}" for s in values) if values else "none"


def _why(r: dict[str, Any]) -> str:
    if r["verdict"] == "DRIFT":
        where = ([f"SNR {snrs(r['drifted_snrs'])} dB"] if r["drifted_snrs"] else []) + \
                [f"band {b}" for b in r.get("drifted_bands", [])] + (["overall"] if r["overall"]["drift"] else [])
        return f" (drift at {', '.join(where)})"
    if r["verdict"] == "INCONCLUSIVE":
        names = [lim["comparison"] for lim in r.get("limits", [])]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        return f" (the interval leaves ±{r['tolerance_pp']:g} pp: {shown})" if names else ""
    return ""


def resolve_lines(r: dict[str, Any]) -> list[str]:
    """For INCONCLUSIVE: how many frames would resolve the tolerance, and what drift these frames can see."""
    lims = [lim for lim in r.get("limits", []) if lim["total_frames_needed"] is not None]
    if r["verdict"] != "INCONCLUSIVE" or not lims:
        return []
    top = max(lims, key=lambda lim: lim["total_frames_needed"])
    mdd = max(lim["mdd_pp"] for lim in r["limits"])
    return [f"resolve:   about {top['total_frames_needed']:,} frames would resolve ±{r['tolerance_pp']:g} pp at the "
            f"rates seen (have {r['frames']:,}; {top['comparison']} limits); at these frames a drift under "
            f"≈ {mdd:.1f} pp can go unflagged"]


def headline(r: dict[str, Any]) -> list[str]:
    """The lines above the tables: verdict, what was compared with what, the rule, overall numbers (one
    logical line each; ``wrapped`` fits them to a terminal)."""
    ov = r["overall"]
    test = (f"Δ = 0: {'exact McNemar' if ov.get('paired') else 'Newcombe'} p {ov['p']:.2g}; |Δ| <= "
            f"{r['tolerance_pp']:g} pp: p {ov['p_beyond']:.2g}" +
            (f" (Holm {ov['p_holm']:.2g})" if ov.get("p_holm") is not None else ""))
    lines = [f"eval-engine: {r['verdict']}{_why(r)}",
             f"engine:    {r['model']} ({r['backend']}, {r['precision']})",
             f"frames:    {r['frames']} of {r['data']}, {r.get('frames_from') or 'split ' + r['split']}",
             f"reference: {r['reference']['description']}",
             f"rule:      {r['rule']['text']}",
             f"overall:   reference {pct(r['reference_acc'])} %, engine {pct(r['engine_acc'])} %, {r['summary']}",
             f"test:      {test}; {r['rule']['comparisons']} comparisons, {r['rule']['snrs_required']} of "
             f"{r['rule']['snrs_compared']} SNRs with frames enough to be required",
             *resolve_lines(r)]
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
        glued = re.sub(r"(\S) (%|pp|dB)(?=[\s,;.)\]:]|$)", "\\1\x00\\2", line)  # a number keeps its unit
        glued = re.sub(r"\[(\S+), (\S+)\]", "[\\1,\x00\\2]", glued)  # and an interval stays whole
        out += [w.replace("\x00", " ") for w in textwrap.wrap(glued, width, subsequent_indent=indent,
                                                              break_long_words=False, break_on_hyphens=False)] or [""]
    return out


BAND_TITLE = "bands: all frames of the band pooled, each a required comparison"
BAND_COLUMNS = ["band", "SNR dB", "frames", "ref %", "eng %", "Δ pp", "99 % CI pp", "verdict"]
SNR_COLUMNS = ["SNR dB", "frames", "ref %", "eng %", "Δ pp", "99 % CI pp", "p Holm", "verdict"]


def _status(row: dict[str, Any]) -> str:
    s = row.get("status", "-")
    return "DRIFT" if row.get("drift") else s if row.get("required", True) or s != "INCONCLUSIVE" else "open"


def band_rows(r: dict[str, Any]) -> list[list[str]]:
    return [[name, f"{b['range'][0]:g}..{b['range'][1]:g}", str(b["frames"]), pct(b["reference"]), pct(b["engine"]),
             pp(b["delta_pp"]), interval(b["ci_pp"]), _status(b)] for name, b in r["bands"].items()]


def snr_rows(r: dict[str, Any], only_drifted: bool = False) -> list[list[str]]:
    return [[f"{row['snr']:g}", str(row["n"]), pct(row["reference"]), pct(row["engine"]), pp(row["delta_pp"]),
             interval(row["ci_pp"]), "-" if row.get("p_holm") is None else f"{row['p_holm']:.2g}", _status(row)]
            for row in r["per_snr"] if row["drift"] or not only_drifted]


def _md_table(columns: list[str], rows: list[list[str]]) -> list[str]:
    def cell(v: str) -> str:
        return str(v).replace("|", "\\|")

    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]]


def to_markdown(r: dict[str, Any]) -> str:
    head = headline(r)
    lines = [f"# {head[0]}", "", *[f"- {h}" for h in head[1:]], "", "## Bands", "",
             "All frames of each band pooled; each band is a comparison PASS requires.", "",
             *_md_table(BAND_COLUMNS, band_rows(r)), "", "## Per SNR", "",
             *_md_table(SNR_COLUMNS, snr_rows(r)), "",
             f"Δ = engine - reference; {level_text(r['rule']['level'])} intervals; p Holm: the test of |Δ| <= "
             f"{r['tolerance_pp']:g} pp, Holm-adjusted over {r['rule']['comparisons']} comparisons. verdict: PASS "
             f"(interval inside ±{r['tolerance_pp']:g} pp), DRIFT, INCONCLUSIVE (required, unresolved) or open "
             "(too few frames to be required; a drift there "
             f"still counts). Exit code {r['exit_code']} (0 pass, 1 drift, 4 inconclusive)."]
    return "\n".join(lines) + "\n"


def write_report(out: Path, report: dict[str, Any], bands: dict) -> None:
    """report.json, report.md and per_snr.png in `out` (each written atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "report.json") as tmp:
        tmp.write_text(jsonio.dumps(report, indent=2) + "\n")
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(to_markdown(report))
    plot_engine_drift(out / "per_snr.png", report, bands)
