"""``classify`` in scan mode: a file recording -> every transmission -> rows, annotations, picture, summary."""

from __future__ import annotations

import time
from pathlib import Path
from typing import IO, Any

from amc.classify.detect import DetectSettings, nfft_for
from amc.classify.outputs import sha256_file
from amc.classify.plot import TimeBins
from amc.classify.scan import scan_recording
from amc.classify.scan_out import draw, write_annotations, write_rows
from amc.classify.sources import Recording, SourceError


def scan(s: Any, rec: Recording, engine: Any, match: Any, stdout: IO[str] | None) -> dict[str, Any]:
    """Detect and classify every transmission of ``rec``; write what ``s`` asks for; return the summary."""
    if rec.kind == "stdin":
        raise SourceError("a scan reads a file (it finds transmissions over the whole band first); for a stream "
                          "give --center-offset HZ (0 for the centre) to classify one channel window by window")
    t0 = time.perf_counter()
    det = DetectSettings(threshold_db=s.threshold_db)
    nfft = nfft_for(rec.sample_rate, det.bin_hz)
    bins = TimeBins(max(1, (rec.n_samples or 0) // 1200), nfft) if s.plot else None
    model_info = {"name": engine.path.name, "sha256": sha256_file(engine.path)}
    res = scan_recording(rec, engine, match, s.min_prob, det, correct_iq=s.correct_iq, chunk=max(s.chunk, 1 << 22),
                         bins=bins)
    wall = time.perf_counter() - t0
    written: dict[str, str] = {}
    if s.rows:
        write_rows(s.rows, res.transmissions, rec, stdout)
        written["rows"] = s.rows
    if s.annotate:
        path = write_annotations(rec, res.transmissions, model_info, s.annotations, s.overwrite)
        if path is not None:
            written["annotations"] = str(path)
    if s.plot and bins is not None:
        title = (f"{Path(rec.name).name}: {rec.sample_rate / 1e6:g} MS/s"
                 + (f" at {rec.center_freq / 1e6:.4f} MHz" if rec.center_freq is not None else "")
                 + f", {len(res.transmissions)} transmissions, model {model_info['name']}")
        draw(s.plot, bins, res.transmissions, rec, res.samples, title)
        written["plot"] = s.plot
    notes = []
    if match.up > match.down:
        notes.append(f"the recording ({rec.sample_rate:g} Hz) is slower than the model's rate "
                     f"({match.model_rate:g} Hz): the model sees an upsampled, partly empty band")
    busy = sum(t.tx.stop - t.tx.start for t in res.transmissions)
    msps = res.samples / max(wall, 1e-9) / 1e6
    return {
        "mode": "scan", "input": rec.name, "kind": rec.kind, "datatype": rec.fmt.datatype,
        "sample_rate": rec.sample_rate, "center_freq": rec.center_freq, "samples": res.samples,
        "duration_s": res.samples / rec.sample_rate, "model": str(engine.path), "model_sha256": model_info["sha256"],
        "classes": list(engine.classes), "frame_length": engine.frame_length, "model_rate": match.model_rate,
        "resample": {"up": match.up, "down": match.down, "error_ppm": match.error_ppm},
        "min_prob": s.min_prob, "threshold_db": s.threshold_db, "iq_correction": bool(s.correct_iq and
                                                                                        rec.fmt.fixed_point),
        "windows": res.windows, "transmissions": [t.as_dict(rec.sample_rate, rec.center_freq)
                                                  for t in res.transmissions],
        "busy_share": min(1.0, busy / max(res.samples, 1)),
        "speed": {"wall_s": wall, "msps": msps, "realtime_factor": msps * 1e6 / rec.sample_rate,
                  "detect_s": res.detect_s, "infer_s": res.infer_s},
        "written": written, "notes": notes, "warnings": list(rec.warnings), "interrupted": None,
    }
