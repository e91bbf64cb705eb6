"""What a scan writes: one row per transmission (JSONL / CSV), SigMF annotations with frequency edges,
and the spectrogram with a labelled box around each transmission."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from amc import __version__
from amc.classify.outputs import EXTENSION, annotations_target, build_annotations, rows_format, validate
from amc.classify.plot import TimeBins
from amc.classify.scan import Classified
from amc.classify.sources import Recording, SourceError
from amc.files import atomic_path

FIELDS = ["start_s", "stop_s", "sample_start", "sample_count", "center_offset_hz", "center_freq_hz", "bandwidth_hz",
          "freq_lower_edge", "freq_upper_edge", "snr_db", "label", "prob", "windows", "top3"]


def write_rows(path: str, txs: list[Classified], rec: Recording, stdout: Any = None) -> None:
    fmt = rows_format(path)
    dicts = [t.as_dict(rec.sample_rate, rec.center_freq) for t in txs]
    if path == "-":
        for d in dicts:
            stdout.write(json.dumps(d) + "\n")
        return
    with atomic_path(path, suffix=".tmp") as tmp, open(tmp, "w", newline="") as fh:
        if fmt == "csv":
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(FIELDS)
            for d in dicts:
                d = {**d, "top3": " ".join(f"{c}:{p}" for c, p in d["top3"])}
                w.writerow(["" if d[k] is None else d[k] for k in FIELDS])
        else:
            for d in dicts:
                fh.write(json.dumps(d) + "\n")


def write_annotations(rec: Recording, txs: list[Classified], model: dict[str, Any], explicit: str | None,
                      overwrite: bool) -> Path | None:
    """One SigMF annotation per transmission (time and frequency edges), validated, written atomically."""
    target = annotations_target(rec, explicit)
    if target is None:
        return None
    path, mode = target
    if mode != "update" and path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it (or --annotations PATH)")
    meta = build_annotations(rec, [], (0.0, 0.0), model, mode)  # the base document, earlier amc runs removed
    exts = meta["global"].setdefault("core:extensions", [])
    if not any(e.get("name") == "amc" for e in exts):
        exts.append(dict(EXTENSION))
    base = rec.center_freq if rec.center_freq is not None else 0.0
    for t in txs:
        tx = t.tx
        meta["annotations"].append({
            "core:sample_start": tx.start, "core:sample_count": tx.stop - tx.start, "core:label": t.label[:20],
            "core:generator": f"amc {__version__}", "core:freq_lower_edge": base + tx.low,
            "core:freq_upper_edge": base + tx.high,
            "core:comment": f"{t.label} (p {t.prob:.2f}, SNR {tx.snr_db:+.1f} dB, centre {tx.center_offset / 1e3:+.1f} "
                            f"kHz, {t.windows} windows)",
            "amc:probability": round(t.prob, 4), "amc:snr_db": round(tx.snr_db, 2), "amc:windows": t.windows,
            "amc:model": model["name"], "amc:model_sha256": model["sha256"]})
    meta["annotations"].sort(key=lambda a: a.get("core:sample_start", 0))
    problem = validate(meta)
    if problem is not None:
        raise SourceError(f"the annotations do not pass sigmf's validator ({problem}); nothing was written")
    with atomic_path(path, suffix=".tmp") as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
    return path


def draw(path: str, bins: TimeBins, txs: list[Classified], rec: Recording, n_samples: int, title: str) -> None:
    """The capture's spectrogram with a box and label per transmission; written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    fs = rec.sample_rate
    centre = rec.center_freq
    scale, unit = (1e6, "MHz") if centre is not None else (1e3, "kHz")
    f0 = (centre or 0.0) / scale
    fig, ax = plt.subplots(figsize=(10, 5.2))
    starts, psd = bins.means()
    if len(starts):
        db = 10 * np.log10(psd.T + 1e-20)
        lo, hi = np.percentile(db, [5, 99.7])
        edges = np.append(starts, starts[-1] + bins.width) / fs
        half = fs / 2 / scale
        ax.pcolormesh(edges, np.linspace(f0 - half, f0 + half, psd.shape[1] + 1), db, shading="flat", cmap="viridis",
                      vmin=lo, vmax=hi, rasterized=True)
    for t in txs:
        tx = t.tx
        x0, x1 = tx.start / fs, tx.stop / fs
        y0, y1 = f0 + tx.low / scale, f0 + tx.high / scale
        c = "white" if t.label != "unknown" else "0.7"
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec=c, lw=1.4))
        ax.text(x0, y1, f"{t.label} {t.prob:.2f}", color=c, fontsize=8, va="bottom", ha="left",
                bbox=dict(facecolor="black", alpha=0.5, pad=1, lw=0))
    ax.set_xlim(0, n_samples / fs)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"frequency ({unit})" if centre is not None else f"offset ({unit})")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
